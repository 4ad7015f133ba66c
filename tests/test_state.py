"""Folding products one by one, in any order, gives what one batch gives on the same products."""

from __future__ import annotations

import pickle
import random
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from snowdays import state
from snowdays.annual import run_annual
from snowdays.duration import Maps
from snowdays.export import export, season_maps, status
from snowdays.ingest import Status, checkpoint, ingest, seasons_of
from snowdays.names import parse_name
from snowdays.packing import pack, unpack
from snowdays.sample import make_season
from snowdays.season import Season, parse_season
from snowdays.settings import Settings, get_settings
from snowdays.state import Block, folded_day, ledger, load, recompute
from snowdays.store import compact, last_commit, open_repo, read, subgroup
from tests.conftest import RunCli

SEASON = parse_season("2017-2018")
SIZE = 20
SETTINGS = get_settings()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A season with, besides its products, re-published versions of a few of them."""
    folder = tmp_path_factory.mktemp("archive")
    paths = make_season(folder, "T31TCH", SEASON, SIZE, "muscate", True, seed=11)
    for path in paths[10::40]:
        republish(path, value=100 if "SENTINEL2" in path.name else 0)
    return folder


def republish(path: Path, value: int) -> Path:
    """A V9-9 zip of a product whose raster is filled with ``value``."""
    old = path.name.removesuffix(".zip")
    new = old.rsplit("_V", 1)[0] + "_V9-9"
    work = path.parent / "work" / new
    shutil.unpack_archive(path, work.parent)
    (work.parent / old).rename(work)
    for member in work.iterdir():
        member.rename(work / member.name.replace(old, new))
    xml = work / f"{new}_MTD_ALL.xml"
    xml.write_text(xml.read_text().replace(old, new).replace("<PRODUCT_VERSION>1.", "<PRODUCT_VERSION>9.")
                   .replace("9.7<", "9.9<").replace("9.4<", "9.9<"))
    raster = next(work.glob("*_SNW_*.tif"))
    with rasterio.open(raster, "r+") as ds:
        ds.write(np.full(ds.shape, value, np.uint8), 1)
    made = shutil.make_archive(str(path.parent / new), "zip", work.parent, new)
    shutil.rmtree(work.parent)
    return Path(made)


def final_set(stream: list[Path], into: Path) -> Path:
    """The products a batch should see: each acquisition's highest version, once."""
    best: dict[object, Path] = {}
    for p in stream:
        pid = parse_name(p.name)
        if pid.key not in best or pid.version > parse_name(best[pid.key].name).version:
            best[pid.key] = p
    into.mkdir()
    for p in best.values():
        shutil.copy2(p, into / p.name)
    return into


def ingest_all(store: Path, stream: list[Path], settings: Settings = SETTINGS) -> list[str]:
    """Ingest each product once, in the stream's order (a Landsat product first included)."""
    return [ingest(str(store), str(p), settings).outcome for p in stream]


