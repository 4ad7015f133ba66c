"""Ski runs out of OpenStreetMap (OpenSnowMap) extracts, into the viewer's overlay.

Input: OSM XML or PBF (read with pyosmium) or GeoJSON (an Overpass-style export: the OSM tags as
properties, flat or under ``tags``, and the id as ``way/123``), of ``piste:type=*`` ways and
``landuse=winter_sports`` areas (closed ways or multipolygon relations). Output: an EPSG:4326 GeoJSON
FeatureCollection, one feature per piste (``kind`` "piste": a line, or a polygon when mapped as an
area) and per ski area (``kind`` "ski_area"), with properties ``piste_type``, ``difficulty``, ``name``,
``ski_area`` and ``osm_id``.

A piste's ski area is the named ``landuse=winter_sports`` area it runs through the most (the longest
part of its line, or the largest part of its area, inside it); none: null. A ski area's own ``ski_area``
is its name. ``osm_id`` is ``way/123`` or ``relation/45`` (from a GeoJSON: its ``id`` or ``@id``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import osmium
from shapely import STRtree
from shapely.errors import ShapelyError
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from snowdays.errors import BadInput

OSM_SUFFIXES = (".osm", ".xml", ".pbf", ".osm.pbf", ".osm.xml")
GEOJSON_SUFFIXES = (".geojson", ".json")


def overlay_href(catalog: str) -> str:
    """Where the viewer finds the overlay: ``{catalog}/pistes/pistes.geojson``."""
    return f"{catalog.rstrip('/')}/pistes/pistes.geojson"


@dataclass(frozen=True)
class Feature:
    osm_id: str
    tags: dict[str, str]
    geometry: BaseGeometry


def import_pistes(path: Path) -> dict[str, Any]:
    """The overlay FeatureCollection of the pistes and ski areas in ``path``."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith(GEOJSON_SUFFIXES):
        found = list(geojson_features(path))
    elif name.endswith(OSM_SUFFIXES):
        found = list(osm_features(path))
    else:
        raise BadInput(f"{path}: not OSM XML (.osm), PBF (.pbf) or GeoJSON (.geojson) by its name")
    areas = [f for f in found if f.tags.get("landuse") == "winter_sports"
             and f.geometry.geom_type in ("Polygon", "MultiPolygon")]
    pistes = [f for f in found if "piste:type" in f.tags]
    if not areas and not pistes:
        raise BadInput(f"{path}: holds no piste:type way and no landuse=winter_sports area")
    names = _area_names(pistes, areas)
    features = [_feature("ski_area", a, a.tags.get("name")) for a in sorted(areas, key=_order)]
    features += [_feature("piste", p, names[p.osm_id]) for p in sorted(pistes, key=_order)]
    return {"type": "FeatureCollection", "features": features}


def _order(f: Feature) -> tuple[str, int]:
    kind, _, number = f.osm_id.partition("/")
    return kind, int(number) if number.isdigit() else 0


def _feature(kind: str, f: Feature, ski_area: str | None) -> dict[str, Any]:
    is_piste = kind == "piste"
    return {"type": "Feature", "geometry": _rounded(mapping(f.geometry)), "properties": {
        "kind": kind, "piste_type": f.tags.get("piste:type") if is_piste else None,
        "difficulty": f.tags.get("piste:difficulty") if is_piste else None,
        "name": f.tags.get("name") or (f.tags.get("piste:name") if is_piste else None),
        "ski_area": ski_area, "osm_id": f.osm_id}}


def _rounded(geometry: dict[str, Any]) -> dict[str, Any]:
    def walk(c: Any) -> Any:
        return round(c, 7) if isinstance(c, float) else [walk(x) for x in c]

    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}


def _area_names(pistes: list[Feature], areas: list[Feature]) -> dict[str, str | None]:
    """Each piste's ski area: the named area holding most of it."""
    named = [a for a in areas if a.tags.get("name")]
    tree = STRtree([a.geometry for a in named])
    found: dict[str, str | None] = {}
    for piste in pistes:
        best, share = None, 0.0
        for k in tree.query(piste.geometry, predicate="intersects"):
            part = piste.geometry.intersection(named[int(k)].geometry)
            size = part.area if piste.geometry.geom_type.endswith("Polygon") else part.length
            if size > share:
                best, share = named[int(k)].tags["name"], size
        found[piste.osm_id] = best
    return found


def osm_features(path: Path) -> Iterator[Feature]:
    """Piste ways and winter sports areas of an OSM XML or PBF file."""
    factory = osmium.geom.GeoJSONFactory()
    wanted = osmium.filter.KeyFilter("piste:type", "landuse")
    try:
        for obj in osmium.FileProcessor(str(path)).with_areas(wanted).with_filter(wanted):
            if isinstance(obj, osmium.osm.Way) and "piste:type" in obj.tags:
                tags = {t.k: t.v for t in obj.tags}
                closed_area = obj.is_closed() and tags.get("area") == "yes"
                geometry = (_polygon_of(factory.create_linestring(obj)) if closed_area
                            else shape(json.loads(factory.create_linestring(obj))))
                yield Feature(f"way/{obj.id}", tags, geometry)
            elif isinstance(obj, osmium.osm.Area) and obj.tags.get("landuse") == "winter_sports":
                kind = "way" if obj.from_way() else "relation"
                yield Feature(f"{kind}/{obj.orig_id()}", {t.k: t.v for t in obj.tags},
                              shape(json.loads(factory.create_multipolygon(obj))))
    except (RuntimeError, osmium.InvalidLocationError, ValueError) as e:
        raise BadInput(f"{path}: not a readable OSM file ({e})") from e


def _polygon_of(line: str) -> BaseGeometry:
    coordinates = json.loads(line)["coordinates"]
    return shape({"type": "Polygon", "coordinates": [coordinates]})


def geojson_features(path: Path) -> Iterator[Feature]:
    """Features of a GeoJSON export whose properties are (or hold, under ``tags``) the OSM tags."""
    try:
        data = json.loads(path.read_text())
        features = data["features"] if data.get("type") == "FeatureCollection" else [data]
        for k, f in enumerate(features):
            props = f.get("properties") or {}
            tags = {str(a): str(b) for a, b in (props.get("tags") or props).items() if b is not None}
            osm_id = str(f.get("id") or props.get("@id") or props.get("osm_id") or f"feature/{k}")
            if "piste:type" in tags or tags.get("landuse") == "winter_sports":
                yield Feature(osm_id, tags, shape(f["geometry"]))
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, ShapelyError) as e:
        raise BadInput(f"{path}: not a GeoJSON feature collection of OSM features ({e})") from e
