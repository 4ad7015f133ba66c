"""The quality layers (NSP, QCOD, QCMD, QC) equal, pixel for pixel, the naive reference written after
LIS 1.11's ``compute_NSP.py`` and HR-WSI's ``lis_sps1s2_post_processing.py`` (public repository
``eea/clms-hrwsi-system``, ``HRWSI_Yearly_Processing_Routines/sp_s1s2/``): on random cubes with margin
days, and on a store filled in a random order, annual and as of a day inside the season."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st

from snowdays.codes import INVALID
from snowdays.duration import annual_maps
from snowdays.export import export, season_layers
from snowdays.ingest import ingest
from snowdays.packing import pack
from snowdays.quality import NO_DATA, Quality, _quality
from snowdays.reference import cube_quality, season_cube
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.settings import get_settings

SEASON = parse_season("2017-2018")
SETTINGS = get_settings()


def kernel(products: npt.NDArray[np.uint8], days: list[int], n_days: int,
           per_day: list[int] | None = None) -> Quality:
    """The compiled pass on the packed products (``per_day[k]`` of them on ``days[k]``, in merge order;
    one a day by default) given in a shuffled slot order, as a store holds them."""
    per_day = per_day or [1] * len(days)
    slots = np.random.default_rng(len(days)).permutation(len(products))
    packed = np.empty((len(products), *pack(products[0]).shape), np.uint8) if len(products) else (
        np.zeros((0, 3, 1), np.uint8))
    for k, product in enumerate(products):
        packed[slots[k]] = pack(product)
    maps = annual_maps(merged(products, per_day), days, n_days)
    out = Quality(*(np.zeros(maps.scd.shape, np.uint16) for _ in range(4)))
    _quality(packed, slots.astype(np.int64), np.cumsum([0, *per_day], dtype=np.int64),
             np.array(days, np.int64), n_days, *(a for _, a in maps.items()), *(a for _, a in out.items()))
    return out


def merged(products: npt.NDArray[np.uint8], per_day: list[int]) -> npt.NDArray[np.uint8]:
    """Each day's products merged, naively: the first valid value (<= 100) of the day, else invalid."""
    days, first = [], 0
    for count in per_day:
        day = np.full(products.shape[1:], INVALID, np.uint8)
        for product in products[first:first + count][::-1]:
            day = np.where(product <= 100, product, day)
        days.append(day)
        first += count
    return np.array(days, np.uint8).reshape(len(per_day), *products.shape[1:])


CODES = st.sampled_from([0, 0, 0, 1, 40, 100, 100, 100, 205, INVALID])


@st.composite
def cubes(draw: st.DrawFn) -> tuple[npt.NDArray[np.uint8], list[int], int, list[int]]:
    """Products on distinct days, one or two a day, some in the margins (before day 0, after the
    last)."""
    n_days = draw(st.integers(1, 120))
    days = sorted(draw(st.sets(st.integers(-15, n_days + 14), min_size=0, max_size=40)))
    per_day = [draw(st.integers(1, 2)) for _ in days]
    cube = np.array(draw(st.lists(st.lists(CODES, min_size=12, max_size=12), min_size=sum(per_day),
                                  max_size=sum(per_day))), np.uint8).reshape(sum(per_day), 3, 4)
    return cube, days, n_days, per_day


@settings(max_examples=300, deadline=None)
@given(cubes())
def test_the_kernel_equals_the_reference(drawn: tuple[npt.NDArray[np.uint8], list[int], int, list[int]],
                                         ) -> None:
    products, days, n_days, per_day = drawn
    got = kernel(products, days, n_days, per_day)
    expected = cube_quality(merged(products, per_day), days, n_days)
    for name, layer in got.items():
        np.testing.assert_array_equal(layer, expected[name], err_msg=name)


def test_long_seasons_give_every_value() -> None:
    """A season of daily-ish observations: several snow periods, near and far dates, each QC value."""
    rng = np.random.default_rng(3)
    n_days = 365
    days = sorted(rng.choice(np.arange(-15, n_days + 15), 150, replace=False).tolist())
    season = (np.sin(np.array(days)[:, None, None] / 25 + rng.uniform(0, 6, (1, 30, 30)))
              > rng.uniform(-0.5, 0.99, (1, 30, 30)))
    cube = np.where(rng.random((len(days), 30, 30)) < rng.uniform(0.1, 0.9, (1, 30, 30)), INVALID,
                    season * 100).astype(np.uint8)
    got = kernel(cube, days, n_days)
    expected = cube_quality(cube, days, n_days)
    for name, layer in got.items():
        np.testing.assert_array_equal(layer, expected[name], err_msg=name)
    assert set(np.unique(got.qc)) == {0, 1, 2, 3}
    assert got.nsp.max() >= 3 and (got.qcod == NO_DATA).any() and (got.qcod < NO_DATA).any()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("quality")
    make_season(folder, "T31TCH", SEASON, 24, "muscate", True, seed=5)
    return folder


def test_a_store_filled_in_any_order_gives_the_reference(archive: Path, tmp_path: Path) -> None:
    products = sorted(archive.iterdir())
    random.Random(2).shuffle(products)
    store = str(tmp_path / "store")
    for p in products:
        ingest(store, str(p), SETTINGS)
    cube, days, n_days = season_cube(archive, SEASON.start, SEASON.stop, SEASON.margin)
    expected = cube_quality(cube, days, n_days)
    assert_layers(season_layers(store, "T31TCH", "2017-2018", SETTINGS)[1], expected)
    assert_written(export(store, "T31TCH", "2017-2018", tmp_path / "out", SETTINGS), expected)

    as_of = SEASON.start + timedelta(days=150)
    cut = [k for k, d in enumerate(days) if d <= 150]
    maps, got = season_layers(store, "T31TCH", "2017-2018", SETTINGS, as_of=as_of)
    assert maps.as_of == as_of
    assert_layers(got, cube_quality(cube[cut], [days[k] for k in cut], 151))


def assert_layers(got: Quality, expected: dict[str, npt.NDArray[np.uint16]]) -> None:
    for name, layer in got.items():
        np.testing.assert_array_equal(layer, expected[name], err_msg=name)
    assert got.nsp.any() and (got.qcod < NO_DATA).any()


def assert_written(paths: list[Path], expected: dict[str, npt.NDArray[np.uint16]]) -> None:
    """The quality layers are COGs beside the four maps, read back by GDAL as computed."""
    written = {p.name.split("_")[1].rsplit("-", 1)[1]: p for p in paths}
    assert set(written) == {"SCD", "SOD", "SMOD", "NOBS", *expected}
    for name, layer in expected.items():
        with rasterio.open(written[name]) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert ds.nodata == (NO_DATA if name in ("QCOD", "QCMD") else None)
            np.testing.assert_array_equal(ds.read(1), layer, err_msg=name)
