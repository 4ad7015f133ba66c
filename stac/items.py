"""The STAC collection ``snow-cover-duration`` and its items: one per tile and season.

An item describes the four maps of a season as of its latest folded product (year to date while the
season's window is open, ``provisional``; annual once it is over, ``final``), its quality layers, their
quicklook, the histogram of its SCD and the products they were computed from.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pystac
from pystac.extensions.file import FileExtension
from pystac.extensions.grid import GridExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension, Statistics
from pystac.extensions.render import Render, RenderExtension
from pystac.item_assets import ItemAssetDefinition
from rasterio.crs import CRS
from rasterio.warp import transform_geom

from snowdays import __version__
from snowdays.colours import DATES, DAYS, OBSERVATIONS, Stops
from snowdays.duration import U16
from snowdays.export import SeasonMaps
from snowdays.grid import Grid
from snowdays.outputs import NODATA
from snowdays.quality import Quality

COLLECTION = "snow-cover-duration"
SEMANTICS = "lis-1.11"
"""The definitions the maps follow: LIS 1.11's snow annual map, made exact (``SEMANTICS.md``)."""
PROCESSING = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
KINDS = ("SCD", "SOD", "SMOD", "NOBS")
QUALITY = ("NSP", "QCOD", "QCMD", "QC")
_TITLES = {
    "SCD": "Snow cover duration",
    "SOD": "Snow onset date",
    "SMOD": "Snow melt-out date",
    "NOBS": "Number of clear observations",
    "NSP": "Number of snow periods",
    "QCOD": "Days from the snow onset date to the nearest snow observation",
    "QCMD": "Days from the snow melt-out date to the nearest snow observation",
    "QC": "Quality of the season's maps",
}
_DESCRIPTIONS = {
    "SCD": "Days with snow in the season after daily linear gap-filling between clear observations.",
    "SOD": "First day of the longest snow period, as a day index from the season start (0 when the "
           "season has 10 snow days or fewer).",
    "SMOD": "Last day of the longest snow period, as a day index from the season start (0 when the "
            "season has 10 snow days or fewer).",
    "NOBS": "Clear (valid) observation days in the season's window.",
    "NSP": "Snow periods of the gap-filled daily series: how many times it turns from no snow to "
           "snow after the season's first day (LIS 1.11).",
    "QCOD": "Days between the snow onset date and the nearest day of the season with an observation "
            "of snow (no data where SOD is not given).",
    "QCMD": "Days between the snow melt-out date and the nearest day of the season with an "
            "observation of snow (no data where SMOD is not given).",
    "QC": "0 (best) to 3: 3 where SCD is under 60 days, else 2 where NOBS is under 40, 1 where it "
          "is under 80, 0 otherwise (HR-WSI snow phenology).",
}


COLORMAP = "blues"
"""Colour map of SCD's render hint: ColorBrewer Blues, as its colour table and the quicklook."""


@dataclass(frozen=True)
class Published:
    """What an item describes: the season's maps, the files written, and where they are."""

    result: SeasonMaps
    quality: Quality
    files: dict[str, Path]
    """Asset key (``SCD``.., ``QC``.., ``quicklook``, ``histogram``, ``products``) -> the local file
    written."""
    hrefs: dict[str, str]
    """Asset key -> where the file is published (relative to the item, or absolute)."""
    final: bool
    observation_days: int
    updated: datetime


def item_id(tile: str, label: str) -> str:
    """``scd-t31tch-2017-2018``."""
    return f"scd-{tile.lower()}-{label}"


