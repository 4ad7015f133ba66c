"""watch: the arrival sources' products (:mod:`snowdays.arrivals`) announced as Prefect events.

Every product a source finds gets one ``snow.product.arrived`` event (:func:`emit_arrival`); the event
only wakes ``update_tile`` up (the truth is the archive minus the ledgers), so a duplicate costs a
no-op run and a lost one is found by the next :func:`sweep`.

- :func:`sweep`: an event per product no tile store has folded or quarantined (served on an interval
  by ``snowdays up``);
- :func:`poll_stac_api`: the watched tiles' new products from a STAC API in the style of CNES GEODES,
  downloaded into the archive, an event for each once it is in place.

The watcher of ``snowdays up`` and ``snowdays watch`` (``flows.serve.watch``) announces through
:func:`emit_arrival` too.
"""

from __future__ import annotations

from collections.abc import Iterable

from prefect import flow
from prefect.events import Event, emit_event

from snowdays.arrivals.listing import unfolded
from snowdays.arrivals.stac_search import download_new
from snowdays.names import ProductId
from snowdays.settings import get_settings

ARRIVED = "snow.product.arrived"


def emit_arrival(href: str, pid: ProductId) -> Event | None:
    """Emit ``snow.product.arrived`` for one product of the archive (None: events are off)."""
    resource = {
        "prefect.resource.id": f"snow.product.{pid.name}",
        "prefect.resource.name": pid.name,
        "tile": pid.tile,
        "platform": pid.platform,
        "acquired": pid.acquired.date().isoformat(),
        "href": href,
    }
    return emit_event(event=ARRIVED, resource=resource)


def announce(arrivals: Iterable[tuple[str, ProductId]]) -> list[str]:
    """Emit an event per product as soon as its source yields it (a source that fails midway has
    announced those before); return their hrefs."""
    hrefs = []
    for href, pid in arrivals:
        emit_arrival(href, pid)
        hrefs.append(href)
    return hrefs


@flow(name="sweep-archive")
def sweep(archive: str | None = None, store: str | None = None) -> list[str]:
    """The safety net for lost events: an event per pending product (archive and store default to
    the settings')."""
    settings = get_settings()
    return announce(unfolded(archive or settings.archive, store or settings.store, settings).items())


@flow(name="poll-stac-api")
def poll_stac_api(archive: str | None = None, tiles: list[str] | None = None) -> list[str]:
    """Fetch the watched tiles' new products from the STAC API into the archive (defaults: the
    settings' archive and ``watch_tiles``), an event for each."""
    settings = get_settings()
    return announce(download_new(archive or settings.archive, tiles or settings.watch_tiles, settings))
