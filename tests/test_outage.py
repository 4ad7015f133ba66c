"""A distributor's outage caught up (the region-scale issue): after a pause, the archive receives at once
every product of the outage's days for all 52 tiles of the Alps and the Pyrenees, then a week's backlog.
The whole local stack runs (``snowdays up``: Prefect's server, the deployments served, Dask, the STAC API
on pgstac); the tiles are small (16 pixels a side), the counts real. Every tile's item becomes current,
nothing is lost, the runs stay bounded: at most ``max_runs`` at once, and one writer per tile at a time.
The time to current, the runs made and the stack's peak memory are printed with the result."""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from infra.postgres import LocalPostgres
from infra.stack import Stack, urls
from snowdays.archive import known
from snowdays.names import parse_name
from snowdays.regions import load_region
from snowdays.sample import make_season
from snowdays.season import Season
from snowdays.settings import Settings
from tests.stacdata import database
from tests.stackenv import stack_settings

LABEL = "2017-2018"
WINDOW = Season(start=date(2017, 10, 2), stop=date(2017, 10, 16), margin=0)
"""The days generated: the outage's first days, then a week more (every tile shares the schedule)."""
OUTAGE_PER_TILE = 3
"""Products of each tile in the first wave: 3 x 52 = 156, as many as two days of the region's
production (several orbits a day)."""
MAX_RUNS = 4
WAIT = 900.0
pytestmark = pytest.mark.timeout(4 * WAIT + 300)


@dataclass
class Outage:
    settings: Settings
    stack: Stack
    products: dict[str, list[Path]]
    """Each tile's zipped products, in acquisition order."""
    staging: Path
    put: dict[str, int] = field(default_factory=dict)
    """Products of each tile put in the archive so far."""

    @property
    def prefect(self) -> str:
        return f"{urls(self.settings.ports)['Prefect UI']}/api"

    def land(self, per_tile: int) -> int:
        """Put the next ``per_tile`` products of every tile in the archive, all at once (each renamed
        into place, so that the watcher never sees half a file); returns how many."""
        batch = []
        for tile, paths in self.products.items():
            start = self.put.get(tile, 0)
            batch += paths[start:start + per_tile]
            self.put[tile] = min(start + per_tile, len(paths))
        for path in batch:
            shutil.copy(path, self.staging / path.name)
        for path in batch:
            (self.staging / path.name).replace(Path(self.settings.archive) / path.name)
        return len(batch)

    def current(self) -> list[str]:
        """Tiles whose item in the STAC API does not yet count every product put."""
        api = urls(self.settings.ports)["STAC API"]
        answer = httpx.get(f"{api}/search", params={"collections": "snow-cover-duration", "limit": 100},
                           timeout=30)
        held = {"T" + f["properties"]["grid:code"].removeprefix("MGRS-"): f["properties"]["snowdays:products"]
                for f in answer.json()["features"]} if answer.status_code == 200 else {}
        return sorted(t for t, n in self.put.items() if held.get(t) != n)

    def rss(self) -> int:
        """Resident memory of the whole stack: every part and its children, in bytes."""
        total = 0
        for _, process in self.stack.running:
            try:
                parent = psutil.Process(process.pid)
                total += sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])
            except psutil.NoSuchProcess:
                continue
        return total


def wait_current(outage: Outage) -> tuple[float, int]:
    """Seconds until every tile is current, and the stack's peak memory meanwhile."""
    began, peak = time.monotonic(), 0
    while behind := outage.current():
        peak = max(peak, outage.rss())
        if time.monotonic() - began > WAIT:
            log = (Path(outage.settings.prefect_home).parent / "logs" / "pipeline.log").read_text()
            raise AssertionError(f"{len(behind)} tiles not current within {WAIT:.0f} s ({behind[:5]}...);"
                                 f" the pipeline's log ends:\n{log[-4000:]}")
        time.sleep(2)
    return time.monotonic() - began, peak


