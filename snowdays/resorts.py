"""Ski areas ranked by the snow on their downhill pistes, from a region's mosaic and the ski runs overlay.

A ski area's pixels are the mosaic pixels its downhill pistes (``piste_type`` downhill, ``ski_area``
its name) touch: each piste is burnt onto the mosaic's grid with GDAL's ``all_touched`` rule, so a
piste line takes every 20 m pixel it passes through (one or two pixels wide: the width of a piste), a
piste mapped as an area every pixel it meets; a pixel counts once however many pistes cross it, and
pixels with no data do not count. Over those pixels: the mean SCD, its 10th and 90th percentiles
(linear between the nearest ranks), the share with at least ``resort_min_days`` snow days, and the
median melt-out date (SMOD, over the pixels that have one; the lower median on an even count). Ranked by
mean SCD, highest first (then by name); a ski area with no pixel in the mosaic is left out.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import timedelta
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.features import rasterize
from rasterio.warp import transform_geom
from rasterio.windows import Window
from shapely.geometry import shape

from snowdays.errors import UsageError
from snowdays.mosaic_files import NODATA, write_json
from snowdays.season import Season
from snowdays.settings import Settings
from snowdays.storage import filesystem, gdal_env, gdal_path


def ranking(folder: str, overlay: dict[str, Any], region: str, season: Season, label: str,
            settings: Settings) -> dict[str, Any]:
    """The ranking document of the mosaic in ``folder`` (its ``scd.tif`` and ``smod.tif``)."""
    pistes = downhill_by_area(overlay)
    rows = []
    with rasterio.Env(**gdal_env(settings.s3)), rasterio.open(gdal_path(f"{folder}/scd.tif")) as scd, \
            rasterio.open(gdal_path(f"{folder}/smod.tif")) as smod:
        for name, geometries in sorted(pistes.items()):
            found = area_pixels(scd, smod, geometries)
            if found is not None:
                rows.append(statistics(name, *found, season, settings.resort_min_days))
    rows.sort(key=lambda r: (-r["scd_mean"], r["ski_area"]))
    ranked = [{"rank": k, **row} for k, row in enumerate(rows, 1)]
    return {"season": label, "region": region, "min_days": settings.resort_min_days, "resorts": ranked}


def downhill_by_area(overlay: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Ski area name -> the geometries (EPSG:4326) of its downhill pistes."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in overlay.get("features", []):
        p = f.get("properties") or {}
        if p.get("kind") == "piste" and p.get("piste_type") == "downhill" and p.get("ski_area"):
            found[str(p["ski_area"])].append(f["geometry"])
    return found


def area_pixels(scd: Any, smod: Any, geometries: list[dict[str, Any]]
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """SCD and SMOD of the pixels the pistes touch (None: none with data in the mosaic)."""
    shapes = [transform_geom("EPSG:4326", scd.crs, g) for g in geometries]
    west, south, east, north = np.array([shape(s).bounds for s in shapes]).T
    inverse = ~scd.transform
    (c0, r0), (c1, r1) = inverse @ (west.min(), north.max()), inverse @ (east.max(), south.min())
    c0, r0 = max(math.floor(c0) - 1, 0), max(math.floor(r0) - 1, 0)
    c1, r1 = min(math.ceil(c1) + 1, scd.width), min(math.ceil(r1) + 1, scd.height)
    if c0 >= c1 or r0 >= r1:
        return None
    window = Window(c0, r0, c1 - c0, r1 - r0)
    burnt = rasterize([(s, 1) for s in shapes], out_shape=(r1 - r0, c1 - c0), fill=0, dtype="uint8",
                      transform=scd.transform @ Affine.translation(c0, r0), all_touched=True)
    days = scd.read(1, window=window)
    chosen = (burnt == 1) & (days != NODATA)
    if not chosen.any():
        return None
    return days[chosen], smod.read(1, window=window)[chosen]


def statistics(name: str, scd: np.ndarray, smod: np.ndarray, season: Season,
               min_days: int) -> dict[str, Any]:
    days = scd.astype(np.float64)
    melted = np.sort(smod[(smod > 0) & (smod != NODATA)])
    median = (season.start + timedelta(int(melted[(len(melted) - 1) // 2]))).isoformat() \
        if len(melted) else None
    return {"ski_area": name, "pixels": int(days.size), "scd_mean": round(float(days.mean()), 2),
            "scd_p10": round(float(np.percentile(days, 10)), 2),
            "scd_p90": round(float(np.percentile(days, 90)), 2),
            "share_120": round(float((days >= min_days).mean()), 4), "smod_median": median}


def read_overlay(href: str, settings: Settings) -> dict[str, Any]:
    fs = filesystem(href, settings.s3)
    if not fs.exists(href):
        raise UsageError(f"no ski runs overlay at {href}: import one first (snowdays pistes import FILE)")
    return dict(json.loads(fs.cat_file(href)))


def mosaic_regions(catalog: str, label: str, settings: Settings) -> list[str]:
    """The regions with a mosaic of the season in the catalog."""
    root = catalog.rstrip("/")
    fs = filesystem(root, settings.s3)
    found = fs.glob(f"{root}/mosaics/*/{label}/scd.tif")
    regions = sorted(p.rstrip("/").split("/")[-3] for p in found)
    if not regions:
        raise UsageError(f"no mosaic for {label} in {catalog} (snowdays mosaic first)")
    return regions


def write_ranking(document: dict[str, Any], catalog: str, settings: Settings) -> str:
    """Into ``{catalog}/resorts/{region}-{season}.json``; returns where."""
    target = f"{catalog.rstrip('/')}/resorts/{document['region']}-{document['season']}.json"
    write_json(target, document, settings)
    return target
