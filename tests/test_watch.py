"""The arrival sources' products become ``snow.product.arrived`` events: the flows of flows.watch and
the watcher of flows.serve, against real servers on loopback (a moto S3 + SQS server, a small
GEODES-like STAC API) and Prefect's test harness (events are recorded with Prefect's
``AssertingEventsClient``). The sources themselves are tested in tests/test_arrivals.py."""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.serve import watch
from flows.watch import ARRIVED, emit_arrival, poll_stac_api, sweep
from snowdays.errors import StorageError
from snowdays.names import parse_name
from snowdays.season import parse_season
from snowdays.settings import get_settings
from tests.arrivaldata import (
    DATASET,
    KEY,
    Geodes,
    first_folded,
    geodes_api,
    geodes_settings,
    notified_bucket,
    partly_folded,
    pid_of,
)
from tests.conftest import S3Server

SEASON = parse_season("2017-2018")
Events = Callable[[], list[Any]]


@pytest.fixture
def geodes(zipped_season: list[Path]) -> Iterator[Geodes]:
    """Five products of T31TCH."""
    with geodes_api(zipped_season[:5]) as api:
        yield api


def announced(events: Events) -> list[dict[str, str]]:
    """The resources of the arrival events (flow runs emit events of their own)."""
    return [dict(e.resource.items()) for e in events() if e.event == ARRIVED]


def arrivals(events: Events) -> Counter[str]:
    """How many arrival events each product got."""
    return Counter(r["prefect.resource.name"] for r in announced(events))


def test_emit_arrival_sends_the_contract_resource(prefect_events: Events) -> None:
    name = "SENTINEL2A_20170821-103629-085_L2B-SNOW_T31TCH_C_V1-7"
    sent = emit_arrival(f"s3://bucket/archive/{name}.zip", parse_name(name))
    [event] = [e for e in prefect_events() if e.event == ARRIVED]
    assert sent is not None and event.id == sent.id
    assert dict(event.resource.items()) == {
        "prefect.resource.id": f"snow.product.{name}", "prefect.resource.name": name,
        "tile": "T31TCH", "platform": "SENTINEL2A", "acquired": "2017-08-21",
        "href": f"s3://bucket/archive/{name}.zip",
    }


def test_sweep_emits_one_event_per_pending_product(tmp_path: Path, zipped_season: list[Path],
                                                   other_tile_zips: list[Path],
                                                   prefect_events: Events) -> None:
    """Of a tile with a partly filled store, only the products its ledger lacks; every product of a
    tile without a store; nothing for an entry that is not a product."""
    archive, store, ours, theirs, folded = partly_folded(tmp_path, zipped_season[:6], other_tile_zips)

    hrefs = sweep(str(archive), store)

    expected = {pid_of(p).name for p in ours + theirs if p not in folded}
    assert {pid_of(Path(h)).name for h in hrefs} == expected
    assert arrivals(prefect_events) == Counter(expected)
    tiles = {r["prefect.resource.name"]: r["tile"] for r in announced(prefect_events)}
    assert {tiles[pid_of(p).name] for p in theirs} == {"T32TLR"}


def test_sweep_leaves_the_tiles_whose_update_run_is_queued(tmp_path: Path, zipped_season: list[Path],
                                                          other_tile_zips: list[Path],
                                                          prefect_events: Events) -> None:
    """A tile with an update run scheduled (waiting for its window or a run slot) gets no events: that
    run folds its pending products when it starts. A tile whose run has ended gets them."""
    from prefect.client.orchestration import get_client  # noqa: PLC0415
    from prefect.client.schemas.objects import State  # noqa: PLC0415
    from prefect.states import Completed, Scheduled  # noqa: PLC0415

    from flows.update_tile import update_tile  # noqa: PLC0415

    archive, store, ours, _, folded = partly_folded(tmp_path, zipped_season[:6], other_tile_zips)
    later: State[Any] = Scheduled(scheduled_time=datetime.now(UTC) + timedelta(hours=1))
    with get_client(sync_client=True) as client:
        runs = [client.create_flow_run(update_tile, parameters={"tile": "T32TLR"}, state=later),
                client.create_flow_run(update_tile, parameters={"tile": "T31TCH"}, state=Completed())]
        try:
            hrefs = sweep(str(archive), store)
        finally:
            for run in runs:
                client.delete_flow_run(run.id)

    expected = {pid_of(p).name for p in ours if p not in folded}
    assert {pid_of(Path(h)).name for h in hrefs} == expected
    assert arrivals(prefect_events) == Counter(expected)


