"""The colour scales of the maps, one for each kind of layer, and the COGs that carry them as colour
tables. Snow cover duration is drawn the same everywhere: the viewer (``web/src/colours.js``), the
quicklook, the STAC render hints and the colour tables of the tile and mosaic COGs.

A scale is a tuple of stops (value, ``#rrggbb``): colours are linear between stops, clamped at the ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio.shutil
from rasterio.enums import ColorInterp, Resampling
from rasterio.io import DatasetWriter

Stops = tuple[tuple[float, str], ...]
RGBA = npt.NDArray[np.uint8]

DAYS: Stops = ((0, "#f7fbff"), (45, "#deebf7"), (90, "#c6dbef"), (135, "#9ecae1"), (180, "#6baed6"),
               (225, "#4292c6"), (270, "#2171b5"), (315, "#08519c"), (360, "#08306b"))
"""Snow cover duration: ColorBrewer Blues over 0..360 days (``SCD_STOPS`` of the viewer)."""
DATES: Stops = ((0, "#440154"), (45, "#472d7b"), (90, "#3b528b"), (135, "#2c728e"), (180, "#21918c"),
                (225, "#28ae80"), (270, "#5ec962"), (315, "#addc30"), (365, "#fde725"))
"""Snow onset and melt-out: viridis over the days of the season (day index)."""
OBSERVATIONS: Stops = ((0, "#ffffff"), (25, "#d9d9d9"), (50, "#969696"), (75, "#525252"), (100, "#000000"))
"""Clear observations: ColorBrewer Greys over 0..100."""
PERIODS: Stops = ((0, "#fcfbfd"), (1, "#dadaeb"), (2, "#9e9ac8"), (4, "#6a51a3"), (8, "#3f007d"))
"""Snow periods: ColorBrewer Purples over 0..8."""
GAPS: Stops = ((0, "#ffffcc"), (5, "#fed976"), (10, "#fd8d3c"), (20, "#e31a1c"), (30, "#800026"))
"""Days from a date to the nearest observation of snow: ColorBrewer YlOrRd over 0..30."""
QUALITY: Stops = ((0, "#1a9641"), (1, "#a6d96a"), (2, "#fdae61"), (3, "#d7191c"))
"""Quality 0 (best, green) to 3 (red)."""
SCALES: dict[str, Stops] = {"SCD": DAYS, "SOD": DATES, "SMOD": DATES, "NOBS": OBSERVATIONS, "NSP": PERIODS,
                            "QCOD": GAPS, "QCMD": GAPS, "QC": QUALITY}
"""The scale of each uint16 layer of a season; the float layers (anomalies) have none."""
BLOCK = 512
"""Tile size of every COG, in pixels."""


def rgb(colour: str) -> tuple[int, int, int]:
    n = int(colour[1:], 16)
    return n >> 16 & 255, n >> 8 & 255, n & 255


def rgba(values: npt.NDArray[Any], stops: Stops) -> RGBA:
    """The opaque colours of ``values`` on a scale."""
    where = np.asarray(values, np.float64)
    at = [v for v, _ in stops]
    channels = [np.interp(where, at, [rgb(c)[k] for _, c in stops]) for k in range(3)]
    out: RGBA = np.rint(np.stack([*channels, np.full(where.shape, 255.0)], axis=-1)).astype(np.uint8)
    return out


@lru_cache(maxsize=32)
def colour_table(stops: Stops, nodata: int | None) -> Mapping[int, tuple[int, int, int, int]]:
    """A colour for every uint16 value (65536 entries); ``nodata`` transparent. Made once per scale and
    process (0.1 s each): a publish writes eight COGs."""
    colours = rgba(np.arange(1 << 16), stops)
    table = {v: (int(r), int(g), int(b), int(a)) for v, (r, g, b, a) in enumerate(colours.tolist())}
    if nodata is not None:
        table[nodata] = (0, 0, 0, 0)
    return table


def overview_factors(width: int, height: int) -> list[int]:
    """The overviews GDAL's COG driver makes: halved until the largest side fits in one block."""
    factors, factor = [], 1
    while -(-max(width, height) // factor) > BLOCK:
        factor *= 2
        factors.append(factor)
    return factors


def write_cog(ds: DatasetWriter, path: Path | str, stops: Stops | None, resampling: str,
              **options: Any) -> None:
    """Copy the one band of ``ds`` (open for writing: a new file, or a VRT in update mode) into a COG
    at ``path``, with the colour table of ``stops`` (none: no table) and the nodata value of ``ds``.

    The overviews are built on ``ds`` from the values first, then the colour table is set: GDAL
    averages the colours of a paletted band, not its values, and the COG takes overviews as found.
    """
    factors = overview_factors(ds.width, ds.height)
    if factors:
        ds.build_overviews(factors, Resampling[resampling.lower()])
    if stops is not None:
        nodata = None if ds.nodata is None else int(ds.nodata)
        ds.write_colormap(1, colour_table(stops, nodata))
        ds.colorinterp = [ColorInterp.palette]
    rasterio.shutil.copy(ds, str(path), driver="COG", BLOCKSIZE=BLOCK, **options)
