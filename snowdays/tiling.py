"""Where a Sentinel-2 tile lies: its grid, computed from its name alone.

A Sentinel-2 tile is an MGRS 100 km square of its UTM zone (WGS 84, EPSG:326zz north, 327zz south),
grown to 109.8 km on the east and south sides so that neighbouring tiles overlap by 9.8 km. Its upper
left corner is the square's north-west corner moved outwards onto the 60 m lattice of the zone (west
and north), as in ESA's tiling grid: T31TCH starts at (300000, 4800000), T31TDH at (399960, 4800000),
T31TGK at (699960, 5000040).

Every product is checked against that grid before any pixel is decoded (:func:`product_window`): a
Sentinel-2 product must be a window of the tile's 20 m grid, and a Landsat product's extent gives the
window of it that the product covers. So a tile's grid is known whatever product comes first.
"""

from __future__ import annotations

import math
from functools import cache

import mgrs  # type: ignore[import-untyped]
from rasterio.crs import CRS

from snowdays.errors import UsageError, WrongGrid, WrongTile
from snowdays.grid import Grid
from snowdays.names import normalise_tile

TILE_METRES = 109_800.0
"""Width and height of every tile."""
LATTICE = 60.0
"""Every tile corner lies on this lattice of its zone (the 10, 20 and 60 m grids all fit on it)."""
SQUARE = 100_000.0
PIXEL = 20.0
"""The pixel of every tile's grid (Sentinel-2's snow products; Landsat's are warped onto it)."""
TOLERANCE = 1e-6
"""Metres within which a product's corner counts as on the tile's lattice."""


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


def product_window(tile: str, grid: Grid, mission: str, product: str) -> Grid:
    """The window of ``tile``'s 20 m grid that ``product`` (its raster's ``grid``, its ``mission``)
    gives, or WrongGrid naming the product and what differs from the tile (WrongTile: its tile's name
    is no MGRS square).

    A Sentinel-2 product must lie on that grid: the tile's CRS, 20 m pixels, its corner on the tile's
    20 m lattice, wholly inside the tile; its window is its own extent. A Landsat product (30 m) must be
    in the tile's CRS, north up; its window is the 20 m pixels of the tile that it wholly covers (its
    bounds snapped inwards onto the lattice), which must lie inside the tile. Only the raster's
    declared grid is looked at, never its pixels.
    """
    try:
        name, (crs, x0, y0), named = normalise_tile(tile), tile_origin(tile), tile_grid(tile)
    except UsageError as bad:
        raise WrongTile(product, str(bad)) from bad
    if CRS.from_user_input(grid.crs) != CRS.from_user_input(crs):
        raise WrongGrid(product, f"CRS {grid.crs}, tile {name} is in {crs}")
    a, b, c, d, e, f = grid.transform
    if b != 0 or d != 0 or a <= 0 or e >= 0:
        raise WrongGrid(product, f"grid {grid.describe()} is not north up (transform {grid.transform})")
    if mission == "S2":
        _check_lattice(tile, grid, product)
    left, top = (c - x0) / PIXEL, (y0 - f) / PIXEL
    right, bottom = left + a * grid.width / PIXEL, top - e * grid.height / PIXEL
    cols = (math.ceil(left - TOLERANCE), math.floor(right + TOLERANCE))
    rows = (math.ceil(top - TOLERANCE), math.floor(bottom + TOLERANCE))
    if min(cols[0], rows[0]) < 0 or max(cols[1], rows[1]) > named.width:
        raise WrongGrid(product, f"grid {grid.describe()} is not inside tile {name} "
                                 f"({named.describe()})")
    if cols[1] <= cols[0] or rows[1] <= rows[0]:
        raise WrongGrid(product, f"grid {grid.describe()} covers no whole 20 m pixel of tile {name}")
    return Grid(crs, (PIXEL, 0.0, x0 + cols[0] * PIXEL, 0.0, -PIXEL, y0 - rows[0] * PIXEL),
                cols[1] - cols[0], rows[1] - rows[0])


def _check_lattice(tile: str, grid: Grid, product: str) -> None:
    """A Sentinel-2 product's pixels are the tile's: 20 m, the corner on the tile's 20 m lattice."""
    name, (_, x0, y0) = normalise_tile(tile), tile_origin(tile)
    a, _, c, _, e, f = grid.transform
    if abs(a - PIXEL) > TOLERANCE or abs(e + PIXEL) > TOLERANCE:
        raise WrongGrid(product, f"pixel {a:g} x {-e:g} m, tile {name} has {PIXEL:g} m")
    off = [abs(v - round(v)) * PIXEL for v in ((c - x0) / PIXEL, (y0 - f) / PIXEL)]
    if max(off) > TOLERANCE:
        raise WrongGrid(product, f"origin ({c:.3f}, {f:.3f}) is off the 20 m lattice of tile "
                                 f"{name} (corner ({x0:.0f}, {y0:.0f}))")
