"""The whole local stack (``snowdays up``) end to end, every part a real server on 127.0.0.1: products
put in a (moto) S3 bucket are notified through SQS, become ``snow.product.arrived`` events, runs of the
``update-tile`` deployment (Prefect's server, Dask scheduler and worker processes), folds in the tile's
store, COGs and a STAC item in pgstac served by the STAC API. A duplicated notification, a lost one
(found by the sweep), a burst, and a corrupt product are handled; nothing is lost or counted twice."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio

from infra.postgres import LocalPostgres
from infra.stack import Stack, urls
from snowdays.archive import known
from snowdays.export import season_maps, status
from snowdays.names import parse_name
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.settings import Settings
from tests.conftest import S3Server
from tests.stacdata import database
from tests.stackenv import stack_settings

TILE, LABEL = "T31TCH", "2017-2018"
ITEM = "scd-t31tch-2017-2018"
WAIT = 240.0
"""Seconds a step may take, at most (runs start in processes of their own on a 2-core machine)."""
pytestmark = pytest.mark.timeout(WAIT + 120)


@dataclass
class Running:
    settings: Settings
    bucket: str
    s3: Any
    queue_arn: str
    products: list[Path]
    """Zipped products of the season, in acquisition order (a Landsat product may come first)."""

    @property
    def stac(self) -> str:
        return urls(self.settings.ports)["STAC API"]

    @property
    def prefect(self) -> str:
        return f"{urls(self.settings.ports)['Prefect UI']}/api"

    def put(self, *paths: Path) -> None:
        for path in paths:
            self.s3.upload_file(str(path), self.bucket, f"archive/{path.name}")

    def notify(self, on: bool) -> None:
        queues = [{"QueueArn": self.queue_arn, "Events": ["s3:ObjectCreated:*"],
                   "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "archive/"}]}}}]
        self.s3.put_bucket_notification_configuration(
            Bucket=self.bucket, NotificationConfiguration={"QueueConfigurations": queues if on else []})

    def item(self) -> dict[str, Any] | None:
        answer = httpx.get(f"{self.stac}/collections/snow-cover-duration/items/{ITEM}", timeout=10)
        return answer.json() if answer.status_code == 200 else None

    def published(self) -> int:
        """Products the STAC API's item says the season holds (0: no item yet)."""
        item = self.item()
        return int(item["properties"]["snowdays:products"]) if item else 0


def wait_for(what: str, done: Callable[[], bool], logs: Path) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        if time.monotonic() > deadline:
            tail = (logs / "pipeline.log").read_text()[-4000:]
            raise AssertionError(f"{what}: not within {WAIT:.0f} s; the pipeline's log ends:\n{tail}")
        time.sleep(1)


@pytest.fixture(scope="module")
def stack(s3_server: S3Server, postgres: LocalPostgres,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 - only S3 tests need it

    base = tmp_path_factory.mktemp("e2e")
    made = make_season(base / "made", TILE, parse_season(LABEL), 20, "muscate", True, seed=21)
    chosen = [p for p in made if parse_name(p.name).acquired.month in (10, 11)][:9]
    products = sorted(chosen, key=lambda p: parse_name(p.name).acquired)
    bucket = "snow-e2e"
    s3 = s3_server.client()
    s3.create_bucket(Bucket=bucket)
    sqs = boto3.client("sqs", endpoint_url=s3_server.endpoint_url, region_name="us-east-1")
    queue = sqs.create_queue(QueueName="snow-e2e")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    env = {"ARCHIVE": f"s3://{bucket}/archive", "STORE": base / "stores", "STAC_CATALOG": base / "catalog",
           "STAC_DATABASE_URL": database(postgres, "e2e"), "STAC_POSTGRES_DATA": "",
           "S3_ENDPOINT_URL": s3_server.endpoint_url, "SQS_QUEUE_URL": queue, "SQS_WAIT_SECONDS": "1",
           "SWEEP_INTERVAL_SECONDS": "20", "TRIGGER_WINDOW_SECONDS": "2", "MAX_RUNS": "2",
           "DASK_WORKERS": "1"}
    with stack_settings(base, **env) as settings:
        running = Running(settings, bucket, s3, arn, products)
        running.notify(on=True)
        with Stack(settings, base / "logs"):
            yield running


def test_products_put_in_the_bucket_become_a_published_season(stack: Running) -> None:
    logs = Path(stack.settings.prefect_home).parent / "logs"
    first = stack.products[:3]
    stack.put(*first)
    wait_for("the first products published", lambda: stack.published() == 3, logs)
    assert known(stack.settings.store, TILE, stack.settings) == {parse_name(p.name).name for p in first}
    item = stack.item()
    assert item is not None
    maps = season_maps(stack.settings.store, TILE, LABEL, stack.settings)
    with rasterio.open(item["assets"]["SCD"]["href"]) as ds:
        np.testing.assert_array_equal(ds.read(1), maps.maps.scd)
    runs = httpx.post(f"{stack.prefect}/flow_runs/filter", json={"limit": 50}, timeout=10).json()
    assert any(r["name"].startswith(f"update-{TILE}-2017-1") for r in runs)


def test_a_burst_and_a_duplicated_notification_fold_each_product_once(stack: Running) -> None:
    logs = Path(stack.settings.prefect_home).parent / "logs"
    burst = stack.products[3:6]
    stack.put(*burst, stack.products[0])  # the first again: the same object, notified once more
    wait_for("the burst published", lambda: stack.published() == 6, logs)
    [tile] = status(stack.settings.store, stack.settings)
    assert [s.products for s in tile.seasons] == [6]  # ledger entries: the first product once
    assert known(stack.settings.store, TILE, stack.settings) == {parse_name(p.name).name
                                                                 for p in stack.products[:6]}


def test_a_lost_notification_is_found_by_the_sweep(stack: Running) -> None:
    logs = Path(stack.settings.prefect_home).parent / "logs"
    stack.notify(on=False)
    try:
        stack.put(stack.products[6])
    finally:
        stack.notify(on=True)
    wait_for("the unnotified product published", lambda: stack.published() == 7, logs)


def test_a_corrupt_product_is_quarantined_and_reported_the_others_folded(stack: Running,
                                                                         tmp_path: Path) -> None:
    logs = Path(stack.settings.prefect_home).parent / "logs"
    corrupt = tmp_path / "SENTINEL2A_20171030-103629-000_L2B-SNOW_T31TCH_C_V1-7.zip"
    corrupt.write_bytes(b"PK\x03\x04 cut short")
    stack.put(corrupt, *stack.products[7:9])
    wait_for("the good products published", lambda: stack.published() == 9, logs)
    [tile] = status(stack.settings.store, stack.settings)
    assert [q["product"] for q in tile.quarantined] == [corrupt.stem]
    body = {"artifacts": {"key": {"any_": ["update-t31tch"]}}, "sort": "UPDATED_DESC", "limit": 5}

    def reported() -> bool:  # a run's report follows its publish: on a loaded machine, seconds later
        reports = httpx.post(f"{stack.prefect}/artifacts/filter", json=body, timeout=60).json()
        return any(corrupt.stem in str(a["data"]) and "rejected" in str(a["data"]) for a in reports)

    wait_for("the corrupt product reported rejected in the run's report", reported, logs)
