"""The regional mosaics kept current: the regions holding a tile; the ``snow.tile.published`` trigger
of the ``mosaic`` deployment (as served and as registered from ``prefect.yaml``), evaluated by a real
Prefect server; and end to end on the local stack (``snowdays up``'s Prefect server, Dask, pipeline):
a product lands for one tile of a region whose mosaic is built, the update run publishes and announces
it, the trigger runs the mosaic, whose blocks over that tile are built again and the others left as
they were, and the mosaic item's as-of date moves in the catalog and in pgstac."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.events.schemas.automations import Posture
from prefect.events.worker import EventsWorker
from rasterio.warp import transform

from flows.mosaic import PUBLISHED, emit_published, mosaic, published_trigger
from flows.serve import deployments
from flows.update_tile import update_tile
from infra.postgres import LocalPostgres
from infra.register import default_template, load, register
from infra.stack import Stack, urls
from snowdays.archive import pending
from snowdays.errors import BadInput, UsageError
from snowdays.names import parse_name
from snowdays.regions import regions_holding
from snowdays.settings import Settings, get_settings
from snowdays.tiling import tile_origin
from stac.mosaics import build, publish_mosaic
from tasks.tile import held
from tests.conftest import _free_port
from tests.mosaicdata import LABEL, UNTIL, make_tiles
from tests.mosaicdata import update_tile as publish_more
from tests.stacdata import database, pipeline_env, sample
from tests.stackenv import stack_settings

ROOT = Path(__file__).resolve().parents[1]
WINDOW = Settings.model_fields["mosaic_window_seconds"].default


def lonlat_inside(tile: str, east: float, south: float) -> tuple[float, float]:
    """Longitude and latitude of the point ``east`` and ``south`` metres from the tile's corner (a
    point transformed alone, not the library's footprint)."""
    crs, x0, y0 = tile_origin(tile)
    [lon], [lat] = transform(crs, "EPSG:4326", [x0 + east], [y0 - south])
    return float(lon), float(lat)


def square(lon: float, lat: float, half: float) -> dict[str, Any]:
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
            [lon - half, lat + half], [lon - half, lat - half]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_the_regions_holding_a_tile(tmp_path: Path) -> None:
    """The shipped lists (as their files say), then the region files: a list naming the tile, a
    polygon meeting its square; neither for a tile far away."""
    shipped = {name: (ROOT / "snowdays" / "data" / f"{name}.txt").read_text()
               for name in ("alps", "pyrenees")}
    assert "\nT31TCH" in shipped["pyrenees"] and "T31TCH" not in shipped["alps"]
    assert "\nT31TGL" in shipped["alps"] and "T31TGL" not in shipped["pyrenees"]
    assert regions_holding("T31TCH") == ["pyrenees"]
    assert regions_holding("31tgl") == ["alps"]
    assert regions_holding("T31UDQ") == []
    listed = tmp_path / "boundary.txt"
    listed.write_text("# two tiles\nT31TGL, T32TLR\n")
    near = tmp_path / "near.geojson"  # a square of 2 km or so, 50 km inside T31TCH
    near.write_text(json.dumps(square(*lonlat_inside("T31TCH", 50_000, 50_000), 0.01)))
    files = [str(listed), str(near)]
    assert regions_holding("T31TGL", files) == ["alps", str(listed)]
    assert regions_holding("T32TLR", files) == ["alps", str(listed)]
    assert regions_holding("T31TCH", files) == ["pyrenees", str(near)]
    assert regions_holding("T31UDQ", files) == []
    inside_edge = tmp_path / "edge.geojson"  # 500 m inside T31TCH's eastern edge: the square meets it
    inside_edge.write_text(json.dumps(square(*lonlat_inside("T31TCH", 109_300, 50_000), 0.002)))
    assert str(inside_edge) in regions_holding("T31TCH", [str(inside_edge)])


def test_a_bad_region_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("T31TGL nonsense\n")
    with pytest.raises(BadInput, match=rf"{bad}: .*NONSENSE"):
        regions_holding("T31TGL", [str(bad)])