def multihash(path: Path) -> str:
    """``file:checksum`` of a file: its SHA2-256 as a hex multihash (code 0x12, length 0x20)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "1220" + digest.hexdigest()


def make_item(p: Published) -> pystac.Item:
    r, s = p.result, p.result.season
    geometry = footprint(r.grid)
    item = pystac.Item(
        id=item_id(r.tile, label_of(r)), geometry=geometry, bbox=bbox_of(geometry),
        datetime=datetime.combine(r.as_of, time(), UTC), collection=COLLECTION,
        start_datetime=datetime.combine(s.start, time(), UTC),
        end_datetime=datetime.combine(s.stop, time(23, 59, 59), UTC),
        properties=_properties(p),
    )
    item.common_metadata.instruments = ["msi", "oli"] if r.landsat else ["msi"]
    item.common_metadata.updated = p.updated
    GridExtension.ext(item, add_if_missing=True).apply(f"MGRS-{r.tile.removeprefix('T')}")
    item.stac_extensions.append(PROCESSING)
    for kind, array in r.maps.items() + p.quality.items():
        _add_map(item, kind, array, r.grid, s.start, p.files[kind], p.hrefs[kind])
    add_file(item, "quicklook", pystac.Asset(
        p.hrefs["quicklook"], "Quicklook of the snow cover duration, with its colour scale",
        media_type=pystac.MediaType.PNG, roles=["overview"]), p.files["quicklook"])
    add_file(item, "histogram", pystac.Asset(p.hrefs["histogram"], *_HISTOGRAM,
                                             media_type=pystac.MediaType.PNG, roles=["overview"]),
             p.files["histogram"])
    add_file(item, "products", pystac.Asset(
        p.hrefs["products"], "Input products", "Names of the Theia snow products the maps were "
        "computed from", media_type=pystac.MediaType.JSON, roles=["metadata"]), p.files["products"])
    for key, (title, media, roles) in _ELEVATION.items():
        if key in p.files:
            asset = pystac.Asset(p.hrefs[key], title, media_type=media, roles=roles)
            add_file(item, key, asset, p.files[key])
    RenderExtension.ext(item, add_if_missing=True).apply(renders())
    return item


_HISTOGRAM = ("Histogram of the snow cover duration",
              "Share of the observed pixels (NOBS > 0) in each bin of 10 days of SCD")
_ELEVATION = {
    "elevation": ("Statistics by elevation band: SCD, SOD, SMOD and the snow-covered share per 100 m",
                  "text/csv", ["metadata"]),
    "elevation-json": ("Statistics by elevation band, as JSON", pystac.MediaType.JSON, ["metadata"]),
    "elevation-plot": ("Snow cover duration against elevation", pystac.MediaType.PNG, ["overview"]),
    "hillshade": ("Relief: hillshade of the tile's DEM (uint8, 0 no data; light from the north-west)",
                  pystac.MediaType.COG, ["visual"]),
}
"""The assets of the statistics by elevation band and the relief, where the tile has a DEM."""


def label_of(r: SeasonMaps) -> str:
    return f"{r.season.start.year}-{r.season.start.year + 1}"


def _properties(p: Published) -> dict[str, Any]:
    r = p.result
    sensors = "Sentinel-2 and Landsat-8" if r.landsat else "Sentinel-2"
    return {
        "title": f"Snow cover duration {r.tile} {label_of(r)}",
        "snowdays:season": label_of(r),
        "snowdays:as_of": r.as_of.isoformat(),
        "snowdays:status": "final" if p.final else "provisional",
        "snowdays:products": r.products,
        "snowdays:observation_days": p.observation_days,
        "snowdays:semantics": SEMANTICS,
        "processing:level": "L3B",
        "processing:software": {"snowdays": __version__},
        "processing:lineage": f"Computed by snowdays from {r.products} Theia snow products ({sensors}) "
                              f"acquired on {p.observation_days} days up to {r.as_of}; the products "
                              "are listed in the asset 'products'.",
    }


def _add_map(item: pystac.Item, kind: str, array: U16, grid: Grid, start: date, path: Path,
             href: str) -> None:
    asset = pystac.Asset(href, _TITLES[kind], _DESCRIPTIONS[kind],
                         media_type=pystac.MediaType.COG, roles=_roles(kind))
    add_file(item, kind, asset, path)
    add_projection(asset, grid)
    RasterExtension.ext(asset, add_if_missing=True).apply([_band(kind, array, grid, start)])


def add_projection(asset: pystac.Asset, grid: Grid) -> None:
    """The asset's grid: its shape, transform and CRS."""
    proj = ProjectionExtension.ext(asset, add_if_missing=True)
    proj.apply(shape=list(grid.shape), transform=[*grid.transform, 0.0, 0.0, 1.0], **_crs(grid))


def add_file(item: pystac.Item, key: str, asset: pystac.Asset, path: Path) -> None:
    """Add the asset to the item, with its file's size and checksum."""
    item.add_asset(key, asset)
    FileExtension.ext(asset, add_if_missing=True).apply(size=path.stat().st_size,
                                                        checksum=multihash(path))


def _roles(kind: str) -> list[str]:
    return ["quality"] if kind in QUALITY else ["data"]


def _crs(grid: Grid) -> dict[str, Any]:
    crs = CRS.from_user_input(grid.crs)
    epsg = crs.to_epsg()
    return {"code": f"EPSG:{epsg}"} if epsg else {"code": None, "wkt2": crs.to_wkt()}


def _unit(kind: str, start: date) -> str | None:
    return {"SCD": "days", "SOD": f"days since {start}", "SMOD": f"days since {start}",
            "QCOD": "days", "QCMD": "days"}.get(kind)


def _band(kind: str, array: U16, grid: Grid, start: date) -> RasterBand:
    """The band of a layer, its statistics over the pixels with data (none where no pixel has)."""
    nodata = NODATA.get(kind)
    values = array[array != nodata] if nodata is not None else array
    stats = None if not values.size else Statistics.create(
        minimum=int(values.min()), maximum=int(values.max()),
        mean=round(float(np.mean(values, dtype=np.float64)), 3))
    return RasterBand.create(data_type=DataType.UINT16, spatial_resolution=abs(grid.transform[0]),
                             nodata=nodata, sampling=None, unit=_unit(kind, start), statistics=stats)


