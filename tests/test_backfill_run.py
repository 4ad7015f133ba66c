"""A region's backfill run for real: the ``snowdays backfill`` command killed with SIGKILL in its midst,
then started again, leaves every tile-season equal to ``snowdays annual`` on its products, nothing
counted twice, the items and the mosaic published; the ``backfill`` flow on a real Prefect server and
Dask LocalCluster does the same, with its progress artifact, and skips what is complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.postgres import LocalPostgres
from snowdays.archive import pending
from snowdays.settings import Settings, get_settings
from snowdays.store import tiles
from stac.anomaly_items import ANOMALIES
from tests.backfilldata import (
    LABEL,
    TILES,
    assert_like_annual,
    assert_published,
    backfills,
    next_season,
    region_archive,
)
from tests.conftest import console_script
from tests.stacdata import pipeline_env


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

    later = next_season(tmp_path, pipeline, "T31TCH")  # started again with a season more
    again = subprocess.run([*command, "--season", later], env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    assert f"{len(left) + 1} of {2 * len(TILES)} tile-seasons built" in again.stdout
    for tile in TILES:  # the killed one's is kept, none redone
        assert len(backfills(tile, pipeline)) == (2 if tile == "T31TCH" else 1), tile
    assert done and all(t in tiles(pipeline.store, pipeline) for t in TILES)
    assert_like_annual(tmp_path, pipeline)
    assert_published(region, pipeline)
    catalog = Path(pipeline.stac_catalog)  # the later season's anomaly, of its tile and of the region
    assert sorted(p.name for p in catalog.rglob("scd-anomaly-*.json")) == [
        f"scd-anomaly-mosaic-three-{later}.json", f"scd-anomaly-t31tch-{later}.json"]


def test_the_backfill_flow_builds_on_the_cluster_with_its_progress(
        pipeline: Settings, tmp_path: Path, prefect_api: str) -> None:
    from prefect.client.orchestration import get_client  # noqa: PLC0415

    from flows.backfill import backfill  # noqa: PLC0415 - Prefect's flows only here
    from infra.backfill import follow  # noqa: PLC0415
    from tasks.tile import lock_name  # noqa: PLC0415

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

    with get_client(sync_client=True) as client:  # each tile-season held its tile, as an update does
        assert all(client.read_global_concurrency_limit_by_name(lock_name(t)).limit == 1 for t in TILES)

    assert not (Path(pipeline.stac_catalog) / ANOMALIES).exists()  # no tile holds a past season
    later = next_season(tmp_path, pipeline, "T31TCH")
    again = backfill(region=str(region), seasons=[LABEL, later])  # 2017-2018 complete: not built again
    assert again["built"] == 1 and again["published"] == 4
    for tile in TILES:
        assert len(backfills(tile, pipeline)) == (2 if tile == "T31TCH" else 1)
    [item] = Path(pipeline.stac_catalog).rglob("scd-anomaly-t31tch-*.json")  # as an update refreshes it
    assert item.name == f"scd-anomaly-t31tch-{later}.json"
    assert json.loads(item.read_text())["properties"]["snowdays:past_seasons"] == [LABEL]


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
