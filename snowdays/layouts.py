"""How each generation of Theia and Copernicus snow product is laid out as distributed, written.

Every layout snowdays reads (``snowdays sample --layout``), one writer each, faithful to the reference
of its names, folder nesting, metadata fields and codes: LIS 1.11's reader, ``s2snow/snow_product.py``
in ``HRWSI_Processing_Routines/HRWSI_Yearly_Processing_Routines/sp_s1s2/let-it-snow-1.11.0/python/`` of
the public repository of the Copernicus HR-WSI system, its codes (``lis_constant.py``,
``snow_synthesis.py``) and the HR-WSI routines beside it.

| layout | as distributed | snow raster |
| --- | --- | --- |
| ``muscate`` | ``SENTINEL2A_<date>_L2B-SNOW_T31TCH_C_V1-7/`` | ``<name>_SNW_R2.tif`` (Landsat ``_SNW_XS``) |
| ``theia-download`` | ``..._D_V1-9.zip`` (or ``..._D.zip``) holding ``..._C_V1-9/`` | as ``muscate`` |
| ``lis-seb`` | ``..._L2B-SNOW_T31TCH_D_V1-0/LIS_PRODUCTS/`` | ``LIS_SEB.TIF`` (no data 254) |
| ``fsc`` | ``LIS_S2-SNOW-FSC_T31TCH_<date>_1.7.0_01.tif`` | the file itself, FSC 0-100 |
| ``hrsi`` | ``FSC_<date>_S2A_T31TCH_V100_1/`` | ``<name>_FSCOG.tif`` |
| ``hrwsi`` | ``CLMS_WSI_FSC_020m_T31TCH_<date>_S2A_V200/`` | ``<name>_FSCOG.tif`` (``FSCTOC``), 210 water |
| ``l2a`` | ``SENTINEL2A_<date>_L2A_T31TCH_C_V2-2/`` | none: MAJA reflectances, detected here |
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine

from snowdays.codes import CLOUD, NO_DATA, NO_DATA_OLD, WATER
from snowdays.l2a import member_name
from snowdays.tiling import tile_grid

Layout = Literal["muscate", "theia-download", "lis-seb", "fsc", "hrsi", "hrwsi", "l2a"]
LAYOUTS: tuple[str, ...] = get_args(Layout)
Codes8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Pass:
    """One acquisition: when, by what, and which part of the tile it sees."""

    when: datetime
    platform: str  # SENTINEL2A, SENTINEL2B or LANDSAT8
    swath: Literal["full", "west", "east"]


def crs_of(tile: str) -> str:
    return tile_grid(tile).crs


def corner(tile: str, offset: tuple[int, int] = (0, 0)) -> tuple[float, float]:
    """Upper left corner of a generated tile: the real tile's, or ``offset`` (row, column) 20 m pixels
    inside it, so that neighbouring tiles overlap as real ones do."""
    t = tile_grid(tile, 20.0, 1, offset).transform
    return t[2], t[5]


def _muscate_date(p: Pass) -> str:
    return f"{p.when:%Y%m%d-%H%M%S}-{p.when.microsecond // 1000:03d}"


def product_name(p: Pass, tile: str, layout: Layout, k: int = 0) -> str | None:
    """The name of the ``k``-th product of a season in ``layout`` (None: the layout has no such
    product, e.g. no Landsat-8 in Copernicus FSC)."""
    landsat = p.platform == "LANDSAT8"
    platform = "LANDSAT8-OLITIRS-XS" if landsat else p.platform
    muscate = f"{platform}_{_muscate_date(p)}"
    if layout == "l2a":
        return f"{muscate}_L2A_{tile}_C_V2-2"
    if layout == "muscate":
        return f"{muscate}_L2B-SNOW_{tile}_C_V1-4" if landsat else f"{muscate}_L2B-SNOW_{tile}_C_V1-7"
    if layout == "theia-download":  # every third one named as Theia's download without a version
        return f"{muscate}_L2B-SNOW_{tile}_D" + ("" if k % 3 == 2 else "_V1-9")
    if layout == "lis-seb":
        return f"{muscate}_L2B-SNOW_{tile}_D_V1-0"
    if layout == "fsc":
        kind = "L8-SNOW-MSK" if landsat else "S2-SNOW-FSC"
        return f"LIS_{kind}_{tile}_{p.when:%Y%m%dT%H%M%S}_1.7.0_01"
    if landsat:
        return None
    if layout == "hrwsi":
        return f"CLMS_WSI_FSC_020m_{tile}_{p.when:%Y%m%dT%H%M%S}_S2{p.platform[-1]}_V200"
    return f"FSC_{p.when:%Y%m%dT%H%M%S}_S2{p.platform[-1]}_{tile}_V100_1"


def encode(fsc: Codes8, layout: Layout, name: str) -> Codes8:
    """Fractional codes (0..100, 205 cloud, 255 no data) as the layout writes them (L2A: the
    classes of :func:`l2a_layers`)."""
    if layout in ("fsc", "hrsi", "hrwsi"):
        return water(fsc) if layout == "hrwsi" else fsc
    if layout == "l2a":
        return np.where(fsc <= 100, np.where(fsc > FAINT_MAX, 100, np.where(fsc >= 1, FAINT, 0)),
                        fsc).astype(np.uint8)
    codes = np.where(fsc <= 100, np.where(fsc >= 1, 100, 0), fsc).astype(np.uint8)
    if layout == "lis-seb" or name.endswith("V1-4"):  # before LIS 1.6 no data was 254
        codes[codes == NO_DATA] = NO_DATA_OLD
    return codes


def water(fsc: Codes8) -> Codes8:
    """HR-WSI FSC with a lake: 210 over a fixed disc wherever the pass saw the ground (the water
    layer of ``lis_sps1s2_pre_processing.py`` stays water under clouds: ``np.place(fsc, ~wm * ...)``)."""
    n = fsc.shape[0]
    rows, cols = np.ogrid[:n, : fsc.shape[1]]
    lake = (rows - 0.7 * n) ** 2 + (cols - 0.3 * n) ** 2 <= (0.12 * n) ** 2
    out = fsc.copy()
    out[lake & (fsc != NO_DATA)] = WATER
    return out


def mtd_xml(name: str, p: Pass, tile: str, quantification: float | None = None) -> str:
    version = name.rsplit("_V", 1)[1].replace("-", ".")  # MUSCATE writes 1.9 for V1-9
    radiometry = "" if quantification is None else f"""
  <Radiometric_Informations>
    <REFLECTANCE_QUANTIFICATION_VALUE>{quantification:g}</REFLECTANCE_QUANTIFICATION_VALUE>
  </Radiometric_Informations>"""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Muscate_Metadata_Document>
  <Dataset_Identification>
    <IDENTIFIER>{name}</IDENTIFIER>
    <GEOGRAPHICAL_ZONE type="Tile">{tile}</GEOGRAPHICAL_ZONE>
  </Dataset_Identification>
  <Product_Characteristics>
    <PRODUCT_ID>{name}</PRODUCT_ID>
    <ACQUISITION_DATE>{p.when:%Y-%m-%dT%H:%M:%S}.{p.when.microsecond // 1000:03d}Z</ACQUISITION_DATE>
    <PRODUCT_VERSION>{version}</PRODUCT_VERSION>
    <PLATFORM>{p.platform}</PLATFORM>
  </Product_Characteristics>{radiometry}
</Muscate_Metadata_Document>
"""


