"""What the viewer shows, made in code for its tests: three seasons of one tile, ingested and published
for real, and, standing in for the regional mosaics, ski runs and resort ranking (made elsewhere), files
that follow their contract:

- ``{catalog}/mosaics/{region}/{season}/`` ``scd.tif``, ``sod.tif``, ``smod.tif``, ``scd-display.tif``:
  the tile's COGs reprojected with rasterio onto one EPSG:3035 grid at 20 m (nearest; nodata outside
  the tile, and under ``DISPLAY_MIN_DAYS`` in the display variant); items
  ``scd-mosaic-{region}-{season}`` of the collection ``snow-cover-duration-mosaics``, loaded into the
  STAC API;
- ``{catalog}/pistes/pistes.geojson``: runs of every difficulty and their ski area, around a point;
- ``{catalog}/resorts/{region}-{season}.json``: a ranking of two ski areas.

The anomalies of the later seasons (each against the seasons before it) are published for real, and
the region's of the second season made of its tile's.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.io import MemoryFile
from rasterio.warp import Resampling, reproject, transform, transform_bounds

from snowdays.regions import Region
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.settings import Settings
from stac.anomalies import build_region, publish_anomaly, publish_region
from stac.catalog import for_api
from stac.database import upsert
from stac.items import bbox_of
from stac.publish import PublishReport, publish
from tests.stacdata import ingest_until

TILE, REGION, SIZE = "T31TCH", "sample", 48
SEASONS = ("2017-2018", "2018-2019")
"""Seasons with a mosaic."""
TILE_ONLY = "2019-2020"
"""A season published as tiles only."""
MOSAICS = "snow-cover-duration-mosaics"
LAEA = "EPSG:3035"
NODATA = 65535
DISPLAY_MIN_DAYS = 45
PIXEL = 20.0


def publish_tiles(base: Path, catalog: Path, settings: Settings) -> dict[str, dict[str, Path]]:
    """The mosaics' seasons of the tile, and the first months of ``TILE_ONLY`` (which has no mosaic),
    ingested and published; season -> map kind (``SCD``..) -> its COG."""
    maps = {}
    for seed, label in enumerate((*SEASONS, TILE_ONLY), 5):
        season = parse_season(label)
        products = make_season(base / f"products-{label}", TILE, season, SIZE, "muscate", True, seed=seed)
        last = date(season.start.year, 12, 31) if label == TILE_ONLY else season.stop
        ingest_until(base / "stores", products, last, settings)
        report = publish(str(base / "stores"), TILE, label, settings, str(catalog))
        assert report.api_error is None, report.api_error
        folder = Path(report.item_href).parent
        maps[label] = {k: folder / Path(report.item.assets[k].href).name for k in ("SCD", "SOD", "SMOD")}
    return maps


def publish_anomalies(stores: Path, catalog: Path, settings: Settings) -> dict[str, Path]:
    """The anomalies of the second season and of ``TILE_ONLY`` (against one past season, and two),
    and the region's of the second season: season (``region``) -> its item's file."""
    items = {}
    for label in (SEASONS[1], TILE_ONLY):
        report = publish_anomaly(str(stores), TILE, label, settings, str(catalog))
        assert isinstance(report, PublishReport) and report.api_error is None, report
        items[label] = Path(report.item_href)
    region = build_region(Region(REGION, (TILE,)), SEASONS[1], settings, str(catalog))
    assert region is not None
    published = publish_region(region, settings, str(catalog))
    assert published.api_error is None, published.api_error
    items["region"] = Path(published.item_href)
    return items


def laea_grid(tile_cog: Path) -> tuple[Affine, int, int]:
    """An EPSG:3035 grid at 20 m (snapped to multiples of 20 m) that covers the tile."""
    with rasterio.open(tile_cog) as ds:
        west, south, east, north = transform_bounds(ds.crs, LAEA, *ds.bounds)
    x0, y1 = math.floor(west / PIXEL) * PIXEL, math.ceil(north / PIXEL) * PIXEL
    width, height = math.ceil((east - x0) / PIXEL), math.ceil((y1 - south) / PIXEL)
    return Affine(PIXEL, 0, x0, 0, -PIXEL, y1), width, height


def reprojected(tile_cog: Path, grid: tuple[Affine, int, int]) -> np.ndarray[Any, np.dtype[np.uint16]]:
    affine, width, height = grid
    out = np.full((height, width), NODATA, np.uint16)
    with rasterio.open(tile_cog) as ds:
        reproject(ds.read(1), out, src_transform=ds.transform, src_crs=ds.crs, dst_transform=affine,
                  dst_crs=LAEA, resampling=Resampling.nearest, dst_nodata=NODATA)
    return out


def write_cog(array: np.ndarray[Any, np.dtype[np.uint16]], grid: tuple[Affine, int, int], path: Path) -> None:
    affine, width, height = grid
    profile = {"driver": "GTiff", "dtype": "uint16", "count": 1, "width": width, "height": height,
               "crs": LAEA, "transform": affine, "nodata": NODATA}
    with MemoryFile() as memory, memory.open(**profile) as ds:
        ds.write(array, 1)
        rasterio.shutil.copy(ds, str(path), driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512,
                             OVERVIEW_RESAMPLING="NEAREST")


def write_mosaic(tile_maps: dict[str, Path], label: str, grid: tuple[Affine, int, int],
                 catalog: Path) -> pystac.Item:
    """The season's mosaic COGs (from the tile's) and its item, as the API will hold it."""
    folder = catalog / "mosaics" / REGION / label
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {kind.lower(): reprojected(path, grid) for kind, path in tile_maps.items()}
    display = np.where(arrays["scd"] < DISPLAY_MIN_DAYS, NODATA, arrays["scd"]).astype(np.uint16)
    files = {"scd": "scd.tif", "sod": "sod.tif", "smod": "smod.tif", "scd_display": "scd-display.tif"}
    for key, name in files.items():
        write_cog(display if key == "scd_display" else arrays[key], grid, folder / name)
    affine, width, height = grid
    west, south, east, north = transform_bounds(LAEA, "EPSG:4326", affine.c, affine.f + height * affine.e,
                                                affine.c + width * affine.a, affine.f)
    geometry = {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north],
                                                    [west, north], [west, south]]]}
    start = parse_season(label).start
    item = pystac.Item(f"scd-mosaic-{REGION}-{label}", geometry, bbox_of(geometry),
                       datetime(start.year + 1, 8, 31, tzinfo=UTC),  # no start_datetime: the viewer
                       {"snowdays:region": REGION, "snowdays:season": label,  # dates SOD from the label
                        "snowdays:display_min_days": DISPLAY_MIN_DAYS, "proj:code": LAEA,
                        "snowdays:as_of": f"{start.year + 1}-08-31"},
                       collection=MOSAICS)
    for key, name in files.items():
        item.add_asset(key, pystac.Asset(str(folder / name), media_type=pystac.MediaType.COG, roles=["data"]))
    return item


def load_mosaics(items: list[pystac.Item], settings: Settings) -> None:
    """The mosaics' collection and items into the STAC API's database."""
    collection = pystac.Collection(MOSAICS, "Regional mosaics (test fixture).",
                                   pystac.Extent.from_items(items))
    data = collection.to_dict(include_self_link=False, transform_hrefs=False) | {"links": []}
    upsert(settings.stac_database_url, data, [for_api(i) for i in items])


def pixel_at(path: Path, xy: tuple[float, float]) -> int:
    """The value of a COG at a point of its CRS, read with rasterio."""
    return int(value_at(path, xy))


def value_at(path: Path, xy: tuple[float, float]) -> float:
    """The value of a COG at a point of its CRS, read with rasterio, as a float."""
    with rasterio.open(path) as ds:
        row, col = ds.index(*xy)
        return float(ds.read(1, window=((row, row + 1), (col, col + 1)))[0, 0])


def lonlat(x: float, y: float) -> tuple[float, float]:
    (lon,), (lat,) = transform(LAEA, "EPSG:4326", [x], [y])
    return float(lon), float(lat)


PISTES = [  # (difficulty, name, offsets in metres from the point: start, end)
    ("easy", "Les Marmottes", (-300, -200), (250, -260)),
    ("intermediate", "La Rouge", (-320, 180), (300, 120)),
    ("advanced", "Le Mur", (220, -300), (240, 300)),
    (None, "Boucle nordique", (-350, -330), (-330, 330)),
]


def write_pistes(catalog: Path, centre: tuple[float, float], ski_area: str) -> dict[str, Any]:
    """Runs and their ski area around ``centre`` (EPSG:3035), in EPSG:4326, as the overlay's contract
    says; none crosses the centre itself."""
    cx, cy = centre
    features = []
    for k, (difficulty, name, a, b) in enumerate(PISTES):
        line = [lonlat(cx + dx, cy + dy) for dx, dy in (a, b)]
        features.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": line},
                         "properties": {"kind": "piste", "piste_type": "nordic" if difficulty is None
                                        else "downhill", "difficulty": difficulty, "name": name,
                                        "ski_area": ski_area, "osm_id": 1000 + k}})
    ring = [lonlat(cx + dx, cy + dy) for dx, dy in ((-420, -420), (420, -420), (420, 420), (-420, 420))]
    features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                     "properties": {"kind": "ski_area", "piste_type": None, "difficulty": None,
                                    "name": ski_area, "ski_area": None, "osm_id": 999}})
    collection = {"type": "FeatureCollection", "features": features}
    (catalog / "pistes").mkdir(parents=True, exist_ok=True)
    (catalog / "pistes" / "pistes.geojson").write_text(json.dumps(collection))
    return collection


def write_ranking(catalog: Path, label: str, resorts: list[dict[str, Any]]) -> dict[str, Any]:
    ranking = {"season": label, "region": REGION, "min_days": 120, "resorts": resorts}
    (catalog / "resorts").mkdir(parents=True, exist_ok=True)
    (catalog / "resorts" / f"{REGION}-{label}.json").write_text(json.dumps(ranking))
    return ranking


def season_day(label: str, index: int) -> date:
    """The date of day ``index`` of a season (0 is its first day)."""
    return date.fromordinal(parse_season(label).start.toordinal() + index)
