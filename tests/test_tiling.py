"""Tile grids from tile names, against the corners of ESA's Sentinel-2 tiling grid; generated tiles at
their real place; every product checked against its tile's grid before a pixel is read, whatever
comes first (a Landsat product, a 10 m product, a raster declaring a huge size)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from snowdays.annual import run_annual
from snowdays.errors import RejectedProducts, UsageError, WrongGrid, WrongTile
from snowdays.export import season_maps, status
from snowdays.grid import Grid
from snowdays.ingest import ingest
from snowdays.layouts import Pass, product_name, write_product
from snowdays.products import open_product
from snowdays.sample import make_season
from snowdays.season import Season, parse_season
from snowdays.settings import get_settings
from snowdays.store import attr, open_repo, read
from snowdays.tiling import product_window, tile_grid, tile_origin

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


# --- every product against the grid of its tile's name ------------------------------------------------

TILE = "T31TCH"
X0, Y0 = 300000.0, 4800000.0
"""T31TCH's upper left corner (ESA's tiling grid, above)."""
UTM31 = "EPSG:32631"
SETTINGS = get_settings()


def grid(pixel: float, x: float, y: float, width: int, height: int | None = None,
         crs: str = UTM31) -> Grid:
    return Grid(crs, (pixel, 0.0, x, 0.0, -pixel, y), width, width if height is None else height)


@pytest.mark.parametrize(("mission", "product", "window"), [
    ("S2", grid(20, X0, Y0, 5490), grid(20, X0, Y0, 5490)),
    ("S2", grid(20, X0 + 400, Y0 - 200, 16, 8), grid(20, X0 + 400, Y0 - 200, 16, 8)),
    ("S2", Grid("EPSG:32631", (20, 0, X0 + 1e-7, 0, -20, Y0), 4, 4), grid(20, X0, Y0, 4)),
    # MUSCATE's Landsat-8 products lie on the Sentinel-2 tiling: the whole tile
    ("L8", grid(30, X0, Y0, 3660), grid(20, X0, Y0, 5490)),
    # a part of the tile: the 20 m pixels it wholly covers (64 x 20 m in 43 x 30 m)
    ("L8", grid(30, X0, Y0, 43), grid(20, X0, Y0, 64)),
    ("L8", grid(30, X0 + 30, Y0 - 30, 10), grid(20, X0 + 40, Y0 - 40, 14)),
    ("L8", grid(30, X0 - 10, Y0 + 10, 14), grid(20, X0, Y0, 20)),  # 10 m out: no pixel of the tile more
])
def test_the_window_a_product_gives(mission: str, product: Grid, window: Grid) -> None:
    found = product_window(TILE, product, mission, "P")
    assert found == window  # exactly: on the tile's lattice, in its CRS
    assert found.same_as(tile_grid(TILE)) == (window.width == 5490)


@pytest.mark.parametrize(("mission", "product", "reason"), [
    ("S2", grid(10, X0, Y0, 64), r"pixel 10 x 10 m, tile T31TCH has 20 m"),
    ("S2", grid(60, X0, Y0, 1830), r"pixel 60 x 60 m"),
    ("S2", grid(20, X0 + 10, Y0, 64), r"origin \(300010\.000, 4800000\.000\) is off the 20 m lattice of "
                                      r"tile T31TCH \(corner \(300000, 4800000\)\)"),
    ("S2", grid(20, X0, Y0 - 5, 64), r"off the 20 m lattice"),
    ("S2", grid(20, X0, Y0, 100000), r"grid EPSG:32631 100000x100000 .* is not inside tile T31TCH "
                                     r"\(EPSG:32631 5490x5490 origin \(300000, 4800000\) pixel 20 m\)"),
    ("S2", grid(20, X0 - 20, Y0, 64), r"not inside tile T31TCH"),
    ("S2", grid(20, X0 + 109800 - 40, Y0, 4), r"not inside tile T31TCH"),  # 2 pixels east of its edge
    ("S2", grid(20, X0, Y0, 64, crs="EPSG:32632"), r"CRS EPSG:32632, tile T31TCH is in EPSG:32631"),
    ("S2", Grid(UTM31, (20, 0, X0, 0, 20, Y0 - 1280), 64, 64), r"is not north up"),
    ("S2", Grid(UTM31, (20, 0.5, X0, 0, -20, Y0), 64, 64), r"is not north up"),
    ("L8", grid(30, X0, Y0, 100000), r"grid .* 100000x100000 .* pixel 30 m is not inside tile T31TCH"),
    ("L8", grid(30, X0 - 30, Y0, 3660), r"not inside tile T31TCH"),
    ("L8", grid(30, X0, Y0, 3660, crs="EPSG:32632"), r"CRS EPSG:32632, tile T31TCH is in EPSG:32631"),
    ("L8", grid(30, 800000, Y0, 100), r"not inside tile T31TCH"),
    ("L8", grid(15, X0 + 5, Y0 - 5, 1), r"covers no whole 20 m pixel of tile T31TCH"),
])
def test_a_product_off_its_tile_is_named_with_what_differs(mission: str, product: Grid, reason: str) -> None:
    with pytest.raises(WrongGrid) as caught:
        product_window(TILE, product, mission, "SENTINEL2A_X")
    assert caught.value.product == "SENTINEL2A_X"
    assert re.search(reason, caught.value.reason), caught.value.reason


def test_a_product_of_no_mgrs_square_is_rejected(tmp_path: Path) -> None:
    """A name may look like a tile's and be none: the product is rejected and quarantined (it would
    stop ``ingest`` with a usage error, and stay pending in the pipeline for ever)."""
    with pytest.raises(WrongTile, match=r"tile T31TZZ is not an MGRS 100 km square"):
        product_window("T31TZZ", grid(20, X0, Y0, 4), "S2", "P")
    name = "SENTINEL2A_20171201-103629-000_L2B-SNOW_T31TZZ_C_V1-7"
    (tmp_path / name).mkdir()
    with rasterio.open(tmp_path / name / f"{name}_SNW_R2.tif", "w", driver="GTiff", width=4, height=4,
                       count=1, dtype="uint8", crs=UTM31, transform=Affine(20, 0, X0, 0, -20, Y0)) as ds:
        ds.write(np.zeros((4, 4), np.uint8), 1)
    report = ingest(str(tmp_path / "store"), str(tmp_path / name), SETTINGS)
    assert report.product == name and report.outcome.startswith("rejected (tile T31TZZ is not an MGRS")
    [tile] = status(str(tmp_path / "store"), SETTINGS)
    assert tile.tile == "T31TZZ" and [q["kind"] for q in tile.quarantined] == ["wrong tile"]


@pytest.mark.parametrize(("size", "offset"), [(16, (0, 0)), (17, (0, 0)), (20, (0, 0)), (21, (3, 5)),
                                               (32, (10, 20))])
def test_generated_landsat_products_give_their_sentinel2_window(tmp_path: Path, size: int,
                                                                offset: tuple[int, int]) -> None:
    """Whatever the size (its 30 m pixels overshoot the window by 0, 10 or 20 m), a generated Landsat
    product gives the window its Sentinel-2 products lie on, so either may come first."""
    window = Season(start=date(2017, 12, 1), stop=date(2017, 12, 20), margin=0)
    paths = make_season(tmp_path, TILE, window, size, "muscate", False, offset=offset)
    windows: dict[str, set[Grid]] = {}
    for path in paths:
        product = open_product(str(path), SETTINGS, TILE)
        windows.setdefault(product.id.mission, set()).add(
            product_window(TILE, product.grid, product.id.mission, product.id.name))
    named = tile_grid(TILE, 20.0, size, offset)
    assert windows == {"S2": {named}, "L8": {named}}


def december(day: int) -> datetime:
    return datetime(2017, 12, day, 10, 36, 29, tzinfo=UTC)


def one_product(out: Path, when: datetime, pixel: float, size: int, platform: str = "SENTINEL2A",
                value: int = 100) -> Path:
    """A MUSCATE snow product at the tile's corner, ``size`` pixels of ``pixel`` metres a side."""
    p = Pass(when, platform, "full")
    name = product_name(p, TILE, "muscate")
    assert name is not None
    return write_product(out, "muscate", name, p, TILE, np.full((size, size), value, np.uint8), pixel, False)


