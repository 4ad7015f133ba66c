"""``snowdays annual`` on generated seasons of every family equals the naive reference everywhere."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from snowdays import __version__
from snowdays.annual import Annual, run_annual, write
from snowdays.errors import RejectedProducts
from snowdays.reference import cube_maps, season_cube
from snowdays.sample import make_season
from snowdays.season import Season, parse_season
from snowdays.settings import get_settings
from tests.badproducts import garble_pixels

SEASON = parse_season("2017-2018")
SIZE = 36


def assert_equals_reference(result: Annual, folder: Path, season: Season = SEASON) -> None:
    cube, days, n_days = season_cube(folder, season.start, season.stop, season.margin)
    expected = cube_maps(cube, days, n_days)
    for kind, array in result.maps.items():
        assert array.dtype == np.uint16
        diff = np.argwhere(array != expected[kind])
        assert diff.size == 0, f"{kind} differs at {diff[:5].tolist()}"
    assert int(result.maps.nobs.max()) > 0


@pytest.mark.parametrize(
    ("family", "as_zip"), [("muscate", False), ("muscate", True), ("fsc", False), ("hrsi", True)]
)
def test_every_family_equals_the_reference(tmp_path: Path, family: str, as_zip: bool) -> None:
    make_season(tmp_path, "T31TCH", SEASON, SIZE, family, as_zip, seed=3)  # type: ignore[arg-type]
    result = run_annual(str(tmp_path), "T31TCH", SEASON, get_settings())
    assert len(result.used) == len(list(tmp_path.iterdir()))
    assert result.landsat == (family != "hrsi")
    assert_equals_reference(result, tmp_path)


def test_the_reference_of_a_window_is_that_part_of_the_tiles(tmp_path: Path) -> None:
    """The naive reference on a window of the grid (as bench/annual.py runs it on a full-size tile) is
    that window of the whole tile's, Landsat products included."""
    make_season(tmp_path, "T31TCH", SEASON, SIZE, "muscate", False, seed=3)
    whole, days, n_days = season_cube(tmp_path, SEASON.start, SEASON.stop, SEASON.margin)
    window = Window(5, 9, 12, 20)  # columns 5 .. 16, rows 9 .. 28
    part, part_days, part_n = season_cube(tmp_path, SEASON.start, SEASON.stop, SEASON.margin, window)
    assert (part_days, part_n) == (days, n_days) and part.shape == (len(days), 20, 12)
    np.testing.assert_array_equal(part, whole[:, 9:29, 5:17])


def test_mixed_families_merge_by_day(tmp_path: Path) -> None:
    """Sentinel-2 MUSCATE and LIS products of another seed, and HR-S&I, in one folder."""
    make_season(tmp_path, "T31TCH", SEASON, SIZE, "muscate", False, seed=1)
    make_season(tmp_path, "T31TCH", SEASON, SIZE, "fsc", False, seed=2)
    make_season(tmp_path, "T31TCH", SEASON, SIZE, "hrsi", True, seed=5)
    result = run_annual(str(tmp_path), "T31TCH", SEASON, get_settings())
    days = {p.id.acquired.date() for p in result.used}
    assert len(days) < len(result.used)  # some days merge several products
    assert_equals_reference(result, tmp_path)


def test_short_season_with_margins(tmp_path: Path) -> None:
    season = Season(start=date(2018, 1, 10), stop=date(2018, 2, 20), margin=15)
    make_season(tmp_path, "T31TCH", SEASON, SIZE, "muscate", False, seed=4)
    result = run_annual(str(tmp_path), "T31TCH", season, get_settings())
    assert all(season.in_window(p.id.acquired) for p in result.used)
    assert any(season.day(p.id.acquired) < 0 for p in result.used)
    assert any(season.day(p.id.acquired) >= season.n_days for p in result.used)
    inside = tmp_path / "window"
    inside.mkdir()
    for p in result.used:
        shutil.move(p.source.href, inside)
    assert_equals_reference(result, inside, season)


def _republish(product: Path, version: str, value: int) -> Path:
    """A copy of a MUSCATE product under another version, its raster filled with ``value``."""
    name = product.name.replace("_V1-7", f"_V{version}")
    copy = product.parent / name
    shutil.copytree(product, copy)
    for member in copy.iterdir():
        member.rename(copy / member.name.replace(product.name, name))
    xml = copy / f"{name}_MTD_ALL.xml"
    xml.write_text(xml.read_text().replace("1.7<", f"{version.replace('-', '.')}<")
                   .replace(product.name, name))
    with rasterio.open(copy / f"{name}_SNW_R2.tif", "r+") as ds:
        ds.write(np.full(ds.shape, value, np.uint8), 1)
    return copy


