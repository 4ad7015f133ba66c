"""``snowdays backfill`` through the whole local stack (``snowdays up``, every part a real server on
127.0.0.1): the command starts a run of the served ``backfill`` deployment and follows it. The run is
killed with SIGKILL in its midst (its own process and the Dask workers' processes, as a lost node
would take them; the nannies start the workers again), and the command reports it crashed. The
command started again finishes the backfill: every tile-season equals ``snowdays annual`` on its
products, built once, none counted twice; the killed run's tile locks lapse within their lease; the
tile items and the regional mosaic's item are in the STAC API, where the viewer finds its seasons."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]  # distributed's dependency
import pytest

from infra.postgres import LocalPostgres
from infra.stack import Stack, urls
from snowdays.archive import pending
from snowdays.settings import Settings
from snowdays.store import tiles
from tests.backfilldata import LABEL, TILES, assert_like_annual, assert_published, backfills, region_archive
from tests.conftest import console_script
from tests.stacdata import database
from tests.stackenv import stack_settings

pytestmark = pytest.mark.timeout(1200)
LEASE = 60
"""Seconds a tile's lock outlives the run killed holding it."""


def served(api: str) -> None:
    """Wait until the stack serves the backfill deployment."""
    deadline = time.monotonic() + 240
    while httpx.get(f"{api}/deployments/name/backfill/backfill", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the backfill deployment is not served"
        time.sleep(1)


def the_run(stack: Stack, since: float) -> list[psutil.Process]:
    """The processes of a backfill run: those the served deployments started for it (the flow run)
    and the Dask workers' processes, which run its tasks."""
    found = []
    for part, child in stack.running:
        below = psutil.Process(child.pid).children(recursive=True)
        if part.name == "pipeline":
            found += [p for p in below if p.create_time() >= since]
        elif part.name == "dask-workers":
            found += below
    return found


def kill_when_one_is_built(stack: Stack, settings: Settings, since: float) -> list[str]:
    """SIGKILL the run once a tile-season is committed; the tiles built by then."""
    deadline = time.monotonic() + 300
    while not (built := [t for t in tiles(settings.store, settings) if backfills(t, settings)]):
        assert time.monotonic() < deadline, "no tile-season built in time"
        time.sleep(0.05)
    for process in the_run(stack, since):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    return built


def test_a_backfill_killed_on_the_stack_and_started_again(postgres: LocalPostgres, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    env = {"ARCHIVE": tmp_path / "archive", "STORE": tmp_path / "stores",
           "STAC_CATALOG": tmp_path / "catalog", "STAC_DATABASE_URL": database(postgres, "backfillstack"),
           "STAC_POSTGRES_DATA": "", "DASK_WORKERS": "2", "SWEEP_INTERVAL_SECONDS": "3600",
           "LOCK_LEASE_SECONDS": str(LEASE)}
    with stack_settings(tmp_path, **env) as settings:
        region = region_archive(tmp_path, settings)
        with Stack(settings, tmp_path / "logs") as stack:
            at = urls(settings.ports)
            child = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
            child["PREFECT_API_URL"] = f"{at['Prefect UI']}/api"
            served(child["PREFECT_API_URL"])
            command = [str(console_script()), "backfill", "--region", str(region), "--season", LABEL]
            since = time.time()
            first = subprocess.Popen(command, env=child, cwd=tmp_path, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
            built = kill_when_one_is_built(stack, settings, since)
            said, _ = first.communicate(timeout=120)
            assert first.returncode == 1 and ": Crashed" in said, said
            left = [t for t in TILES if pending(settings.archive, settings.store, t, settings, LABEL)]
            assert left, "the backfill ended before it was killed: nothing to resume"

            again = time.monotonic()
            done = subprocess.run(command, env=child, cwd=tmp_path, capture_output=True,
                                  text=True, timeout=600, check=False)
            logs = (tmp_path / "logs" / "pipeline.log").read_text()[-3000:]
            assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{logs}"
            assert ": Completed" in done.stdout
            with capsys.disabled():
                print(f"\nkilled after {len(TILES) - len(left)} of {len(TILES)} tile-seasons (seen: "
                      f"{len(built)}); started again, done "
                      f"in {time.monotonic() - again:.0f} s (locks leased {LEASE} s)")
            for tile in TILES:
                assert len(backfills(tile, settings)) == 1, tile  # the killed run's kept, none redone
            assert_like_annual(tmp_path, settings)
            assert_published(region, settings)
            stac = at["STAC API"]
            for tile in TILES:
                item = httpx.get(f"{stac}/collections/snow-cover-duration/items/"
                                 f"scd-{tile.lower()}-{LABEL}", timeout=30)
                assert item.status_code == 200, tile
            mosaic = httpx.get(f"{stac}/collections/snow-cover-duration-mosaics/items/"
                               f"scd-mosaic-three-{LABEL}", timeout=30)
            assert mosaic.status_code == 200
            assert mosaic.json()["assets"]["scd_display"]["href"]
            config = httpx.get(f"{at['viewer']}config.json", timeout=30).raise_for_status().json()
            assert config["stac_api"].rstrip("/") == stac.rstrip("/")
