"""The relief of a tile for the viewer's base map: a hillshade of its DEM (``SNOWDAYS_DEM``), on the
DEM's own grid, as a uint8 COG published beside the maps.

The light comes from the north-west (azimuth 315 degrees) at 45 degrees above the horizon; the
shade of a pixel is the cosine of the angle between the light and the normal of the surface, whose
slopes are central differences (one-sided at the edges, as ``numpy.gradient`` makes them), clipped
at 0 where the surface faces away. It is stored as 1 + round(254 x shade); 0 is no data (where the
DEM has none).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.io import MemoryFile

from snowdays import __version__
from snowdays.colours import write_cog
from snowdays.errors import UsageError
from snowdays.l2a import DEM_NO_DATA, opened_dem
from snowdays.settings import Settings

U8 = npt.NDArray[np.uint8]
AZIMUTH, ALTITUDE = 315.0, 45.0
"""Where the light comes from: degrees clockwise from north; degrees above the horizon."""
ROWS = 512
"""Rows of the DEM shaded at once (memory: a few float32 arrays of that many rows)."""
NO_DATA = 0


def light() -> npt.NDArray[np.float32]:
    """The unit vector towards the light (east, north, up)."""
    az, alt = math.radians(AZIMUTH), math.radians(ALTITUDE)
    return np.array([math.sin(az) * math.cos(alt), math.cos(az) * math.cos(alt), math.sin(alt)], np.float32)


def hillshade(dem: npt.NDArray[np.generic], pixel: tuple[float, float], nodata: float | None) -> U8:
    """The hillshade of ``dem`` (rows from north to south), ``pixel`` its (width, height) in metres."""
    height = dem.shape[0]
    out = np.zeros(dem.shape, np.uint8)
    towards = light()
    for top in range(0, height, ROWS):
        lo, hi = max(top - 1, 0), min(top + ROWS + 1, height)  # a row more each side: the same slopes
        z = dem[lo:hi].astype(np.float32)
        if hi - lo < 2 or z.shape[1] < 2:
            raise UsageError(f"a DEM of {dem.shape[0]} x {dem.shape[1]} pixels has no slopes to shade")
        north, east = np.gradient(z, -pixel[1], pixel[0])  # rows go south: northing falls
        shade = (towards[2] - east * towards[0] - north * towards[1]) / np.sqrt(1 + east ** 2 + north ** 2)
        rows = slice(top - lo, top - lo + min(ROWS, height - top))
        out[top:top + ROWS] = 1 + np.rint(254 * np.clip(shade[rows], 0, 1)).astype(np.uint8)
    if nodata is not None:
        out[dem == nodata] = NO_DATA
    return out


def write_hillshade(tile: str, path: Path, settings: Settings) -> Path | None:
    """The hillshade of the tile's DEM as a COG at ``path``; None where the tile has no DEM."""
    with opened_dem(tile, settings) as ds:
        if ds is None:
            return None
        dem, profile = ds.read(1), ds.profile
        nodata = DEM_NO_DATA if ds.nodata is None else ds.nodata
    transform = profile["transform"]
    shade = hillshade(dem, (abs(transform.a), abs(transform.e)), nodata)
    out = {"driver": "GTiff", "dtype": "uint8", "count": 1, "width": dem.shape[1], "height": dem.shape[0],
           "crs": profile["crs"], "transform": transform, "nodata": NO_DATA}
    with rasterio.Env(GDAL_NUM_THREADS=settings.cores), MemoryFile() as memory, memory.open(**out) as ds:
        ds.write(shade, 1)
        ds.set_band_description(1, f"hillshade of the DEM of {tile} (light from {AZIMUTH:g}, {ALTITUDE:g})")
        ds.update_tags(SOFTWARE=f"snowdays {__version__}")
        write_cog(ds, path, None, "AVERAGE", **settings.cog_options, NUM_THREADS=settings.cores)
    return path
