"""The tasks of a mosaic (and of a region's anomaly): its blocks and its maps, each a task on the Dask
cluster; its publishing."""

from __future__ import annotations

from collections.abc import Callable

from prefect import task

from snowdays.mosaic import MosaicReport
from snowdays.regions import Region
from snowdays.settings import Settings
from stac.anomalies import build_region, publish_region
from stac.mosaics import build, publish_mosaic
from stac.publish import PublishReport
from tasks.tile import RETRYING


@task(name="mosaic step", task_run_name="{work.func.__name__} {item}", **RETRYING)
def mosaic_step(work: Callable[[str], str], item: str) -> str:
    """One block built, or one map's COG assembled (``work`` is the library's step, bound to the
    mosaic's plan)."""
    return work(item)


def build_on_cluster(region: Region, season: str, settings: Settings) -> MosaicReport:
    """Build or bring up to date the region's mosaic, its blocks and maps as tasks on the cluster."""
    return build(region, season, settings, mapper=on_cluster)


def anomaly_on_cluster(region: Region, season: str, settings: Settings) -> MosaicReport | None:
    """Build or bring up to date the region's anomaly out of its tiles' published ones, its blocks and
    maps as tasks on the cluster; None when none of its tiles has one for the season."""
    return build_region(region, season, settings, mapper=on_cluster)


def on_cluster(work: Callable[[str], str], items: list[str]) -> list[str]:
    """Run a step of the mosaic over every block (or map) on the flow's task runner, all at once."""
    futures = [mosaic_step.submit(work, item) for item in items]
    return [future.result() for future in futures]


@task(name="publish mosaic", task_run_name="publish {report.plan.region.name} {report.plan.season}",
      **RETRYING)
def publish(report: MosaicReport, settings: Settings) -> PublishReport:
    return publish_mosaic(report, settings)


@task(name="publish regional anomaly",
      task_run_name="publish anomaly {report.plan.region.name} {report.plan.season}", **RETRYING)
def publish_anomaly(report: MosaicReport, settings: Settings) -> PublishReport:
    return publish_region(report, settings)
