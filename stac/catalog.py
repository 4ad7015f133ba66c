"""The static catalog next to the maps, on a local folder or ``s3://``, rewritten in place on every publish.

Layout under the catalog root (pystac's best-practice layout)::

    catalog.json
    snow-cover-duration/collection.json
    snow-cover-duration/scd-t31tch-2017-2018/scd-t31tch-2017-2018.json   the item
    snow-cover-duration/scd-t31tch-2017-2018/LIS_*.tif, quicklook.png, products.json
    snow-cover-duration-mosaics/collection.json
    snow-cover-duration-mosaics/scd-mosaic-alps-2017-2018/scd-mosaic-alps-2017-2018.json   a mosaic's item
    mosaics/alps/2017-2018/scd.tif, sod.tif, smod.tif, scd-display.tif, manifest.json, blocks/

The collection is made again from the item files present at every publish, so that an item written by
one publisher is never lost by another that publishes at the same time: the next publish lists it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pystac
from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]
from pystac.stac_io import DefaultStacIO

from snowdays.errors import StorageError
from snowdays.settings import Settings
from snowdays.storage import filesystem, is_s3
from stac.items import COLLECTION, make_collection
from stac.mosaic_items import MOSAICS, make_mosaics_collection

CATALOG_ID = "snowdays"
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
        fs = filesystem(href, self.settings.s3)

        def write() -> None:
            fs.makedirs(posixpath.dirname(href), exist_ok=True)
            fs.pipe_file(href, txt.encode("utf-8"))

        _storage(href, write)


def _storage(href: str, work: Callable[[], T]) -> T:
    try:
        return work()
    except (OSError, BotoCoreError) as e:
        raise StorageError(f"Could not read or write {href}: {e}") from e


def absolute(root: str) -> str:
    """The catalog root as an absolute path or URL, without a trailing slash."""
    return root.rstrip("/") if is_s3(root) else str(Path(root).resolve())


COLLECTIONS: dict[str, Callable[[list[pystac.Item]], pystac.Collection]] = {
    COLLECTION: make_collection, MOSAICS: make_mosaics_collection}
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
    """Write ``item`` into the catalog at ``root``, then the collections (those with items; the tiles'
    always) and the catalog over every item. Returns the item's collection."""
    io = FsspecStacIO(settings)
    base = absolute(root)
    own = item.collection_id or COLLECTION
    item.set_self_href(f"{item_folder(root, item.id, own)}/{item.id}.json")
    item.save_object(include_self_link=False, stac_io=io)
    catalog = pystac.Catalog(CATALOG_ID, "Snow cover duration maps published by snowdays.",
                             title="snowdays")
    made = {}
    for name, make in COLLECTIONS.items():
        items = read_items(root, settings, name)
        if items or name == COLLECTION:
            made[name] = make(items)
            made[name].add_items(items)
            catalog.add_child(made[name])
    catalog.normalize_hrefs(base)
    catalog.save(pystac.CatalogType.SELF_CONTAINED, stac_io=io)
    return made[own]


def read_items(root: str, settings: Settings, collection: str = COLLECTION) -> list[pystac.Item]:
    """The items present under a collection's folder of the catalog, by id."""
    fs = filesystem(root, settings.s3)
    base = absolute(root)
    pattern = f"{base}/{collection}/*/*.json"
    found = _storage(root, lambda: sorted(fs.glob(pattern)))
    hrefs = [f"s3://{p}" if is_s3(base) else str(p) for p in found]
    hrefs = [h for h in hrefs if posixpath.basename(posixpath.dirname(h)) + ".json"
             == posixpath.basename(h)]
    io = FsspecStacIO(settings)
    return [pystac.Item.from_file(h, stac_io=io) for h in hrefs]


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
    stale = [p for p in found if posixpath.basename(p) not in keep]
    for path in stale:
        _storage(folder, lambda p=path: fs.rm_file(p))  # type: ignore[misc]
    return [posixpath.basename(p) for p in stale]
