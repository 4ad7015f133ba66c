"""A realistic, seeded synthetic season of Theia snow products, in the real layouts.

Snow lies above a snowline that falls in autumn and rises in spring, shifted by the weather of the day
and by a fixed local texture, over a synthetic relief; clouds come as blobs; a neighbouring Sentinel-2
orbit and Landsat-8 cover only part of the tile. Sentinel-2 A/B pass every 5 days on the main orbit and
on a neighbouring one, Landsat-8 every 16 days at 30 m. Everything is drawn from one seed.

The same season can come as MAJA L2A products (family ``l2a``), whose reflectances encode classes that
LIS's detection gives back exactly (:func:`l2a_layers`), and the relief as the tile's DEM.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine

from snowdays.l2a import member_name
from snowdays.names import normalise_tile
from snowdays.season import Season
from snowdays.tiling import tile_grid

SampleFamily = Literal["muscate", "fsc", "hrsi", "l2a"]
F32 = npt.NDArray[np.float32]


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


def landsat_shift(size: int) -> float:
    """Metres west and north of the window's corner where a generated Landsat raster starts.

    Its ``ceil(size * 20 / 30)`` pixels of 30 m overshoot the window by 0, 10 or 20 m; 20 m would make
    it wholly cover a 20 m pixel more than the window has (the tile grid a Landsat product gives,
    :func:`snowdays.tiling.product_window`), so 10 of them lie west and north. The 20 m pixels it
    wholly covers are then the window's, as a real Landsat product on the Sentinel-2 tiling gives the
    whole tile.
    """
    spare = -(-size * 20 // 30) * 30 - size * 20
    return max(0.0, spare - 10.0)


def schedule(season: Season, seed: int) -> list[Pass]:
    """Acquisitions over the season's window, sorted by time."""
    rng = np.random.default_rng(seed)
    first = datetime.combine(season.start, datetime.min.time(), UTC) - timedelta(season.margin)
    span = season.n_days + 2 * season.margin
    passes = []
    for k, day in enumerate(range(int(rng.integers(0, 5)), span, 5)):
        sat = "SENTINEL2A" if k % 2 == 0 else "SENTINEL2B"
        other = "SENTINEL2B" if k % 2 == 0 else "SENTINEL2A"
        passes.append(Pass(first + timedelta(day, hours=10, minutes=36, seconds=29,
                                              milliseconds=int(rng.integers(0, 1000))), sat, "full"))
        if day + 2 < span:
            passes.append(Pass(first + timedelta(day + 2, hours=10, minutes=46, seconds=19,
                                                  milliseconds=int(rng.integers(0, 1000))),
                               other, "west"))
    for day in range(int(rng.integers(0, 16)), span, 16):
        passes.append(Pass(first + timedelta(day, hours=10, minutes=29, seconds=5,
                                              milliseconds=int(rng.integers(0, 1000))),
                           "LANDSAT8", "east"))
    return sorted(passes, key=lambda p: p.when)


@cache
def _weights(n_out: int, pixel: float, extent: float, n_in: int) -> F32:
    """Linear interpolation weights from an ``n_in`` lattice over ``extent`` to pixel centres."""
    x = np.clip((np.arange(n_out) + 0.5) * pixel / extent * (n_in - 1), 0, n_in - 1)
    i0 = np.minimum(np.floor(x).astype(int), n_in - 2)
    w = np.zeros((n_out, n_in), np.float32)
    w[np.arange(n_out), i0] = 1 - (x - i0)
    w[np.arange(n_out), i0 + 1] = x - i0
    return w


