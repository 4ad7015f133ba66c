"""Statistics of a season's maps by elevation band, over the tile and over polygons (catchments, ski
areas): per band of ``band`` metres, the pixels, the mean SCD, SOD and SMOD (SOD and SMOD over the
pixels with more than 10 snow days, where they are given) and the snow-covered share (mean SCD over
the season's days: the share of the band's pixel-days under snow). The DEM is the tile's
(``SNOWDAYS_DEM``), read onto its grid as the snow detection reads it; pixels where it is 0 (no data)
are left out. The polygons are a GeoJSON FeatureCollection in longitude and latitude (the command's
``--polygons``; a published season's, ``SNOWDAYS_POLYGONS``). Written as CSV and JSON, with a plot of
SCD against elevation, a line per zone and season.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom

from snowdays.duration import MIN_SCD_FOR_DATES
from snowdays.errors import UsageError
from snowdays.export import SeasonMaps, season_maps
from snowdays.grid import Grid
from snowdays.l2a import read_dem
from snowdays.settings import Settings

BAND = 100
"""Height of an elevation band (metres), unless asked otherwise."""
WHOLE_TILE = "tile"
"""The zone of every pixel of the tile."""
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class BandStats:
    season: str
    zone: str
    low: int
    """The band's lower edge (metres); it holds elevations low <= z < low + band."""
    pixels: int
    scd_mean: float
    sod_mean: float | None
    smod_mean: float | None
    dated_pixels: int
    """Pixels of the band with SOD and SMOD (more than 10 snow days)."""
    snow_share: float


def elevation_stats(store: str, tile: str, labels: list[str], settings: Settings,
                    polygons: dict[str, Any] | None = None, band: int = BAND) -> list[BandStats]:
    """The statistics of each stored season (as of its latest product) by band, over the tile and
    each polygon."""
    rows: list[BandStats] = []
    for label in labels:
        maps = season_maps(store, tile, label, settings)
        rows += band_stats(maps, label, tile_dem(maps.tile, maps.grid, settings), zones(maps.grid, polygons),
                           band)
    return rows


def tile_dem(tile: str, grid: Grid, settings: Settings) -> npt.NDArray[np.int16]:
    dem = read_dem(tile, grid, settings)
    if dem is None:
        raise UsageError(f"no DEM for {tile}: set SNOWDAYS_DEM to a folder holding {tile}.tif")
    return dem


def load_polygons(path: str | None) -> dict[str, Any] | None:
    """The GeoJSON FeatureCollection of polygons at ``path`` (None: none), checked: every feature a
    Polygon or MultiPolygon; a file that is not one is a usage error naming it and why."""
    return None if not path else _polygons(str(Path(path).resolve()))


@lru_cache(maxsize=4)
def _polygons(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"polygons {path}: cannot be read as JSON ({e})") from e
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list) or data.get("type") != "FeatureCollection":
        raise UsageError(f"polygons {path}: not a GeoJSON FeatureCollection")
    for k, feature in enumerate(features):
        kind = ((feature or {}).get("geometry") or {}).get("type") if isinstance(feature, dict) else None
        if kind not in ("Polygon", "MultiPolygon"):
            raise UsageError(f"polygons {path}: feature {k} is a {kind or 'feature without a geometry'}, "
                             "not a Polygon or MultiPolygon")
    collection: dict[str, Any] = data
    return collection


def zones(grid: Grid, polygons: dict[str, Any] | None) -> dict[str, Mask]:
    """The whole tile, and each polygon of a GeoJSON FeatureCollection (longitude, latitude) by its
    ``name`` (else its id, else its place in the collection): the pixels whose centre it holds."""
    found = {WHOLE_TILE: np.ones(grid.shape, np.bool_)}
    for k, feature in enumerate((polygons or {}).get("features", [])):
        name = str((feature.get("properties") or {}).get("name") or feature.get("id") or k)
        shape = transform_geom("EPSG:4326", grid.crs, feature["geometry"])
        found[name] = ~geometry_mask([shape], grid.shape, grid.affine)
    return found


def band_stats(maps: SeasonMaps, label: str, dem: npt.NDArray[np.int16], masks: dict[str, Mask],
               band: int) -> list[BandStats]:
    """Every zone's statistics by band (only bands holding pixels), lowest band first."""
    rows = []
    bands = np.floor_divide(dem.astype(np.int64), band)
    days = (maps.as_of - maps.season.start).days + 1
    for zone, mask in masks.items():
        keep = mask & (dem != 0)
        for b in np.unique(bands[keep]):
            rows.append(_stats(maps, label, zone, keep & (bands == b), int(b) * band, days))
    return rows


def _stats(maps: SeasonMaps, label: str, zone: str, where: Mask, low: int, days: int) -> BandStats:
    scd = maps.maps.scd[where].astype(np.float64)
    dated = where & (maps.maps.scd > MIN_SCD_FOR_DATES)
    n_dated = int(dated.sum())

    def mean(values: npt.NDArray[np.uint16]) -> float | None:
        return float(values[dated].astype(np.float64).mean()) if n_dated else None

    return BandStats(label, zone, low, int(where.sum()), float(scd.mean()), mean(maps.maps.sod),
                     mean(maps.maps.smod), n_dated, float(scd.mean() / days))


def write_tables(rows: list[BandStats], out: Path, stem: str) -> list[Path]:
    """``<stem>.csv`` and ``<stem>.json`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / f"{stem}.csv", out / f"{stem}.json"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, [field.name for field in fields(BandStats)])
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    json_path.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    return [csv_path, json_path]


def plot(rows: list[BandStats], path: Path, band: int, title: str) -> Path:
    """SCD against elevation (the band's middle on the y axis): a line per zone and season of ``rows``,
    labelled by what tells them apart (the season, for one zone; the zone, for one season)."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - only the plot needs it

    figure = Figure(figsize=(5, 4), dpi=100)
    axes = figure.subplots()
    lines = list(dict.fromkeys((r.zone, r.season) for r in rows))
    one_zone, one_season = len({z for z, _ in lines}) == 1, len({s for _, s in lines}) == 1
    for zone, label in lines:
        chosen = sorted((r for r in rows if r.zone == zone and r.season == label), key=lambda r: r.low)
        name = label if one_zone else zone if one_season else f"{zone} {label}"
        axes.plot([r.scd_mean for r in chosen], [r.low + band / 2 for r in chosen], marker="o", label=name)
    axes.set_xlabel("snow cover duration (days)")
    axes.set_ylabel("elevation (m)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    return path
