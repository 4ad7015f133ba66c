"""The STAC collections of anomalies and their items.

``snow-cover-duration-anomalies``: one item per tile and season, ``scd-anomaly-t31tch-2018-2019``: the
season as of a day against the tile's past seasons as of the same day of theirs (``SEMANTICS.md``),
its anomalies, climatology and season counts as COGs, and the season's clear observations (NOBS) as of
that day, which tell a regional mosaic which tile to take where tiles overlap.

``snow-cover-duration-anomaly-mosaics``: one item per region and season,
``scd-anomaly-mosaic-alps-2018-2019``: the tiles' anomaly COGs mosaicked as the season's maps are
(``snowdays.mosaic``), each tile as of its own day; the item says which day and which past seasons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pystac
from pystac.extensions.grid import GridExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, NoDataStrings, RasterBand, RasterExtension, Statistics
from pystac.extensions.render import Render, RenderExtension
from pystac.item_assets import ItemAssetDefinition

from snowdays import __version__
from snowdays.anomaly import Anomaly
from snowdays.grid import Grid
from snowdays.mosaic import MosaicReport
from snowdays.mosaic_kinds import ANOMALY
from snowdays.outputs import Layer
from snowdays.season import Season
from stac.items import PROCESSING, SEMANTICS, add_file, add_projection, bbox_of, extent_of, footprint
from stac.mosaic_items import OVERLAP

ANOMALIES = "snow-cover-duration-anomalies"
ANOMALY_MOSAICS = "snow-cover-duration-anomaly-mosaics"
STEP = 10
"""The symmetric range of an anomaly's colour scale is its largest |SCD anomaly|, rounded up to a
multiple of this many days (at least that): the viewer's rule too (``web/src/anomaly.js``)."""
_TITLES = {
    "SCD-ANOMALY": "Snow cover duration anomaly (days)",
    "SMOD-ANOMALY": "Snow melt-out date anomaly (days)",
    "SCD-MEAN": "Mean snow cover duration of the past seasons",
    "SCD-MEDIAN": "Median snow cover duration of the past seasons",
    "SMOD-MEAN": "Mean snow melt-out date of the past seasons",
    "SMOD-MEDIAN": "Median snow melt-out date of the past seasons",
    "SEASONS": "Past seasons compared",
    "SMOD-SEASONS": "Past seasons with a melt-out date",
    "NOBS": "Clear observations of the season as of the day",
}
_DESCRIPTIONS = {
    "SCD-ANOMALY": "The season's SCD as of the day minus the mean SCD of the past seasons as of the "
                   "same day of theirs: positive, more snow days than usual.",
    "SMOD-ANOMALY": "The season's SMOD minus the mean SMOD of the past seasons that have one, where "
                    "the season has more than 10 snow days (NaN elsewhere): positive, a later melt-out.",
    "SCD-MEAN": "Mean of the past seasons' SCD as of the same day of their season.",
    "SCD-MEDIAN": "Median of the past seasons' SCD as of the same day of their season.",
    "SMOD-MEAN": "Mean SMOD (day index) of the past seasons with more than 10 snow days at the pixel "
                 "(NaN where none).",
    "SMOD-MEDIAN": "Median SMOD (day index) of the past seasons with more than 10 snow days at the "
                   "pixel (NaN where none).",
    "SEASONS": "Number of past seasons compared.",
    "SMOD-SEASONS": "Number of past seasons with more than 10 snow days (a melt-out date) at the pixel.",
    "NOBS": "Clear observation days of the season up to the day (where tiles overlap, a regional "
            "mosaic takes the tile with the most).",
}
_COUNTS = ("SEASONS", "SMOD-SEASONS", "NOBS")
"""The uint16 layers (no no-data value); the others are float32, no data NaN."""


@dataclass(frozen=True)
class AnomalyFiles:
    """What an anomaly item describes: the anomaly, the files written, and where they are."""

    result: Anomaly
    files: dict[str, Path]
    """Asset key -> the local file written."""
    hrefs: dict[str, str]
    """Asset key -> where the file is published (relative to the item, or absolute)."""
    updated: datetime


def anomaly_item_id(tile: str, label: str) -> str:
    """``scd-anomaly-t31tch-2018-2019``."""
    return f"scd-anomaly-{tile.lower()}-{label}"


def anomaly_mosaic_item_id(region: str, label: str) -> str:
    """``scd-anomaly-mosaic-alps-2018-2019``."""
    return f"scd-anomaly-mosaic-{region}-{label}"


