"""MAJA L2A products (Theia MUSCATE surface reflectances): their layers, and their snow.

``SENTINEL2A_20180115-103629-617_L2A_T31TCH_C_V2-2`` (a directory, or a ``.zip`` of it) holds the
flat-terrain reflectances ``<name>_FRE_B3.tif`` (green), ``_FRE_B4.tif`` (red) at 10 m and
``_FRE_B11.tif`` (SWIR) at 20 m, int16 scaled by the metadata's ``REFLECTANCE_QUANTIFICATION_VALUE``
with -10000 for no data, and the masks ``MASKS/<name>_CLM_R2.tif`` (clouds), ``_EDG_R2.tif`` (edges),
``_MG2_R2.tif`` at 20 m. A Landsat-8 product (``LANDSAT8-OLITIRS-XS_..._L2A_...``) holds B3, B4 and B6
(SWIR) and the ``_XS`` masks, all at 30 m. Green and red are put on the SWIR grid as LIS does (GDAL's
cubic warp, no data excluded), then :mod:`snowdays.detection` gives the codes. MG2 is checked with the
others but not read: LIS's codes do not depend on it.
"""

from __future__ import annotations

import logging
import math
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import rasterio
from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader, MemoryFile
from rasterio.warp import Resampling, reproject

from snowdays.detection import I16, NO_DATA, Detection, Reflectances, detect
from snowdays.errors import CorruptProduct, StorageError, UsageError
from snowdays.grid import Codes, Grid
from snowdays.names import ProductId
from snowdays.settings import Settings
from snowdays.storage import filesystem, gdal_env, gdal_path, is_transient_gdal, raster_error

log = logging.getLogger(__name__)

LAYERS = {
    "S2": {"green": "_FRE_B3.tif", "red": "_FRE_B4.tif", "swir": "_FRE_B11.tif",
           "clouds": "_CLM_R2.tif", "edges": "_EDG_R2.tif", "mg2": "_MG2_R2.tif"},
    "L8": {"green": "_FRE_B3.tif", "red": "_FRE_B4.tif", "swir": "_FRE_B6.tif",
           "clouds": "_CLM_XS.tif", "edges": "_EDG_XS.tif", "mg2": "_MG2_XS.tif"},
}
"""Suffix of each layer after the product's name, by mission; masks lie in ``MASKS/``."""
MASKS = ("clouds", "edges", "mg2")
LABELS = {"green": "green band", "red": "red band", "swir": "SWIR band", "clouds": "cloud mask",
          "edges": "edge mask", "mg2": "MG2 mask"}
"""How messages name each layer."""
BANDS = ("green", "red", "swir")
DEM_NO_DATA = -32768
"""No-data value of a DEM that declares none (SRTM's, as LIS's ``dem_builder`` assumes)."""


def member_name(name: str, layer: str, mission: str) -> str:
    """The member of ``layer`` in product ``name`` (relative to the product's folder)."""
    return ("MASKS/" if layer in MASKS else "") + name + LAYERS[mission][layer]


@dataclass(frozen=True)
class Layers:
    """GDAL paths of an L2A product's layers, and its reflectance quantification value."""

    green: str
    red: str
    swir: str
    clouds: str
    edges: str
    quantification: float


def quantification(name: str, xml: bytes) -> float:
    """``REFLECTANCE_QUANTIFICATION_VALUE`` of a product's metadata; rejects the product without one."""
    try:
        element = ElementTree.fromstring(xml).find(".//REFLECTANCE_QUANTIFICATION_VALUE")
    except (ElementTree.ParseError, DefusedXmlException) as e:
        raise CorruptProduct(name, f"unreadable metadata XML ({e})") from e
    text = element.text.strip() if element is not None and element.text else ""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise CorruptProduct(name, "the metadata has no usable REFLECTANCE_QUANTIFICATION_VALUE "
                                   f"({text or 'none'}): reflectances cannot be scaled")
    return value


def snow(pid: ProductId, layers: Layers, grid: Grid, settings: Settings) -> Detection:
    """The product's snow on its own (SWIR) grid; written out if ``snow_rasters`` is set."""
    reflectances = read(pid.name, layers, grid, settings)
    found = detect(reflectances, read_dem(pid.tile, grid, settings), settings.lis)
    log.info("%s: snow detected, snowline %s, pass 2 %s", pid.name, found.snowline,
             "run" if found.pass2 else "not run")
    if settings.snow_rasters:
        write_snow(pid, found, grid, settings.snow_rasters, settings)
    return found


def read(name: str, layers: Layers, grid: Grid, settings: Settings) -> Reflectances:
    """Decode the layers on the SWIR band's grid (green and red warped there, cubic, as LIS does)."""
    with rasterio.Env(**gdal_env(settings.s3)):
        green, red, swir = (_band(name, getattr(layers, b), b, grid) for b in BANDS)
        clouds, edges = (_mask(name, getattr(layers, m), m) for m in ("clouds", "edges"))
    return Reflectances(green, red, swir, clouds, edges, layers.quantification)


