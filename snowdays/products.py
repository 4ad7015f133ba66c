"""Theia products: identify, check and read one product onto its tile's grid.

A product is a directory, a ``.zip`` of it or a single ``.tif``, local or on ``s3://``: a snow product,
or an L2A product whose snow is detected here (:mod:`snowdays.l2a`). Everything that can be checked
without decoding pixels is checked in :func:`open_product`; decoding errors surface in
:meth:`Product.read`. Either way a bad product raises a :class:`ProductRejected` naming it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import rasterio
from rasterio.errors import RasterioError

from snowdays.codes import NO_SNOW, WATER
from snowdays.errors import (
    CorruptProduct,
    ImplausibleDate,
    MetadataMismatch,
    ProductRejected,
    WrongGrid,
    WrongRaster,
)
from snowdays.grid import Codes, Grid, put_on_grid, read_on_grid
from snowdays.l2a import BANDS, LABELS, LAYERS, Layers, member_name, quantification, snow
from snowdays.metadata import check_metadata
from snowdays.names import Family, ProductId, check_tile, parse_name
from snowdays.settings import Settings
from snowdays.storage import Source, checksum, download, gdal_env, is_s3, open_source, raster_error


@dataclass(frozen=True)
class Product:
    """An identified, checked product whose raster has not been decoded yet."""

    id: ProductId
    source: Source
    raster: str
    """GDAL path of the snow raster (of an L2A product: its SWIR band)."""
    grid: Grid
    """The raster's own grid (Landsat: 30 m)."""
    size: int
    """Bytes of the product as stored (sum of its members)."""
    layers: Layers | None = None
    """An L2A product's layers (None: a snow product)."""
    water: bool = False
    """Whether the raster may hold water (210, Copernicus FSC): read as a clear observation of no snow."""

    def read(self, grid: Grid, settings: Settings) -> Codes:
        """Decode the raw codes on the tile grid (Landsat warped with nearest neighbour); an L2A
        product's are detected first, on its own grid."""
        warp = self.id.mission == "L8"
        if not warp and not self.grid.same_as(grid):
            raise WrongGrid(self.id.name, f"grid {self.grid.describe()}, tile has {grid.describe()}")
        if self.layers is not None:
            codes = snow(self.id, self.layers, self.grid, settings).codes
            return put_on_grid(codes, self.grid, grid) if warp else codes
        try:
            with rasterio.Env(**gdal_env(settings.s3)), rasterio.open(self.raster) as ds:
                codes = read_on_grid(ds, grid, warp)
        except RasterioError as e:
            raise raster_error(self.id.name, self.raster, "cannot decode the snow raster", e) from e
        if self.water:
            codes[codes == WATER] = NO_SNOW
        return codes


def open_product(href: str, settings: Settings, tile: str | None = None) -> Product:
    """Identify and check a product; raise a ProductRejected subclass naming it and the reason."""
    pid = identify(href, settings, tile)
    source = open_source(href, settings)
    stem, pid = _content(pid, source)
    source = replace(source, folder=f"{stem}/" if source.top == stem else "")
    if pid.family == Family.L2A:
        return _open_l2a(pid, stem, source, settings)
    raster = _snow_raster(pid, stem, source)
    mtd = source.find(f"{stem}_MTD_ALL.xml")
    if mtd is not None:
        pid = check_metadata(pid, source.read_bytes(mtd))
    if not pid.version:
        raise MetadataMismatch(pid.name, "no version in the name, its folder or its metadata")
    grid = _check_raster(pid, source.gdal(raster), settings)
    return Product(pid, source, source.gdal(raster), grid, sum(source.members.values()),
                   water=pid.family == Family.HRSI)


def identify(href: str, settings: Settings, tile: str | None = None) -> ProductId:
    """The product's id from its name, checked against ``tile`` and the plausible dates."""
    pid = parse_name(posixpath.basename(href.rstrip("/")))
    check_tile(pid, tile)
    check_acquired(pid, settings)
    return pid