def renders() -> dict[str, Render]:
    """Render hints for viewers (titiler-style): colour map and value range of each map, those of
    its colour table (:mod:`snowdays.colours`)."""
    def span(stops: Stops) -> list[list[float]]:
        return [[float(stops[0][0]), float(stops[-1][0])]]

    return {
        "scd": Render.create(["SCD"], "Snow cover duration (days)", rescale=span(DAYS),
                             colormap_name=COLORMAP, resampling="average"),
        "sod": Render.create(["SOD"], "Snow onset (day of season)", rescale=span(DATES), nodata=0,
                             colormap_name="viridis", resampling="nearest"),
        "smod": Render.create(["SMOD"], "Snow melt-out (day of season)", rescale=span(DATES), nodata=0,
                              colormap_name="viridis", resampling="nearest"),
        "nobs": Render.create(["NOBS"], "Clear observations", rescale=span(OBSERVATIONS),
                              colormap_name="greys", resampling="average"),
    }


def footprint(grid: Grid, per_side: int = 4) -> dict[str, Any]:
    """The grid's outline in WGS 84, densified so that its curved sides stay close."""
    (x0, y0), (x1, y1) = grid.affine @ (0, 0), grid.affine @ (grid.width, grid.height)
    steps = [k / per_side for k in range(per_side)]
    ring = ([(x0 + (x1 - x0) * f, y0) for f in steps] + [(x1, y0 + (y1 - y0) * f) for f in steps]
            + [(x1 - (x1 - x0) * f, y1) for f in steps] + [(x0, y1 - (y1 - y0) * f) for f in steps])
    ring.append(ring[0])
    out = transform_geom(grid.crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})
    coords = [[round(x, 7), round(y, 7)] for x, y in out["coordinates"][0]]
    if _signed_area(coords) < 0:  # GeoJSON outer rings run counter-clockwise
        coords.reverse()
    return {"type": "Polygon", "coordinates": [coords]}


def _signed_area(ring: Sequence[Sequence[float]]) -> float:
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring)) / 2


def bbox_of(geometry: dict[str, Any]) -> list[float]:
    xs, ys = zip(*geometry["coordinates"][0], strict=True)
    return [min(xs), min(ys), max(xs), max(ys)]


def extent_of(items: Sequence[pystac.Item]) -> pystac.Extent:
    """The items' extent; the whole world and all time when there are none yet."""
    return pystac.Extent.from_items(items) if items else pystac.Extent(
        pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]), pystac.TemporalExtent([None, None]))


def make_collection(items: Sequence[pystac.Item]) -> pystac.Collection:
    """The collection over ``items`` (its extent and summaries are theirs)."""
    extent = extent_of(items)
    collection = pystac.Collection(
        COLLECTION, "Snow cover duration (SCD), snow onset (SOD) and melt-out (SMOD) dates and number "
        "of clear observations (NOBS) per Sentinel-2 tile and hydrological year, computed as Theia's "
        "LIS snow annual map (L3B-SNOW) defines them from Theia snow products, and kept up to date as "
        "products arrive.", extent, title="Snow cover duration", license="etalab-2.0",
        keywords=["snow", "snow cover duration", "Sentinel-2", "Landsat-8", "Theia", "LIS"],
        providers=[pystac.Provider("Theia", roles=[pystac.ProviderRole.PRODUCER],
                                   url="https://www.theia-land.fr"),
                   pystac.Provider("snowdays", roles=[pystac.ProviderRole.PROCESSOR], extra_fields={
                       "processing:level": "L3B", "processing:software": {"snowdays": __version__}})],
        summaries=_summaries(items),
    )
    collection.item_assets = item_assets()
    collection.stac_extensions.append(PROCESSING)
    RenderExtension.ext(collection, add_if_missing=True).apply(renders())
    for ext in (ProjectionExtension, RasterExtension, FileExtension):
        collection.stac_extensions.append(ext.get_schema_uri())
    return collection


def _summaries(items: Sequence[pystac.Item]) -> pystac.Summaries:
    def values(name: str) -> list[Any]:
        return sorted({i.properties[name] for i in items if name in i.properties})

    return pystac.Summaries({
        "grid:code": values("grid:code"), "snowdays:season": values("snowdays:season"),
        "snowdays:status": ["provisional", "final"], "snowdays:semantics": [SEMANTICS],
        "proj:code": sorted({str(a.extra_fields["proj:code"]) for i in items for a in i.assets.values()
                             if a.extra_fields.get("proj:code")}),
        "instruments": ["msi", "oli"],
    })


def item_assets() -> dict[str, ItemAssetDefinition | dict[str, Any]]:
    """What every item's assets are, for clients that read the collection only."""
    defs: dict[str, ItemAssetDefinition | dict[str, Any]] = {kind: ItemAssetDefinition.create(
        _TITLES[kind], _DESCRIPTIONS[kind], pystac.MediaType.COG, _roles(kind),
        {"raster:bands": [{"data_type": "uint16", "spatial_resolution": 20}
                          | ({"nodata": NODATA[kind]} if kind in NODATA else {})]})
        for kind in KINDS + QUALITY}
    defs["quicklook"] = ItemAssetDefinition.create(
        "Quicklook of the snow cover duration, with its colour scale", None, pystac.MediaType.PNG,
        ["overview"])
    defs["histogram"] = ItemAssetDefinition.create(*_HISTOGRAM, pystac.MediaType.PNG, ["overview"])
    defs["products"] = ItemAssetDefinition.create("Input products", None, pystac.MediaType.JSON,
                                                  ["metadata"])
    return defs
