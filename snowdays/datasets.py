"""A stored season for notebook users, as xarray (the ``notebook`` extra): its maps and quality layers
(:func:`open_season`) and its daily gap-filled snow cube (:func:`open_daily`), from a tile's store in a
local folder or under ``s3://``, with the tile's CRS and transform (rioxarray's ``.rio``).

The daily cube is lazy: each dask chunk reads its part of the packed observation cube, at the commit
the cube was opened at, and gap-fills it in one compiled pass (:mod:`snowdays.daily`), as the maps count
days (``docs/SEMANTICS.md``). Summed over time it is SCD.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, TypeVar, cast

import dask.array as da
import numpy as np
import numpy.typing as npt
import rioxarray  # noqa: F401 - registers the .rio accessor
import xarray as xr
from dask.delayed import delayed

from snowdays.daily import daily_block
from snowdays.export import StoredSeason, season_layers, stored_season
from snowdays.grid import Grid
from snowdays.outputs import NODATA
from snowdays.packing import PER_BYTE
from snowdays.settings import Settings, get_settings
from snowdays.state import CHUNK, Slots
from snowdays.store import array

UNITS = {"SCD": "days", "SOD": "day of season", "SMOD": "day of season", "NOBS": "observations",
         "NSP": "snow periods", "QCOD": "days", "QCMD": "days", "QC": "0 best .. 3"}


def open_season(store: str, tile: str, season: str, as_of: date | None = None,
                settings: Settings | None = None) -> xr.Dataset:
    """SCD, SOD, SMOD, NOBS and the quality layers of a stored season (year to date, or as of a day),
    on the tile's grid."""
    settings = settings or get_settings()
    maps, quality = season_layers(store, tile, season, settings, as_of)
    layers = {name: xr.DataArray(a, dims=("y", "x"), attrs={"units": UNITS[name]})
              for name, a in maps.maps.items() + quality.items()}
    ds = xr.Dataset(layers, coords=_coords(maps.grid), attrs=_attrs(maps.tile, season, maps.as_of) | {
        "products": maps.products, "landsat": int(maps.landsat)})
    for name, value in NODATA.items():
        ds[name] = ds[name].rio.write_nodata(value)
    return _georeferenced(ds, maps.grid)


DAILY_COLS = 1100
"""Columns of a chunk of the daily series by default: with the season's days, 440 MB a chunk."""


def open_daily(store: str, tile: str, season: str, as_of: date | None = None,
               settings: Settings | None = None,
               chunks: tuple[int, int] = (CHUNK, DAILY_COLS)) -> xr.DataArray:
    """The daily snow series of a stored season, 1 snow and 0 no snow (days 0 .. as of), as a lazy
    dask-backed DataArray (time, y, x) in chunks of ``chunks`` rows x columns (columns a multiple of
    4, the pixels of a byte of the cube)."""
    rows, cols = chunks
    if rows < 1 or cols < 1 or cols % PER_BYTE:
        raise ValueError(f"chunks must be positive, the columns a multiple of {PER_BYTE}: {chunks}")
    stored = stored_season(store, tile, season, settings or get_settings(), as_of)
    snow = _lazy(stored, rows, cols)
    times = [stored.season.start + timedelta(d) for d in range(stored.stop_day + 1)]
    coords = {"time": np.array(times, "datetime64[ns]"), **_coords(stored.grid)}
    attrs = _attrs(stored.tile, season, stored.as_of) | {
        "description": "1 snow, 0 no snow: each day of the gap-filled series SCD counts"}
    return _georeferenced(xr.DataArray(snow, dims=("time", "y", "x"), coords=coords, name="snow",
                                       attrs=attrs), stored.grid)


def _lazy(stored: StoredSeason, rows: int, cols: int) -> da.Array:
    """One delayed chunk per block of the grid, each reading the cube at the commit opened."""
    cube, slots, n = array(stored.group, "cube"), Slots.of(stored.group, stored.until), stored.stop_day + 1
    height, width = stored.grid.shape
    block = delayed(daily_block, pure=False)

    def chunk(r0: int, c0: int) -> da.Array:
        r1, c1 = min(r0 + rows, height), min(c0 + cols, width)
        return da.from_delayed(block(cube, slots, n, (r0, r1), (c0, c1)),  # type: ignore[no-untyped-call,no-any-return]
                               (n, r1 - r0, c1 - c0), np.uint8)

    return da.block([[chunk(r0, c0) for c0 in range(0, width, cols)]  # type: ignore[no-untyped-call,no-any-return]
                     for r0 in range(0, height, rows)])


def _coords(grid: Grid) -> dict[str, npt.NDArray[np.floating[Any]]]:
    """Pixel centres of the grid."""
    a, _, c, _, e, f = grid.transform
    return {"y": f + (np.arange(grid.height) + 0.5) * e, "x": c + (np.arange(grid.width) + 0.5) * a}


def _attrs(tile: str, season: str, as_of: date) -> dict[str, Any]:
    return {"tile": tile, "season": season, "as_of": as_of.isoformat()}


X = TypeVar("X", xr.Dataset, xr.DataArray)


def _georeferenced(obj: X, grid: Grid) -> X:
    return cast(X, obj.rio.write_crs(grid.crs).rio.write_transform(grid.affine))
