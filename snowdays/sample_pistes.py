"""Seeded synthetic ski areas and their pistes, written as OpenStreetMap data by pyosmium (as OpenSnowMap
has them): ``landuse=winter_sports`` areas (closed ways, or multipolygon relations) holding
``piste:type`` ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from snowdays.errors import UsageError

LonLat = tuple[float, float]


@dataclass(frozen=True)
class Piste:
    name: str | None
    kind: str
    """``piste:type``: downhill, nordic, skitour..."""
    difficulty: str | None
    line: list[LonLat]
    area: bool = False
    """Mapped as an area (a closed way with ``area=yes``)."""


@dataclass(frozen=True)
class SkiArea:
    name: str | None
    ring: list[LonLat]
    """Closed outline (first point repeated last)."""
    pistes: list[Piste] = field(default_factory=list)
    relation: bool = False
    """Mapped as a multipolygon relation rather than a closed way."""


def random_areas(bounds: tuple[float, float, float, float], count: int, seed: int = 0) -> list[SkiArea]:
    """``count`` ski areas inside ``bounds`` (west, south, east, north in degrees), each a rough
    circle with a few downhill pistes down its slope and a nordic loop."""
    rng = np.random.default_rng(seed)
    west, south, east, north = bounds
    radius = min(east - west, north - south) / (3 * max(count, 1) ** 0.5)
    areas = []
    for k in range(count):
        cx = west + radius + rng.random() * (east - west - 2 * radius)
        cy = south + radius + rng.random() * (north - south - 2 * radius)
        angles = np.linspace(0, 2 * math.pi, 13)[:-1]
        ring = [(cx + radius * math.cos(a), cy + radius * 0.8 * math.sin(a)) for a in angles]
        pistes = [_downhill(rng, cx, cy, radius, j) for j in range(int(rng.integers(2, 5)))]
        pistes.append(Piste(None, "nordic", None, _loop(cx, cy, radius / 3)))
        areas.append(SkiArea(f"Station {k + 1}", [*ring, ring[0]], pistes, relation=k % 2 == 1))
    return areas


def _downhill(rng: np.random.Generator, cx: float, cy: float, radius: float, j: int) -> Piste:
    start = (cx + (rng.random() - 0.5) * radius, cy + 0.6 * radius * rng.random())
    steps = int(rng.integers(4, 9))
    line = [start]
    for _ in range(steps):
        x, y = line[-1]
        line.append((x + (rng.random() - 0.5) * radius / 5, y - radius / (steps + 2)))
    difficulty = ["novice", "easy", "intermediate", "advanced"][int(rng.integers(0, 4))]
    return Piste(f"Piste {j + 1}", "downhill", difficulty, line)


def _loop(cx: float, cy: float, r: float) -> list[LonLat]:
    points = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 9)[:-1]]
    return [*points, points[0]]


def write_osm(path: Path, areas: list[SkiArea], loose: list[Piste] | None = None) -> Path:
    """The areas and their pistes (and pistes of no area) as an OSM file, written by pyosmium (the
    ``osm`` extra): XML for ``.osm``, PBF for ``.pbf``, by the name. Nodes, ways and relations are
    numbered from 1 in the order they are given."""
    osm = _Osm()
    for area in areas:
        tags = {"landuse": "winter_sports", "name": area.name}
        if area.relation:
            outer = osm.way(area.ring, {})
            osm.relations.append(([("w", outer, "outer")], _tags({"type": "multipolygon", **tags})))
        else:
            osm.way(area.ring, tags)
        for piste in area.pistes:
            osm.piste(piste)
    for piste in loose or []:
        osm.piste(piste)
    osm.write(path)
    return path


Tags = dict[str, str]
Member = tuple[str, int, str]
"""A relation's member: its type (``n``, ``w``, ``r``), id and role."""


@dataclass
class _Osm:
    """OSM elements, numbered as they are added: nodes by location, ways by their nodes, relations by
    their members."""

    nodes: list[LonLat] = field(default_factory=list)
    ways: list[tuple[list[int], Tags]] = field(default_factory=list)
    relations: list[tuple[list[Member], Tags]] = field(default_factory=list)

    def way(self, points: list[LonLat], tags: dict[str, str | None]) -> int:
        """A way through new nodes (closed when its first and last points are the same); its id."""
        closed = points[0] == points[-1]
        first = len(self.nodes) + 1
        self.nodes += points[:-1] if closed else points
        refs = list(range(first, len(self.nodes) + 1))
        self.ways.append(([*refs, first] if closed else refs, _tags(tags)))
        return len(self.ways)

    def piste(self, piste: Piste) -> int:
        return self.way(piste.line, {"piste:type": piste.kind, "piste:difficulty": piste.difficulty,
                                     "name": piste.name, "area": "yes" if piste.area else None})

    def write(self, path: Path) -> None:
        """Every element, nodes first, then ways, then relations (as OSM files order them)."""
        osmium = _osmium()
        header = osmium.io.Header()
        header.set("generator", "snowdays")
        mutable = osmium.osm.mutable
        with osmium.SimpleWriter(str(path), header=header, overwrite=True) as writer:
            for k, location in enumerate(self.nodes, 1):
                writer.add_node(mutable.Node(id=k, version=1, location=location))
            for k, (refs, tags) in enumerate(self.ways, 1):
                writer.add_way(mutable.Way(id=k, version=1, nodes=refs, tags=tags))
            for k, (members, tags) in enumerate(self.relations, 1):
                writer.add_relation(mutable.Relation(id=k, version=1, members=members, tags=tags))


def _osmium() -> ModuleType:
    """pyosmium, which the ``osm`` extra brings."""
    try:
        import osmium  # noqa: PLC0415 - an extra: only writing OSM files needs it
    except ModuleNotFoundError as e:
        raise UsageError("writing OSM files needs pyosmium, which the osm extra brings: "
                         "pip install 'snowdays[osm]'") from e
    return osmium


def _tags(tags: dict[str, str | None]) -> Tags:
    return {k: v for k, v in tags.items() if v is not None}
