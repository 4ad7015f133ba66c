"""Serve the pipeline's deployments, and watch the archive: what ``snowdays up`` runs in one process.

- ``update-tile``: triggered by every ``snow.product.arrived`` event, for the tile the event names;
- ``sweep-archive``: on an interval, an event per product the stores have not folded (lost events);
- ``mosaic``: on demand (``prefect deployment run mosaic/mosaic -p region=alps -p season=2017-2018``),
  a region's mosaic of the published tile maps;
- the watcher: SQS notifications when a queue is set, else a look at the archive every few seconds
  (each product announced once).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from prefect import serve
from prefect.types.entrypoint import EntrypointType

from flows.mosaic import mosaic
from flows.update_tile import arrival_trigger, update_tile
from flows.watch import emit_arrival, listen_sqs, sweep
from snowdays.archive import arrived, pending
from snowdays.errors import SnowdaysError
from snowdays.settings import Settings, get_settings

log = logging.getLogger(__name__)


def deployments(settings: Settings) -> list[Any]:
    """The deployments, loaded by module (``flows.update_tile``) in their runs, so that what their tasks
    pickle for the Dask workers names modules the workers can import."""
    window = timedelta(seconds=settings.trigger_window_seconds)
    return [update_tile.to_deployment(name="update-tile", triggers=[arrival_trigger(window)],
                                      entrypoint_type=EntrypointType.MODULE_PATH),
            sweep.to_deployment(name="sweep-archive", interval=settings.sweep_interval_seconds,
                                entrypoint_type=EntrypointType.MODULE_PATH),
            mosaic.to_deployment(name="mosaic", entrypoint_type=EntrypointType.MODULE_PATH)]


def watch_folder(settings: Settings, stop: threading.Event) -> None:
    """Announce each product of the archive once: at start those not folded yet, then every new one."""
    products = arrived(settings.archive, settings)
    waiting = {href for tile in {p.tile for p in products.values()}
               for href in pending(settings.archive, settings.store, tile, settings)}
    announced = set(products) - waiting
    while not stop.is_set():
        try:
            for href, pid in sorted(arrived(settings.archive, settings).items()):
                if href not in announced:
                    emit_arrival(href, pid)
                    announced.add(href)
        except SnowdaysError as e:  # the archive may be unreachable for a while: look again later
            log.warning("could not look at the archive %s: %s", settings.archive, e)
        stop.wait(settings.watch_poll_seconds)


def watch(settings: Settings, stop: threading.Event) -> None:
    if settings.sqs_queue_url:
        listen_sqs(settings.sqs_queue_url, settings.archive, settings, stop=stop.is_set)
    else:
        watch_folder(settings, stop)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(settings, stop), name="watch", daemon=True)
    watcher.start()
    try:
        serve(*deployments(settings), limit=settings.max_runs)
    finally:
        stop.set()


if __name__ == "__main__":
    main()