def write_tif(path: Path, values: npt.NDArray[np.generic], crs: str, pixel: float,
              origin: tuple[float, float], nodata: float | None = None) -> None:
    transform = Affine(pixel, 0, origin[0], 0, -pixel, origin[1])
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0],
                       count=1, dtype=values.dtype.name, crs=crs, transform=transform, nodata=nodata,
                       compress="DEFLATE") as ds:
        ds.write(values, 1)


FAINT = 50
"""L2A class of faint snow: snow in LIS's pass 2 only (above the snowline), else no snow."""
FAINT_MAX = 30
"""Snow fractions up to this are faint snow in a sample L2A product."""
_SWIR = {0: 0.6, FAINT: 0.3, 100: 0.05, 205: 0.4}
"""SWIR reflectance of each class under green and red 0.5: NDSI -0.09, 0.25, 0.82 (and a cloud's)."""
_CLM_CLOUD = 0b11
"""CLM bits of a cloud: all clouds and clouds but the thinnest."""


def l2a_layers(classes: npt.NDArray[np.uint8], mission: str, quantification: float = 10000.0
               ) -> dict[str, tuple[npt.NDArray[np.generic], int]]:
    """An acquisition's L2A layers (each with its pixel size as a multiple of the SWIR band's: 1, or
    1/2 for Sentinel-2's green and red) whose LIS codes are ``classes``: 0 no snow, 100 snow, 205
    cloud, 255 no data, :data:`FAINT` faint snow. Green and red are one value everywhere, so that
    resampling them is exact; the classes lie in the SWIR band (on the SWIR grid, never resampled)
    and the masks."""
    valid = classes != 255
    dn = {c: round(r * quantification) for c, r in _SWIR.items()}
    swir = np.full(classes.shape, -10000, np.int16)
    for c, value in dn.items():
        swir[classes == c] = value
    flat = np.where(valid, round(0.5 * quantification), -10000).astype(np.int16)
    fine = 2 if mission == "S2" else 1
    flat = np.repeat(np.repeat(flat, fine, axis=0), fine, axis=1)
    clouds = np.where(classes == 205, _CLM_CLOUD, 0).astype(np.uint8)
    mg2 = (np.where(classes == 205, 2, 0) | np.where(classes == 100, 4, 0)).astype(np.uint8)
    return {"green": (flat, fine), "red": (flat, fine), "swir": (swir, 1), "clouds": (clouds, 1),
            "edges": (np.where(valid, 0, 1).astype(np.uint8), 1), "mg2": (mg2, 1)}


