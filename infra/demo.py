"""``snowdays demo``: the local stack, a generated season dripped into its archive, then the season's
regional map, synthetic ski runs over it and their resorts' ranking, for the viewer."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.types import DateTime

from snowdays.archive import pending
from snowdays.mosaic import MosaicReport
from snowdays.mosaic_files import write_json
from snowdays.names import parse_name
from snowdays.pistes import import_pistes, overlay_href
from snowdays.regions import Region
from snowdays.resorts import ranking, write_ranking
from snowdays.sample import make_season
from snowdays.sample_pistes import random_areas, write_osm
from snowdays.settings import Settings
from stac.items import bbox_of, footprint
from stac.mosaics import build, publish_mosaic


def season_products(folder: Path, tile: str, label: str, size: int, settings: Settings) -> list[Path]:
    """The demo's products (zips), generated once into ``folder``, in acquisition order."""
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        make_season(folder, tile, settings.season(label), size,
                    "muscate", True, seed=0)
        done.touch()
    return sorted(folder.glob("*.zip"), key=lambda p: (parse_name(p.name).acquired, p.name))


def drip(products: list[Path], archive: Path, seconds: float,
         told: Callable[[int, Path], None] = lambda k, p: None) -> None:
    """Copy the products into the archive one by one over ``seconds``, each under a temporary name
    first so that a watcher never sees half a product."""
    pause = seconds / max(len(products), 1)
    for k, product in enumerate(products, 1):
        part = archive / f".{product.name}.part"
        shutil.copy2(product, part)
        part.rename(archive / product.name)
        told(k, product)
        time.sleep(pause)


def settled(tile: str, settings: Settings, prefect_api: str) -> bool:
    """Whether the tile's store has folded (or quarantined) every product of the archive, and no run
    is left to start or finish (the last one publishes)."""
    return not pending(settings.archive, settings.store, tile, settings) and runs_in_flight(prefect_api) == 0


def runs_in_flight(prefect_api: str) -> int | None:
    """Flow runs due (scheduled for now or earlier: the sweep's later ones do not count), pending or
    running on the Prefect server at ``prefect_api`` (None: it did not answer in time, as it may not
    when busy)."""
    due = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                        expected_start_time=FlowRunFilterExpectedStartTime(before_=DateTime.now(UTC)))
    going = FlowRunFilter(state=FlowRunFilterState(
        type=FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])))
    try:
        with (temporary_settings(updates={PREFECT_API_URL: prefect_api}),
              get_client(sync_client=True) as client):
            return sum(client.count_flow_runs(flow_run_filter=runs) for runs in (due, going))
    except httpx.HTTPError:
        return None


def regional(tile: str, label: str, folder: Path, settings: Settings) -> MosaicReport:
    """The season's mosaic of the region ``demo`` (the tile), synthetic ski areas over it as the ski
    runs overlay, and their ranking: what the viewer shows."""
    report = build(Region("demo", (tile,)), label, settings)
    publish_mosaic(report, settings)
    west, south, east, north = bbox_of(footprint(report.plan.grid))
    inset = 0.15 * min(east - west, north - south)
    osm = write_osm(folder / "pistes.osm", random_areas((west + inset, south + inset, east - inset,
                                                          north - inset), 5, seed=0))
    overlay = import_pistes(osm)
    write_json(overlay_href(settings.stac_catalog), overlay, settings)
    season = settings.season(label)
    write_ranking(ranking(report.plan.folder, overlay, "demo", season, label, settings),
                  settings.stac_catalog, settings)
    return report