def stored_grid(store: Path) -> Grid:
    return Grid.from_json(attr(read(open_repo(str(store), TILE, SETTINGS)), "grid"))


def test_a_10m_first_product_is_rejected_and_the_right_ones_fold(tmp_path: Path) -> None:
    """Before, the first Sentinel-2 product set the tile's grid unchecked: a 10 m one became the grid
    and every right product after it was rejected, for good."""
    ten = one_product(tmp_path / "in", december(1), 10.0, 32)
    right = [one_product(tmp_path / "in", datetime(2017, 12, day, 10, 36, 29, tzinfo=UTC), 20.0, 16, value=v)
             for day, v in ((6, 100), (11, 0))]
    store = tmp_path / "store"
    outcomes = [ingest(str(store), str(p), SETTINGS).outcome for p in (ten, *right)]
    assert outcomes == ["rejected (pixel 10 x 10 m, tile T31TCH has 20 m)", "folded", "folded"]
    [tile] = status(str(store), SETTINGS)
    assert [(q["product"], q["kind"]) for q in tile.quarantined] == [(ten.name, "wrong grid")]
    assert stored_grid(store) == tile_grid(TILE, 20.0, 16)
    maps = season_maps(str(store), TILE, "2017-2018", SETTINGS).maps
    assert maps.nobs.shape == (16, 16) and set(np.unique(maps.nobs)) == {2}