def test_stac_api_products_are_announced_once_in_place(geodes: Geodes, zipped_season: list[Path],
                                                       tmp_path: Path,
                                                       prefect_events: Events,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The flow (settings from the environment) downloads the products the archive lacks, one event
    each with its href in the archive; a second poll finds nothing new."""
    archive = tmp_path / "archive"
    archive.mkdir()
    shutil.copy(zipped_season[0], archive)
    for name, value in {"SNOWDAYS_GEODES_URL": geodes.url, "SNOWDAYS_GEODES_API_KEY": KEY,
                        "SNOWDAYS_GEODES_DATASETS": json.dumps([DATASET]),
                        "SNOWDAYS_WATCH_TILES": '["T31TCH"]'}.items():
        monkeypatch.setenv(name, value)

    hrefs = poll_stac_api(str(archive))

    new = zipped_season[1:5]
    assert hrefs == [str(archive / p.name) for p in new]
    assert arrivals(prefect_events) == Counter(pid_of(p).name for p in new)
    assert {r["href"] for r in announced(prefect_events)} == set(hrefs)
    assert all((archive / p.name).read_bytes() == p.read_bytes() for p in new)
    assert poll_stac_api(str(archive)) == []
    assert len(geodes.searches) == 2
    assert sum(arrivals(prefect_events).values()) == len(new)


def test_a_half_download_announces_the_products_before_it(geodes: Geodes, zipped_season: list[Path],
                                                          tmp_path: Path, prefect_events: Events,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection drops halfway through the third product: the run fails, and the two products in
    place before it have their events, the broken one none."""
    geodes.truncated.add(pid_of(zipped_season[2]).name)
    monkeypatch.setenv("SNOWDAYS_GEODES_URL", geodes.url)
    monkeypatch.setenv("SNOWDAYS_GEODES_API_KEY", KEY)

    with pytest.raises(StorageError, match=r"Could not download"):
        poll_stac_api(str(tmp_path / "archive"), ["T31TCH"])

    assert arrivals(prefect_events) == Counter(pid_of(p).name for p in zipped_season[:2])


def stop_when(stop: threading.Event, done: Callable[[], bool]) -> Callable[[], None]:
    """A watcher's beat that stops it once ``done()``."""
    return lambda: stop.set() if done() else None


def test_the_watcher_announces_sqs_notifications(s3_server: S3Server, zipped_season: list[Path],
                                                 prefect_events: Events) -> None:
    """With a queue set, the watcher announces the products its bucket's notifications name, once
    each, and stops when told between two polls."""
    stop = threading.Event()
    bucket = notified_bucket(s3_server)
    settings = bucket.settings.model_copy(update={"sqs_queue_url": bucket.queue_url,
                                                  "archive": bucket.archive})
    for path in zipped_season[:3]:
        bucket.s3.upload_file(str(path), bucket.name, f"archive/{path.name}")

    watch(settings, stop, stop_when(stop, lambda: bucket.left() == 0))

    assert arrivals(prefect_events) == Counter(pid_of(p).name for p in zipped_season[:3])
    hrefs = {r["href"] for r in announced(prefect_events)}
    assert hrefs == {f"{bucket.archive}/{p.name}" for p in zipped_season[:3]}


def test_the_watcher_searches_the_stac_api_for_watched_tiles(geodes: Geodes, zipped_season: list[Path],
                                                             tmp_path: Path, prefect_events: Events) -> None:
    """With tiles watched (and no queue), the watcher announces what the search downloads."""
    stop = threading.Event()
    settings = geodes_settings(geodes, archive=str(tmp_path / "archive"), watch_tiles=["T31TCH"],
                               watch_poll_seconds=0.01)

    watch(settings, stop, stop_when(stop, lambda: len(geodes.searches) == 1))

    assert arrivals(prefect_events) == Counter(pid_of(p).name for p in zipped_season[:5])


def test_the_watcher_looks_at_a_folder(zipped_season: list[Path], tmp_path: Path,
                                       prefect_events: Events) -> None:
    """Else the watcher announces the archive's products not folded yet, then a new one, once each."""
    archive, store = first_folded(tmp_path, zipped_season[:3])
    settings = get_settings(archive=str(archive), store=str(store), watch_poll_seconds=0.01)
    stop = threading.Event()
    beats: list[None] = []

    def beat() -> None:
        beats.append(None)
        if len(beats) == 2:
            shutil.copy(zipped_season[3], archive)
        elif len(beats) == 4:
            stop.set()

    watch(settings, stop, beat)

    assert arrivals(prefect_events) == Counter(pid_of(p).name for p in zipped_season[1:4])
