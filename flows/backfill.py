"""backfill: a region's tiles x seasons built in batch on the Dask cluster, then their maps, items and
anomalies published and the region's mosaics brought up to date.

Run on demand (``snowdays backfill``, or ``prefect deployment run backfill/backfill``). Every
tile-season is a task submitted at once to the cluster the settings name (a LocalCluster, an address,
or an ephemeral ``DaskCluster`` on Kubernetes); each holds its tile's lock, so an update of the tile
never writes at the same time, and commits once. A tile-season already complete is skipped: a run
started again after a crash redoes only what was not committed, and publishes every tile-season again.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.futures import as_completed
from prefect.runtime import flow_run

from flows.cluster import BackfillDaskRunner
from flows.mosaic import update_mosaic
from snowdays.backfill import BuildReport, region_tiles
from snowdays.regions import load_region
from snowdays.settings import for_workers, get_settings
from tasks.backfill import Progress, build_tile_season
from tasks.report import show_library_logs
from tasks.tile import register_season, write_season, write_season_anomaly


def run_name() -> str:
    """``backfill-alps-2016-2017`` (a region file: its name; several seasons: the first and last)."""
    parameters = flow_run.parameters
    seasons = sorted(parameters["seasons"])
    span = seasons[0] if len(seasons) == 1 else f"{seasons[0]}-to-{seasons[-1]}"
    return f"backfill-{Path(parameters['region']).name.split('.')[0]}-{span}"


@flow(name="backfill", flow_run_name=run_name,
      task_runner=BackfillDaskRunner())  # type: ignore[arg-type]  # a runner of Dask futures
def backfill(region: str, seasons: list[str]) -> dict[str, object]:
    """Build every tile-season of ``region`` (``alps``, ``pyrenees`` or a file) and ``seasons`` from the
    archive, publish them, then the region's mosaic of each season."""
    settings = get_settings()
    show_library_logs(settings)
    for label in seasons:
        settings.season(label)
    loaded = load_region(region)
    jobs = [(tile, label) for label in seasons for tile in region_tiles(loaded, settings.archive, settings)]
    progress = Progress.start(loaded.name, len(jobs))
    shipped = for_workers(settings)
    futures = {build_tile_season.submit(tile, label, shipped): (tile, label) for tile, label in jobs}
    failed = []
    for future in as_completed(list(futures)):
        try:
            progress.done(future.result())
        except Exception as e:  # noqa: BLE001 - one tile-season's fault stops no other
            failed.append(f"{' '.join(futures[future])}: {type(e).__name__}: {e}")
    published = publish(progress.reports)
    mosaics = {label: update_mosaic(loaded, label, settings) for label in seasons}
    get_run_logger().info("%s: %s; %d tile-seasons published", loaded.name, progress.line(), published)
    if failed:  # the others are built and published; a run started again builds these
        raise RuntimeError(f"{len(failed)} tile-seasons failed: {'; '.join(failed)}")
    return {"tile-seasons": len(jobs), "built": sum(r.changed for r in progress.reports),
            "products": sum(r.products for r in progress.reports), "published": published,
            "mosaics": {label: m["item"] for label, m in mosaics.items()}}


def publish(reports: list[BuildReport]) -> int:
    """Publish every tile-season that holds products (those a killed run built and did not publish
    too), and its anomaly where the tile holds a past season (as an update refreshes it): their maps
    and items written on the cluster, all at once (publishes of different tiles are safe together,
    :mod:`stac.catalog`), each then put in the STAC API from here, since only this process holds the
    database's address (the workers' settings do not); how many tile-seasons."""
    settings = get_settings()
    chosen = [r for r in reports if r.held]
    shipped = for_workers(settings)
    seasons = [write_season.submit(r.tile, r.label, shipped) for r in chosen]
    anomalies = [write_season_anomaly.submit(r.tile, r.label, shipped) for r in chosen]
    for future in seasons:
        register_season(future.result(), settings)
    for found in anomalies:
        if (written := found.result()) is not None:
            register_season(written, settings)
    return len(chosen)
