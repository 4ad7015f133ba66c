"""update_tile on a real Prefect server (Prefect's test harness), a real Dask LocalCluster of worker
processes, a real PostgreSQL with pgstac: pending products become state, COGs, a STAC item and
artifacts; a corrupt product is quarantined and reported without failing the others; a season of a
tile that holds a past one gets its anomaly in the same run."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import cloudpickle  # type: ignore[import-untyped]  # dask's dependency
import httpx
import numpy as np
import psycopg
import pytest
import rasterio
from distributed import LocalCluster, Scheduler
from distributed.diagnostics.plugin import SchedulerPlugin
from prefect.client.orchestration import get_client
from prefect.settings import get_current_settings

from flows.cluster import local_cluster, task_runner, worker_env
from flows.update_tile import update_tile
from infra.postgres import LocalPostgres
from snowdays import state
from snowdays.annual import run_annual
from snowdays.anomaly import anomaly
from snowdays.backfill import build_season
from snowdays.duration import Maps
from snowdays.export import season_maps, status
from snowdays.grid import Grid
from snowdays.names import parse_name
from snowdays.sample import make_season, write_dem
from snowdays.season import Season, parse_season
from snowdays.settings import Settings, get_settings
from snowdays.state import folded_day, ledger, load, recompute
from snowdays.store import attr, last_commit, open_repo, read, subgroup
from snowdays.tiling import tile_grid
from stac.anomaly_items import layers
from stac.validate import validate
from tasks.tile import lock_name
from tests.stacdata import SIZE, pipeline_env, sample

TILE, LABEL = "T31TCH", "2017-2018"
SEASON = parse_season(LABEL)


@pytest.fixture
def pipeline(postgres: LocalPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             prefect_api: str) -> Settings:
    """Settings of a pipeline in ``tmp_path``, in the environment as the flow reads them."""
    return pipeline_env(postgres, tmp_path, monkeypatch, "pipeline")


def run(tile: str, day: str, settings: Settings) -> list[dict[str, str]]:
    assert settings == get_settings()  # the flow reads them from the environment, as a served run does
    return update_tile(tile=tile, day=day)


def artifact(key: str) -> str:
    """The latest version of the artifact ``key``, as the UI reads it (the body the UI sends: this
    server version refuses the client's explicit nulls)."""
    url = f"{get_current_settings().api.url}/artifacts/filter"
    body = {"artifacts": {"key": {"any_": [key]}}, "sort": "UPDATED_DESC", "limit": 1}
    [found] = httpx.post(url, json=body, timeout=30).raise_for_status().json()
    return str(found["data"])


def test_pending_products_are_folded_published_and_reported(pipeline: Settings, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With at most two products pending and the state in nine chunks, each a task on the two Dask
    workers."""
    monkeypatch.setattr(state, "CHUNK", 10)
    monkeypatch.setattr(state, "CHUNK_COLS", 8)
    for key, value in {"PENDING_MAX": "2", "DASK_WORKERS": "2"}.items():
        monkeypatch.setenv(f"SNOWDAYS_{key}", value)
    pipeline = get_settings()
    products = [p for p in sample(tmp_path / "made", TILE, LABEL, 3)
                if date(2017, 9, 20) < parse_name(p.name).acquired.date()][:7]
    first, later = products[:4], products[4:]
    for p in first:
        shutil.copy2(p, Path(pipeline.archive) / p.name)

    started = datetime.now(UTC)
    done = run(TILE, "2017-10-01", pipeline)
    assert sorted(r["product"] for r in done) == sorted(p.stem for p in first)
    assert {r["outcome"] for r in done} == {"folded"}
    [tile] = status(pipeline.store, pipeline)
    assert [s.products for s in tile.seasons] == [4]
    assert_checkpointed(pipeline, first, started)
    text = artifact("update-t31tch")
    assert all(p.stem in text for p in first) and "mean SCD" in text
    [row] = json.loads(artifact("tiles"))  # from the published item
    assert (row["tile"], row["season"], row["products"], row["status"]) == (TILE, LABEL, "4", "final")
    assert row["item"].endswith("/scd-t31tch-2017-2018/scd-t31tch-2017-2018.json")
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(lock_name(TILE)).limit == 1

    corrupt = Path(pipeline.archive) / "SENTINEL2A_20171020-103629-000_L2B-SNOW_T31TCH_C_V1-7.zip"
    corrupt.write_bytes(b"not a zip")
    for p in later:
        shutil.copy2(p, Path(pipeline.archive) / p.name)
    done = run(TILE, "2017-10-20", pipeline)
    outcomes = {r["product"]: r["outcome"] for r in done}
    assert outcomes[corrupt.stem].startswith("rejected (not a readable zip archive")
    assert all(outcomes[p.stem] == "folded" for p in later)
    text = artifact("update-t31tch")
    assert corrupt.stem in text and "not a readable zip archive" in text

    assert run(TILE, "2017-10-21", pipeline) == []  # nothing pending: nothing done

    stored = season_maps(pipeline.store, TILE, LABEL, pipeline)
    final = tmp_path / "final"
    final.mkdir()
    for p in products:
        shutil.copy2(p, final / p.name)
    batch = run_annual(str(final), TILE, Season(start=SEASON.start, stop=stored.as_of), pipeline)
    assert_same(stored.maps, batch.maps)


def assert_checkpointed(settings: Settings, products: list[Path], since: datetime) -> None:
    """The state holds every product but the latest day's, folded by nine "advance chunk" task runs on
    the cluster and committed once; it equals the cube folded anew, here, in one block."""
    repo = open_repo(settings.store, TILE, settings)
    assert last_commit(repo).message == f"checkpoint {LABEL}"
    group = subgroup(read(repo), f"seasons/{LABEL}")
    latest = max(SEASON.day(parse_name(p.name).acquired) for p in products)
    assert folded_day(group) == latest - 1
    fresh = recompute(group, SEASON.n_days, ledger(group), latest - 1)
    assert_same(load(group, SEASON.n_days).maps(latest), fresh.maps(latest))
    url = f"{get_current_settings().api.url}/task_runs/filter"
    body = {"task_runs": {"name": {"like_": "advance seasons/"}, "start_time": {"after_": since.isoformat()}},
            "limit": 100}  # this run's: other tests' runs on the session's server advance chunks too
    chunks = httpx.post(url, json=body, timeout=30).raise_for_status().json()
    assert len(chunks) == 9 and {t["state_name"] for t in chunks} == {"Completed"}


def assert_same(got: Maps, want: Maps) -> None:
    for (kind, a), (_, b) in zip(got.items(), want.items(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=kind)


def test_dask_workers_get_the_prefect_api(prefect_api: str) -> None:
    env = worker_env()
    assert env["PREFECT_API_URL"].startswith("http://127.0.0.1:")
    kwargs = task_runner(get_settings(dask_cluster="local", dask_workers=3)).cluster_kwargs
    assert kwargs["env"] == env and kwargs["n_workers"] == 3
    assert task_runner(get_settings(dask_cluster="tcp://10.0.0.1:8786")).address == "tcp://10.0.0.1:8786"


class Shipped(SchedulerPlugin):
    """Every task the scheduler is given, pickled as it holds it (its function and arguments)."""

    def __init__(self) -> None:
        self.tasks: list[bytes] = []

    def update_graph(self, scheduler: Scheduler, *, tasks: list[Any], **kwargs: Any) -> None:
        self.tasks += [cloudpickle.dumps(scheduler.tasks[key].run_spec) for key in tasks]


def test_dask_gets_neither_the_database_url_nor_the_api_key(pipeline: Settings, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's tasks reach the Dask scheduler (and its workers) with settings that hold neither the
    STAC database's password nor the GEODES API key; the run folds and publishes with them all the same."""
    password, key = "db-Pa55word", "geodes-K3y"
    url = pipeline.stac_database_url.replace("postgres@", f"postgres:{password}@")  # trusted: unused
    products = sample(tmp_path / "made", TILE, LABEL, 5)[:2]
    for path in products:
        shutil.copy2(path, Path(pipeline.archive) / path.name)
    shipped = Shipped()
    with LocalCluster(**local_cluster(pipeline)) as cluster:  # type: ignore[no-untyped-call]
        cluster.scheduler.add_plugin(shipped)
        for name, value in {"STAC_DATABASE_URL": url, "GEODES_API_KEY": key,
                            "DASK_CLUSTER": cluster.scheduler_address}.items():
            monkeypatch.setenv(f"SNOWDAYS_{name}", value)
        done = run(TILE, "2017-10-01", get_settings())
    assert {r["outcome"] for r in done} == {"folded"}
    given = b"".join(shipped.tasks)
    assert all(p.name.encode() in given for p in products)  # the tasks' arguments are seen
    assert password.encode() not in given and key.encode() not in given


def test_l2a_arrivals_are_folded_then_replaced_by_their_snow_products(
        pipeline: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """L2A products (and the tile's DEM) in the archive: a run detects their snow on the cluster, folds
    and publishes it. Their snow products arrive: the next run folds them in the L2A products'
    places, and the maps become those of the snow products alone. An L2A product that lands with its
    snow product, or after it, is never pending."""
    monkeypatch.setenv("SNOWDAYS_DEM", str(write_dem(tmp_path / "dem" / f"{TILE}.tif", TILE, SIZE, 3)))
    pipeline = get_settings()
    window = Season(start=date(2017, 9, 20), stop=date(2017, 10, 25), margin=0)
    l2a, snow = (make_season(tmp_path / family, TILE, window, SIZE, family, True, seed=3)
                 for family in ("l2a", "muscate"))
    s2 = [k for k, p in enumerate(l2a) if "SENTINEL2" in p.name]
    first, later = s2[:4], s2[4]
    for k in first:
        shutil.copy2(l2a[k], Path(pipeline.archive) / l2a[k].name)
    done = run(TILE, "2017-09-25", pipeline)
    assert {r["product"] for r in done} == {l2a[k].stem for k in first}
    assert {r["outcome"] for r in done} == {"folded"}
    assert season_maps(pipeline.store, TILE, LABEL, pipeline).products == 4
    assert all(l2a[k].stem in artifact("update-t31tch") for k in first)

    for k in [*first, later]:
        shutil.copy2(snow[k], Path(pipeline.archive) / snow[k].name)
    shutil.copy2(l2a[later], Path(pipeline.archive) / l2a[later].name)  # lands with its snow product
    done = run(TILE, "2017-10-05", pipeline)
    assert sorted(r["product"] for r in done) == sorted(snow[k].stem for k in [*first, later])
    assert all(r["outcome"].startswith("folded") for r in done)
    assert run(TILE, "2017-10-06", pipeline) == []  # the L2A products are outranked: nothing pending

    stored = season_maps(pipeline.store, TILE, LABEL, pipeline)
    alone = tmp_path / "alone"
    alone.mkdir()
    for k in [*first, later]:
        shutil.copy2(snow[k], alone / snow[k].name)
    batch = run_annual(str(alone), TILE, Season(start=SEASON.start, stop=stored.as_of), pipeline)
    assert_same(stored.maps, batch.maps)
    assert stored.products == 5


def test_a_landsat_product_first_folds_at_once(pipeline: Settings, tmp_path: Path) -> None:
    """A tile whose only product yet is a Landsat one: before, it was deferred run after run until a
    Sentinel-2 product set the tile's grid; now the grid comes from the tile's name, so the run folds
    and publishes it, and Sentinel-2 products after it fold on the same grid."""
    products = sample(tmp_path / "made", TILE, LABEL, 3)
    landsat = next(p for p in products if p.name.startswith("LANDSAT8")
                   and parse_name(p.name).acquired.date() >= SEASON.start)
    after = [p for p in products if p.name.startswith("SENTINEL2")
             and parse_name(p.name).acquired > parse_name(landsat.name).acquired][:3]
    shutil.copy2(landsat, Path(pipeline.archive) / landsat.name)
    day = parse_name(landsat.name).acquired.date().isoformat()
    assert run(TILE, day, pipeline) == [{"product": landsat.stem, "outcome": "folded"}]
    repo = open_repo(pipeline.store, TILE, pipeline)
    assert Grid.from_json(attr(read(repo), "grid")) == tile_grid(TILE, 20.0, SIZE)
    assert landsat.stem in artifact("update-t31tch")
    assert [p.name for p in Path(pipeline.stac_catalog).rglob("scd-t31tch-2017-2018.json")] == [
        "scd-t31tch-2017-2018.json"]  # published
    assert "- anomaly: none (the tile holds no past season" in artifact("update-t31tch")
    assert not (Path(pipeline.stac_catalog) / "snow-cover-duration-anomalies").exists()

    for p in after:
        shutil.copy2(p, Path(pipeline.archive) / p.name)
    done = run(TILE, day, pipeline)
    assert sorted(r["product"] for r in done) == sorted(p.stem for p in after)
    assert {r["outcome"] for r in done} == {"folded"}
    stored = season_maps(pipeline.store, TILE, LABEL, pipeline)
    final = tmp_path / "final"
    final.mkdir()
    for p in [landsat, *after]:
        shutil.copy2(p, final / p.name)
    batch = run_annual(str(final), TILE, Season(start=SEASON.start, stop=stored.as_of), pipeline)
    assert_same(stored.maps, batch.maps)
    assert stored.products == 4 and stored.landsat


def test_a_season_with_a_past_gets_its_anomaly_in_the_same_run(pipeline: Settings, tmp_path: Path) -> None:
    """The tile holds 2016-2017 (built in batch, as a backfill leaves it): the run that folds and
    publishes 2017-2018 refreshes its anomaly as of the season's as-of date, in a task of its own: COGs
    and item in the catalog and the STAC API, equal to the library's; the run's summary says it."""
    past = [str(p) for p in sample(tmp_path / "past", TILE, "2016-2017", 4)
            if parse_name(p.name).acquired.date() < date(2017, 8, 17)]  # none in 2017-2018's window
    assert build_season(pipeline.store, TILE, "2016-2017", past, pipeline).products == len(past)
    products = [p for p in sample(tmp_path / "made", TILE, LABEL, 3)
                if date(2017, 9, 20) < parse_name(p.name).acquired.date()][:3]
    for p in products:
        shutil.copy2(p, Path(pipeline.archive) / p.name)
    started = datetime.now(UTC)
    assert {r["outcome"] for r in run(TILE, "2017-10-01", pipeline)} == {"folded"}

    catalog = Path(pipeline.stac_catalog)
    season = json.loads(next(catalog.rglob("scd-t31tch-2017-2018.json")).read_text())
    [path] = catalog.rglob("scd-anomaly-t31tch-2017-2018.json")
    item = json.loads(path.read_text())
    validate(item)
    as_of = season["properties"]["snowdays:as_of"]
    assert item["properties"]["snowdays:as_of"] == as_of
    assert item["properties"]["snowdays:past_seasons"] == ["2016-2017"]
    expected = anomaly(pipeline.store, TILE, LABEL, pipeline, date.fromisoformat(as_of))
    for key, layer in layers(expected):
        with rasterio.open(path.parent / item["assets"][key]["href"]) as ds:
            np.testing.assert_array_equal(ds.read(1), layer, err_msg=key)
    with psycopg.connect(pipeline.stac_database_url) as conn:
        rows = conn.execute("SELECT id, content->'properties'->>'snowdays:as_of' FROM pgstac.items "
                            "WHERE collection = 'snow-cover-duration-anomalies'").fetchall()
    assert rows == [("scd-anomaly-t31tch-2017-2018", as_of)]
    text = artifact("update-t31tch")
    mean = item["assets"]["SCD-ANOMALY"]["raster:bands"][0]["statistics"]["mean"]
    assert f"- anomaly: SCD {mean:+.1f} days on average against 2016-2017 as of the same day" in text
    url = f"{get_current_settings().api.url}/task_runs/filter"
    body = {"task_runs": {"name": {"like_": "anomaly T31TCH"}, "start_time": {"after_": started.isoformat()}}}
    runs = httpx.post(url, json=body, timeout=30).raise_for_status().json()
    assert [(r["name"], r["state_name"]) for r in runs] == [(f"anomaly T31TCH {LABEL}", "Completed")]
