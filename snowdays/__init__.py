"""snowdays: snow cover duration maps kept up to date as Theia snow products arrive.

``snowdays.open_season`` and ``snowdays.open_daily`` (:mod:`snowdays.datasets`, the ``notebook``
extra) open a stored season as xarray; they are imported when first used, so that the library and its
command line start without xarray.
"""

from importlib.metadata import version as _version
from typing import Any

__version__ = _version("snowdays")
__all__ = ["__version__", "open_daily", "open_season"]


def __getattr__(name: str) -> Any:
    if name in ("open_season", "open_daily"):
        from snowdays import datasets  # noqa: PLC0415 - xarray and dask only when asked for

        return getattr(datasets, name)
    raise AttributeError(f"module 'snowdays' has no attribute {name!r}")
