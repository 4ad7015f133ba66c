"""The tasks of a tile's update: find its pending products, read them, fold them, publish the season."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from icechunk import ForkSession
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from snowdays.anomaly import NoPast
from snowdays.archive import pending
from snowdays.errors import is_retryable
from snowdays.ingest import Prepared, Report, prepare, stage
from snowdays.settings import Settings
from snowdays.state import Block
from stac.anomalies import publish_anomaly, write_static_anomaly
from stac.publish import PublishReport, Written, publish, update_api, write_static
from tasks.report import show_library_logs

RETRY_DELAYS = [2, 10, 30]
"""Seconds before each retry of a task that met a transient fault (storage, network)."""


def transient(task: Any, run: Any, state: Any) -> bool:
    """Retry condition: only a fault that may pass (a bad product is final)."""
    try:
        state.result()
    except Exception as e:  # noqa: BLE001 - the state's own exception, whatever it is
        return is_retryable(e)
    return False


RETRYING: dict[str, Any] = {"retries": len(RETRY_DELAYS), "retry_delay_seconds": RETRY_DELAYS,
                             "retry_condition_fn": transient, "cache_policy": NO_CACHE}


@task(name="find pending products", **RETRYING)
def find_pending(tile: str, settings: Settings) -> list[str]:
    return pending(settings.archive, settings.store, tile, settings)


@task(name="read product", task_run_name="read {href}", **RETRYING)
def read_product(href: str, settings: Settings) -> Prepared | Report:
    show_library_logs(settings)  # on a Dask worker: its own process, its own loggers
    return prepare(settings.store, href, settings)


@task(name="stage product", task_run_name="stage {ready.id.name}", **RETRYING)
def stage_product(ready: Prepared, settings: Settings) -> Report:
    return stage(settings.store, ready, settings)


@task(name="advance chunk", task_run_name="advance {job.season} rows {job.rows} cols {job.cols}",
      **RETRYING)
def advance_chunk(work: Callable[[ForkSession, Block], ForkSession], fork: ForkSession,
                  job: Block) -> ForkSession:
    """Fold the pending days into one chunk of a season's state, on a worker: it writes the chunk to
    the store in its fork of the session and hands the fork back to be merged."""
    return work(fork, job)


def on_cluster(work: Callable[[ForkSession, Block], ForkSession], forks: list[ForkSession],
               jobs: list[Block]) -> list[ForkSession]:
    """Run a checkpoint's chunks on the flow's task runner (the Dask cluster), all at once."""
    futures = [advance_chunk.submit(work, fork, job) for fork, job in zip(forks, jobs, strict=True)]
    return [future.result() for future in futures]


@task(name="publish season", task_run_name="publish {tile} {label}", **RETRYING)
def publish_season(tile: str, label: str, settings: Settings) -> PublishReport:
    return publish(settings.store, tile, label, settings)


@task(name="refresh anomaly", task_run_name="anomaly {tile} {label}", **RETRYING)
def refresh_anomaly(tile: str, label: str, settings: Settings) -> PublishReport | None:
    """The anomaly of the season just published, as of the same day (its latest product: the tile is
    held); None when the tile holds no past season to compare it with."""
    found = publish_anomaly(settings.store, tile, label, settings)
    return None if isinstance(found, NoPast) else found


@task(name="write anomaly", task_run_name="write anomaly {tile} {label}", **RETRYING)
def write_season_anomaly(tile: str, label: str, settings: Settings) -> Written | None:
    """The season's anomaly as of its latest product in the static catalog, on a worker (no STAC
    database; :func:`register_season` registers it); None when the tile holds no past season."""
    found = write_static_anomaly(settings.store, tile, label, settings)
    return None if isinstance(found, NoPast) else found


@task(name="write season", task_run_name="write {tile} {label}", **RETRYING)
def write_season(tile: str, label: str, settings: Settings) -> Written:
    """A publish's files and item in the static catalog: on a worker, with its settings (no STAC
    database); :func:`register_season` then brings the STAC API up to date."""
    return write_static(settings.store, tile, label, settings)


@task(name="register season", task_run_name="register {written.item.id}", **RETRYING)
def register_season(written: Written, settings: Settings) -> PublishReport:
    return update_api(written.collection, written.item, written.folder, settings)


def lock_name(tile: str) -> str:
    return f"snowdays-tile-{tile}"


@contextmanager
def tile_lock(tile: str, settings: Settings) -> Iterator[None]:
    """One update of a tile at a time, whichever worker runs it."""
    with held(lock_name(tile), settings):
        yield


@contextmanager
def held(name: str, settings: Settings) -> Iterator[None]:
    """Hold the global concurrency limit ``name`` (one slot; made on first use), as a lease of
    ``lock_lease_seconds`` renewed while this process lives."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):  # another run made it first
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    with concurrency(name, occupy=1, strict=True, lease_duration=settings.lock_lease_seconds):
        yield
