"""The static catalog next to the maps, on a local folder or ``s3://``: a publish writes its own item
and, when it must, the collection and the catalog, never another item.

Layout under the catalog root (pystac's best-practice layout, self-contained: relative links)::

    catalog.json
    snow-cover-duration/collection.json
    snow-cover-duration/scd-t31tch-2017-2018/scd-t31tch-2017-2018.json   the item
    snow-cover-duration/scd-t31tch-2017-2018/LIS_*.tif, quicklook.png, histogram.png, products.json
    snow-cover-duration-mosaics/collection.json
    snow-cover-duration-mosaics/scd-mosaic-alps-2017-2018/scd-mosaic-alps-2017-2018.json   a mosaic's item
    mosaics/alps/2017-2018/scd.tif, sod.tif, smod.tif, scd-display.tif, manifest.json, blocks/
    snow-cover-duration-anomalies/scd-anomaly-t31tch-2018-2019/   an anomaly's item and its COGs
    snow-cover-duration-anomaly-mosaics/scd-anomaly-mosaic-alps-2018-2019/   a regional anomaly's item
    mosaics/alps/2018-2019/anomaly/scd-anomaly.tif, ..., manifest.json, blocks/

Why the cost of a publish does not grow with the catalog: it writes one item, lists the collection's
item files (ids only, one listing) and reads the one ``collection.json``; only items the collection does
not link yet are read (its own, and those other publishers are writing at the same moment), and the
collection's extent and summaries grow by theirs (a tile's grid and a season's dates are fixed, so an
item's extent never changes; a mosaic's whose region grows widens the extent at its own publish), so
no publish reads every item. The first publish into a catalog with no readable collection reads every
item once, to make it whole.

Why concurrent publishers (different tiles; one run per tile at a time) lose nothing, without locks:
each writes its own item file first, then loops: list the item files, read ``collection.json``, and
stop when it links exactly those; else write it (linking the listing, its extent grown by the items it
lacked) and look again. Whoever writes ``collection.json`` last looks again after that write, and by
then sees every item whose writer wrote the collection before it (an item is written before its
writer's first look), so it stops only once the final file links them all; S3 and a local folder are
both read-after-write consistent, and a local write is a rename, so a reader never sees half a file.
No publish writes another's item, so none can roll one back. ``catalog.json`` converges the same way
over the collections present.
"""

from __future__ import annotations

import json
import posixpath
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pystac
from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]
from pystac.stac_io import DefaultStacIO

from snowdays.errors import StorageError
from snowdays.settings import Settings
from snowdays.storage import filesystem, is_s3
from stac.anomaly_items import (
    ANOMALIES,
    ANOMALY_MOSAICS,
    make_anomalies_collection,
    make_anomaly_mosaics_collection,
)
from stac.items import COLLECTION, make_collection
from stac.mosaic_items import MOSAICS, make_mosaics_collection

CATALOG_ID = "snowdays"
CATALOG_TITLE = "snowdays"
ROUNDS = 100
"""Writes of a collection (or the catalog) a publish makes at most, while others keep adding items."""
T = TypeVar("T")


class FsspecStacIO(DefaultStacIO):
    """pystac's reads and writes through fsspec: local folders and ``s3://`` (endpoint from settings)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def read_text_from_href(self, href: str) -> str:
        fs = filesystem(href, self.settings.s3)
        return _storage(href, lambda: str(fs.cat_file(href).decode("utf-8")))

    def write_text_to_href(self, href: str, txt: str) -> None:
        _storage(href, lambda: write_text(href, txt, self.settings))


def write_text(href: str, text: str, settings: Settings) -> None:
    """One object written whole: a PUT on S3, a rename of a file written beside it locally (a reader
    never sees half of it, two writers never mix theirs)."""
    fs = filesystem(href, settings.s3)
    fs.makedirs(posixpath.dirname(href), exist_ok=True)
    if is_s3(href):
        fs.pipe_file(href, text.encode("utf-8"))
        return
    partial = f"{href}.{uuid.uuid4().hex}.partial"
    Path(partial).write_text(text, encoding="utf-8")
    Path(partial).replace(href)


def _storage(href: str, work: Callable[[], T]) -> T:
    try:
        return work()
    except (OSError, BotoCoreError) as e:
        raise StorageError(f"Could not read or write {href}: {e}") from e


def absolute(root: str) -> str:
    """The catalog root as an absolute path or URL, without a trailing slash."""
    return root.rstrip("/") if is_s3(root) else str(Path(root).resolve())


COLLECTIONS: dict[str, Callable[[list[pystac.Item]], pystac.Collection]] = {
    COLLECTION: make_collection, MOSAICS: make_mosaics_collection, ANOMALIES: make_anomalies_collection,
    ANOMALY_MOSAICS: make_anomaly_mosaics_collection}
"""The catalog's collections, and how each is made over its items."""


