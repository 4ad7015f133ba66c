"""Tile grids from tile names, against the corners of ESA's Sentinel-2 tiling grid; generated tiles at
their real place."""

from __future__ import annotations

from pathlib import Path

import pytest
import rasterio

from snowdays.errors import UsageError
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.tiling import tile_grid, tile_origin

# (tile, EPSG, west, south, east, north) as ESA's tiling grid gives them
ESA = [
    ("30TXN", 32630, 600000, 4690200, 709800, 4800000),
    ("30TYN", 32630, 699960, 4690200, 809760, 4800000),
    ("31TCH", 32631, 300000, 4690200, 409800, 4800000),
    ("31TDH", 32631, 399960, 4690200, 509760, 4800000),
    ("31TGJ", 32631, 699960, 4790220, 809760, 4900020),
    ("31TGK", 32631, 699960, 4890240, 809760, 5000040),
    ("31TGL", 32631, 699960, 4990200, 809760, 5100000),
    ("31TGM", 32631, 699960, 5090220, 809760, 5200020),
    ("32TLP", 32632, 300000, 4790220, 409800, 4900020),
    ("32TLQ", 32632, 300000, 4890240, 409800, 5000040),
    ("32TLR", 32632, 300000, 4990200, 409800, 5100000),
    ("32TLS", 32632, 300000, 5090220, 409800, 5200020),
]


@pytest.mark.parametrize(("tile", "epsg", "west", "south", "east", "north"), ESA)
def test_tile_grid_matches_the_tiling_grid(tile: str, epsg: int, west: float, south: float,
                                           east: float, north: float) -> None:
    grid = tile_grid(f"T{tile}")
    assert grid.crs == f"EPSG:{epsg}"
    assert grid.shape == (5490, 5490)
    (x0, y0), (x1, y1) = grid.affine @ (0, 0), grid.affine @ (grid.width, grid.height)
    assert (x0, y1, x1, y0) == (west, south, east, north)
    assert tile_grid(tile, 10.0).shape == (10980, 10980)
    assert tile_grid(tile, 60.0).affine @ (1830, 1830) == (east, south)


def test_southern_tiles_and_parts() -> None:
    assert tile_origin("55HBU")[0] == "EPSG:32755"
    part = tile_grid("T31TCH", 20.0, 16, (100, 200))
    assert part.shape == (16, 16) and part.transform[2] == 304000 and part.transform[5] == 4798000


@pytest.mark.parametrize("bad", ["T31TZZ", "T99XXX", "hello"])
def test_bad_tile_names_are_named(bad: str) -> None:
    with pytest.raises(UsageError, match=r"tile T?[A-Z0-9]+ is not an MGRS 100 km square") as caught:
        tile_grid(bad)
    assert bad.upper() in str(caught.value)


def test_generated_tiles_lie_at_their_real_place(tmp_path: Path) -> None:
    season = parse_season("2017-2018")
    make_season(tmp_path / "a", "T32TLR", season, 16)
    [tif, *_] = sorted((tmp_path / "a").glob("SENTINEL2*/*_SNW_R2.tif"))
    with rasterio.open(tif) as ds:
        assert ds.crs.to_epsg() == 32632 and ds.transform.c == 300000 and ds.transform.f == 5100000
    make_season(tmp_path / "b", "T31TGL", season, 16, offset=(10, 20))
    [tif, *_] = sorted((tmp_path / "b").glob("SENTINEL2*/*_SNW_R2.tif"))
    with rasterio.open(tif) as ds:
        assert ds.crs.to_epsg() == 32631 and ds.transform.c == 699960 + 400
        assert ds.transform.f == 5100000 - 200