def test_the_trigger_of_the_mosaic_deployment() -> None:
    """One run per region and season a window, from the events' labels (strings, as given), started
    when the window is over."""
    trigger = published_trigger(timedelta(seconds=30))
    assert trigger.expect == {PUBLISHED} == {"snow.tile.published"}
    assert trigger.model_dump()["match"] == {"prefect.resource.id": "snow.tile.*"}
    assert trigger.for_each == {"region", "season"}
    assert trigger.posture is Posture.Reactive and trigger.threshold == 1
    assert trigger.within == trigger.schedule_after == timedelta(seconds=30)
    assert trigger.parameters == {"region": "{{ event.resource.region }}",
                                  "season": "{{ event.resource.season }}"}
    served = {d.name: d for d in deployments(get_settings(mosaic_window_seconds=7))}
    [served_trigger] = served["mosaic"].triggers
    assert served_trigger.within == timedelta(seconds=7)


def test_prefect_yaml_keeps_the_mosaic_trigger() -> None:
    """prefect.yaml's trigger is the one ``snowdays up`` serves, its window the setting's."""
    [raw] = {d["name"]: d for d in load(ROOT / "prefect.yaml")["deployments"]}["mosaic"]["triggers"]
    served = published_trigger(timedelta(seconds=WINDOW))
    assert type(served).model_validate({k: v for k, v in raw.items() if k != "type"}).model_dump() \
        == served.model_dump()
    changed = load(ROOT / "prefect.yaml", get_settings(mosaic_window_seconds=WINDOW + 5))
    [raw] = {d["name"]: d for d in changed["deployments"]}["mosaic"]["triggers"]
    assert raw["within"] == raw["schedule_after"] == WINDOW + 5


def test_emit_published_sends_the_contract_resource(prefect_events: Any) -> None:
    sent = emit_published("T31TGL", "2017-2018", "alps")
    [event] = [e for e in prefect_events() if e.event == PUBLISHED]
    assert sent is not None and event.id == sent.id
    assert dict(event.resource.items()) == {
        "prefect.resource.id": "snow.tile.T31TGL.2017-2018", "prefect.resource.name": "T31TGL 2017-2018",
        "tile": "T31TGL", "season": "2017-2018", "region": "alps"}


def test_an_update_announces_each_season_it_publishes_to_each_region_holding_the_tile(
        postgres: LocalPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        prefect_events: Any) -> None:
    """A run on a real server folds a product of T31TCH (pyrenees, and a region file listing it; not
    another listing T31TGL alone) and announces the season it published once to each."""
    settings = pipeline_env(postgres, tmp_path, monkeypatch, "announce")
    listing, other = tmp_path / "south.txt", tmp_path / "east.txt"
    listing.write_text("T31TCH T31TDH\n")
    other.write_text("T31TGL\n")
    monkeypatch.setenv("SNOWDAYS_MOSAIC_REGIONS", json.dumps([str(other), str(listing)]))
    product = in_winter(sample(tmp_path / "made", "T31TCH", LABEL, 3))
    shutil.copy(product, Path(settings.archive) / product.name)
    assert update_tile(tile="T31TCH") == [{"product": product.name.removesuffix(".zip"), "outcome": "folded"}]
    sent = [e.resource for e in prefect_events() if e.event == PUBLISHED]
    assert sorted((r["tile"], r["season"], r["region"]) for r in sent) == [
        ("T31TCH", LABEL, str(listing)), ("T31TCH", LABEL, "pyrenees")]


def in_winter(products: list[Path]) -> Path:
    """The first product of December: in the season 2017-2018 alone."""
    return next(p for p in products if parse_name(p.name).acquired.month == 12)


@pytest.mark.parametrize(("setting", "text", "error"), [
    ("MOSAIC_REGIONS", "T31TCH T99XXX\n", (BadInput, ": .*T99XXX")),
    ("POLYGONS", '{"type": "FeatureCollection", "features": [{"type": "Feature"}]}',
     (UsageError, ": feature 0 is a feature without a geometry"))])