def layers(result: Anomaly) -> list[tuple[str, Layer]]:
    """The COGs of an anomaly item: the anomaly's layers and the season's NOBS as of its day."""
    return [*result.items(), ("NOBS", result.maps.maps.nobs)]


def symmetric_range(values: Sequence[float]) -> float:
    """The half-width of a symmetric colour scale holding ``values`` (:data:`STEP`)."""
    largest = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    return float(max(STEP, math.ceil(largest / STEP) * STEP))


def make_anomaly_item(p: AnomalyFiles) -> pystac.Item:
    r, m = p.result, p.result.maps
    s = m.season
    geometry = footprint(m.grid)
    item = pystac.Item(
        id=anomaly_item_id(r.tile, r.season), geometry=geometry, bbox=bbox_of(geometry),
        datetime=datetime.combine(r.as_of, time(), UTC), collection=ANOMALIES,
        start_datetime=datetime.combine(s.start, time(), UTC),
        end_datetime=datetime.combine(s.stop, time(23, 59, 59), UTC),
        properties={
            "title": f"Snow cover duration anomaly {r.tile} {r.season}",
            "snowdays:season": r.season, "snowdays:as_of": r.as_of.isoformat(), "snowdays:day": r.day,
            "snowdays:past_seasons": list(r.past),
            "snowdays:status": "final" if r.annual else "provisional",
            "snowdays:semantics": SEMANTICS, "processing:software": {"snowdays": __version__},
        },
    )
    item.common_metadata.updated = p.updated
    GridExtension.ext(item, add_if_missing=True).apply(f"MGRS-{r.tile.removeprefix('T')}")
    item.stac_extensions.append(PROCESSING)
    for key, array in layers(r):
        asset = pystac.Asset(p.hrefs[key], _TITLES[key], _DESCRIPTIONS[key],
                             media_type=pystac.MediaType.COG, roles=_roles(key))
        add_file(item, key, asset, p.files[key])
        add_projection(asset, m.grid)
        RasterExtension.ext(asset, add_if_missing=True).apply([_band(key, array, m.grid, s.start)])
    extreme = [float(np.nanmin(r.scd_anomaly)), float(np.nanmax(r.scd_anomaly))]
    RenderExtension.ext(item, add_if_missing=True).apply(renders("SCD-ANOMALY", symmetric_range(extreme)))
    return item


def renders(asset: str, half: float) -> dict[str, Render]:
    """The render hint of the SCD anomaly: red (less snow) to blue (more), symmetric about 0."""
    return {"scd_anomaly": Render.create([asset], "Snow cover duration anomaly (days)",
                                         rescale=[[-half, half]], colormap_name="rdbu",
                                         resampling="average")}


def _roles(key: str) -> list[str]:
    return ["quality"] if key in _COUNTS else ["data"]


def _unit(key: str, start: date) -> str | None:
    if key in _COUNTS:
        return None
    return f"days since {start}" if key in ("SMOD-MEAN", "SMOD-MEDIAN") else "days"


def _band(key: str, array: Layer, grid: Grid, start: date) -> RasterBand:
    """A layer's band: float32 with no data NaN, or a uint16 count; statistics over its data."""
    values = array[np.isfinite(array)] if key not in _COUNTS else array
    stats = None if not values.size else Statistics.create(
        minimum=round(float(values.min()), 3), maximum=round(float(values.max()), 3),
        mean=round(float(np.mean(values, dtype=np.float64)), 3))
    counts = key in _COUNTS
    return RasterBand.create(data_type=DataType.UINT16 if counts else DataType.FLOAT32,
                             nodata=None if counts else NoDataStrings.NAN,
                             spatial_resolution=abs(grid.transform[0]), unit=_unit(key, start),
                             statistics=stats)


def make_anomalies_collection(items: Sequence[pystac.Item]) -> pystac.Collection:
    collection = pystac.Collection(
        ANOMALIES, "Anomalies of the snow cover duration (SCD) and melt-out date (SMOD) per Sentinel-2 "
        "tile and hydrological year: the season as of a day against the tile's past seasons as of the "
        "same day of theirs (the mean and median of their maps, and the season minus the mean), "
        "refreshed whenever the season is published.", extent_of(items),
        title="Snow cover duration anomalies", license="etalab-2.0",
        keywords=["snow", "snow cover duration", "anomaly", "climatology", "Sentinel-2"],
        summaries=pystac.Summaries({"grid:code": _values(items, "grid:code"),
                                    "snowdays:season": _values(items, "snowdays:season"),
                                    "snowdays:status": ["provisional", "final"],
                                    "snowdays:semantics": [SEMANTICS]}),
    )
    collection.item_assets = {key: ItemAssetDefinition.create(
        _TITLES[key], _DESCRIPTIONS[key], pystac.MediaType.COG, _roles(key),
        {"raster:bands": [{"data_type": "uint16"} if key in _COUNTS
                          else {"data_type": "float32", "nodata": "nan"}]})
        for key in _TITLES}
    collection.stac_extensions += [ProjectionExtension.get_schema_uri(), RasterExtension.get_schema_uri()]
    return collection