def write_l2a(folder: Path, name: str, p: Pass, tile: str, classes: npt.NDArray[np.uint8],
              pixel: float, quantification: float = 10000.0,
              origin: tuple[float, float] | None = None) -> None:
    """The layers and metadata of an L2A product (see :func:`l2a_layers`) into its folder, at
    ``origin`` (default: the tile's corner)."""
    mission = "L8" if p.platform == "LANDSAT8" else "S2"
    for layer, (values, fine) in l2a_layers(classes, mission, quantification).items():
        path = folder / member_name(name, layer, mission)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_tif(path, values, crs_of(tile), pixel / fine, origin or corner(tile),
                  -10000 if values.dtype == np.int16 else None)
    (folder / f"{name}_MTD_ALL.xml").write_text(mtd_xml(name, p, tile, quantification))


def write_product(out: Path, layout: Layout, name: str, p: Pass, tile: str, codes: Codes8,
                  pixel: float, as_zip: bool, offset: tuple[int, int] = (0, 0),
                  shift: float = 0.0) -> Path:
    """Write one product in its layout, ``offset`` pixels inside the tile then ``shift`` metres west
    and north; return its path (a folder, a zip, or a tif)."""
    x, y = corner(tile, offset)
    origin = (x - shift, y + shift)
    if layout == "fsc":  # LIS >= 1.7: one raster, LIS_<S2|L8>-SNOW-<FSC|MSK>_<tile>_<date>_<version>_<n>
        write_tif(out / f"{name}.tif", codes, crs_of(tile), pixel, origin)
        return out / f"{name}.tif"
    inner = _inner(layout, name)
    folder = out / name
    WRITERS[layout](folder / inner if inner != name else folder, inner, p, tile, codes, pixel, origin)
    if not as_zip:
        return folder
    archive = out / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for member in sorted(f for f in folder.rglob("*") if f.is_file()):
            z.write(member, f"{name}/{member.relative_to(folder).as_posix()}" if inner == name
                    else member.relative_to(folder).as_posix())
    shutil.rmtree(folder)
    if layout == "theia-download":  # a checksum beside the download, as md5sum writes it
        digest = hashlib.md5(archive.read_bytes(), usedforsecurity=False).hexdigest()
        (out / f"{archive.name}.md5").write_text(f"{digest}  {archive.name}\n")
    return archive