def item_folder(root: str, item_id: str, collection: str = COLLECTION) -> str:
    return f"{absolute(root)}/{collection}/{item_id}"


def upload(files: dict[str, Path], folder: str, settings: Settings) -> dict[str, str]:
    """Copy local files into the item's folder; return their hrefs relative to the item."""
    fs = filesystem(folder, settings.s3)
    _storage(folder, lambda: fs.makedirs(folder, exist_ok=True))
    for path in files.values():
        _storage(folder, lambda p=path: fs.put_file(str(p), f"{folder}/{p.name}"))  # type: ignore[misc]
    return {key: f"./{path.name}" for key, path in files.items()}


def write_catalog(root: str, item: pystac.Item, settings: Settings) -> pystac.Collection:
    """Write ``item`` into the catalog at ``root``, then bring its collection and the catalog up to
    date with what is listed (module docstring). Returns the collection as written or found."""
    own = item.collection_id or COLLECTION
    write_item(root, item, own, settings)
    collection = converge_collection(root, own, item, settings)
    converge_catalog(root, settings)
    return collection


def write_item(root: str, item: pystac.Item, collection: str, settings: Settings) -> None:
    """The item's own file, its links relative (root, collection, parent)."""
    item.clear_links()
    item.set_self_href(f"{item_folder(root, item.id, collection)}/{item.id}.json")
    title = COLLECTIONS[collection]([]).title
    for rel, href, name in ((pystac.RelType.ROOT, "../../catalog.json", CATALOG_TITLE),
                            (pystac.RelType.COLLECTION, "../collection.json", title),
                            (pystac.RelType.PARENT, "../collection.json", title)):
        item.add_link(pystac.Link(rel, href, pystac.MediaType.JSON, name))
    data = item.to_dict(include_self_link=False, transform_hrefs=False)
    _storage(item.get_self_href() or "", lambda: write_text(
        item.get_self_href() or "", json.dumps(data, indent=2), settings))


def converge_collection(root: str, name: str, item: pystac.Item,
                        settings: Settings) -> pystac.Collection:
    """Write ``collection.json`` until it links every item file listed (module docstring)."""
    href = f"{absolute(root)}/{name}/collection.json"
    for _ in range(ROUNDS):
        listed, found = item_ids(root, settings, name), read_json(href, settings)
        linked = links_of(found, "item") if found else None
        if found is not None and linked == listed and covers(found, item):
            return pystac.Collection.from_dict(found, href=href, preserve_dict=False)
        others = read_items(root, settings, name, listed - (linked or set()) - {item.id})
        made = grown(COLLECTIONS[name]([item, *others]), found)
        write_json(href, collection_dict(made, listed), settings)
    raise StorageError(f"{href} changed under every one of {ROUNDS} writes: publish again")


def covers(collection: dict[str, Any], item: pystac.Item) -> bool:
    """Whether the collection's spatial extent holds the item's bounding box."""
    [box, *_] = collection["extent"]["spatial"]["bbox"]
    west, south, east, north = item.bbox or box
    return bool(box[0] <= west and box[1] <= south and east <= box[2] and north <= box[3])


def converge_catalog(root: str, settings: Settings) -> None:
    """Write ``catalog.json`` until it links every collection present (module docstring)."""
    href = f"{absolute(root)}/catalog.json"
    for _ in range(ROUNDS):
        present = {name for name in COLLECTIONS if exists(f"{absolute(root)}/{name}/collection.json",
                                                           settings)}
        found = read_json(href, settings)
        if found is not None and links_of(found, "child") == present:
            return
        write_json(href, catalog_dict(present), settings)
    raise StorageError(f"{href} changed under every one of {ROUNDS} writes: publish again")


def grown(made: pystac.Collection, found: dict[str, Any] | None) -> pystac.Collection:
    """``made`` (over the items it lacked) with the extent and summaries ``found`` already had."""
    if not found or not links_of(found, "item"):
        return made
    old = pystac.Collection.from_dict(found, preserve_dict=False)
    made.extent = pystac.Extent(
        pystac.SpatialExtent([_union(b for e in (old, made) for b in e.extent.spatial.bboxes)]),
        pystac.TemporalExtent([_span([i for e in (old, made) for i in e.extent.temporal.intervals])]))
    for key, values in old.summaries.lists.items():
        mine = made.summaries.lists.get(key, [])
        made.summaries.add(key, sorted(set(values) | set(mine)))
    return made


def _union(bboxes: Iterable[list[float]]) -> list[float]:
    boxes = list(bboxes)
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes)]


def _span(intervals: list[list[Any]]) -> list[Any]:
    starts, ends = [i[0] for i in intervals], [i[1] for i in intervals]
    return [None if None in starts else min(starts), None if None in ends else max(ends)]


