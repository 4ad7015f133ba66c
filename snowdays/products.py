"""Theia snow products: identify, check and read one product onto its tile's grid.

A product is a directory, a ``.zip`` of it or a single ``.tif``, local or on ``s3://``. Everything that
can be checked without decoding pixels is checked in :func:`open_product`; decoding errors surface in
:meth:`Product.read`. Either way a bad product raises a :class:`ProductRejected` naming it.
"""

from __future__ import annotations

import posixpath
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

import numpy as np
import rasterio
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from snowdays.errors import (
    CorruptProduct,
    MetadataMismatch,
    SnowdaysError,
    StorageError,
    WrongGrid,
    WrongRaster,
)
from snowdays.grid import Codes, Grid, read_on_grid
from snowdays.names import Family, ProductId, check_tile, normalise_tile, parse_name
from snowdays.settings import Settings
from snowdays.storage import Source, gdal_env, is_transient_gdal, open_source


@dataclass(frozen=True)
class Product:
    """An identified, checked product whose raster has not been decoded yet."""

    id: ProductId
    source: Source
    raster: str
    """GDAL path of the snow raster."""
    grid: Grid
    """The raster's own grid (Landsat: 30 m)."""
    size: int
    """Bytes of the product as stored (sum of its members)."""

    def read(self, grid: Grid, settings: Settings) -> Codes:
        """Decode the raw codes on the tile grid (Landsat warped with nearest neighbour)."""
        warp = self.id.mission == "L8"
        if not warp and not self.grid.same_as(grid):
            raise WrongGrid(self.id.name, f"grid {self.grid.describe()}, tile has {grid.describe()}")
        try:
            with rasterio.Env(**gdal_env(settings)), rasterio.open(self.raster) as ds:
                return read_on_grid(ds, grid, warp)
        except RasterioError as e:
            raise raster_error(self.id.name, self.raster, "cannot decode the snow raster", e) from e


def open_product(href: str, settings: Settings, tile: str | None = None) -> Product:
    """Identify and check a product; raise a ProductRejected subclass naming it and the reason."""
    pid = parse_name(posixpath.basename(href.rstrip("/")))
    check_tile(pid, tile)
    source = open_source(href, settings)
    raster = _snow_raster(pid, source)
    mtd = _member(source, f"{pid.name}_MTD_ALL.xml")
    if mtd is not None:
        check_metadata(pid, source.read_bytes(mtd))
    grid = _check_raster(pid, source.gdal(raster), settings)
    return Product(pid, source, source.gdal(raster), grid, sum(source.members.values()))


_RASTERS = {
    (Family.MUSCATE, "S2"): ("_SNW_R2.tif",),
    (Family.MUSCATE, "L8"): ("_SNW_XS.tif",),
    (Family.HRSI, "S2"): ("_FSCOG.tif", "_FSCTOC.tif"),
    (Family.HRSI, "L8"): ("_FSCOG.tif", "_FSCTOC.tif"),
    (Family.LIS, "S2"): (".tif",),
    (Family.LIS, "L8"): (".tif",),
}


def _member(source: Source, basename: str) -> str | None:
    """The member called ``basename`` at the root or in the product's own folder."""
    stem = posixpath.splitext(source.name)[0] if source.kind != "dir" else source.name
    for candidate in (basename, f"{stem}/{basename}"):
        if candidate in source.members:
            return candidate
    return None


def _snow_raster(pid: ProductId, source: Source) -> str:
    if source.kind == "tif":
        if pid.family != Family.LIS:
            raise WrongRaster(pid.name, "a single .tif is only a product in the LIS family")
        return source.name
    for suffix in _RASTERS[(pid.family, pid.mission)]:
        found = _member(source, pid.name + suffix)
        if found is not None:
            return found
    if source.kind == "zip":
        folders = sorted({m.split("/", 1)[0] + "/" for m in source.members if "/" in m})
        if folders and f"{pid.name}/" not in folders:
            raise CorruptProduct(pid.name, f"the archive holds {', '.join(folders)}, not {pid.name}/")
    expected = " or ".join(pid.name + s for s in _RASTERS[(pid.family, pid.mission)])
    raise CorruptProduct(pid.name, f"no snow raster: expected {expected} in {source.href}")


def _check_raster(pid: ProductId, path: str, settings: Settings) -> Grid:
    try:
        # a raster without georeferencing (a truncated GeoTIFF may lose its tags) is rejected below
        # rather than warned about
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.Env(**gdal_env(settings)), rasterio.open(path) as ds:
                if ds.count != 1:
                    raise WrongRaster(pid.name, f"{ds.count} bands, expected 1")
                if ds.dtypes[0] != "uint8":
                    raise WrongRaster(pid.name, f"data type {ds.dtypes[0]}, expected uint8")
                missing = [what for what, absent in (
                    ("no coordinate reference system", ds.crs is None),
                    ("no geotransform", ds.transform.is_identity),
                ) if absent]
                if missing:
                    raise WrongRaster(pid.name, "the snow raster is not georeferenced ("
                                      + ", ".join(missing) + ")")
                return Grid.of(ds)
    except RasterioError as e:
        raise raster_error(pid.name, path, "cannot open the snow raster", e) from e


def raster_error(product: str, path: str, what: str, error: RasterioError) -> SnowdaysError:
    """A GDAL failure: a network fault on a remote raster is retried, anything else rejects."""
    if "/vsis3/" in path and is_transient_gdal(str(error)):
        return StorageError(f"Could not read {path} of {product}: {error}")
    return CorruptProduct(product, f"{what}: {error}")


def check_metadata(pid: ProductId, xml: bytes) -> None:
    """Reject a product whose ``*_MTD_ALL.xml`` disagrees with its name."""
    try:
        root = ElementTree.fromstring(xml)
    except (ElementTree.ParseError, DefusedXmlException) as e:
        raise MetadataMismatch(pid.name, f"unreadable metadata XML ({e})") from e
    found = {tag: _text(root, tag) for tag in
             ("ACQUISITION_DATE", "PRODUCT_VERSION", "PLATFORM", "GEOGRAPHICAL_ZONE")}
    problems = []
    if (text := found["ACQUISITION_DATE"]) is not None and _xml_date(text) != pid.acquired:
        problems.append(f"ACQUISITION_DATE {text}")
    if (text := found["PRODUCT_VERSION"]) is not None and text not in _version_texts(pid):
        problems.append(f"PRODUCT_VERSION {text}")
    if (text := found["PLATFORM"]) is not None and not _same_platform(text, pid.platform):
        problems.append(f"PLATFORM {text}")
    if (text := found["GEOGRAPHICAL_ZONE"]) is not None and normalise_tile(text) != pid.tile:
        problems.append(f"GEOGRAPHICAL_ZONE {text}")
    if problems:
        raise MetadataMismatch(pid.name, "metadata disagrees with the name: " + ", ".join(problems))


def _text(root: Element, tag: str) -> str | None:
    element = root.find(f".//{tag}")
    return element.text.strip() if element is not None and element.text else None


def _xml_date(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _version_texts(pid: ProductId) -> set[str]:
    full = ".".join(map(str, pid.version))
    return {full, ".".join(map(str, pid.version[:-1]))} if pid.family != Family.MUSCATE else {full}


def _same_platform(text: str, platform: str) -> bool:
    return text.upper().replace("-", "").replace("_", "").startswith(platform)


def is_landsat(product: Product) -> bool:
    return product.id.mission == "L8"


def empty(grid: Grid) -> Codes:
    return np.full(grid.shape, 255, dtype=np.uint8)
