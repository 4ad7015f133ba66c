"""A generated season (T31TCH 2017-2018, 24 pixels a side, muscate zips) folded into a local store in a
shuffled order, made once per session, and its truth: the merged observations the naive reference reads
from the products themselves (``snowdays.reference.season_cube``)."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rasterio.warp import transform

from snowdays.grid import Grid
from snowdays.ingest import ingest
from snowdays.reference import daily_snow, season_cube
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.settings import get_settings
from snowdays.store import attr, open_repo, read
from tests.conftest import made_once

SEASON = parse_season("2017-2018")
TILE, LABEL = "T31TCH", "2017-2018"
AS_OF_DAY = 150
AS_OF = SEASON.start + timedelta(days=AS_OF_DAY)
Cube = tuple[npt.NDArray[np.uint8], list[int], int]


def _make(folder: Path) -> None:
    make_season(folder / "products", TILE, SEASON, 24, "muscate", True, seed=7)
    products = sorted((folder / "products").iterdir())
    random.Random(4).shuffle(products)
    for p in products:
        ingest(str(folder / "store"), str(p), get_settings())


def stored() -> tuple[Path, str]:
    """The products' folder and the store (read them only)."""
    folder = made_once("season-24-seed7", _make)
    return folder / "products", str(folder / "store")


def truth(products: Path) -> Cube:
    return season_cube(products, SEASON.start, SEASON.stop, SEASON.margin)


def cut(truth: Cube, day: int) -> Cube:
    """The observations up to ``day``, closed there."""
    cube, days, _ = truth
    keep = [k for k, d in enumerate(days) if d <= day]
    return cube[keep], [days[k] for k in keep], day + 1


def lon_lat(store: str, row: int, col: int) -> tuple[float, float]:
    """The centre of a pixel of the stored grid, in degrees."""
    grid = Grid.from_json(attr(read(open_repo(store, TILE, get_settings())), "grid"))
    x, y = grid.affine @ (col + 0.5, row + 0.5)
    (lon,), (lat,) = transform(grid.crs, "EPSG:4326", [x], [y])
    return lon, lat


def naive_series(truth: Cube, row: int, col: int) -> list[bool]:
    cube, days, n_days = truth
    return daily_snow([(d, int(cube[k, row, col])) for k, d in enumerate(days)], n_days)
