"""Serve the pipeline's deployments, and watch the archive: what ``snowdays up`` runs in one process.

- ``update-tile``: triggered by every ``snow.product.arrived`` event, for the tile the event names;
- ``sweep-archive``: on an interval, an event per product the stores have not folded (lost events);
- ``backfill``: on demand (``snowdays backfill``), a region's tiles x seasons built in batch on the
  Dask cluster, published, and the region's mosaics;
- ``mosaic``: a region's mosaic of the published tile maps, triggered by ``snow.tile.published``
  events (at most once per region, season and ``mosaic_window_seconds``), or on demand
  (``prefect deployment run mosaic/mosaic -p region=alps -p season=2017-2018``);
- the watcher: SQS notifications when a queue is set, else STAC API searches when tiles are watched,
  else a look at the archive every few seconds (each product announced once); ``snowdays watch``
  runs it alone (the watcher's Deployment on Kubernetes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from prefect import get_client, serve
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import Crashed
from prefect.types.entrypoint import EntrypointType

from flows.backfill import backfill
from flows.mosaic import mosaic, published_trigger
from flows.update_tile import arrival_trigger, update_tile
from flows.watch import emit_arrival, sweep
from snowdays.arrivals.watcher import arriving
from snowdays.settings import Settings, get_settings

log = logging.getLogger(__name__)


def deployments(settings: Settings) -> list[Any]:
    """The deployments, loaded by module (``flows.update_tile``) in their runs, so that what their tasks
    pickle for the Dask workers names modules the workers can import."""
    window = timedelta(seconds=settings.trigger_window_seconds)
    mosaic_window = timedelta(seconds=settings.mosaic_window_seconds)
    return [update_tile.to_deployment(name="update-tile", triggers=[arrival_trigger(window)],
                                      entrypoint_type=EntrypointType.MODULE_PATH),
            sweep.to_deployment(name="sweep-archive", interval=settings.sweep_interval_seconds,
                                entrypoint_type=EntrypointType.MODULE_PATH),
            mosaic.to_deployment(name="mosaic", triggers=[published_trigger(mosaic_window)],
                                 entrypoint_type=EntrypointType.MODULE_PATH),
            backfill.to_deployment(name="backfill", entrypoint_type=EntrypointType.MODULE_PATH)]


def crash_leftovers() -> int:
    """Mark crashed the runs an earlier pipeline left pending or running (the stack was stopped in
    their midst: nothing will finish them, and they would look busy for ever); how many. The products
    they did not fold are still pending in the archive, and announced again when the watcher starts."""
    unfinished = FlowRunFilter(state=FlowRunFilterState(
        type=FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=unfinished, limit=200, sort=FlowRunSort.START_TIME_DESC)
        for run in runs:
            client.set_flow_run_state(run.id, Crashed(message="the pipeline stopped before this run "
                                                      "finished; its products are folded by a later run"),
                                      force=True)
    return len(runs)


def watch(settings: Settings, stop: threading.Event, beat: Callable[[], None] = lambda: None) -> None:
    """Announce the archive's arriving products until ``stop`` is set, from the source the settings
    choose (:func:`snowdays.arrivals.watcher.arriving`). ``beat`` is called between two looks (at most
    ``sqs_wait_seconds`` or ``watch_poll_seconds`` apart)."""

    def stopped() -> bool:
        beat()
        return stop.is_set()

    for href, pid in arriving(settings, stopped, stop.wait):
        emit_arrival(href, pid)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    if left := crash_leftovers():
        log.info("%d runs left unfinished by an earlier pipeline marked crashed", left)
    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(settings, stop), name="watch", daemon=True)
    watcher.start()
    try:
        serve(*deployments(settings), limit=settings.max_runs)
    finally:
        stop.set()


if __name__ == "__main__":
    main()