def collection_dict(collection: pystac.Collection, ids: set[str]) -> dict[str, Any]:
    """The collection's JSON, linking the catalog and the items ``ids`` (relative hrefs)."""
    collection.clear_links()
    collection.add_link(pystac.Link(pystac.RelType.ROOT, "../catalog.json", pystac.MediaType.JSON,
                                    CATALOG_TITLE))
    collection.add_link(pystac.Link(pystac.RelType.PARENT, "../catalog.json", pystac.MediaType.JSON,
                                    CATALOG_TITLE))
    for name in sorted(ids):
        collection.add_link(pystac.Link(pystac.RelType.ITEM, f"./{name}/{name}.json",
                                        pystac.MediaType.GEOJSON))
    return collection.to_dict(include_self_link=False, transform_hrefs=False)


def catalog_dict(collections: set[str]) -> dict[str, Any]:
    catalog = pystac.Catalog(CATALOG_ID, "Snow cover duration maps published by snowdays.",
                             title=CATALOG_TITLE)
    catalog.add_link(pystac.Link(pystac.RelType.ROOT, "./catalog.json", pystac.MediaType.JSON,
                                 CATALOG_TITLE))
    for name in sorted(collections):
        title = COLLECTIONS[name]([]).title
        catalog.add_link(pystac.Link(pystac.RelType.CHILD, f"./{name}/collection.json",
                                     pystac.MediaType.JSON, title))
    return catalog.to_dict(include_self_link=False, transform_hrefs=False)


def links_of(data: dict[str, Any], rel: str) -> set[str]:
    """The names (folder of each link's href) a STAC object links with ``rel``."""
    return {posixpath.basename(posixpath.dirname(link["href"]))
            for link in data.get("links", []) if link.get("rel") == rel}


def read_json(href: str, settings: Settings) -> dict[str, Any] | None:
    """A JSON file of the catalog, or None when there is none yet or it does not parse (it is then
    made again whole, from the listing)."""
    fs = filesystem(href, settings.s3)
    try:
        return dict(json.loads(fs.cat_file(href)))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    except (OSError, BotoCoreError) as e:
        raise StorageError(f"Could not read {href}: {e}") from e


def write_json(href: str, data: dict[str, Any], settings: Settings) -> None:
    _storage(href, lambda: write_text(href, json.dumps(data, indent=2), settings))


def exists(href: str, settings: Settings) -> bool:
    return bool(_storage(href, lambda: filesystem(href, settings.s3).exists(href)))


def item_ids(root: str, settings: Settings, collection: str = COLLECTION) -> set[str]:
    """The ids of the item files under a collection's folder: one listing, no item read."""
    fs = filesystem(root, settings.s3)
    found = _storage(root, lambda: fs.glob(f"{absolute(root)}/{collection}/*/*.json"))
    return {posixpath.basename(posixpath.dirname(p)) for p in found
            if posixpath.basename(posixpath.dirname(p)) + ".json" == posixpath.basename(p)}


def read_items(root: str, settings: Settings, collection: str = COLLECTION,
               ids: Iterable[str] | None = None) -> list[pystac.Item]:
    """The items ``ids`` (default: every item listed) of a collection's folder, by id."""
    io = FsspecStacIO(settings)
    chosen = sorted(item_ids(root, settings, collection) if ids is None else ids)
    return [pystac.Item.from_file(f"{item_folder(root, i, collection)}/{i}.json", stac_io=io)
            for i in chosen]


def open_catalog(root: str, settings: Settings) -> pystac.Catalog:
    """The catalog at ``root`` as pystac reads it."""
    return pystac.Catalog.from_file(f"{absolute(root)}/catalog.json", stac_io=FsspecStacIO(settings))


def for_api(item: pystac.Item) -> dict[str, Any]:
    """An item as the API stores it: absolute asset hrefs, no links (the API makes its own)."""
    copy = item.clone()
    copy.make_asset_hrefs_absolute()
    data = copy.to_dict(include_self_link=False, transform_hrefs=False)
    data["links"] = []
    return data


def remove_stale(folder: str, item: pystac.Item, settings: Settings) -> list[str]:
    """Delete the files of the item's folder that it no longer points to (older maps)."""
    fs = filesystem(folder, settings.s3)
    keep = {posixpath.basename(a.href) for a in item.assets.values()} | {f"{item.id}.json"}
    found = _storage(folder, lambda: fs.ls(folder, detail=False))
    stale = [p for p in found if posixpath.basename(p) not in keep and ".partial" not in p]
    for path in stale:
        _storage(folder, lambda p=path: fs.rm_file(p))  # type: ignore[misc]
    return [posixpath.basename(p) for p in stale]
