"""update_tile: fold every pending product of a tile, then publish its seasons' maps and STAC items.

Deployed with a trigger on ``snow.product.arrived`` (one run per event, parameters from the event's
labels); a run folds all the tile's pending products (archive minus ledger), so a burst of events
coalesces into few runs, and one run at a time holds the tile. Products are read on the Dask cluster;
when enough wait, the state is folded chunk by chunk there too, each worker writing its chunks to the
store in a fork of the run's session, merged and committed once by the run. Each season published gets
its anomaly refreshed as of the same day (where the tile holds a past season), and is announced
(``snow.tile.published``) for every region holding the tile, whose mosaic and anomaly then follow.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

from prefect import flow, get_run_logger
from prefect.events.schemas.automations import Posture
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.runtime import flow_run

from flows.cluster import SettingsDaskRunner
from flows.mosaic import emit_published
from flows.watch import ARRIVED, UPDATE_FLOW
from snowdays.elevation import load_polygons
from snowdays.ingest import Prepared, Report, Status, checkpoint
from snowdays.names import normalise_tile
from snowdays.regions import regions_holding
from snowdays.settings import for_workers, get_settings
from tasks.report import leave_artifacts, show_library_logs
from tasks.tile import (
    find_pending,
    on_cluster,
    publish_season,
    read_product,
    refresh_anomaly,
    stage_product,
    tile_lock,
)


def run_name() -> str:
    """``update-T31TCH-2018-01-15``: the tile and the acquisition that woke the run (else today)."""
    parameters = flow_run.parameters
    return f"update-{normalise_tile(parameters['tile'])}-{parameters.get('day') or today()}"


@flow(name=UPDATE_FLOW, flow_run_name=run_name,
      task_runner=SettingsDaskRunner())  # type: ignore[arg-type]  # a runner of Dask futures
def update_tile(tile: str, day: str = "") -> list[dict[str, str]]:
    """Fold the pending products of ``tile`` and publish what changed. ``day``: the acquisition that
    woke it (names the run only)."""
    settings = get_settings()
    show_library_logs(settings)
    tile = normalise_tile(tile)
    regions = regions_holding(tile, settings.mosaic_regions)  # a bad region file: before any change
    load_polygons(settings.polygons)  # a bad polygons file too
    logger = get_run_logger()
    with tile_lock(tile, settings):
        reports = drain(tile)
        if any(r.changed for r in reports):
            for label in checkpoint(settings.store, tile, settings, on_cluster):
                logger.info("%s %s: pending products folded into the state on the cluster", tile, label)
        seasons = sorted({label for r in reports if r.changed for label in r.seasons})
        published = {label: publish_season(tile, label, settings) for label in seasons}
        anomalies = {label: refresh_anomaly(tile, label, settings) for label in published}
        for label, region in [(label, region) for label in published for region in regions]:
            emit_published(tile, label, region)  # each region's mosaic follows (flows.mosaic)
        if reports:  # a run that found nothing leaves the last report as it was
            leave_artifacts(tile, reports, published, settings, anomalies)
    for r in reports:
        logger.info("%s: %s", r.product, r.outcome)
    failed = [f"{r.product}: {r.outcome}" for r in reports if r.status is Status.FAILED]
    if failed:  # the others are folded and published; these stay pending for the next run
        raise RuntimeError(f"{len(failed)} products failed unexpectedly: {'; '.join(failed)}")
    return [{"product": r.product, "outcome": r.outcome} for r in reports]


def drain(tile: str) -> list[Report]:
    """Fold pending products until none is left: those that landed while a batch was folded come in
    the next batch (a product failed in one batch reports its last outcome)."""
    reports: list[Report] = []
    while True:
        batch = stage_pending(tile)
        done = {r.product for r in batch}
        reports = [r for r in reports if r.product not in done] + batch
        if not any(r.changed for r in batch):
            return reports


def stage_pending(tile: str) -> list[Report]:
    """Read the pending products on the cluster, all at once, then put them in the tile's store one
    by one here, in acquisition order (one writer per tile)."""
    settings = get_settings()
    hrefs = find_pending(tile, settings)
    reports, shipped = [], for_workers(settings)
    for href, read in [(href, read_product.submit(href, shipped)) for href in hrefs]:
        try:
            ready = read.result()
            reports.append(stage_product(ready, settings) if isinstance(ready, Prepared) else ready)
        except Exception as e:  # noqa: BLE001 - an unforeseen fault of one product stops no other
            name = PurePosixPath(href.rstrip("/")).name
            # the run goes on with the others, then fails, and the product stays pending
            reports.append(Report(name, Status.FAILED, f"{type(e).__name__}: {e}"))
    return reports


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def arrival_trigger(window: timedelta) -> DeploymentEventTrigger:
    """A run for the tile an arrival event names, at most one per tile and ``window``, started when
    the window is over: the trigger fires on the first event of a burst and drops the rest of the
    window's, whose products that run then finds (it folds every pending product of the tile); a run
    started at once would miss those landing after its last look, until the sweep."""
    return DeploymentEventTrigger(
        name="product arrived", expect={ARRIVED}, match={"prefect.resource.id": "snow.product.*"},
        for_each={"tile"}, posture=Posture.Reactive, threshold=1, within=window, schedule_after=window,
        parameters={"tile": "{{ event.resource.tile }}", "day": "{{ event.resource.acquired }}"})
