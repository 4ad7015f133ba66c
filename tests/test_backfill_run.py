"""A region's backfill run for real: the ``snowdays backfill`` command killed with SIGKILL in its midst,
then started again, leaves every tile-season equal to ``snowdays annual`` on its products, nothing
counted twice, the items and the mosaic published; the ``backfill`` flow on a real Prefect server and
Dask LocalCluster does the same, with its progress artifact, and skips what is complete."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from infra.postgres import LocalPostgres
from snowdays.annual import run_annual
from snowdays.archive import pending
from snowdays.export import season_maps
from snowdays.regions import load_region
from snowdays.season import Season
from snowdays.settings import Settings, get_settings
from snowdays.state import ledger
from snowdays.store import open_repo, read, subgroup, tiles
from stac.mosaics import tile_inputs
from tests.conftest import console_script
from tests.stacdata import pipeline_env, sample

LABEL = "2017-2018"
TILES = {"T31TCH": 5, "T31TGL": 6, "T32TLR": 7}
"""Tile -> seed of its generated season (small tiles, each at its real place)."""
COUNT = 60
"""Products of each tile in the archive: its season's first (the autumn)."""


def region_archive(folder: Path, settings: Settings) -> Path:
    """Every tile's first products of the season in the archive; the region's tile list, its file."""
    archive = Path(settings.archive)
    archive.mkdir(exist_ok=True)
    for tile, seed in TILES.items():
        for p in sample(folder / "made" / tile, tile, LABEL, seed)[:COUNT]:
            shutil.copy2(p, archive / p.name)
    region = folder / "three.txt"
    region.write_text("\n".join(TILES) + "\n")
    return region


def backfills(tile: str, settings: Settings) -> list[str]:
    """The messages of the tile's backfill commits."""
    repo = open_repo(settings.store, tile, settings)
    return [c.message for c in repo.ancestry(branch="main") if c.message.startswith("backfill")]


def assert_like_annual(folder: Path, settings: Settings) -> None:
    """Every tile-season's maps are the batch's over the archive's products of the tile, each product
    once in its ledger."""
    for tile in TILES:
        maps = season_maps(settings.store, tile, LABEL, settings)
        batch_folder = folder / f"batch-{tile}"
        batch_folder.mkdir()
        for p in Path(settings.archive).glob(f"*_{tile}_*"):
            shutil.copy2(p, batch_folder / p.name)
        season = settings.season(LABEL)
        batch = run_annual(str(batch_folder), tile, Season(start=season.start, stop=maps.as_of), settings)
        for name in ("scd", "sod", "smod", "nobs"):
            np.testing.assert_array_equal(getattr(maps.maps, name), getattr(batch.maps, name),
                                          err_msg=f"{tile} {name}")
        group = subgroup(read(open_repo(settings.store, tile, settings)), f"seasons/{LABEL}")
        names = [e.name for e in ledger(group)]
        assert len(names) == len(set(names)) and set(names) >= {p.id.name for p in batch.used}
        assert pending(settings.archive, settings.store, tile, settings, LABEL) == []


def assert_published(region: Path, settings: Settings) -> None:
    found, missing = tile_inputs(load_region(str(region)), LABEL, settings.stac_catalog, settings)
    assert missing == [] and sorted(t.tile for t in found) == sorted(TILES)
    mosaic = Path(settings.stac_catalog) / "mosaics" / "three" / LABEL
    assert (mosaic / "scd.tif").is_file() and (mosaic / "manifest.json").is_file()


@pytest.fixture
def pipeline(postgres: LocalPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return pipeline_env(postgres, tmp_path, monkeypatch, f"backfill{os.getpid()}{time.monotonic_ns()}")


def test_a_killed_backfill_started_again_finishes_with_nothing_lost_or_twice(
        pipeline: Settings, tmp_path: Path) -> None:
    region = region_archive(tmp_path, pipeline)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWDAYS_", "PREFECT_API"))}
    env |= {f"SNOWDAYS_{k}": v for k, v in {
        "ARCHIVE": pipeline.archive, "STORE": pipeline.store, "STAC_CATALOG": pipeline.stac_catalog,
        "STAC_DATABASE_URL": pipeline.stac_database_url, "STAC_POSTGRES_DATA": ""}.items()}
    command = [str(console_script()), "backfill", "--region", str(region), "--season", LABEL]
    first = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not any(backfills(t, pipeline) for t in tiles(pipeline.store, pipeline)):
        assert first.poll() is None and time.monotonic() < deadline, "no tile-season built in time"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    left = [t for t in TILES if pending(pipeline.archive, pipeline.store, t, pipeline, LABEL)]
    assert left, "the backfill ended before it was killed: nothing to resume"
    done = [t for t in TILES if t not in left]

    again = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    assert f"{len(left)} of {len(TILES)} tile-seasons built" in again.stdout
    for tile in TILES:
        assert len(backfills(tile, pipeline)) == 1, tile  # the killed one's is kept, none redone
    assert done and all(t in tiles(pipeline.store, pipeline) for t in TILES)
    assert_like_annual(tmp_path, pipeline)
    assert_published(region, pipeline)


def test_the_backfill_flow_builds_on_the_cluster_with_its_progress(
        pipeline: Settings, tmp_path: Path, prefect_api: str) -> None:
    from flows.backfill import backfill  # noqa: PLC0415 - Prefect's flows only here
    from infra.backfill import follow  # noqa: PLC0415

    region = region_archive(tmp_path, pipeline)
    assert pipeline == get_settings()
    state = backfill(region=str(region), seasons=[LABEL], return_state=True)
    result = state.result()
    assert result["tile-seasons"] == 3 and result["built"] == 3 and result["published"] == 3
    assert_like_annual(tmp_path, pipeline)
    assert_published(region, pipeline)
    shown: list[tuple[float, str]] = []  # as the command line follows a run
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    final = follow(run_id, lambda *latest: shown.append(latest), every=0.1)
    assert final.is_completed() and shown[-1][0] == 100.0
    assert shown[-1][1].startswith("3 of 3 tile-seasons; ") and " products; " in shown[-1][1]

    again = backfill(region=str(region), seasons=[LABEL])  # complete: nothing built
    assert again["built"] == 0 and again["products"] == 0 and again["published"] == 3
    for tile in TILES:
        assert len(backfills(tile, pipeline)) == 1


def test_the_command_takes_a_region_and_seasons(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Parsed, checked before anything starts (a bad season or region is a usage error), and handed
    to the run with the region file's absolute path."""
    from cli import pipeline as commands  # noqa: PLC0415
    from cli.app import app  # noqa: PLC0415

    monkeypatch.setenv("SNOWDAYS_ARCHIVE", str(tmp_path))
    monkeypatch.setattr("infra.backfill.api_configured", lambda: True)
    asked: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(commands, "_follow_backfill", lambda r, s: asked.append((r, s)))
    (tmp_path / "mine.txt").write_text("T31TCH\n")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    done = runner.invoke(app, ["backfill", "--region", "mine.txt", "--season", "2016-2017",
                               "--season", LABEL])
    assert done.exit_code == 0, done.output
    assert asked == [(str(tmp_path / "mine.txt"), ["2016-2017", LABEL])]
    assert runner.invoke(app, ["backfill", "--region", "alps", "--season", LABEL]).exit_code == 0
    assert asked[-1] == ("alps", [LABEL])
    bad = runner.invoke(app, ["backfill", "--region", "nowhere", "--season", LABEL])
    assert bad.exit_code != 0
    assert len(asked) == 2