def test_a_bad_region_or_polygons_file_fails_the_update_before_it_changes_anything(
        postgres: LocalPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        prefect_events: Any, setting: str, text: str, error: tuple[type[Exception], str]) -> None:
    settings = pipeline_env(postgres, tmp_path, monkeypatch, "badregion")
    bad = tmp_path / "bad.txt"
    bad.write_text(text)
    listed = setting == "MOSAIC_REGIONS"  # a JSON list of region files; one polygons file
    monkeypatch.setenv(f"SNOWDAYS_{setting}", json.dumps([str(bad)]) if listed else str(bad))
    product = in_winter(sample(tmp_path / "made", "T31TCH", LABEL, 3))
    shutil.copy(product, Path(settings.archive) / product.name)
    with pytest.raises(error[0], match=f"{re.escape(str(bad))}{error[1]}"):
        update_tile(tile="T31TCH")
    assert pending(settings.archive, settings.store, "T31TCH", get_settings()) == [
        str(Path(settings.archive) / product.name)]
    assert not Path(settings.store).exists() or not any(Path(settings.store).iterdir())
    assert not [e for e in prefect_events() if e.event == PUBLISHED]


def emit(tile: str, season: str, region: str) -> None:
    emit_event(event=PUBLISHED, resource={"prefect.resource.id": f"snow.tile.{tile}.{season}",
                                          "tile": tile, "season": season, "region": region})


def test_a_burst_of_publishes_makes_one_run_per_region_and_season(prefect_api: str,
                                                                   tmp_path: Path) -> None:
    """The registered trigger on a real server: a burst of events of two tiles of one region and
    season, and of another region, and another season, gives one run each, with the event's strings
    as parameters, scheduled the window later; an event after the window, one run more."""
    window = 4.0
    done = asyncio.run(register(load(ROOT / "prefect.yaml", get_settings(mosaic_window_seconds=window)),
                                default_template()))
    deployment = done["mosaic"].deployment
    time.sleep(2)  # the server's triggers service loads the new automation
    region_file = str(tmp_path / "boundary.txt")
    start = datetime.now(UTC)
    for tile in ("T31TGL", "T32TLR", "T31TGL", "T32TLR"):
        emit(tile, "2017-2018", "alps")
    emit("T31TGL", "2017-2018", region_file)
    emit("T31TGL", "2018-2019", "alps")
    EventsWorker.instance().wait_until_empty()
    runs = wait_for_runs(deployment, 3, 60, start)
    assert sorted((r.parameters["region"], r.parameters["season"]) for r in runs) == sorted([
        ("alps", "2017-2018"), ("alps", "2018-2019"), (region_file, "2017-2018")])
    assert all(type(v) is str for r in runs for v in r.parameters.values())
    for run in runs:
        assert run.expected_start_time >= start + timedelta(seconds=window - 1), "the window is waited"
    time.sleep(window + 1)
    emit("T32TLR", "2017-2018", "alps")
    EventsWorker.instance().wait_until_empty()
    later = [r for r in wait_for_runs(deployment, 4, 60, start) if r.id not in {r.id for r in runs}]
    assert [(r.parameters["region"], r.parameters["season"]) for r in later] == [("alps", "2017-2018")]
    time.sleep(window)
    assert len(wait_for_runs(deployment, 4, 0, start)) == 4, "no run more"


def wait_for_runs(deployment: Any, count: int, seconds: float, since: datetime) -> list[Any]:
    """The deployment's runs made ``since`` (the session's server holds those of other tests' events
    too), once there are ``count`` of them (or after ``seconds``)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId  # noqa: PLC0415
    from prefect.client.schemas.sorting import FlowRunSort  # noqa: PLC0415

    async def read() -> list[Any]:
        async with get_client() as client:
            runs = await client.read_flow_runs(  # limit and sort given: the server refuses nulls
                flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment])),
                limit=50, sort=FlowRunSort.START_TIME_DESC)
        return [r for r in runs if r.created and r.created >= since]

    deadline = time.monotonic() + seconds
    runs = asyncio.run(read())
    while len(runs) < count and time.monotonic() < deadline:
        time.sleep(0.5)
        runs = asyncio.run(read())
    return runs


def offline() -> Settings:
    """Settings of the tiles' making: a STAC database on a closed port (none needed)."""
    return get_settings(stac_database_url=f"postgresql://127.0.0.1:{_free_port()}/x", stac_connect_timeout=1)


