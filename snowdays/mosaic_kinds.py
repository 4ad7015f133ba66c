"""What a regional mosaic is made of: the tiles' season maps, or their anomalies.

Each kind reads, from every tile's published item, its value layers and then the tile's clear
observations (NOBS: where tiles overlap, the tile with the most wins), and writes one COG per map.
"""

from __future__ import annotations

from dataclasses import dataclass

from snowdays.mosaic_files import NODATA


@dataclass(frozen=True)
class MosaicKind:
    name: str
    """``maps`` or ``anomaly``."""
    subfolder: str
    """Where its files are under ``{catalog}/mosaics/{region}/{season}`` (empty: there)."""
    maps: tuple[str, ...]
    """Its maps' keys: asset keys of its item, and the bands of a block file in this order."""
    files: dict[str, str]
    """Map key -> its COG's file name."""
    inputs: tuple[str, ...]
    """Asset keys of a tile's item it reads: a value layer for each map, in order, then NOBS."""
    dtype: str
    nodata: float
    rule: str
    """Names the overlap rule and the block format in the blocks' signatures: change it when either
    changes."""
    display: bool
    """Whether the last map is the display variant of the first (SCD where it reaches
    ``display_min_days``), made in the block, not read."""

    @property
    def values(self) -> tuple[str, ...]:
        """The value layers it reads (``inputs`` but NOBS)."""
        return self.inputs[:-1]


MAPS = MosaicKind(
    name="maps", subfolder="", maps=("scd", "sod", "smod", "scd_display"),
    files={"scd": "scd.tif", "sod": "sod.tif", "smod": "smod.tif", "scd_display": "scd-display.tif"},
    inputs=("SCD", "SOD", "SMOD", "NOBS"), dtype="uint16", nodata=NODATA, rule="nobs-then-first/1",
    display=True)
"""The season's SCD, SOD and SMOD, and the display variant of SCD: uint16, no data 65535."""

ANOMALY = MosaicKind(
    name="anomaly", subfolder="anomaly", maps=("scd_anomaly", "smod_anomaly", "scd_mean", "seasons"),
    files={"scd_anomaly": "scd-anomaly.tif", "smod_anomaly": "smod-anomaly.tif",
           "scd_mean": "scd-mean.tif", "seasons": "seasons.tif"},
    inputs=("SCD-ANOMALY", "SMOD-ANOMALY", "SCD-MEAN", "SEASONS", "NOBS"), dtype="float32",
    nodata=float("nan"), rule="anomaly/nobs-then-first/1", display=False)
"""The tiles' anomalies as of their days (SCD and SMOD), the mean SCD of their past seasons and how
many they are: float32, no data NaN."""
