"""Regions a mosaic covers: a list of tiles, or a polygon (every published tile it meets, masked to it).

Shipped: ``alps`` and ``pyrenees`` (``snowdays/data/*.txt``). A file may hold a tile list (tiles
separated by blanks, commas or lines; ``#`` starts a comment) or a GeoJSON polygon in EPSG:4326 (a
geometry, a feature or a feature collection of polygons, merged).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasterio.warp import transform_geom
from shapely.errors import ShapelyError
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from snowdays.errors import BadInput, UsageError
from snowdays.names import normalise_tile
from snowdays.tiling import TILE_METRES, tile_origin

DATA = Path(__file__).with_name("data")
SHIPPED = ("alps", "pyrenees")


@dataclass(frozen=True)
class Region:
    name: str
    """Lower case letters, digits and dashes: names the mosaic's folder and item."""
    tiles: tuple[str, ...] | None
    """The tiles, in the order that breaks ties between overlapping ones; None: those published that
    meet ``polygon``."""
    polygon: dict[str, Any] | None = None
    """GeoJSON geometry in EPSG:4326; pixels outside it are left out."""


def load_region(spec: str) -> Region:
    """``alps``, ``pyrenees``, or a file holding a tile list or a GeoJSON polygon."""
    if spec in SHIPPED:
        return Region(spec, tile_list(DATA / f"{spec}.txt"))
    path = Path(spec)
    if not path.is_file():
        raise UsageError(f"region {spec!r} is neither one of {', '.join(SHIPPED)} nor a file")
    name = _file_name(path)
    if path.suffix.lower() in (".json", ".geojson"):
        return Region(name, None, polygon(path))
    return Region(name, tile_list(path))


def regions_holding(tile: str, files: Sequence[str] = ()) -> list[str]:
    """The regions whose mosaics hold ``tile``, as :func:`load_region` takes them: the shipped ones
    listing it, then the region files ``files`` (``settings.mosaic_regions``) listing it or whose
    polygon meets its footprint. A bad file is named (:class:`BadInput`, :class:`UsageError`)."""
    name = normalise_tile(tile)
    return [spec for spec in (*SHIPPED, *files) if holds(load_region(spec), name)]


def holds(region: Region, tile: str) -> bool:
    """Whether ``tile`` (normalised) is one of the region's: listed, or meeting its polygon."""
    if region.tiles is not None:
        return tile in region.tiles
    return region.polygon is not None and footprint(tile).intersects(shape(region.polygon))


def footprint(tile: str) -> BaseGeometry:
    """The tile's square (109.8 km a side) in EPSG:4326."""
    crs, x0, y0 = tile_origin(tile)
    x1, y1 = x0 + TILE_METRES, y0 - TILE_METRES
    square = {"type": "Polygon", "coordinates": [[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]]}
    return shape(transform_geom(crs, "EPSG:4326", square))


def region_name(spec: str) -> str:
    """The name of the mosaics of ``spec``, as ``snowdays mosaic --region`` names them: a region file's
    name made of its file name; anything else (``alps``, a mosaic's name) is the name."""
    path = Path(spec)
    return spec if spec in SHIPPED or not path.is_file() else _file_name(path)


def _file_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.name.split(".")[0].lower()).strip("-") or "region"


def tile_list(path: Path) -> tuple[str, ...]:
    try:
        text = path.read_text()
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: not a text list of tiles ({e})") from e
    words = re.split(r"[\s,]+", re.sub(r"#[^\n]*", "", text))
    tiles: list[str] = []
    for tile in map(normalise_tile, filter(None, words)):
        try:
            tile_origin(tile)
        except UsageError as e:
            raise BadInput(f"{path}: {e}") from e
        if tile not in tiles:
            tiles.append(tile)
    if not tiles:
        raise BadInput(f"{path}: no tile in the list")
    return tuple(tiles)


def polygon(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        features = data["features"] if data.get("type") == "FeatureCollection" else [data]
        shapes = [shape(f["geometry"] if f.get("type") == "Feature" else f) for f in features]
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, ShapelyError) as e:
        raise BadInput(f"{path}: not a GeoJSON geometry, feature or feature collection ({e})") from e
    merged = unary_union(shapes)
    if merged.geom_type not in ("Polygon", "MultiPolygon") or merged.is_empty:
        raise BadInput(f"{path}: holds {merged.geom_type}, not polygons")
    minx, miny, maxx, maxy = merged.bounds
    if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        raise BadInput(f"{path}: coordinates out of longitude and latitude ranges (EPSG:4326 expected)")
    return dict(mapping(merged))
