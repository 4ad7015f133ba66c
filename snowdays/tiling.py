"""Where a Sentinel-2 tile lies: its grid, computed from its name alone.

A Sentinel-2 tile is an MGRS 100 km square of its UTM zone (WGS 84, EPSG:326zz north, 327zz south),
grown to 109.8 km on the east and south sides so that neighbouring tiles overlap by 9.8 km. Its upper
left corner is the square's north-west corner moved outwards onto the 60 m lattice of the zone (west
and north), as in ESA's tiling grid: T31TCH starts at (300000, 4800000), T31TDH at (399960, 4800000),
T31TGK at (699960, 5000040).
"""

from __future__ import annotations

import math
from functools import cache

import mgrs  # type: ignore[import-untyped]

from snowdays.errors import UsageError
from snowdays.grid import Grid
from snowdays.names import normalise_tile

TILE_METRES = 109_800.0
"""Width and height of every tile."""
LATTICE = 60.0
"""Every tile corner lies on this lattice of its zone (the 10, 20 and 60 m grids all fit on it)."""
SQUARE = 100_000.0


@cache
def tile_origin(tile: str) -> tuple[str, float, float]:
    """The tile's CRS and the coordinates of its upper left corner."""
    name = normalise_tile(tile)
    try:
        zone, hemisphere, east, north = mgrs.MGRS().MGRSToUTM(name[1:])
    except Exception as e:  # mgrs raises its own MGRSError (or a ValueError) on any bad square
        raise UsageError(f"tile {name} is not an MGRS 100 km square ({e})") from e
    # at 100 km precision mgrs gives the square's centre
    west, top = east - SQUARE / 2, north + SQUARE / 2
    epsg = (32600 if hemisphere == "N" else 32700) + int(zone)
    return (f"EPSG:{epsg}", math.floor(west / LATTICE) * LATTICE, math.ceil(top / LATTICE) * LATTICE)


def tile_grid(tile: str, pixel: float = 20.0, size: int | None = None,
              offset: tuple[int, int] = (0, 0)) -> Grid:
    """The tile's grid at ``pixel`` metres; ``size`` pixels a side and ``offset`` (row, column) pixels
    from its corner give a part of it (default: the whole tile)."""
    crs, x0, y0 = tile_origin(tile)
    n = size if size is not None else round(TILE_METRES / pixel)
    row, col = offset
    return Grid(crs, (pixel, 0.0, x0 + col * pixel, 0.0, -pixel, y0 - row * pixel), n, n)