@dataclass(frozen=True)
class Fetched:
    """A product opened for folding: checked, with its checksum and where it is stored."""

    product: Product
    checksum: str
    href: str
    """Where the product is stored (``product`` may read a copy of it)."""

    @property
    def id(self) -> ProductId:
        return self.product.id

    def read(self, grid: Grid, settings: Settings) -> Codes:
        """:meth:`Product.read`, its rejections naming the product where it is stored."""
        with where_stored(self.product.source.href, self.href):
            return self.product.read(grid, settings)


def fetch(href: str, settings: Settings, spool: Path, tile: str | None = None) -> Fetched:
    """Open a product as :func:`open_product` does, its bytes read from storage once: an ``s3://``
    product is downloaded into ``spool`` (hashed as it streams) and its checks and decode read the
    copy; a local one is hashed in place, after which the page cache serves its decode."""
    if not is_s3(href):
        product = open_product(href, settings, tile)
        return Fetched(product, checksum(product.source), href)
    identify(href, settings, tile)  # nothing is copied of a product its name rejects
    local, digest = download(href, settings, spool)
    with where_stored(local, href):
        return Fetched(open_product(local, settings, tile), digest, href)


@contextmanager
def where_stored(local: str, href: str) -> Iterator[None]:
    """Rejections raised inside name the product at ``href`` rather than at its copy ``local``."""
    try:
        yield
    except ProductRejected as e:
        raise renamed(e, local, href) from e


def renamed(error: ProductRejected, local: str, href: str) -> ProductRejected:
    """The rejection with the product's copy ``local`` named where it is stored, ``href``."""
    return error if local == href else type(error)(error.product, error.reason.replace(local, href))


EARLIEST = datetime(2013, 2, 11, tzinfo=UTC)
"""Landsat-8's launch: no product snowdays reads was acquired before (Sentinel-2A: 2015)."""


def check_acquired(pid: ProductId, settings: Settings) -> None:
    """Reject an acquisition before :data:`EARLIEST` or after now plus ``future_days``."""
    latest = datetime.now(UTC) + timedelta(days=settings.future_days)
    if not EARLIEST <= pid.acquired <= latest:
        raise ImplausibleDate(pid.name, f"acquired {pid.acquired.date().isoformat()}, not between "
                                        f"{EARLIEST:%Y-%m-%d} and {latest:%Y-%m-%d}")


def _content(pid: ProductId, source: Source) -> tuple[str, ProductId]:
    """The name the product's files carry, and its id with the version known. Theia's download
    ``..._D_V1-9`` (or ``..._D``) holds the product's folder ``..._C_V1-9/``, which tells the version
    (LIS 1.11 ``snow_product.py`` extracts such a zip and looks inside); any other product's folder
    is a misnamed archive."""
    top = source.top
    if top is None or top == pid.name:
        return pid.name, pid
    try:
        inner = parse_name(top)
    except ProductRejected:
        return pid.name, pid  # a plain subfolder (LIS_PRODUCTS/, MASKS/): the files are the product's
    where = "archive" if source.kind == "zip" else "folder"
    if inner.key != pid.key:
        raise CorruptProduct(pid.name, f"the {where} holds {top}/, not {pid.name}/")
    if pid.version and inner.version != pid.version:
        raise MetadataMismatch(pid.name, f"the {where} holds {top}/, another version")
    return top, pid.model_copy(update={"version": inner.version})


def _open_l2a(pid: ProductId, stem: str, source: Source, settings: Settings) -> Product:
    """Check an L2A product: its metadata (with the reflectance quantification value) and every
    layer (present, one band of the right type, georeferenced, on the SWIR band's grid; Sentinel-2's
    green and red at twice its resolution)."""
    mtd = source.find(f"{stem}_MTD_ALL.xml")
    if mtd is None:
        raise source.missing("metadata", f"{stem}_MTD_ALL.xml (its reflectance quantification)")
    xml = source.read_bytes(mtd)
    pid = check_metadata(pid, xml)
    scale = quantification(pid.name, xml)
    paths, grids = {}, {}
    for layer in LAYERS[pid.mission]:
        expected = member_name(stem, layer, pid.mission)
        member = source.find(expected)
        if member is None:
            raise source.missing(LABELS[layer], expected)
        paths[layer] = source.gdal(member)
        grids[layer] = _check_raster(pid, paths[layer], settings, LABELS[layer],
                                     "int16" if layer in BANDS else "uint8")
    grid = grids["swir"]
    for layer, found in grids.items():
        fine = pid.mission == "S2" and layer in ("green", "red")
        if not found.same_as(_halved(grid) if fine else grid):
            raise WrongGrid(pid.name, f"the {LABELS[layer]} is on grid {found.describe()}, the SWIR band "
                                      f"on {grid.describe()}")
    layers = Layers(paths["green"], paths["red"], paths["swir"], paths["clouds"], paths["edges"], scale)
    return Product(pid, source, paths["swir"], grid, sum(source.members.values()), layers)


