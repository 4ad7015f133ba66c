"""A tile-season built in batch (snowdays.backfill): the store it leaves equals the one products folded
one by one and checkpointed leave, its maps those of ``snowdays annual`` on the same products; later
arrivals fold on top; a complete tile-season is skipped; a bad product is quarantined and the others
built."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from snowdays.annual import run_annual
from snowdays.backfill import backfill_season, region_tiles
from snowdays.export import season_maps
from snowdays.ingest import ingest
from snowdays.names import parse_name
from snowdays.regions import Region
from snowdays.season import Season
from snowdays.settings import Settings, get_settings
from snowdays.state import STATE, folded_day, ledger
from snowdays.store import array, attr, last_commit, open_repo, read, subgroup
from tests.stacdata import sample

TILE, LABEL = "T31TCH", "2017-2018"
COUNT = 24
"""Products of the archive: a season's first ones (a few in the margin before its start)."""


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SNOWDAYS_ARCHIVE", str(tmp_path / "archive"))
    monkeypatch.setenv("SNOWDAYS_STORE", str(tmp_path / "stores"))
    monkeypatch.setenv("SNOWDAYS_PENDING_MAX", "0")  # ingest checkpoints after every product
    return get_settings()


def archive(tmp_path: Path, settings: Settings, count: int = COUNT) -> list[Path]:
    """The season's first ``count`` products in the archive, in acquisition order."""
    products = sample(tmp_path / "made", TILE, LABEL, 4)[:count]
    Path(settings.archive).mkdir(exist_ok=True)
    for p in products:
        shutil.copy2(p, Path(settings.archive) / p.name)
    return [Path(settings.archive) / p.name for p in products]


def annual_of(products: list[Path], stop: date, tmp_path: Path, settings: Settings) -> object:
    folder = tmp_path / f"batch-{len(products)}"
    folder.mkdir()
    for p in products:
        shutil.copy2(p, folder / p.name)
    season = settings.season(LABEL)
    return run_annual(str(folder), TILE, Season(start=season.start, stop=stop), settings)


def entries(store: str, settings: Settings) -> tuple[list[tuple[str, str, int]], int]:
    group = subgroup(read(open_repo(store, TILE, settings)), f"seasons/{LABEL}")
    return sorted((e.name, e.checksum, e.day) for e in ledger(group)), folded_day(group)


def state_array(store: str, name: str, settings: Settings) -> np.ndarray:
    group = subgroup(read(open_repo(store, TILE, settings)), f"seasons/{LABEL}")
    return np.asarray(array(group, name)[...])


def assert_same_maps(a: object, b: object) -> None:
    for name in ("scd", "sod", "smod", "nobs"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_a_built_season_is_the_incremental_one_and_the_batch(tmp_path: Path, settings: Settings) -> None:
    products = archive(tmp_path, settings)
    report = backfill_season(settings.store, TILE, LABEL, settings)
    assert report.products == COUNT and report.rejected == []
    repo = open_repo(settings.store, TILE, settings)
    assert last_commit(repo).message == f"backfill {LABEL}: {COUNT} products"
    assert len(list(repo.ancestry(branch="main"))) == 3  # the repository, its store, the build

    one_by_one = str(tmp_path / "incremental")
    for p in products:
        ingest(one_by_one, str(p), settings)
    built, folded = entries(settings.store, settings)
    assert (built, folded) == entries(one_by_one, settings)
    assert len(built) == COUNT and folded == max(day for *_, day in built) - 1
    for name in STATE:  # the state folded as the products were staged, as the checkpoints left it
        np.testing.assert_array_equal(state_array(settings.store, name, settings),
                                      state_array(one_by_one, name, settings), err_msg=name)

    maps = season_maps(settings.store, TILE, LABEL, settings)
    assert_same_maps(maps.maps, season_maps(one_by_one, TILE, LABEL, settings).maps)
    batch = annual_of(products, maps.as_of, tmp_path, settings)
    assert_same_maps(maps.maps, batch.maps)  # type: ignore[attr-defined]
    assert int(maps.maps.nobs.max()) > 5 and int(maps.maps.scd.max()) > 0  # not trivially equal


def test_later_arrivals_fold_on_top(tmp_path: Path, settings: Settings) -> None:
    products = archive(tmp_path, settings, COUNT + 6)
    for p in products[COUNT:]:
        p.rename(tmp_path / p.name)  # not arrived yet
    assert backfill_season(settings.store, TILE, LABEL, settings).products == COUNT
    for p in products[COUNT:]:
        assert ingest(settings.store, str(tmp_path / p.name), settings).changed
    maps = season_maps(settings.store, TILE, LABEL, settings)
    assert maps.products == COUNT + 6
    later = [tmp_path / p.name for p in products[COUNT:]]
    assert_same_maps(maps.maps, annual_of(products[:COUNT] + later, maps.as_of, tmp_path,
                                          settings).maps)  # type: ignore[attr-defined]


def test_a_complete_tile_season_is_skipped_and_a_new_product_completes_it(tmp_path: Path,
                                                                         settings: Settings) -> None:
    products = archive(tmp_path, settings, COUNT + 1)
    products[-1].rename(tmp_path / products[-1].name)
    backfill_season(settings.store, TILE, LABEL, settings)
    repo = open_repo(settings.store, TILE, settings)
    before = last_commit(repo).id
    assert backfill_season(settings.store, TILE, LABEL, settings).products == 0
    assert last_commit(repo).id == before
    shutil.copy2(tmp_path / products[-1].name, products[-1])
    assert backfill_season(settings.store, TILE, LABEL, settings).products == 1
    assert entries(settings.store, settings)[0][-1][0] == products[-1].stem


def test_a_bad_product_is_quarantined_and_the_others_built(tmp_path: Path, settings: Settings) -> None:
    products = archive(tmp_path, settings)
    day = parse_name(products[5].name).acquired
    corrupt = Path(settings.archive) / f"SENTINEL2A_{day:%Y%m%d}-103629-000_L2B-SNOW_T31TCH_C_V1-7.zip"
    corrupt.write_bytes(b"not a zip")
    report = backfill_season(settings.store, TILE, LABEL, settings)
    assert report.products == COUNT
    assert len(report.rejected) == 1 and "not a readable zip archive" in report.rejected[0]
    held = attr(read(open_repo(settings.store, TILE, settings)), "quarantine")
    assert [q["product"] for q in held] == [corrupt.stem]
    assert backfill_season(settings.store, TILE, LABEL, settings).products == 0  # complete


def test_a_polygon_region_takes_the_archive_tiles_it_meets(tmp_path: Path, settings: Settings) -> None:
    archive(tmp_path, settings, 2)
    near = {"type": "Polygon", "coordinates": [[[1.0, 43.0], [1.5, 43.0], [1.5, 43.5], [1.0, 43.0]]]}
    far = {"type": "Polygon", "coordinates": [[[10.0, 46.0], [11.0, 46.0], [11.0, 47.0], [10.0, 46.0]]]}
    assert region_tiles(Region("near", None, near), settings.archive, settings) == [TILE]
    assert region_tiles(Region("far", None, far), settings.archive, settings) == []
    assert region_tiles(Region("list", ("T32TLR", TILE)), settings.archive, settings) == ["T32TLR", TILE]
