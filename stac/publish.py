"""Publishing a stored season: its maps, quicklook and item in the static catalog, then in the STAC API.

The static catalog is always written first (the item's own file, and its collection when it lacks
the item: ``stac/catalog.py``); then the database gets that one item, the collection and the
collection's extent over the items it holds, so that a publish costs the same in a catalog of one tile
or of a region's. An item the database missed (it was down) is loaded by that tile's next publish.
"""

from __future__ import annotations

import json
import logging
import posixpath
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pystac

from snowdays.elevation import BAND, band_stats, load_polygons, plot, write_tables, zones
from snowdays.errors import StorageError
from snowdays.export import SeasonMaps, season_layers
from snowdays.l2a import read_dem
from snowdays.names import normalise_tile, parse_name
from snowdays.outputs import write_maps
from snowdays.quality import Quality
from snowdays.relief import write_hillshade
from snowdays.settings import Settings
from snowdays.state import ledger
from snowdays.store import open_repo, read
from stac.catalog import for_api, item_folder, remove_stale, upload, write_catalog
from stac.database import upsert
from stac.histogram import write_histogram
from stac.items import Published, item_id, label_of, make_item
from stac.quicklook import write_quicklook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishReport:
    item: pystac.Item
    """The item as the static catalog holds it."""
    item_href: str
    catalog_href: str
    api_items: int
    """Items upserted into the STAC API: the published one (0 when it could not be updated)."""
    api_error: str | None
    """Why the STAC API could not be updated (the static catalog was written all the same)."""
    removed: list[str]
    """Files of earlier maps of the item removed once the API pointed at the new ones."""


@dataclass(frozen=True)
class Written:
    """A season's files and item in the static catalog, not yet in the STAC API."""

    collection: pystac.Collection
    item: pystac.Item
    folder: str
    """The item's folder (its maps, quicklook and product list)."""


def publish(store: str, tile: str, label: str, settings: Settings, catalog: str | None = None,
            today: date | None = None) -> PublishReport:
    """Publish the season ``label`` of ``tile`` from the stores under ``store``: the static catalog,
    then the STAC API.

    Unknown tile or season: :class:`~snowdays.errors.UsageError`, and nothing is written.
    """
    written = write_static(store, tile, label, settings, catalog, today)
    return update_api(written.collection, written.item, written.folder, settings)


def write_static(store: str, tile: str, label: str, settings: Settings, catalog: str | None = None,
                 today: date | None = None) -> Written:
    """The season's maps, quicklook, product list and item in the static catalog (anywhere that reaches
    the stores and the catalog: it needs no STAC database)."""
    root = catalog or settings.stac_catalog
    result, layers = season_layers(store, normalise_tile(tile), label, settings)
    names = product_names(store, result.tile, label, settings)
    final = result.season.closed(today)
    with tempfile.TemporaryDirectory(prefix="snowdays-publish-") as tmp:
        files = write_files(result, layers, names, final, Path(tmp), settings)
        folder = item_folder(root, item_id(result.tile, label_of(result)))
        hrefs = upload(files, folder, settings)
        item = make_item(Published(result, layers, files, hrefs, final, observation_days(names), _now()))
    return Written(write_catalog(root, item, settings), item, folder)


def update_api(collection: pystac.Collection, item: pystac.Item, folder: str,
               settings: Settings) -> PublishReport:
    """Upsert the collection and the item into the STAC API, then remove the files of the item's
    folder it no longer points to; a database that cannot be reached is reported, not raised."""
    data = collection.to_dict(include_self_link=False, transform_hrefs=False) | {"links": []}
    error, removed = None, []
    try:
        upsert(settings.stac_database_url, data, [for_api(item)], settings.stac_connect_timeout)
        removed = remove_stale(folder, item, settings)
    except StorageError as e:
        log.warning("the static catalog is written, the STAC API is not updated: %s", e)
        error = str(e)
    catalog = posixpath.join(posixpath.dirname(posixpath.dirname(collection.self_href)), "catalog.json")
    return PublishReport(item, item.get_self_href() or "", catalog, 0 if error else 1, error, removed)


def write_files(result: SeasonMaps, layers: Quality, names: list[str], final: bool, out: Path,
                settings: Settings) -> dict[str, Path]:
    """The COGs of the four maps and of the quality layers (named as annual maps once final), the
    quicklook, the SCD histogram and the product list; where the tile has a DEM, the statistics by
    elevation and the hillshade of the DEM (the viewer's relief)."""
    s = result.season
    maps = write_maps(result.maps.items() + layers.items(), result.grid, out, tile=result.tile, start=s.start,
                      stop=s.stop if final else result.as_of, landsat=result.landsat, settings=settings)
    files = {path.name.split("_")[1].rsplit("-", 1)[1]: path for path in maps}
    files["quicklook"] = write_quicklook(result.maps.scd, result.maps.nobs, out / "quicklook.png")
    files["histogram"] = write_histogram(
        result.maps.scd, result.maps.nobs, f"SCD of {result.tile} {label_of(result)}, as of {result.as_of}",
        out / "histogram.png")
    files["products"] = out / "products.json"
    files["products"].write_text(json.dumps({"tile": result.tile, "as_of": result.as_of.isoformat(),
                                             "products": names}, indent=1) + "\n")
    hillshade = write_hillshade(result.tile, out / "hillshade.tif", settings)
    return files | elevation_files(result, out, settings) | ({"hillshade": hillshade} if hillshade else {})


def elevation_files(result: SeasonMaps, out: Path, settings: Settings) -> dict[str, Path]:
    """The season's statistics by elevation band over the tile and the polygons of
    ``SNOWDAYS_POLYGONS`` that meet it, as CSV and JSON, and their plot (a line per zone), where the
    tile has a DEM (``SNOWDAYS_DEM``); none otherwise."""
    dem = read_dem(result.tile, result.grid, settings)
    if dem is None:
        return {}
    label = label_of(result)
    rows = band_stats(result, label, dem, zones(result.grid, load_polygons(settings.polygons)), BAND)
    table, as_json = write_tables(rows, out, "elevation")
    title = f"SCD by {BAND} m band: {result.tile} {label}, as of {result.as_of}"
    return {"elevation": table, "elevation-json": as_json,
            "elevation-plot": plot(rows, out / "elevation.png", BAND, title)}


def product_names(store: str, tile: str, label: str, settings: Settings) -> list[str]:
    group = read(open_repo(store, tile, settings))[f"seasons/{label}"]
    return sorted(entry.name for entry in ledger(group))  # type: ignore[arg-type]


def observation_days(names: list[str]) -> int:
    """Distinct acquisition days (UTC) of the products."""
    return len({parse_name(name).acquired.date() for name in names})


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