def _band(name: str, path: str, layer: str, grid: Grid) -> I16:
    try:
        with rasterio.open(path) as ds:
            values, source = np.asarray(ds.read(1), dtype=np.int16), Grid.of(ds)
    except RasterioError as e:
        raise raster_error(name, path, f"cannot decode the {LABELS[layer]}", e) from e
    return values if source.same_as(grid) else warp_band(values, source, grid)


def warp_band(values: I16, source: Grid, grid: Grid) -> I16:
    """A band on ``grid`` as LIS puts it there: GDAL's cubic warp with no data -10000 excluded
    (``gdal.Warp(resampleAlg=cubic, xRes=yRes=20)``). A band without any no-data pixel takes GDAL's
    unmasked path, twice as fast for the same values."""
    out = np.full(grid.shape, NO_DATA, np.int16)
    nodata = {"src_nodata": NO_DATA, "dst_nodata": NO_DATA} if (values == NO_DATA).any() else {}
    reproject(values, out, src_transform=source.affine, src_crs=source.crs, dst_transform=grid.affine,
              dst_crs=grid.crs, resampling=Resampling.cubic, **nodata)
    return out


def _mask(name: str, path: str, layer: str) -> Codes:
    try:
        with rasterio.open(path) as ds:
            return np.asarray(ds.read(1), dtype=np.uint8)
    except RasterioError as e:
        raise raster_error(name, path, f"cannot decode the {LABELS[layer]}", e) from e


def dem_href(tile: str, settings: Settings) -> str | None:
    """Where the tile's DEM is, if one is configured."""
    return f"{settings.dem.rstrip('/')}/{tile}.tif" if settings.dem else None


def read_dem(tile: str, grid: Grid, settings: Settings) -> I16 | None:
    """The tile's DEM on ``grid`` as LIS reads it (16-bit integers), or None if it has none.

    On the grid already, it is read as it is; otherwise warped there as LIS's ``dem_builder`` does
    (cubic spline; the DEM's no data, else -32768, excluded; 0 where none is left). Floats are
    truncated to integers, as LIS's reader of ``short`` images does.
    """
    with opened_dem(tile, settings) as ds:
        if ds is None:
            return None
        if Grid.of(ds).same_as(grid):
            values = np.asarray(ds.read(1))
        else:
            values = np.zeros(grid.shape, ds.dtypes[0])
            reproject(rasterio.band(ds, 1), values, dst_transform=grid.affine, dst_crs=grid.crs,
                      src_nodata=DEM_NO_DATA if ds.nodata is None else ds.nodata, dst_nodata=0,
                      resampling=Resampling.cubic_spline)
    return _as_short(values)


@contextmanager
def opened_dem(tile: str, settings: Settings) -> Iterator[DatasetReader | None]:
    """The tile's DEM opened with GDAL (None if it has none); a read that fails in it is a storage
    fault on S3 worth retrying, else a DEM that cannot be read."""
    href = dem_href(tile, settings)
    if href is None or not filesystem(href, settings.s3).exists(href.removeprefix("s3://")):
        yield None
        return
    try:
        with rasterio.Env(**gdal_env(settings.s3)), rasterio.open(gdal_path(href)) as ds:
            yield ds
    except RasterioError as e:
        if href.startswith("s3://") and is_transient_gdal(str(e)):
            raise StorageError(f"Could not read the DEM {href}: {e}") from e
        raise UsageError(f"The DEM of {tile} ({href}) cannot be read: {e}") from e


def _as_short(values: npt.NDArray[np.generic]) -> I16:
    if np.issubdtype(values.dtype, np.floating):
        values = np.clip(np.nan_to_num(values), -32768, 32767)
    return np.asarray(values).astype(np.int16)


def snow_href(pid: ProductId, folder: str) -> str:
    """Where the snow raster of an L2A product goes in a folder or ``s3://`` prefix."""
    return f"{folder.rstrip('/')}/{pid.name}{'_SNW_XS.tif' if pid.mission == 'L8' else '_SNW_R2.tif'}"


def write_snow(pid: ProductId, found: Detection, grid: Grid, folder: str, settings: Settings) -> str:
    """Write the codes as a LIS-style snow raster into a folder or ``s3://`` prefix; its href."""
    href = snow_href(pid, folder)
    height, width = grid.shape
    with MemoryFile() as memory:
        with memory.open(driver="GTiff", width=width, height=height, count=1, dtype="uint8",
                         crs=grid.crs, transform=grid.affine, nodata=255, compress="DEFLATE") as ds:
            ds.write(found.codes, 1)
            ds.update_tags(ZS=str(found.snowline if found.snowline is not None else ""),
                           PASS2=str(found.pass2), SOURCE=pid.name)
        data = bytes(memory.getbuffer())
    fs = filesystem(href, settings.s3)
    path = href.removeprefix("s3://")
    try:
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
        fs.pipe_file(path, data)
    except (OSError, BotoCoreError) as e:
        raise StorageError(f"Could not write {href}: {e}") from e
    return href