def _values(items: Sequence[pystac.Item], name: str) -> list[Any]:
    return sorted({i.properties[name] for i in items if name in i.properties})


_MOSAIC_KEYS = dict(zip(ANOMALY.maps, ANOMALY.values, strict=True))
"""A regional anomaly's map -> the tile anomaly layer it is made of."""


def make_anomaly_mosaic_item(report: MosaicReport, hrefs: dict[str, str], season: Season,
                             tiles: Sequence[pystac.Item], updated: datetime) -> pystac.Item:
    """The item of a region's anomaly, from its mosaic and the tile anomaly items it was made of."""
    plan = report.plan
    geometry = footprint(plan.grid)
    as_of = max(t.as_of for t in plan.inputs.values())
    past = {str(i.properties["grid:code"]).replace("MGRS-", "T"): list(i.properties["snowdays:past_seasons"])
            for i in tiles}
    extremes = [v for i in tiles for v in i.properties["renders"]["scd_anomaly"]["rescale"][0]]
    item = pystac.Item(
        id=anomaly_mosaic_item_id(plan.region.name, plan.season), geometry=geometry, bbox=bbox_of(geometry),
        datetime=datetime.combine(date.fromisoformat(as_of), time(), UTC), collection=ANOMALY_MOSAICS,
        start_datetime=datetime.combine(season.start, time(), UTC),
        end_datetime=datetime.combine(season.stop, time(23, 59, 59), UTC),
        properties={
            "title": f"Snow cover duration anomaly, {plan.region.name} {plan.season}",
            "snowdays:region": plan.region.name, "snowdays:season": plan.season, "snowdays:as_of": as_of,
            "snowdays:tiles": sorted(plan.inputs), "snowdays:tiles_missing": list(plan.missing),
            "snowdays:tiles_as_of": {t: plan.inputs[t].as_of for t in sorted(plan.inputs)},
            "snowdays:past_seasons": sorted({s for seasons in past.values() for s in seasons}),
            "snowdays:tiles_past_seasons": {t: past[t] for t in sorted(past)},
            "snowdays:overlap": OVERLAP, "snowdays:semantics": SEMANTICS,
            "processing:software": {"snowdays": __version__},
        },
    )
    item.common_metadata.updated = updated
    ProjectionExtension.ext(item, add_if_missing=True).code = plan.grid.crs
    item.stac_extensions.append(PROCESSING)
    for key, layer in _MOSAIC_KEYS.items():
        asset = pystac.Asset(hrefs[key], _TITLES[layer], _DESCRIPTIONS[layer],
                             media_type=pystac.MediaType.COG, roles=_roles(layer))
        item.add_asset(key, asset)
        ProjectionExtension.ext(asset).apply(shape=list(plan.grid.shape),
                                             transform=[*plan.grid.transform, 0.0, 0.0, 1.0])
        RasterExtension.ext(asset, add_if_missing=True).apply([RasterBand.create(
            data_type=DataType.FLOAT32, nodata=NoDataStrings.NAN, spatial_resolution=plan.grid.transform[0],
            unit=None if layer in _COUNTS else "days")])
    RenderExtension.ext(item, add_if_missing=True).apply(renders("scd_anomaly", symmetric_range(extremes)))
    return item


def make_anomaly_mosaics_collection(items: Sequence[pystac.Item]) -> pystac.Collection:
    collection = pystac.Collection(
        ANOMALY_MOSAICS, "Regional mosaics (EPSG:3035, 20 m) of the anomalies of the collection "
        f"{ANOMALIES}: each pixel its tile's anomaly, as of that tile's day against that tile's past "
        f"seasons (the items list both); {OVERLAP}.", extent_of(items),
        title="Snow cover duration anomalies, regional mosaics", license="etalab-2.0",
        keywords=["snow", "snow cover duration", "anomaly", "mosaic"],
        summaries=pystac.Summaries({"snowdays:region": _values(items, "snowdays:region"),
                                    "snowdays:season": _values(items, "snowdays:season"),
                                    "proj:code": _values(items, "proj:code")}),
    )
    collection.stac_extensions += [ProjectionExtension.get_schema_uri(), RasterExtension.get_schema_uri()]
    return collection
