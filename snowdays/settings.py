"""One settings model for the CLI and the library; environment prefix ``SNOWDAYS_``.

Nothing reads the environment at import time: call :func:`get_settings` where settings are needed.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SNOWDAYS_", env_file=".env", extra="ignore")

    season_start: str = Field("09-01", pattern=r"^\d{2}-\d{2}$")
    """Month and day a season starts (MM-DD); it ends the day before, one year later."""
    margin_days: int = Field(15, ge=0, le=180)
    """Days before the start and after the stop whose observations still count."""
    block_rows: int = Field(1098, ge=1)
    """Rows of a spatial block folded at once (bounds the temporaries)."""
    pending_max: int = Field(16, ge=0)
    """Products of a season kept in its cube only (pending) before they are folded into its state
    arrays; the latest day's always wait. More: cheaper arrivals, dearer maps."""
    history_days: float = Field(30, ge=0)
    """Days of commits ``snowdays compact`` keeps (the store's audit log); older ones are dropped."""

    s3_endpoint_url: str | None = None
    """S3-compatible endpoint, e.g. ``http://127.0.0.1:5000``; empty means AWS."""
    s3_region: str = "us-east-1"

    zip_max_total_bytes: int = Field(4 * 1024**3, ge=1)
    """Largest total uncompressed size of a product archive."""
    zip_max_ratio: float = Field(200.0, gt=1)
    """Largest compression ratio of a product archive (total and per member over 1 MiB)."""

    cog_compress: str = Field("DEFLATE", pattern=r"^(DEFLATE|ZSTD)$")
    output_counter: int = Field(1, ge=1)
    """Counter written in output names (LIS ``_<version>_<counter>``)."""


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment (and ``.env``), with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