class Scene:
    """The synthetic landscape of one tile: relief, texture, and what a pass sees of it."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.extent, self._seed = size, size * 20.0, seed
        rng = np.random.default_rng(seed)
        self._massifs = rng.random((6, 6))
        self._valleys = rng.random((24, 24))
        self._texture = rng.normal(0, 1, (48, 48))

    def field(self, coarse: npt.NDArray[np.float64], pixel: float) -> F32:
        """A smooth field over the tile at ``pixel`` metres, interpolated from a coarse lattice."""
        n = int(np.ceil(self.extent / pixel))
        w = _weights(n, pixel, self.extent, coarse.shape[0])
        return w @ coarse.astype(np.float32) @ w.T

    def ground(self, pixel: float) -> F32:
        """Elevation plus a fixed local texture (aspect, wind), in metres."""
        relief = 0.75 * self.field(self._massifs, pixel) + 0.25 * self.field(self._valleys, pixel)
        return 400 + 3400 * relief + 120 * self.field(self._texture, pixel)

    def observe(self, p: Pass, season: Season, ground: F32, pixel: float) -> npt.NDArray[np.uint8]:
        """Raw fractional snow cover (0..100), cloud 205 and no data 255 as the pass sees it."""
        rng = np.random.default_rng([self._seed, int(p.when.timestamp())])
        t = season.day(p.when)
        line = 3000 - 2200 * np.exp(-(((t - 150) / 75) ** 2)) + rng.normal(0, 150)
        weather = 150 * self.field(rng.normal(0, 1, (4, 4)), pixel)
        fsc = np.clip((ground + weather - line) * 0.5, 0, 100)
        codes: npt.NDArray[np.uint8] = np.rint(fsc).astype(np.uint8)
        cover = float(rng.beta(0.6, 0.9))
        blobs = rng.random((16, 16))
        codes[self.field(blobs, pixel) > np.quantile(blobs, 1 - cover)] = 205
        n = codes.shape[0]
        cols = np.arange(n)[None, :] + 0.15 * np.arange(n)[:, None]
        if p.swath == "west":
            codes[cols > 0.55 * n] = 255
        elif p.swath == "east":
            codes[cols < 0.3 * n] = 255
        return codes


def product_name(p: Pass, tile: str, family: SampleFamily) -> str | None:
    """The product's name in ``family`` (None: the family has no such product)."""
    ms = f"{p.when.microsecond // 1000:03d}"
    landsat = p.platform == "LANDSAT8"
    if family == "l2a":
        platform = "LANDSAT8-OLITIRS-XS" if landsat else p.platform
        return f"{platform}_{p.when:%Y%m%d-%H%M%S}-{ms}_L2A_{tile}_C_V2-2"
    if family == "muscate":
        if landsat:
            return f"LANDSAT8-OLITIRS-XS_{p.when:%Y%m%d-%H%M%S}-{ms}_L2B-SNOW_{tile}_C_V1-4"
        return f"{p.platform}_{p.when:%Y%m%d-%H%M%S}-{ms}_L2B-SNOW_{tile}_C_V1-7"
    if family == "fsc":
        kind = "L8-SNOW-MSK" if landsat else "S2-SNOW-FSC"
        return f"LIS_{kind}_{tile}_{p.when:%Y%m%dT%H%M%S}_1.7.0_01"
    return None if landsat else f"FSC_{p.when:%Y%m%dT%H%M%S}_S2{p.platform[-1]}_{tile}_V100_1"


def encode(fsc: npt.NDArray[np.uint8], name: str) -> npt.NDArray[np.uint8]:
    """Fractional codes as the product's family writes them (L2A: the classes of :func:`l2a_layers`)."""
    if name.startswith("LIS_S2") or name.startswith("FSC_"):
        return fsc
    if "_L2A_" in name:
        return np.where(fsc <= 100, np.where(fsc > FAINT_MAX, 100, np.where(fsc >= 1, FAINT, 0)),
                        fsc).astype(np.uint8)
    codes = np.where(fsc <= 100, np.where(fsc >= 1, 100, 0), fsc).astype(np.uint8)
    if name.endswith("V1-4"):  # before LIS 1.6 no data was 254
        codes[codes == 255] = 254
    return codes