def test_highest_version_counts_and_duplicates_count_once(tmp_path: Path) -> None:
    archive, expected_folder = tmp_path / "archive", tmp_path / "expected"
    paths = make_season(archive, "T31TCH", SEASON, SIZE, "muscate", False, seed=6)
    target = next(p for p in paths if "SENTINEL2" in p.name and "201801" in p.name)
    newer = _republish(target, "1-8", 100)  # all snow: visible if it counts
    older = _republish(target, "1-6", 0)
    shutil.make_archive(str(archive / newer.name), "zip", archive, newer.name)  # same product twice
    result = run_annual(str(archive), "T31TCH", SEASON, get_settings())
    names = [p.id.name for p in result.used]
    assert newer.name in names and target.name not in names and older.name not in names
    assert names.count(newer.name) == 1
    shutil.copytree(archive, expected_folder, ignore=shutil.ignore_patterns(
        target.name, older.name, newer.name + ".zip"))
    assert_equals_reference(result, expected_folder)


def test_outputs_are_named_cogs(tmp_path: Path) -> None:
    make_season(tmp_path / "in", "T31TCH", SEASON, SIZE, "muscate", False, seed=8)
    result = run_annual(str(tmp_path / "in"), "T31TCH", SEASON, get_settings())
    paths = write(result, tmp_path / "out", get_settings())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    assert [p.name for p in paths] == [
        f"LIS_S2L8-SNOW-{k}_T31TCH_20170901_20180831_{__version__}_1.tif"
        for k in ("SCD", "SOD", "SMOD", "NOBS")
    ]
    for path, (_, array) in zip(paths, result.maps.items(), strict=True):
        with rasterio.open(path) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert ds.dtypes[0] == "uint16" and ds.compression.name == "deflate"
            assert ds.crs == result.grid.crs and ds.transform == result.grid.affine
            np.testing.assert_array_equal(ds.read(1), array)


def _first_s2(paths: list[Path]) -> Path:
    return next(p for p in paths if p.name.startswith("SENTINEL2"))


def test_a_wrong_grid_first_does_not_impose_itself(tmp_path: Path) -> None:
    paths = make_season(tmp_path / "in", "T31TCH", SEASON, SIZE, "muscate", False, seed=9)
    first = _first_s2(paths)
    with rasterio.open(first / f"{first.name}_SNW_R2.tif", "r+") as ds:
        t = ds.transform
        ds.transform = Affine(t.a, t.b, t.c + t.a, t.d, t.e, t.f)  # one pixel east
    with pytest.raises(RejectedProducts) as caught:
        run_annual(str(tmp_path / "in"), "T31TCH", SEASON, get_settings())
    assert [r.product for r in caught.value.rejected] == [first.name]
    result = run_annual(str(tmp_path / "in"), "T31TCH", SEASON, get_settings(), strict=False)
    assert [r.product for r in result.rejected] == [first.name]
    shutil.rmtree(first)
    assert_equals_reference(result, tmp_path / "in")


def test_landsat_covering_part_of_the_tile(tmp_path: Path) -> None:
    """Pixels outside a Landsat raster's extent are invalid, not 'no snow'."""
    paths = make_season(tmp_path, "T31TCH", SEASON, SIZE, "muscate", False, seed=10)
    for product in (p for p in paths if p.name.startswith("LANDSAT8")):
        tif = product / f"{product.name}_SNW_XS.tif"
        with rasterio.open(tif) as ds:
            profile, codes = ds.profile, ds.read(1)
        half = codes[:, : codes.shape[1] // 2]
        profile.update(width=half.shape[1])
        with rasterio.open(tif, "w", **profile) as ds:
            ds.write(np.where(half == 255, 0, half).astype(np.uint8), 1)  # valid up to its edge
    result = run_annual(str(tmp_path), "T31TCH", SEASON, get_settings())
    assert_equals_reference(result, tmp_path)


def test_any_thread_count_gives_the_same_maps_and_lists(tmp_path: Path) -> None:
    """One thread and four on the same products, a corrupt one in the middle: the same rejection
    (strict), the same maps, used and rejected products (not strict), equal to the reference."""
    paths = make_season(tmp_path / "in", "T31TCH", SEASON, SIZE, "muscate", False, seed=11)
    corrupt = _first_s2(paths[len(paths) // 2:])
    garble_pixels(corrupt)
    results, errors = [], []
    for threads in (1, 4):
        settings = get_settings(threads=threads)
        with pytest.raises(RejectedProducts) as caught:
            run_annual(str(tmp_path / "in"), "T31TCH", SEASON, settings)
        errors.append(str(caught.value))
        results.append(run_annual(str(tmp_path / "in"), "T31TCH", SEASON, settings, strict=False))
    assert errors[0] == errors[1] and corrupt.name in errors[0]
    one, four = results
    assert [r.product for r in one.rejected] == [corrupt.name]
    assert [str(r) for r in one.rejected] == [str(r) for r in four.rejected]
    assert [p.id.name for p in one.used] == [p.id.name for p in four.used]
    for (kind, a), (_, b) in zip(one.maps.items(), four.maps.items(), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b), kind
    shutil.rmtree(corrupt)
    assert_equals_reference(four, tmp_path / "in")