def _halved(grid: Grid) -> Grid:
    """The grid of the same extent with pixels half as large."""
    a, b, c, d, e, f = grid.transform
    return Grid(grid.crs, (a / 2, b, c, d, e / 2, f), grid.width * 2, grid.height * 2)


_RASTERS = {
    (Family.MUSCATE, "S2"): ("_SNW_R2.tif",),
    (Family.MUSCATE, "L8"): ("_SNW_XS.tif",),
    (Family.HRSI, "S2"): ("_FSCOG.tif", "_FSCTOC.tif"),
    (Family.HRSI, "L8"): ("_FSCOG.tif", "_FSCTOC.tif"),
    (Family.LIS, "S2"): (".tif",),
    (Family.LIS, "L8"): (".tif",),
}
_LIS_RASTERS = {"S2": r".*SNOW-FSC_.*\.tif", "L8": r".*SNOW-MSK_.*\.tif"}
"""What LIS 1.11 (``s2snow/snow_product.py``) reads in a MUSCATE-named folder without the usual raster:
a LIS >= 1.7 raster, then the oldest layout's ``LIS_SEB.TIF`` (``LIS_PRODUCTS/``, no data 254)."""
_SEB = r"LIS_SEB\.TIF"


def _snow_raster(pid: ProductId, stem: str, source: Source) -> str:
    if source.kind == "tif":
        if pid.family != Family.LIS:
            raise WrongRaster(pid.name, "a single .tif is only a product in the LIS family")
        return source.name
    suffixes = _RASTERS[(pid.family, pid.mission)]
    for suffix in suffixes:
        found = source.find(stem + suffix)
        if found is not None:
            return found
    if pid.family == Family.MUSCATE:
        for pattern in (_LIS_RASTERS[pid.mission], _SEB):
            if found := _only(pid, source, pattern):
                return found
    raise source.missing("snow raster", " or ".join(stem + s for s in suffixes))


def _only(pid: ProductId, source: Source, pattern: str) -> str | None:
    """The one member matching ``pattern`` (None: none); two are a rejection, not a guess."""
    found = source.matching(pattern)
    if len(found) > 1:
        raise CorruptProduct(pid.name, f"{len(found)} snow rasters ({', '.join(found)}), expected one")
    return found[0] if found else None


def _check_raster(pid: ProductId, path: str, settings: Settings, what: str = "snow raster",
                  dtype: str = "uint8") -> Grid:
    try:
        # a raster without georeferencing (a truncated GeoTIFF may lose its tags) is rejected below
        # (the warning rasterio would give is filtered in snowdays.grid)
        with rasterio.Env(**gdal_env(settings.s3)), rasterio.open(path) as ds:
            of = "" if what == "snow raster" else f" in the {what}"
            if ds.count != 1:
                raise WrongRaster(pid.name, f"{ds.count} bands{of}, expected 1")
            if ds.dtypes[0] != dtype:
                raise WrongRaster(pid.name, f"data type {ds.dtypes[0]}{of}, expected {dtype}")
            missing = [what for what, absent in (
                ("no coordinate reference system", ds.crs is None),
                ("no geotransform", ds.transform.is_identity),
            ) if absent]
            if missing:
                raise WrongRaster(pid.name, f"the {what} is not georeferenced ("
                                  + ", ".join(missing) + ")")
            return Grid.of(ds)
    except RasterioError as e:
        raise raster_error(pid.name, path, f"cannot open the {what}", e) from e
