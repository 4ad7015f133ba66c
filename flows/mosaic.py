"""mosaic: a region's mosaic of the published tile maps for a season, its blocks built on the Dask
cluster, then its STAC item published; then, in the same way, the region's anomaly out of its tiles'
published anomalies (where any has one). One run per region and season at a time.

Kept current by events: ``update_tile`` emits ``snow.tile.published`` (:func:`emit_published`) for
each region holding a tile whose season it published, and :func:`published_trigger` runs the mosaic
of that region and season at most once per window, when the window is over; the run rebuilds the
blocks of every tile whose published maps changed since the blocks were built (their signatures).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.events import Event, emit_event
from prefect.events.schemas.automations import Posture
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.runtime import flow_run

from flows.cluster import SettingsDaskRunner
from snowdays.regions import Region, load_region
from snowdays.settings import Settings, for_workers, get_settings
from tasks.mosaic import anomaly_on_cluster, build_on_cluster, publish, publish_anomaly
from tasks.report import show_library_logs
from tasks.tile import held


def run_name() -> str:
    """``mosaic-alps-2017-2018`` (a region file: its name)."""
    parameters = flow_run.parameters
    return f"mosaic-{Path(parameters['region']).name.split('.')[0]}-{parameters['season']}"


@flow(name="mosaic", flow_run_name=run_name,
      task_runner=SettingsDaskRunner())  # type: ignore[arg-type]  # a runner of Dask futures
def mosaic(region: str, season: str) -> dict[str, object]:
    """Build or bring up to date the mosaic of ``region`` (``alps``, ``pyrenees`` or a file) for
    ``season``; only the blocks whose tiles changed are built again."""
    settings = get_settings()
    show_library_logs(settings)
    settings.season(season)
    return update_mosaic(load_region(region), season, settings)


def update_mosaic(loaded: Region, season: str, settings: Settings) -> dict[str, object]:
    """The mosaic flow's work, in the running flow (a backfill brings its regions' mosaics up to date
    on its own cluster)."""
    logger = get_run_logger()
    with held(f"snowdays-mosaic-{loaded.name}-{season}", settings):
        report = build_on_cluster(loaded, season, for_workers(settings))
        published = publish(report, settings)
        anomaly = anomaly_on_cluster(loaded, season, for_workers(settings))
        anomaly_published = publish_anomaly(anomaly, settings) if anomaly else None
    if report.plan.missing:
        logger.warning("tiles with no published maps for %s: %s", season, ", ".join(report.plan.missing))
    logger.info("%s %s: %d of %d blocks built; %s", loaded.name, season, len(report.rebuilt),
                len(report.plan.blocks), published.item_href)
    if anomaly and anomaly_published:
        logger.info("%s %s anomaly: %d of %d blocks built; %s", loaded.name, season, len(anomaly.rebuilt),
                    len(anomaly.plan.blocks), anomaly_published.item_href)
    else:
        logger.info("%s %s: no tile has an anomaly published, so neither has the region", loaded.name, season)
    for done in (published, anomaly_published):
        if done and done.api_error:  # as update_tile: the next publish brings the API up to date
            logger.warning("the static catalog is written, the STAC API is not: %s", done.api_error)
    return {"blocks": len(report.plan.blocks), "rebuilt": report.rebuilt, "item": published.item_href,
            "api_error": published.api_error,
            "anomaly": anomaly_published.item_href if anomaly_published else None,
            "anomaly_rebuilt": anomaly.rebuilt if anomaly else []}


PUBLISHED = "snow.tile.published"


def emit_published(tile: str, season: str, region: str) -> Event | None:
    """Emit ``snow.tile.published`` for a season of ``tile`` that ``region`` (a spec of
    :func:`snowdays.regions.load_region`) holds (None: events are off)."""
    resource = {"prefect.resource.id": f"snow.tile.{tile}.{season}",
                "prefect.resource.name": f"{tile} {season}", "tile": tile, "season": season,
                "region": region}
    return emit_event(event=PUBLISHED, resource=resource)


def published_trigger(window: timedelta) -> DeploymentEventTrigger:
    """A run of the mosaic of the region and season a publish event names, at most one per region,
    season and ``window``, started when the window is over: the events the trigger drops within the
    window (it fired on the first) are publishes that run then finds."""
    return DeploymentEventTrigger(
        name="tile published", expect={PUBLISHED}, match={"prefect.resource.id": "snow.tile.*"},
        for_each={"region", "season"}, posture=Posture.Reactive, threshold=1, within=window,
        schedule_after=window,
        parameters={"region": "{{ event.resource.region }}", "season": "{{ event.resource.season }}"})
