"""What the viewer's base map should show, worked out apart from the viewer: where a point of the map
falls on the screen, the border two countries share in the topology the viewer reads, and a DEM beside
the viewer's tile (overlapping the east edge of its maps)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasterio.warp import transform

from snowdays.sample import write_dem

ROOT = Path(__file__).resolve().parent.parent
BORDERS = ROOT / "web" / "node_modules" / "world-atlas" / "countries-10m.json"
VIEW = "EPSG:3035"
VIEW_SIZE = 6829874.45 - 1507846.05
"""The longer side of the view CRS's extent (web/src/projections.js): OpenLayers' zoom 0 spans it in
256 pixels."""
DEM_SIZE, DEM_OFFSET = 300, (0, 40)
"""The DEM: 300 pixels a side, from row 0 and column 40 of the tile (the maps cover 48 from 0, 0)."""


def write_relief_dem(folder: Path, tile: str) -> Path:
    return write_dem(folder / f"{tile}.tif", tile, DEM_SIZE, seed=11, offset=DEM_OFFSET)


@dataclass(frozen=True)
class Screen:
    """The map element of a page centred on ``centre`` (lon, lat) at ``zoom``, its box in CSS pixels."""

    centre: tuple[float, float]
    zoom: float
    box: dict[str, float]

    @property
    def resolution(self) -> float:
        """Metres of the view CRS per CSS pixel."""
        return VIEW_SIZE / 256 / 2 ** self.zoom

    def pixels(self, xs: list[float], ys: list[float], crs: str) -> list[tuple[float, float]]:
        """Where points of ``crs`` are on the page (CSS pixels)."""
        (cx,), (cy,) = transform("EPSG:4326", VIEW, [self.centre[0]], [self.centre[1]])
        vx, vy = transform(crs, VIEW, xs, ys)
        mid_x, mid_y = self.box["x"] + self.box["width"] / 2, self.box["y"] + self.box["height"] / 2
        return [(mid_x + (x - cx) / self.resolution, mid_y - (y - cy) / self.resolution)
                for x, y in zip(vx, vy, strict=True)]

    def inside(self, point: tuple[float, float], margin: float) -> bool:
        x, y = point
        b = self.box
        return (b["x"] + margin <= x <= b["x"] + b["width"] - margin
                and b["y"] + margin <= y <= b["y"] + b["height"] - margin)


def shared_border(first: str, second: str) -> list[tuple[float, float]]:
    """The vertices (lon, lat) of the arcs the two countries share in the viewer's topology."""
    topology = json.loads(BORDERS.read_text())
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    countries = {g["properties"]["name"]: g for g in topology["objects"]["countries"]["geometries"]}

    def arcs(nested: Any) -> set[int]:
        if isinstance(nested, int):
            return {nested if nested >= 0 else ~nested}
        return set().union(*(arcs(part) for part in nested))

    points = []
    for index in sorted(arcs(countries[first]["arcs"]) & arcs(countries[second]["arcs"])):
        x = y = 0
        for dx, dy in topology["arcs"][index]:  # quantized, each position a delta from the one before
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
    return points
