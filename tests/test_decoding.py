"""Products decoded in threads come back in order, equal to decoding each alone, and bounded ahead."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from rasterio.warp import transform

from snowdays.annual import discover, select
from snowdays.codes import INVALID
from snowdays.decoding import AHEAD, decoded
from snowdays.errors import CorruptProduct, ProductRejected
from snowdays.grid import Codes, Grid, _lookup, _warp, put_on_grid
from snowdays.products import Product
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.settings import get_settings
from tests.badproducts import garble_pixels

SEASON = parse_season("2017-2018")


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Product], Grid]:
    """A small season's products in acquisition order, one in the middle corrupt."""
    folder = tmp_path_factory.mktemp("season")
    paths = make_season(folder, "T31TCH", SEASON, 24, "muscate", False, seed=5)
    garble_pixels(next(p for p in paths[len(paths) // 2:] if p.name.startswith("SENTINEL2")))
    products, rejected = discover(str(folder), "T31TCH", get_settings())
    assert not rejected
    chosen = select(products, SEASON)
    return chosen, next(p.grid for p in chosen if p.id.mission == "S2")


def one_by_one(products: list[Product], grid: Grid) -> list[Codes | ProductRejected]:
    """The naive way: each product read in turn, its rejection kept."""
    out: list[Codes | ProductRejected] = []
    for p in products:
        try:
            out.append(p.read(grid, get_settings()))
        except ProductRejected as e:
            out.append(e)
    return out


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_decoded_equals_reading_each_in_turn(season: tuple[list[Product], Grid],
                                             threads: int) -> None:
    products, grid = season
    expected = one_by_one(products, grid)
    got = list(decoded(products, grid, get_settings(threads=threads)))
    assert [p for p, _ in got] == products
    kinds = [type(r) for _, r in got]
    assert kinds == [type(r) for r in expected] and CorruptProduct in kinds
    for (_, codes), want in zip(got, expected, strict=True):
        if isinstance(want, ProductRejected):
            assert isinstance(codes, ProductRejected) and str(codes) == str(want)
        else:
            assert isinstance(codes, np.ndarray) and codes.dtype == np.uint8
            np.testing.assert_array_equal(codes, want)


class Watch:
    """Counts the products started decoding, the threads they ran on, and the most in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = self.taken = self.most_ahead = 0
        self.threads: set[str] = set()

    def start(self) -> None:
        with self.lock:
            self.started += 1
            self.most_ahead = max(self.most_ahead, self.started - self.taken)
            self.threads.add(threading.current_thread().name)

    def take(self) -> None:
        with self.lock:
            self.taken += 1


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Watch:
    watched = Watch()
    read = Product.read

    def watched_read(self: Product, grid: Grid, settings: object) -> Codes:
        watched.start()
        return read(self, grid, settings)  # type: ignore[arg-type]

    monkeypatch.setattr(Product, "read", watched_read)
    return watched


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_decode_ahead_within_bound(season: tuple[list[Product], Grid], watch: Watch,
                                           threads: int) -> None:
    products, grid = season
    assert len(products) > 4 * AHEAD * threads
    for _ in decoded(products, grid, get_settings(threads=threads)):
        watch.take()
    assert watch.started == len(products)
    assert 1 < watch.most_ahead <= AHEAD * threads
    assert len(watch.threads) > 1 and "MainThread" not in watch.threads


def test_one_thread_decodes_in_the_caller_when_asked(season: tuple[list[Product], Grid],
                                                     watch: Watch) -> None:
    products, grid = season
    for _ in decoded(products, grid, get_settings(threads=1)):
        watch.take()
    assert watch.most_ahead == 1 and watch.threads == {"MainThread"}


def test_closing_early_starts_no_more(season: tuple[list[Product], Grid], watch: Watch) -> None:
    products, grid = season
    results = decoded(products, grid, get_settings(threads=2))
    next(results)
    results.close()
    started = watch.started
    assert started <= AHEAD * 2 + 1
    assert not any(t.name.startswith("snowdays-decode") for t in threading.enumerate())
    assert watch.started == started < len(products)


def test_storage_faults_surface_where_their_product_is_taken(
        season: tuple[list[Product], Grid], monkeypatch: pytest.MonkeyPatch) -> None:
    products, grid = season
    read = Product.read

    def faulty(self: Product, grid: Grid, settings: object) -> Codes:
        if self == products[3]:
            raise OSError("the bucket went away")
        return read(self, grid, settings)  # type: ignore[arg-type]

    monkeypatch.setattr(Product, "read", faulty)
    results = decoded(products, grid, get_settings(threads=2))
    assert [p for p, _ in (next(results) for _ in range(3))] == products[:3]
    with pytest.raises(OSError, match="the bucket went away"):
        next(results)


def test_zero_threads_is_every_core_this_process_may_use() -> None:
    assert get_settings().threads == 0
    assert get_settings().cores == len(os.sched_getaffinity(0))
    assert get_settings(threads=3).cores == 3


def test_threads_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNOWDAYS_THREADS", "1")
    assert get_settings().threads == 1
    monkeypatch.setenv("SNOWDAYS_THREADS", "-1")
    with pytest.raises(ValueError, match="threads"):
        get_settings()


def test_threads_find_a_landsat_grid_lookup_once(season: tuple[list[Product], Grid]) -> None:
    """Landsat products of one source grid decoded at once by four threads warp through one lookup."""
    products, grid = season
    landsat = [p for p in products if p.id.mission == "L8"]
    assert len({p.grid for p in landsat}) == 1 and len(landsat) >= 4
    _lookup.cache_clear()
    for _ in decoded(landsat, grid, get_settings(threads=4)):
        pass
    assert _lookup.cache_info().misses == 1


@pytest.mark.parametrize("offset", [(0.0, 0.0), (-70.0, 50.0), (130.0, -190.0)])
def test_a_landsat_lookup_warps_as_gdal_does(season: tuple[list[Product], Grid],
                                              offset: tuple[float, float]) -> None:
    """The lookup's one pass gives, pixel for pixel, what GDAL's nearest-neighbour warp gives, on a
    30 m grid over the tile, partly off it, or partly off its side (INVALID where it does not
    reach)."""
    _, grid = season
    x0, y0 = grid.transform[2] + offset[0], grid.transform[5] + offset[1]
    width, height = grid.width * 2 // 3 - 5, grid.height * 2 // 3 + 3
    source = Grid(grid.crs, (30.0, 0.0, x0, 0.0, -30.0, y0), width, height)
    codes = np.random.default_rng(3).integers(0, INVALID, source.shape, dtype=np.uint8)
    assert _lookup(codes.shape, source.affine, source.crs, grid) is not None  # the lookup's path
    warped = put_on_grid(codes, source, grid)
    np.testing.assert_array_equal(warped, _warp(codes, source.affine, source.crs, grid))
    covered = (warped != INVALID).mean()
    assert 0.2 < covered < 1  # reached in part: both sides of the lookup's bounds are taken


def test_a_grid_whose_warp_is_no_lookup_is_warped_by_gdal(season: tuple[list[Product], Grid]) -> None:
    """A 30 m grid of the next UTM zone: GDAL's choice is not separable, so no lookup is found and the
    warp is GDAL's own."""
    _, grid = season
    [x], [y] = transform(grid.crs, "EPSG:32630", [grid.transform[2]], [grid.transform[5]])
    source = Grid("EPSG:32630", (30.0, 0.0, x - 300, 0.0, -30.0, y + 300), 40, 40)  # over the tile's corner
    codes = np.random.default_rng(4).integers(0, INVALID, source.shape, dtype=np.uint8)
    assert _lookup(codes.shape, source.affine, source.crs, grid) is None
    warped = put_on_grid(codes, source, grid)
    np.testing.assert_array_equal(warped, _warp(codes, source.affine, source.crs, grid))
    assert (warped != INVALID).mean() > 0.5
