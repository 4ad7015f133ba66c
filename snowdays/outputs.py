"""The four maps and the quality layers as Cloud-Optimized GeoTIFFs, named as LIS names them."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from itertools import repeat
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.io import MemoryFile

from snowdays import __version__
from snowdays.colours import SCALES
from snowdays.colours import write_cog as write_coloured
from snowdays.duration import U16
from snowdays.grid import Grid
from snowdays.quality import NO_DATA
from snowdays.settings import Settings

_RESAMPLING = {"SCD": "AVERAGE", "NOBS": "AVERAGE", "SOD": "NEAREST", "SMOD": "NEAREST",
               "NSP": "NEAREST", "QCOD": "NEAREST", "QCMD": "NEAREST", "QC": "NEAREST",
               "SCD-ANOMALY": "AVERAGE", "SMOD-ANOMALY": "NEAREST", "SCD-MEAN": "AVERAGE",
               "SCD-MEDIAN": "AVERAGE", "SMOD-MEAN": "NEAREST", "SMOD-MEDIAN": "NEAREST",
               "SEASONS": "NEAREST", "SMOD-SEASONS": "NEAREST"}
_DESCRIPTION = {
    "SCD": "snow cover duration (days)",
    "SOD": "snow onset date (day index from the season start)",
    "SMOD": "snow melt-out date (day index from the season start)",
    "NOBS": "number of valid observations",
    "NSP": "number of snow periods",
    "QCOD": "days between the snow onset date and the nearest observation of snow",
    "QCMD": "days between the snow melt-out date and the nearest observation of snow",
    "QC": "quality of the season's maps, 0 (best) to 3",
    "SCD-ANOMALY": "snow cover duration as of the day, minus its mean over the past seasons (days)",
    "SMOD-ANOMALY": "snow melt-out date as of the day, minus its mean over the past seasons (days)",
    "SCD-MEAN": "mean snow cover duration of the past seasons as of the same day (days)",
    "SCD-MEDIAN": "median snow cover duration of the past seasons as of the same day (days)",
    "SMOD-MEAN": "mean snow melt-out date of the past seasons as of the same day (day index)",
    "SMOD-MEDIAN": "median snow melt-out date of the past seasons as of the same day (day index)",
    "SEASONS": "past seasons in the climatology",
    "SMOD-SEASONS": "past seasons with a melt-out date (more than 10 snow days) at the pixel",
}
NODATA = {"QCOD": NO_DATA, "QCMD": NO_DATA}
"""The uint16 layers with a no-data value; the others are defined on every pixel."""
Layer = U16 | npt.NDArray[np.float32]


def output_name(kind: str, tile: str, start: date, stop: date, landsat: bool, counter: int) -> str:
    """``LIS_S2L8-SNOW-SCD_T31TCH_20170901_20180831_0.1.0_1.tif``."""
    sensors = "S2L8" if landsat else "S2"
    return f"LIS_{sensors}-SNOW-{kind}_{tile}_{start:%Y%m%d}_{stop:%Y%m%d}_{__version__}_{counter}.tif"


def write_maps(
    layers: Iterable[tuple[str, Layer]], grid: Grid, out: Path, *, tile: str, start: date, stop: date,
    landsat: bool, settings: Settings,
) -> list[Path]:
    """Write a COG of each layer (``Maps.items()``, ``Quality.items()``) into ``out``, ``settings.cores``
    at a time (GDAL releases the GIL); all appear together or none does."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".snowdays-", dir=out))
    try:
        kinds, arrays = zip(*layers, strict=True)
        paths = [staging / output_name(k, tile, start, stop, landsat, settings.output_counter) for k in kinds]
        with ThreadPoolExecutor(settings.cores, thread_name_prefix="snowdays-cog") as pool:
            list(pool.map(write_cog, arrays, repeat(grid), paths, kinds, repeat(settings)))
        return [path.replace(out / path.name) for path in paths]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_cog(array: Layer, grid: Grid, path: Path, kind: str, settings: Settings) -> None:
    """A uint16 layer (its no-data value from :data:`NODATA`, its colour table from
    :data:`~snowdays.colours.SCALES`), or a float32 one (no data: NaN; no colour table fits it)."""
    if array.shape != grid.shape:
        raise ValueError(f"{kind} map has shape {array.shape}, the grid {grid.shape}")
    floating = array.dtype == np.float32
    profile = {
        "driver": "GTiff", "dtype": "float32" if floating else "uint16", "count": 1, "width": grid.width,
        "height": grid.height, "crs": grid.crs, "transform": grid.affine,
        "nodata": float("nan") if floating else NODATA.get(kind),
    }
    with (rasterio.Env(GDAL_NUM_THREADS=settings.cores), MemoryFile() as memory,
          memory.open(**profile) as ds):
        ds.write(array, 1)
        ds.set_band_description(1, _DESCRIPTION[kind])
        ds.update_tags(SOFTWARE=f"snowdays {__version__}")
        write_coloured(ds, path, None if floating else SCALES.get(kind), _RESAMPLING[kind],
                       **settings.cog_options, NUM_THREADS=settings.cores)
