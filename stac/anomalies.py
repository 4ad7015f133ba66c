"""Publishing anomalies, as seasons and mosaics are published: a tile's season as of a day against its
past seasons (its COGs and item in the static catalog, then the STAC API: ``stac/catalog.py`` says
why that costs the same in any catalog and loses nothing to another publish at the same time), and a
region's, its tiles' anomaly COGs mosaicked block by block (``snowdays.mosaic``).
"""

from __future__ import annotations

import posixpath
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from snowdays.anomaly import Anomaly, NoPast, compare
from snowdays.mosaic import Mapper, MosaicReport, make_mosaic
from snowdays.mosaic_kinds import ANOMALY
from snowdays.names import normalise_tile
from snowdays.outputs import write_maps
from snowdays.regions import Region
from snowdays.settings import Settings
from stac.anomaly_items import (
    ANOMALIES,
    ANOMALY_MOSAICS,
    AnomalyFiles,
    anomaly_item_id,
    anomaly_mosaic_item_id,
    layers,
    make_anomaly_item,
    make_anomaly_mosaic_item,
)
from stac.catalog import item_folder, read_items, upload, write_catalog
from stac.mosaics import tile_inputs
from stac.publish import PublishReport, Written, update_api


def publish_anomaly(store: str, tile: str, label: str, settings: Settings, catalog: str | None = None,
                    as_of: date | None = None) -> PublishReport | NoPast:
    """Publish the anomaly of the season ``label`` of ``tile`` as of ``as_of`` (default: its latest
    product): the static catalog, then the STAC API. :class:`NoPast`, and nothing written, when the
    tile holds no past season to compare with."""
    result = compare(store, normalise_tile(tile), label, settings, as_of)
    return result if isinstance(result, NoPast) else publish_result(result, settings, catalog)


def write_static_anomaly(store: str, tile: str, label: str, settings: Settings,
                         catalog: str | None = None) -> Written | NoPast:
    """The anomaly of the season as of its latest product into the static catalog alone (it needs
    no STAC database: a worker writes it, :func:`stac.publish.update_api` then registers it);
    :class:`NoPast` when the tile holds no past season."""
    result = compare(store, normalise_tile(tile), label, settings, None)
    return result if isinstance(result, NoPast) else write_anomaly(result, settings, catalog)


def publish_result(result: Anomaly, settings: Settings, catalog: str | None = None) -> PublishReport:
    """A computed anomaly's COGs and item into the static catalog, then the STAC API."""
    written = write_anomaly(result, settings, catalog)
    return update_api(written.collection, written.item, written.folder, settings)


def write_anomaly(result: Anomaly, settings: Settings, catalog: str | None = None) -> Written:
    """The anomaly's COGs and item in the static catalog (it needs no STAC database)."""
    root, m = catalog or settings.stac_catalog, result.maps
    chosen = layers(result)
    with tempfile.TemporaryDirectory(prefix="snowdays-anomaly-") as tmp:
        paths = write_maps(chosen, m.grid, Path(tmp), tile=result.tile, start=m.season.start,
                           stop=result.as_of, landsat=m.landsat, settings=settings)
        files = {key: path for (key, _), path in zip(chosen, paths, strict=True)}
        folder = item_folder(root, anomaly_item_id(result.tile, result.season), ANOMALIES)
        hrefs = upload(files, folder, settings)
        item = make_anomaly_item(AnomalyFiles(result, files, hrefs, _now()))
    return Written(write_catalog(root, item, settings), item, folder)


def build_region(region: Region, season: str, settings: Settings, catalog: str | None = None,
                 mapper: Mapper = map) -> MosaicReport | None:
    """Build or bring up to date the region's anomaly from its tiles' anomalies published in the
    catalog; None when none of its tiles has one for the season."""
    root = catalog or settings.stac_catalog
    inputs, missing = tile_inputs(region, season, root, settings, ANOMALY)
    if not inputs:
        return None
    return make_mosaic(region, season, inputs, missing, root, settings, mapper, ANOMALY)


def publish_region(report: MosaicReport, settings: Settings, catalog: str | None = None) -> PublishReport:
    """The regional anomaly's item into the static catalog, then the STAC API."""
    root = catalog or settings.stac_catalog
    plan = report.plan
    name = anomaly_mosaic_item_id(plan.region.name, plan.season)
    folder = item_folder(root, name, ANOMALY_MOSAICS)
    hrefs = {key: posixpath.relpath(f"{plan.folder}/{file}", folder) for key, file in ANOMALY.files.items()}
    tiles = read_items(root, settings, ANOMALIES, [anomaly_item_id(t, plan.season) for t in plan.inputs])
    item = make_anomaly_mosaic_item(report, hrefs, settings.season(plan.season), tiles, _now())
    return update_api(write_catalog(root, item, settings), item, folder, settings)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