@pytest.mark.slow
def test_a_mosaic_run_waiting_for_another_of_its_region_builds_what_was_published_meanwhile(
        postgres: LocalPostgres, prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a run of the region and season holds its lock, a tile is published again and a second
    run starts: it waits, then plans, so it builds that tile's blocks again (and no others)."""
    tiles = make_tiles(tmp_path / "run", offline())
    region = tmp_path / "boundary.txt"
    region.write_text("T31TGL\nT32TLR\n")
    for key, value in {"STAC_CATALOG": str(tiles.catalog), "MOSAIC_BLOCK": "32", "DASK_WORKERS": "1",
                       "STAC_DATABASE_URL": database(postgres, "held"), "STAC_POSTGRES_DATA": ""}.items():
        monkeypatch.setenv(f"SNOWDAYS_{key}", value)
    first = mosaic(region=str(region), season=LABEL)
    assert len(first["rebuilt"]) == first["blocks"]  # type: ignore[arg-type]
    with ThreadPoolExecutor(1) as pool:
        with held(f"snowdays-mosaic-boundary-{LABEL}", get_settings()):  # the earlier run
            later = pool.submit(mosaic, region=str(region), season=LABEL)
            time.sleep(10)
            assert not later.done(), "the later run waits for the lock"
            publish_more(tiles, "T31TGL", date(2018, 3, 31), offline())
            assert not later.done()
        done = later.result(timeout=240)
    folder = tiles.catalog / "mosaics" / "boundary" / LABEL
    written = manifest(folder)
    assert written["tiles"]["T31TGL"]["as_of"] > "2018-03"
    rebuilt: list[str] = done["rebuilt"]  # type: ignore[assignment]
    over = sorted(b for b, block in written["blocks"].items() if "T31TGL" in block["tiles"])
    assert sorted(rebuilt) == over and len(over) < len(written["blocks"])


# End to end on the local stack.

WAIT = 300.0
"""Seconds the product may take to reach the mosaic (runs start in processes of their own, on a
2-core machine shared with other work)."""


def blocks(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Block id -> its file's inode, time and digest."""
    return {p.stem: (p.stat().st_ino, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted((folder / "blocks").glob("*.tif"))}


def manifest(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "manifest.json").read_text()))


def api_item(url: str, item: str) -> dict[str, Any] | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT content FROM pgstac.items WHERE id = %s", (item,)).fetchone()
    return dict(row[0]) if row else None


def mosaic_runs(prefect: str, name: str = "mosaic-") -> list[dict[str, Any]]:
    body = {"flow_runs": {"name": {"like_": name}}, "limit": 50, "sort": "START_TIME_DESC"}
    return list(httpx.post(f"{prefect}/flow_runs/filter", json=body, timeout=60).raise_for_status().json())


@pytest.mark.timeout(WAIT + 300)
@pytest.mark.slow
def test_a_product_landing_brings_the_regional_mosaic_up_to_date(postgres: LocalPostgres,
                                                                   tmp_path: Path) -> None:
    base = tmp_path / "run"
    tiles = make_tiles(base, get_settings(stac_database_url=f"postgresql://127.0.0.1:{_free_port()}/x",
                                          stac_connect_timeout=1))
    region = base / "boundary.txt"
    region.write_text("T31TGL\nT32TLR\n")
    env = {"ARCHIVE": base / "archive", "STORE": tiles.store, "STAC_CATALOG": tiles.catalog,
           "STAC_DATABASE_URL": database(postgres, "follows"), "STAC_POSTGRES_DATA": "",
           "MOSAIC_REGIONS": json.dumps([str(region)]), "MOSAIC_WINDOW_SECONDS": "5", "MOSAIC_BLOCK": "32",
           "TRIGGER_WINDOW_SECONDS": "2", "WATCH_POLL_SECONDS": "1", "DASK_WORKERS": "1"}
    (base / "archive").mkdir()
    with stack_settings(base, **env) as settings:
        published = publish_mosaic(build_region(region, settings), settings)
        assert published.api_error is None
        folder = tiles.catalog / "mosaics" / "boundary" / LABEL
        before, item = blocks(folder), "scd-mosaic-boundary-2017-2018"
        assert (api_item(settings.stac_database_url, item) or {})["properties"]["snowdays:as_of"] \
            == UNTIL.isoformat()
        product = next(p for p in tiles.products["T31TGL"] if parse_name(p.name).acquired.date() > UNTIL)
        with Stack(settings, base / "logs", only={"prefect", "dask-scheduler", "dask-workers", "pipeline"}):
            started = time.monotonic()
            shutil.copy(product, base / "archive" / product.name)
            day = parse_name(product.name).acquired.date().isoformat()
            prefect = f"{urls(settings.ports)['Prefect UI']}/api"
            runs = wait_until_current(folder, prefect, base / "logs", day)
            took = time.monotonic() - started
            updated = [r["end_time"] for r in mosaic_runs(prefect, "update-T31TGL")]
        check_blocks(before, blocks(folder), manifest(folder))
        catalog_item = json.loads((tiles.catalog / "snow-cover-duration-mosaics" / item / f"{item}.json")
                                  .read_text())
        assert catalog_item["properties"]["snowdays:as_of"] == day
        assert (api_item(settings.stac_database_url, item) or {})["properties"]["snowdays:as_of"] == day
    ours = [r for r in runs if r["parameters"]["region"] == str(region)]
    assert [(r["parameters"], r["state_type"]) for r in ours] == [
        ({"region": str(region), "season": LABEL}, "COMPLETED")], "one run for the region and window"
    assert {r["parameters"]["region"] for r in runs} == {"alps", str(region)}
    [run] = ours
    waited = (datetime.fromisoformat(run["start_time"]) - datetime.fromisoformat(run["created"]))
    print(f"a landed product reached the regional mosaic in {took:.0f} s; the update runs ended at "
          f"{updated}, the mosaic run was made at {run['created']}, started "
          f"{waited.total_seconds():.0f} s later, took "
          f"{run['total_run_time']:.0f} s")  # the figures, with -s


def build_region(region: Path, settings: Settings) -> Any:
    from snowdays.regions import load_region  # noqa: PLC0415

    return build(load_region(str(region)), LABEL, settings)


def wait_until_current(folder: Path, prefect: str, logs: Path, day: str) -> list[dict[str, Any]]:
    """The mosaic runs once the region's mosaic holds T31TGL as of ``day`` and every run is over."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        runs = mosaic_runs(prefect)
        current = manifest(folder)["tiles"]["T31TGL"]["as_of"] == day
        if current and runs and all(r["state_type"] in ("COMPLETED", "FAILED", "CRASHED") for r in runs):
            return runs
        time.sleep(2)
    tail = (logs / "pipeline.log").read_text()[-4000:]
    raise AssertionError(f"the mosaic did not take the product within {WAIT:.0f} s; the pipeline's log "
                         f"ends:\n{tail}")


def check_blocks(before: dict[str, tuple[int, int, str]], after: dict[str, tuple[int, int, str]],
                 written: dict[str, Any]) -> None:
    """The blocks holding T31TGL are written again (one at least with other values), the others are
    the same files, untouched."""
    over = {b for b, block in written["blocks"].items() if "T31TGL" in block["tiles"]}
    assert set(after) == set(before) and over and over != set(before)
    rewritten = {b for b in after if after[b][:2] != before[b][:2]}
    assert rewritten == over
    assert any(after[b][2] != before[b][2] for b in over)
    assert all(after[b] == before[b] for b in set(before) - over)