def mtd_xml(name: str, p: Pass, tile: str, quantification: float | None = None) -> str:
    version = name.rsplit("_V", 1)[1].replace("-", ".")
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
              pixel: float, quantification: float = 10000.0, offset: tuple[int, int] = (0, 0),
              shift: float = 0.0) -> None:
    """The layers and metadata of an L2A product (see :func:`l2a_layers`) into its folder, at the
    tile's corner (or ``offset`` pixels inside it, then ``shift`` metres west and north)."""
    mission = "L8" if p.platform == "LANDSAT8" else "S2"
    x, y = corner(tile, offset)
    for layer, (values, fine) in l2a_layers(classes, mission, quantification).items():
        path = folder / member_name(name, layer, mission)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_tif(path, values, crs_of(tile), pixel / fine, (x - shift, y + shift),
                  -10000 if values.dtype == np.int16 else None)
    (folder / f"{name}_MTD_ALL.xml").write_text(mtd_xml(name, p, tile, quantification))


def write_dem(path: Path, tile: str, size: int, seed: int = 0, offset: tuple[int, int] = (0, 0)) -> Path:
    """The relief of the sample tile (:class:`Scene` of ``size`` and ``seed``, ``offset`` pixels inside
    the tile) as an int16 DEM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ground = np.rint(Scene(size, seed).ground(20.0)).astype(np.int16)
    write_tif(path, ground, crs_of(normalise_tile(tile)), 20.0, corner(tile, offset))
    return path


def write_product(out: Path, name: str, p: Pass, tile: str, codes: npt.NDArray[np.uint8],
                  pixel: float, as_zip: bool, offset: tuple[int, int] = (0, 0),
                  shift: float = 0.0) -> Path:
    """Write one product in its family's layout, ``offset`` pixels inside the tile then ``shift``
    metres west and north; return its path."""
    (x, y), crs = corner(tile, offset), crs_of(tile)
    origin = (x - shift, y + shift)
    if name.startswith("LIS_"):
        write_tif(out / f"{name}.tif", codes, crs, pixel, origin)
        return out / f"{name}.tif"
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    if name.startswith("FSC_"):
        write_tif(folder / f"{name}_FSCOG.tif", codes, crs, pixel, origin)
    elif "_L2A_" in name:
        write_l2a(folder, name, p, tile, codes, pixel, offset=offset, shift=shift)
    else:
        suffix = "XS" if p.platform == "LANDSAT8" else "R2"
        write_tif(folder / f"{name}_SNW_{suffix}.tif", codes, crs, pixel, origin)
        (folder / f"{name}_MTD_ALL.xml").write_text(mtd_xml(name, p, tile))
    if not as_zip:
        return folder
    with zipfile.ZipFile(out / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for member in sorted(f for f in folder.rglob("*") if f.is_file()):
            z.write(member, f"{name}/{member.relative_to(folder).as_posix()}")
    shutil.rmtree(folder)
    return out / f"{name}.zip"


def make_season(
    out: Path, tile: str, season: Season, size: int = 549, family: SampleFamily = "muscate",
    as_zip: bool = False, seed: int = 0, progress: Callable[[int, int], None] | None = None,
    offset: tuple[int, int] = (0, 0),
) -> list[Path]:
    """Generate a season's products into ``out``; return their paths in acquisition order. The
    products cover ``size`` pixels a side of the tile at its real place, ``offset`` (row, column) 20 m
    pixels from its upper left corner."""
    tile = normalise_tile(tile)
    out.mkdir(parents=True, exist_ok=True)
    scene = Scene(size, seed)
    grounds = {20.0: scene.ground(20.0), 30.0: scene.ground(30.0)}
    passes = [(p, n) for p in schedule(season, seed) if (n := product_name(p, tile, family))]
    written = []
    for k, (p, name) in enumerate(passes):
        landsat = p.platform == "LANDSAT8"
        pixel = 30.0 if landsat else 20.0
        codes = encode(scene.observe(p, season, grounds[pixel], pixel), name)
        written.append(write_product(out, name, p, tile, codes, pixel, as_zip, offset,
                                     landsat_shift(size) if landsat else 0.0))
        if progress:
            progress(k + 1, len(passes))
    return written
