"""Small synthetic tile items, without maps: what the catalog's bookkeeping (links, extents, versions)
is measured and tested with, made in no time (``bench/publish.py``, the concurrency tests)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pystac

from snowdays.settings import Settings
from snowdays.tiling import tile_grid
from stac.items import COLLECTION, bbox_of, footprint, item_id

SIZE = 24
"""Pixels a side of the corner of the tile an item covers."""


def synthetic_item(tile: str, label: str, version: int, settings: Settings) -> pystac.Item:
    """The item of ``tile``'s season ``label`` as of ``version`` days into it, with ``version``
    products; its footprint a corner of the tile."""
    season = settings.season(label)
    geometry = footprint(tile_grid(tile, size=SIZE))
    as_of = season.start + timedelta(days=version)
    return pystac.Item(
        item_id(tile, label), geometry, bbox_of(geometry), datetime.combine(as_of, time(), UTC),
        collection=COLLECTION, start_datetime=datetime.combine(season.start, time(), UTC),
        end_datetime=datetime.combine(season.stop, time(23, 59, 59), UTC),
        properties={"snowdays:season": label, "snowdays:as_of": as_of.isoformat(),
                    "snowdays:products": version, "snowdays:status": "provisional",
                    "grid:code": f"MGRS-{tile.removeprefix('T')}"})