def test_a_10m_product_is_named_in_a_batch(tmp_path: Path) -> None:
    ten = one_product(tmp_path / "in", december(1), 10.0, 32)
    one_product(tmp_path / "in", december(6), 20.0, 16)
    window = Season(start=date(2017, 12, 1), stop=date(2017, 12, 31), margin=0)
    with pytest.raises(RejectedProducts) as caught:
        run_annual(str(tmp_path / "in"), TILE, window, SETTINGS)
    assert [str(r) for r in caught.value.rejected] == [f"{ten.name}: pixel 10 x 10 m, tile T31TCH has 20 m"]
    kept = run_annual(str(tmp_path / "in"), TILE, window, SETTINGS, strict=False)
    assert kept.grid == tile_grid(TILE, 20.0, 16) and [p.id.name for p in kept.used] != [ten.name]


def test_a_landsat_product_first_gives_the_grid_and_sentinel2_ones_fold_after(tmp_path: Path) -> None:
    """The tile's grid comes from its name: a Landsat product folds at once (before, it waited for a
    Sentinel-2 product), and the Sentinel-2 products after it fold on its window."""
    landsat = one_product(tmp_path / "in", december(1), 30.0, 11, "LANDSAT8", 0)
    s2 = one_product(tmp_path / "in", december(6), 20.0, 16)
    store = tmp_path / "store"
    assert ingest(str(store), str(landsat), SETTINGS).outcome == "folded"
    assert stored_grid(store) == tile_grid(TILE, 20.0, 16)  # 11 x 30 m: 16 pixels of 20 m, 10 m over
    assert ingest(str(store), str(s2), SETTINGS).outcome == "folded"
    stored = season_maps(str(store), TILE, "2017-2018", SETTINGS)
    batch = run_annual(str(tmp_path / "in"), TILE, Season(start=parse_season("2017-2018").start,
                                                          stop=stored.as_of), SETTINGS)
    assert batch.grid == stored_grid(store)
    for (kind, a), (_, b) in zip(stored.maps.items(), batch.maps.items(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=kind)
    assert set(np.unique(stored.maps.nobs)) == {2}


def test_a_landsat_only_batch_has_its_grid(tmp_path: Path) -> None:
    one_product(tmp_path / "in", december(1), 30.0, 11, "LANDSAT8", 100)
    window = Season(start=date(2017, 12, 1), stop=date(2017, 12, 31), margin=0)
    result = run_annual(str(tmp_path / "in"), TILE, window, SETTINGS)
    assert result.grid == tile_grid(TILE, 20.0, 16) and result.landsat
    assert set(np.unique(result.maps.scd)) == {31}


HUGE = 100_000
CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))  # a 10 GB allocation fails, not the machine
from snowdays.ingest import ingest
from snowdays.settings import get_settings
try:
    outcome = ingest(sys.argv[1], sys.argv[2], get_settings()).outcome
except Exception as e:
    outcome = f"raised {type(e).__name__}: {e}"
# this process's own peak (VmHWM): getrusage's maxrss keeps the parent's size from before the exec
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"outcome": outcome, "peak_mib": peak / 1024}))
"""


def huge_product(out: Path) -> Path:
    """A product whose raster declares 100000 x 100000 pixels (10 GB decoded) in a 300 KB file:
    tiled, compressed, its empty blocks left out."""
    name = "SENTINEL2A_20171201-103629-000_L2B-SNOW_T31TCH_C_V1-7"
    (out / name).mkdir(parents=True)
    with rasterio.open(out / name / f"{name}_SNW_R2.tif", "w", driver="GTiff", width=HUGE, height=HUGE,
                       count=1, dtype="uint8", crs=UTM31, transform=Affine(20, 0, X0, 0, -20, Y0),
                       tiled=True, blockxsize=512, blockysize=512, compress="DEFLATE",
                       sparse_ok=True) as ds:
        ds.write(np.zeros((512, 512), np.uint8), 1, window=((0, 512), (0, 512)))
    return out / name


def test_a_huge_declared_raster_first_is_rejected_without_reading_it(tmp_path: Path) -> None:
    """Before, it became the tile's grid and its 10 GB were allocated (exit 1, "worth retrying", so
    pending for ever); now its declared size is refused before a pixel is read, and it is
    quarantined, in a process whose memory stays small."""
    product = huge_product(tmp_path / "in")
    assert (product / f"{product.name}_SNW_R2.tif").stat().st_size < 1 << 20
    store = tmp_path / "store"
    done = subprocess.run([sys.executable, "-c", CHILD, str(store), str(product)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["outcome"].startswith("rejected (grid EPSG:32631 100000x100000 origin (300000, 4800000) "
                                       "pixel 20 m is not inside tile T31TCH"), found
    assert found["peak_mib"] < 1024, found
    [tile] = status(str(store), SETTINGS)
    assert [(q["product"], q["kind"]) for q in tile.quarantined] == [(product.name, "wrong grid")]
    assert attr(read(open_repo(str(store), TILE, SETTINGS)), "grid") is None
    right = one_product(tmp_path / "in", december(6), 20.0, 16)
    assert ingest(str(store), str(right), SETTINGS).outcome == "folded"
