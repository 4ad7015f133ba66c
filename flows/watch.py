"""watch: the arrival sources' products (:mod:`snowdays.arrivals`) announced as Prefect events.

Every product a source finds gets one ``snow.product.arrived`` event (:func:`emit_arrival`); the event
only wakes ``update_tile`` up (the truth is the archive minus the ledgers), so a duplicate costs a
no-op run and a lost one is found by the next :func:`sweep`.

- :func:`sweep`: an event per product no tile store has folded or quarantined, except those of a tile
  whose update run is already queued (served on an interval by ``snowdays up``);
- :func:`poll_stac_api`: the watched tiles' new products from a STAC API in the style of CNES GEODES,
  downloaded into the archive, an event for each once it is in place.

The watcher of ``snowdays up`` and ``snowdays watch`` (``flows.serve.watch``) announces through
:func:`emit_arrival` too.
"""

from __future__ import annotations

from collections.abc import Iterable

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.events import Event, emit_event

from snowdays.arrivals.listing import unfolded
from snowdays.arrivals.stac_search import download_new
from snowdays.names import ProductId, normalise_tile
from snowdays.settings import get_settings

ARRIVED = "snow.product.arrived"
UPDATE_FLOW = "update-tile"
"""The flow that folds a tile's pending products (:mod:`flows.update_tile`), woken by ``ARRIVED``."""
PAGE = 200


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
    the settings'), but none for a tile whose update run is queued and not started: that run folds
    every pending product of its tile when it starts. During a backlog, when runs wait for a slot
    for minutes, this keeps the sweep from doubling the runs (each a process and a cluster client)."""
    settings = get_settings()
    queued = queued_tiles()
    pending = unfolded(archive or settings.archive, store or settings.store, settings).items()
    return announce((href, pid) for href, pid in pending if pid.tile not in queued)


def queued_tiles() -> set[str]:
    """Tiles with an ``update-tile`` run scheduled or pending, from the Prefect API a page at a time
    (at most a run per tile and trigger window waits)."""
    runs = FlowRunFilter(state=FlowRunFilterState(
        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING])))
    flows = FlowFilter(name=FlowFilterName(any_=[UPDATE_FLOW]))
    found: list[FlowRun] = []
    with get_client(sync_client=True) as client:  # the server refuses the client's default sort (none)
        while page := client.read_flow_runs(flow_filter=flows, flow_run_filter=runs, sort=FlowRunSort.ID_DESC,
                                            limit=PAGE, offset=len(found)):
            found += page
    return {normalise_tile(str(r.parameters["tile"])) for r in found}


@flow(name="poll-stac-api")
def poll_stac_api(archive: str | None = None, tiles: list[str] | None = None) -> list[str]:
    """Fetch the watched tiles' new products from the STAC API into the archive (defaults: the
    settings' archive and ``watch_tiles``), an event for each."""
    settings = get_settings()
    return announce(download_new(archive or settings.archive, tiles or settings.watch_tiles, settings))
