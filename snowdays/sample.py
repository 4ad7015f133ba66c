"""A realistic, seeded synthetic season of Theia snow products, in the real layouts.

Snow lies above a snowline that falls in autumn and rises in spring, shifted by the weather of the day
and by a fixed local texture, over a synthetic relief; clouds come as blobs; a neighbouring Sentinel-2
orbit and Landsat-8 cover only part of the tile. Sentinel-2 A/B pass every 5 days on the main orbit and
on a neighbouring one, Landsat-8 every 16 days at 30 m. Everything is drawn from one seed.
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

from snowdays.names import normalise_tile
from snowdays.season import Season
from snowdays.tiling import tile_grid

SampleFamily = Literal["muscate", "fsc", "hrsi"]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Pass:
    """One acquisition: when, by what, and which part of the tile it sees."""

    when: datetime
    platform: str  # SENTINEL2A, SENTINEL2B or LANDSAT8
    swath: Literal["full", "west", "east"]


def corner(tile: str, offset: tuple[int, int] = (0, 0)) -> tuple[str, tuple[float, float]]:
    """CRS and upper left corner of a generated tile: the real tile's, or ``offset`` (row, column) 20 m
    pixels inside it, so that neighbouring tiles overlap as real ones do."""
    t = tile_grid(tile, 20.0, 1, offset).transform
    return tile_grid(tile).crs, (t[2], t[5])


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
    if family == "muscate":
        if landsat:
            return f"LANDSAT8-OLITIRS-XS_{p.when:%Y%m%d-%H%M%S}-{ms}_L2B-SNOW_{tile}_C_V1-4"
        return f"{p.platform}_{p.when:%Y%m%d-%H%M%S}-{ms}_L2B-SNOW_{tile}_C_V1-7"
    if family == "fsc":
        kind = "L8-SNOW-MSK" if landsat else "S2-SNOW-FSC"
        return f"LIS_{kind}_{tile}_{p.when:%Y%m%dT%H%M%S}_1.7.0_01"
    return None if landsat else f"FSC_{p.when:%Y%m%dT%H%M%S}_S2{p.platform[-1]}_{tile}_V100_1"


def encode(fsc: npt.NDArray[np.uint8], name: str) -> npt.NDArray[np.uint8]:
    """Fractional codes as the product's family writes them."""
    if name.startswith("LIS_S2") or name.startswith("FSC_"):
        return fsc
    codes = np.where(fsc <= 100, np.where(fsc >= 1, 100, 0), fsc).astype(np.uint8)
    if name.endswith("V1-4"):  # before LIS 1.6 no data was 254
        codes[codes == 255] = 254
    return codes


def mtd_xml(name: str, p: Pass, tile: str) -> str:
    version = name.rsplit("_V", 1)[1].replace("-", ".")
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
  </Product_Characteristics>
</Muscate_Metadata_Document>
"""


def write_tif(path: Path, codes: npt.NDArray[np.uint8], crs: str, pixel: float,
              origin: tuple[float, float]) -> None:
    transform = Affine(pixel, 0, origin[0], 0, -pixel, origin[1])
    with rasterio.open(path, "w", driver="GTiff", width=codes.shape[1], height=codes.shape[0],
                       count=1, dtype="uint8", crs=crs, transform=transform,
                       compress="DEFLATE") as ds:
        ds.write(codes, 1)


def write_product(out: Path, name: str, p: Pass, tile: str, codes: npt.NDArray[np.uint8],
                  pixel: float, as_zip: bool, offset: tuple[int, int] = (0, 0)) -> Path:
    """Write one product in its family's layout; return its path."""
    crs, origin = corner(tile, offset)
    if name.startswith("LIS_"):
        write_tif(out / f"{name}.tif", codes, crs, pixel, origin)
        return out / f"{name}.tif"
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    if name.startswith("FSC_"):
        write_tif(folder / f"{name}_FSCOG.tif", codes, crs, pixel, origin)
    else:
        suffix = "XS" if p.platform == "LANDSAT8" else "R2"
        write_tif(folder / f"{name}_SNW_{suffix}.tif", codes, crs, pixel, origin)
        (folder / f"{name}_MTD_ALL.xml").write_text(mtd_xml(name, p, tile))
    if not as_zip:
        return folder
    with zipfile.ZipFile(out / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for member in sorted(folder.iterdir()):
            z.write(member, f"{name}/{member.name}")
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
        pixel = 30.0 if p.platform == "LANDSAT8" else 20.0
        codes = encode(scene.observe(p, season, grounds[pixel], pixel), name)
        written.append(write_product(out, name, p, tile, codes, pixel, as_zip, offset))
        if progress:
            progress(k + 1, len(passes))
    return written
