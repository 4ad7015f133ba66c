"""The STAC collection ``snow-cover-duration-mosaics`` and its items: one per region and season.

An item describes a region's mosaic: SCD, SOD, SMOD and the display variant of SCD, COGs in
``{catalog}/mosaics/{region}/{season}/`` (EPSG:3035 by default, no data 65535).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any

import pystac
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension

from snowdays import __version__
from snowdays.mosaic import MAPS, MosaicReport
from snowdays.mosaic_files import NODATA
from snowdays.season import Season
from stac.items import PROCESSING, bbox_of, extent_of, footprint

MOSAICS = "snow-cover-duration-mosaics"
_TITLES = {"scd": "Snow cover duration", "sod": "Snow onset date", "smod": "Snow melt-out date",
           "scd_display": "Snow cover duration, for display"}
_DESCRIPTIONS = {
    "scd": "Days with snow in the season after daily linear gap-filling between clear observations.",
    "sod": "First day of the longest snow period, as a day index from the season start (0 when the "
           "season has 10 snow days or fewer).",
    "smod": "Last day of the longest snow period, as a day index from the season start (0 when the "
            "season has 10 snow days or fewer).",
    "scd_display": "Snow cover duration where it reaches the display threshold "
                   "(snowdays:display_min_days); no data elsewhere.",
}
OVERLAP = ("where tiles overlap, the tile with the most clear observations (NOBS) at the pixel, then "
           "the first tile of the region; no data where no tile has a clear observation")


def mosaic_item_id(region: str, label: str) -> str:
    """``scd-mosaic-alps-2017-2018``."""
    return f"scd-mosaic-{region}-{label}"


def make_mosaic_item(report: MosaicReport, hrefs: dict[str, str], season: Season,
                     updated: datetime) -> pystac.Item:
    plan = report.plan
    geometry = footprint(plan.grid)
    as_of = max(t.as_of for t in plan.inputs.values())
    item = pystac.Item(
        id=mosaic_item_id(plan.region.name, plan.season), geometry=geometry, bbox=bbox_of(geometry),
        datetime=datetime.combine(datetime.fromisoformat(as_of).date(), time(), UTC),
        collection=MOSAICS, start_datetime=datetime.combine(season.start, time(), UTC),
        end_datetime=datetime.combine(season.stop, time(23, 59, 59), UTC),
        properties={
            "title": f"Snow cover duration, {plan.region.name} {plan.season}",
            "snowdays:region": plan.region.name, "snowdays:season": plan.season,
            "snowdays:as_of": as_of, "snowdays:tiles": sorted(plan.inputs),
            "snowdays:tiles_missing": list(plan.missing),
            "snowdays:display_min_days": plan.min_days, "snowdays:overlap": OVERLAP,
            "processing:software": {"snowdays": __version__},
        },
    )
    item.common_metadata.updated = updated
    ProjectionExtension.ext(item, add_if_missing=True).code = plan.grid.crs
    item.stac_extensions.append(PROCESSING)
    for key in MAPS:
        asset = pystac.Asset(hrefs[key], _TITLES[key], _DESCRIPTIONS[key],
                             media_type=pystac.MediaType.COG,
                             roles=["data", "visual"] if key == "scd_display" else ["data"])
        item.add_asset(key, asset)
        ProjectionExtension.ext(asset).apply(shape=list(plan.grid.shape),
                                             transform=[*plan.grid.transform, 0.0, 0.0, 1.0])
        RasterExtension.ext(asset, add_if_missing=True).apply([_band(key, plan.grid.transform[0],
                                                                     season)])
    return item


def _band(key: str, pixel: float, season: Season) -> RasterBand:
    unit = "days" if key.startswith("scd") else f"days since {season.start}"
    return RasterBand.create(data_type=DataType.UINT16, nodata=NODATA, spatial_resolution=pixel,
                             unit=unit)


def make_mosaics_collection(items: Sequence[pystac.Item]) -> pystac.Collection:
    extent = extent_of(items)
    collection = pystac.Collection(
        MOSAICS, "Regional mosaics (EPSG:3035, 20 m) of the snow cover duration (SCD), snow onset "
        "(SOD) and melt-out (SMOD) dates per hydrological year, made of the tiles of the collection "
        f"snow-cover-duration; {OVERLAP}. A display variant of SCD leaves out the pixels under a "
        "number of snow days.", extent, title="Snow cover duration, regional mosaics",
        license="etalab-2.0", keywords=["snow", "snow cover duration", "Sentinel-2", "mosaic"],
        summaries=pystac.Summaries(_summaries(items)),
    )
    collection.stac_extensions += [ProjectionExtension.get_schema_uri(),
                                   RasterExtension.get_schema_uri()]
    return collection


def _summaries(items: Sequence[pystac.Item]) -> dict[str, Any]:
    def values(name: str) -> list[Any]:
        return sorted({i.properties[name] for i in items if name in i.properties})

    return {"snowdays:region": values("snowdays:region"), "snowdays:season": values("snowdays:season"),
            "proj:code": values("proj:code")}