@pytest.fixture(scope="module")
def outage(postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    base = tmp_path_factory.mktemp("outage")
    tiles = sorted(set(load_region("alps").tiles or ()) | set(load_region("pyrenees").tiles or ()))
    products = {t: make_season(base / "made" / t, t, WINDOW, 16, "muscate", True, seed=k)
                for k, t in enumerate(tiles)}
    prefect = dataclasses.replace(postgres, database="outage_prefect")
    prefect.create_database()
    env = {"ARCHIVE": base / "archive", "STORE": base / "stores", "STAC_CATALOG": base / "catalog",
           "STAC_DATABASE_URL": database(postgres, "outage"), "STAC_POSTGRES_DATA": "",
           # Prefect's server on PostgreSQL, as a region needs: on SQLite, hundreds of runs lock it
           "PREFECT_DATABASE_URL": prefect.url,
           "WATCH_POLL_SECONDS": "1", "SWEEP_INTERVAL_SECONDS": "60", "TRIGGER_WINDOW_SECONDS": "10",
           "MAX_RUNS": str(MAX_RUNS), "DASK_WORKERS": "2",
           # the regions' mosaics follow each publish (tests/test_mosaic_follows.py), but here each
           # spans the whole Alps or Pyrenees at 20 m over tiles of 16 pixels: their runs would hold
           # the run slots for minutes, so they are set for after the test
           "MOSAIC_WINDOW_SECONDS": "3600"}
    (base / "staging").mkdir()
    with stack_settings(base, **env) as settings, Stack(settings, base / "logs") as stack:
        yield Outage(settings, stack, products, base / "staging")


def flow_runs(prefect: str) -> list[dict[str, Any]]:
    body = {"flows": {"name": {"any_": ["update-tile"]}}, "limit": 200, "offset": 0}
    runs: list[dict[str, Any]] = []
    while page := httpx.post(f"{prefect}/flow_runs/filter", json=body, timeout=60).json():
        runs += page
        body["offset"] = len(runs)
    return runs


def staging_intervals(prefect: str) -> dict[str, list[tuple[datetime, datetime, str]]]:
    """Per tile, when each run's products were staged (its store written): (start, end, run id)."""
    body: dict[str, Any] = {"task_runs": {"name": {"like_": "stage %"}}, "limit": 200, "offset": 0}
    tasks: list[dict[str, Any]] = []
    while page := httpx.post(f"{prefect}/task_runs/filter", json=body, timeout=60).json():
        tasks += page
        body["offset"] = len(tasks)
    spans: dict[tuple[str, str], list[datetime]] = {}
    for t in tasks:
        tile = parse_name(t["name"].removeprefix("stage ")).tile
        for moment in (t["start_time"], t["end_time"]):
            spans.setdefault((tile, t["flow_run_id"]), []).append(datetime.fromisoformat(moment))
    found: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for (tile, run), moments in spans.items():
        found.setdefault(tile, []).append((min(moments), max(moments), run))
    return found


def most_at_once(runs: list[dict[str, Any]]) -> int:
    """The most runs running at one moment (from their start and end times)."""
    moments = sorted([(datetime.fromisoformat(r["start_time"]), 1) for r in runs]
                     + [(datetime.fromisoformat(r["end_time"]), -1) for r in runs])
    level = peak = 0
    for _, step in moments:
        level += step
        peak = max(peak, level)
    return peak


def finished(prefect: str) -> list[dict[str, Any]]:
    """The update runs, once none is left to run: a run's last steps follow its publish, and a tile's
    products landing in several trigger windows leave runs behind that find nothing new (each still
    waits for a run slot, ``max_runs`` at once, on a loaded machine)."""
    deadline = time.monotonic() + WAIT
    while True:
        runs = flow_runs(prefect)
        left = [r for r in runs if r["state_type"] in {"SCHEDULED", "PENDING", "RUNNING"}]
        if not left:
            return runs
        assert time.monotonic() < deadline, f"{len(left)} update runs still to run {WAIT:.0f} s after " \
                                            "every tile was current"
        time.sleep(2)


def check_bounded(outage: Outage) -> int:
    """Every run completed, at most ``max_runs`` at once, one writer per tile at a time; returns the
    number of runs."""
    runs = finished(outage.prefect)
    assert {r["state_type"] for r in runs} == {"COMPLETED"}, [r["state_name"] for r in runs]
    assert most_at_once(runs) <= MAX_RUNS
    for tile, spans in staging_intervals(outage.prefect).items():
        spans.sort()
        for (_, end, run), (start, _, other) in itertools.pairwise(spans):
            assert end <= start, f"{tile}: runs {run} and {other} wrote its store at once"
    return len(runs)


def check_nothing_lost(outage: Outage) -> None:
    for tile, paths in outage.products.items():
        put = {parse_name(p.name).name for p in paths[:outage.put[tile]]}
        assert known(outage.settings.store, tile, outage.settings) == put, tile


def test_an_outage_and_a_weeks_backlog_are_caught_up(outage: Outage,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    first = outage.land(OUTAGE_PER_TILE)
    assert first == 3 * 52
    burst, burst_peak = wait_current(outage)
    burst_runs = check_bounded(outage)
    check_nothing_lost(outage)
    backlog = outage.land(len(max(outage.products.values(), key=len)))
    assert backlog >= 3 * 52  # a week of every tile: three products or more each
    week, week_peak = wait_current(outage)
    runs = check_bounded(outage)
    check_nothing_lost(outage)
    assert runs >= 2 * 52  # each tile's waves each need a run of their own
    with capsys.disabled():
        print(f"\noutage: {first} products current in {burst:.0f} s ({burst_runs} runs, peak "
              f"{burst_peak / 2**30:.1f} GiB); a week's backlog of {backlog} in {week:.0f} s "
              f"({runs - burst_runs} runs, peak {week_peak / 2**30:.1f} GiB)")