def assert_same(got: Maps, expected: Maps) -> None:
    for (kind, a), (_, b) in zip(got.items(), expected.items(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=kind)


@pytest.mark.slow  # twenty streams of 30 folds
@pytest.mark.parametrize("seed", range(20))
def test_any_order_any_subset_equals_the_batch(archive: Path, tmp_path: Path, seed: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Each order with a different number of products left pending before a fold into the state
    arrays: none (every arrival but the latest day's is folded at once), a few, the default; and
    with the state in one chunk or in nine (the last ones narrower)."""
    rng = random.Random(seed)
    settings = get_settings(pending_max=(0, 3, SETTINGS.pending_max)[seed % 3])
    monkeypatch.setattr(state, "CHUNK", (7, 1098)[seed % 2])
    monkeypatch.setattr(state, "CHUNK_COLS", (8, 1100)[seed % 2])
    products = sorted(p for p in archive.iterdir() if p.suffix == ".zip")
    in_season = [p for p in products if SEASON.in_window(parse_name(p.name).acquired)]
    stream = rng.sample(in_season, 24)
    stream += rng.sample(stream, 3)  # duplicates
    republished = [p for p in in_season if "_V9-9" in p.name]
    stream += [p for p in republished if rng.random() < 0.7]
    rng.shuffle(stream)
    outcomes = ingest_all(tmp_path / "store", stream, settings)
    assert outcomes.count("skipped (duplicate)") >= 3
    expected = run_annual(str(final_set(stream, tmp_path / "final")), "T31TCH", SEASON, SETTINGS)
    got = season_maps(str(tmp_path / "store"), "T31TCH", "2017-2018", SETTINGS)
    if got.as_of == SEASON.stop:
        assert_same(got.maps, expected.maps)
    else:  # year to date: the batch stopped at the latest acquisition folded
        ytd = Season(start=SEASON.start, stop=got.as_of, margin=SEASON.margin)
        batch = run_annual(str(tmp_path / "final"), "T31TCH", ytd, SETTINGS)
        assert_same(got.maps, batch.maps)
    assert got.products == len(list((tmp_path / "final").iterdir()))


@pytest.mark.slow  # a whole season folded one by one
def test_year_to_date_then_the_whole_season(archive: Path, tmp_path: Path) -> None:
    products = sorted((p for p in archive.iterdir() if p.suffix == ".zip"
                       and "_V9-9" not in p.name), key=lambda p: parse_name(p.name).acquired)
    products = [p for p in products if SEASON.in_window(parse_name(p.name).acquired)]
    half = [p for p in products if parse_name(p.name).acquired.date() <= date(2018, 1, 20)]
    ingest_all(tmp_path / "store", half)
    ytd = season_maps(str(tmp_path / "store"), "T31TCH", "2017-2018", SETTINGS)
    latest = max(parse_name(p.name).acquired.date() for p in half)
    assert ytd.as_of == latest
    folder = final_set(half, tmp_path / "half")
    batch = run_annual(str(folder), "T31TCH", Season(start=SEASON.start, stop=latest), SETTINGS)
    assert_same(ytd.maps, batch.maps)
    store = str(tmp_path / "store")
    named = export(store, "T31TCH", "2017-2018", tmp_path / "ytd", SETTINGS, today=date(2018, 2, 1))
    assert all(f"_20170901_{latest:%Y%m%d}_" in p.name for p in named)
    asked = export(store, "T31TCH", "2017-2018", tmp_path / "a", SETTINGS, annual=True)
    assert all("_20170901_20180831_" in p.name for p in asked)
    ingest_all(tmp_path / "store", products[len(half):])
    whole = season_maps(str(tmp_path / "store"), "T31TCH", "2017-2018", SETTINGS)
    assert whole.as_of == SEASON.stop
    everything = final_set(products, tmp_path / "all")
    assert_same(whole.maps, run_annual(str(everything), "T31TCH", SEASON, SETTINGS).maps)
    past = season_maps(str(tmp_path / "store"), "T31TCH", "2017-2018", SETTINGS, ytd.as_of)
    assert_same(past.maps, ytd.maps)  # as of an earlier date: recomputed from the cube


def test_margins_fold_into_both_seasons_and_status_tells(archive: Path, tmp_path: Path) -> None:
    edge = next(p for p in sorted(archive.iterdir())
                if p.suffix == ".zip" and "SENTINEL2" in p.name
                and len(seasons_of(parse_name(p.name).acquired.date(), SETTINGS)) == 2)
    report = ingest(str(tmp_path / "store"), str(edge), SETTINGS)
    assert report.outcome == "folded" and len(report.seasons) == 2
    assert (report.status, report.detail, report.changed) == (Status.FOLDED, "", True)
    again = ingest(str(tmp_path / "store"), str(edge), SETTINGS)
    assert (again.status, again.detail, again.changed) == (Status.SKIPPED, "duplicate", False)
    assert again.outcome == "skipped (duplicate)"
    bad = tmp_path / "SENTINEL2A_20180101-103629-000_L2B-SNOW_T31TCH_C_V1-7.zip"
    bad.write_bytes(b"not a zip")
    rejected = ingest(str(tmp_path / "store"), str(bad), SETTINGS)
    assert rejected.outcome.startswith("rejected (not a readable zip archive")
    assert rejected.status is Status.REJECTED and not rejected.changed
    [tile] = status(str(tmp_path / "store"), SETTINGS)
    assert [s.products for s in tile.seasons] == [1, 1]
    assert [q["product"] for q in tile.quarantined] == [bad.stem]


@settings(deadline=None)  # the first example compiles the kernels
@given(arrays(np.uint8, st.tuples(st.integers(1, 5), st.integers(1, 13))))
def test_the_cube_packs_classes_four_to_a_byte(raw: npt.NDArray[np.uint8]) -> None:
    packed = pack(raw)
    assert packed.shape == (raw.shape[0], -(-raw.shape[1] // 4))
    expected = np.where(raw == 0, 0, np.where(raw <= 100, 1, 255))
    np.testing.assert_array_equal(unpack(packed, raw.shape[1]), expected)


def test_compacting_drops_the_history_and_keeps_the_maps(archive: Path, tmp_path: Path,
                                                         snowdays_cli: RunCli) -> None:
    store = tmp_path / "store"
    products = sorted((p for p in archive.iterdir() if p.suffix == ".zip" and "_V9-9" not in p.name),
                      key=lambda p: parse_name(p.name).acquired)[:12]
    eager = get_settings(pending_max=0)  # the state arrays are written again at every arrival
    ingest_all(store, products, eager)
    before = season_maps(str(store), "T31TCH", "2017-2018", eager)
    repo = open_repo(str(store), "T31TCH", eager)
    commits, tip = len(list(repo.ancestry(branch="main"))), last_commit(repo).id
    kept = snowdays_cli(["compact", "--store", str(store)], {}, tmp_path)  # keeps 30 days by default
    assert (kept.returncode, kept.stdout) == (0, "T31TCH: 0 commits expired, 0 chunks (0.0 MB) deleted\n")
    size = disk_bytes(store)

    done = compact(repo, keep=timedelta(0), grace=timedelta(0))
    assert done.snapshots_expired >= commits - 2 and done.bytes_deleted > 0  # tiny chunks: in manifests
    # what compaction writes back (the branch's ref, the repository's config) may grow by a few bytes
    assert disk_bytes(store) <= size - done.bytes_deleted + 4096
    assert disk_bytes(store) < size // 2
    repo = open_repo(str(store), "T31TCH", eager)
    assert last_commit(repo).id == tip and len(list(repo.ancestry(branch="main"))) < commits
    assert_same(season_maps(str(store), "T31TCH", "2017-2018", eager).maps, before.maps)
    later = sorted((p for p in archive.iterdir() if p.suffix == ".zip" and "_V9-9" not in p.name),
                   key=lambda p: parse_name(p.name).acquired)[12:14]
    assert ingest_all(store, later, eager) == ["folded", "folded"]
    batch = run_annual(str(final_set([*products, *later], tmp_path / "all")), "T31TCH",
                       Season(start=SEASON.start, stop=parse_name(later[-1].name).acquired.date()),
                       eager)
    assert_same(season_maps(str(store), "T31TCH", "2017-2018", eager).maps, batch.maps)


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_a_checkpoint_merges_chunks_written_anywhere_and_commits_once(
        archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunks of a checkpoint are folded on forks sent away and back pickled, as Dask sends
    them, in any order; one that fails leaves the tile as it was; the next checkpoint does it all."""
    monkeypatch.setattr(state, "CHUNK", 8)
    monkeypatch.setattr(state, "CHUNK_COLS", 8)
    store, lazy = str(tmp_path / "store"), get_settings(pending_max=1000)
    products = sorted((p for p in archive.iterdir() if p.suffix == ".zip" and "_V9-9" not in p.name
                       and seasons_of(parse_name(p.name).acquired.date(), lazy) == [("2017-2018", SEASON)]),
                      key=lambda p: parse_name(p.name).acquired)[:20]
    ingest_all(tmp_path / "store", products, lazy)  # all pending: the state arrays are untouched
    repo = open_repo(store, "T31TCH", lazy)
    before = last_commit(repo).id

    def failing(fn: Callable[..., Any], forks: list[Any], jobs: list[Block]) -> list[Any]:
        done = [fn(fork, job) for fork, job in zip(forks[:4], jobs[:4], strict=True)]
        raise ConnectionError(f"worker lost after {len(done)} chunks")

    eager = get_settings(pending_max=0)
    with pytest.raises(ConnectionError):
        checkpoint(store, "T31TCH", eager, failing)
    assert last_commit(repo).id == before

    sent: list[Block] = []

    def shipped(fn: Callable[..., Any], forks: list[Any], jobs: list[Block]) -> list[Any]:
        pairs = list(zip(forks, jobs, strict=True))[::-1]
        sent.extend(job for _, job in pairs)
        return [shipped_back(fn(shipped_back(f), job)) for f, job in pairs]

    def shipped_back(x: Any) -> Any:
        return pickle.loads(pickle.dumps(x))  # noqa: S301 - our own bytes, as Dask sends them

    assert checkpoint(store, "T31TCH", eager, shipped) == ["2017-2018"]
    assert len(sent) == 9 and {b.cols for b in sent} == {(0, 8), (8, 16), (16, 20)}
    group = subgroup(read(open_repo(store, "T31TCH", eager)), "seasons/2017-2018")
    entries, latest = ledger(group), max(e.day for e in ledger(group))
    assert folded_day(group) == latest - 1 and last_commit(repo).message == "checkpoint 2017-2018"
    stored = load(group, SEASON.n_days)
    fresh = recompute(group, SEASON.n_days, entries, latest - 1)  # the cube alone, in one block
    open_run = fresh.last_snow == 1  # run_start is stored as 0 where no run is open
    for name in state.STATE:
        got, want = getattr(stored, name), getattr(fresh, name)
        where = open_run if name == "run_start" else np.ones_like(open_run)
        np.testing.assert_array_equal(got[where], want[where], err_msg=name)
    assert_same(stored.maps(latest), fresh.maps(latest))
    assert checkpoint(store, "T31TCH", eager) == []  # nothing due: no commit
    assert last_commit(repo).message == "checkpoint 2017-2018"
