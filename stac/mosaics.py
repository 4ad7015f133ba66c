"""A region's mosaic out of the published tile maps, and its publishing (static catalog, STAC API).

The inputs are the tile items of the season in the static catalog (of a mosaic of anomalies: the tile
anomaly items): their COGs' hrefs, grids and checksums; a tile of the region with no item is missing
(named in the mosaic's item).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from datetime import UTC, datetime

import pystac
from shapely.geometry import shape

from snowdays.errors import BadInput
from snowdays.grid import Grid
from snowdays.mosaic import FILES, Mapper, MosaicReport, TileInput, make_mosaic
from snowdays.mosaic_kinds import ANOMALY, MAPS, MosaicKind
from snowdays.names import normalise_tile
from snowdays.regions import Region
from snowdays.settings import Settings
from snowdays.storage import filesystem
from stac.anomaly_items import ANOMALIES, anomaly_item_id
from stac.catalog import FsspecStacIO, item_folder, read_items, write_catalog
from stac.items import COLLECTION, item_id
from stac.mosaic_items import MOSAICS, make_mosaic_item, mosaic_item_id
from stac.publish import PublishReport, update_api

SOURCES: dict[str, tuple[str, Callable[[str, str], str]]] = {
    MAPS.name: (COLLECTION, item_id), ANOMALY.name: (ANOMALIES, anomaly_item_id)}
"""A mosaic's kind -> the collection of the tile items it reads, and their ids by tile and season."""


def build(region: Region, season: str, settings: Settings, catalog: str | None = None,
          mapper: Mapper = map) -> MosaicReport:
    """Build or bring up to date the region's mosaic from the tiles published in the catalog."""
    root = catalog or settings.stac_catalog
    inputs, missing = tile_inputs(region, season, root, settings)
    return make_mosaic(region, season, inputs, missing, root, settings, mapper)


def tile_inputs(region: Region, season: str, root: str, settings: Settings,
                kind: MosaicKind = MAPS) -> tuple[list[TileInput], list[str]]:
    """The published maps (of the kind) of the region's tiles for the season, in the region's order,
    and the tiles of its list that have none."""
    collection, name_of = SOURCES[kind.name]
    if region.tiles is None and region.polygon is not None:
        area = shape(region.polygon)
        items = [i for i in read_items(root, settings, collection)
                 if i.properties.get("snowdays:season") == season
                 and i.geometry is not None and shape(i.geometry).intersects(area)]
        return sorted((as_input(i, i.get_self_href() or i.id, kind) for i in items),
                      key=lambda t: t.tile), []
    found, missing = [], []
    io = FsspecStacIO(settings)
    for tile in region.tiles or ():
        name = name_of(tile, season)
        href = f"{item_folder(root, name, collection)}/{name}.json"
        if filesystem(href, settings.s3).exists(href):
            found.append(as_input(pystac.Item.from_file(href, stac_io=io), href, kind))
        else:
            missing.append(tile)
    return found, missing


def as_input(item: pystac.Item, href: str, kind: MosaicKind = MAPS) -> TileInput:
    """A tile item's maps; an item lacking what a mosaic needs is named (:class:`BadInput`)."""
    try:
        first = item.assets[kind.inputs[0]].extra_fields
        height, width = first["proj:shape"]
        grid = Grid(str(first["proj:code"]), tuple(first["proj:transform"][:6]), width, height)
        hrefs = tuple(item.assets[k].get_absolute_href() or "" for k in kind.inputs)
        return TileInput(normalise_tile(str(item.properties["grid:code"]).removeprefix("MGRS-")),
                         str(item.properties["snowdays:as_of"]), hrefs,
                         tuple(str(item.assets[k].extra_fields["file:checksum"]) for k in kind.inputs), grid)
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput(f"{href}: not a tile item a mosaic can use (no {e})") from e


def publish_mosaic(report: MosaicReport, settings: Settings,
                   catalog: str | None = None) -> PublishReport:
    """The mosaic's item into the static catalog, then the collection into the STAC API."""
    root = catalog or settings.stac_catalog
    plan = report.plan
    name = mosaic_item_id(plan.region.name, plan.season)
    folder = item_folder(root, name, MOSAICS)
    hrefs = {key: posixpath.relpath(f"{plan.folder}/{file}", folder) for key, file in FILES.items()}
    season = settings.season(plan.season)
    item = make_mosaic_item(report, hrefs, season, datetime.now(UTC).replace(microsecond=0))
    return update_api(write_catalog(root, item, settings), item, folder, settings)