def _inner(layout: Layout, name: str) -> str:
    """The product folder's name inside what is distributed: Theia's download ``..._D_V1-9`` (or
    ``..._D``) holds ``..._C_V1-9/`` (LIS 1.11 ``snow_product.py`` extracts the zip and reads inside)."""
    if layout != "theia-download":
        return name
    stem = name.removesuffix("_V1-9").removesuffix("_D")
    return f"{stem}_C_V1-9"


Writer = Callable[[Path, str, Pass, str, Codes8, float, tuple[float, float]], None]
"""Writes a product's files into its folder: (folder, name, pass, tile, codes, pixel, origin)."""


def _muscate(folder: Path, name: str, p: Pass, tile: str, codes: Codes8, pixel: float,
             origin: tuple[float, float]) -> None:
    """MUSCATE L2B-SNOW (LIS 1.11 ``snow_product.py``: ``.*_SNW_R2.(tif|TIF)``, Landsat-8
    ``.*_SNW_XS.(tif|TIF)``, metadata ``.*_MTD_ALL.(xml|XML)``): codes 0, 100, 205, 254 or 255."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "XS" if p.platform == "LANDSAT8" else "R2"
    write_tif(folder / f"{name}_SNW_{suffix}.tif", codes, crs_of(tile), pixel, origin)
    (folder / f"{name}_MTD_ALL.xml").write_text(mtd_xml(name, p, tile))


def _lis_seb(folder: Path, name: str, p: Pass, tile: str, codes: Codes8, pixel: float,
             origin: tuple[float, float]) -> None:
    """The oldest LIS output in a MUSCATE-named folder (``..._D_V1-0``, LIS 1.11 ``snow_product.py``
    example 1): ``LIS_PRODUCTS/LIS_SEB.TIF`` (``lis_constant.SNOW_MASK``), found when no ``_SNW_R2``
    and no ``SNOW-FSC_`` raster is; no data 254 (``snow_synthesis.LABEL_NO_DATA_OLD``). Its
    ``LIS_METADATA.XML`` is listed by LIS, never read, so none is written here."""
    products = folder / "LIS_PRODUCTS"
    products.mkdir(parents=True, exist_ok=True)
    write_tif(products / "LIS_SEB.TIF", codes, crs_of(tile), pixel, origin)


def _fsc(folder: Path, name: str, p: Pass, tile: str, codes: Codes8, pixel: float,
         origin: tuple[float, float]) -> None:
    """Copernicus FSC (LIS 1.11 ``snow_product.py``, ``.*FSC(OG|TOC).(tif|TIF)``; HR-WSI
    ``lis_fsc_post_processing.py`` writes ``<name>_FSCOG.tif``, ``_FSCTOC.tif``, ``_QCOG.tif``):
    0-100 snow fraction, 205 cloud, 210 water (HR-WSI), 255 no data."""
    folder.mkdir(parents=True, exist_ok=True)
    crs = crs_of(tile)
    write_tif(folder / f"{name}_FSCOG.tif", codes, crs, pixel, origin)
    if name.startswith("CLMS_WSI_"):
        write_tif(folder / f"{name}_FSCTOC.tif", codes, crs, pixel, origin)
        quality = np.where(np.isin(codes, (CLOUD, WATER, NO_DATA)), codes, 0).astype(np.uint8)
        write_tif(folder / f"{name}_QCOG.tif", quality, crs, pixel, origin)


def _l2a(folder: Path, name: str, p: Pass, tile: str, codes: Codes8, pixel: float,
         origin: tuple[float, float]) -> None:
    write_l2a(folder, name, p, tile, codes, pixel, origin=origin)


WRITERS: dict[str, Writer] = {"muscate": _muscate, "theia-download": _muscate, "lis-seb": _lis_seb,
                              "hrsi": _fsc, "hrwsi": _fsc, "l2a": _l2a}
