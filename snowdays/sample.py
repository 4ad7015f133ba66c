"""A realistic, seeded synthetic season of Theia snow products, in the real layouts.

Snow lies above a snowline that falls in autumn and rises in spring, shifted by the weather of the day
and by a fixed local texture, over a synthetic relief; clouds come as blobs; a neighbouring Sentinel-2
orbit and Landsat-8 cover only part of the tile. Sentinel-2 A/B pass every 5 days on the main orbit and
on a neighbouring one, Landsat-8 every 16 days at 30 m. Everything is drawn from one seed.

The season comes in any layout of :mod:`snowdays.layouts` (as Theia or Copernicus distribute it), as
MAJA L2A products (layout ``l2a``) too, whose reflectances encode classes that LIS's detection gives
back exactly (:func:`snowdays.layouts.l2a_layers`), and the relief as the tile's DEM.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from snowdays.layouts import Layout, Pass, corner, crs_of, encode, product_name, write_product, write_tif
from snowdays.names import normalise_tile
from snowdays.season import Season

F32 = npt.NDArray[np.float32]


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


def write_dem(path: Path, tile: str, size: int, seed: int = 0, offset: tuple[int, int] = (0, 0)) -> Path:
    """The relief of the sample tile (:class:`Scene` of ``size`` and ``seed``, ``offset`` pixels inside
    the tile) as an int16 DEM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ground = np.rint(Scene(size, seed).ground(20.0)).astype(np.int16)
    write_tif(path, ground, crs_of(normalise_tile(tile)), 20.0, corner(tile, offset))
    return path


def make_season(
    out: Path, tile: str, season: Season, size: int = 549, layout: Layout = "muscate",
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
    passes = [(p, n) for k, p in enumerate(schedule(season, seed))
              if (n := product_name(p, tile, layout, k))]
    written = []
    for k, (p, name) in enumerate(passes):
        landsat = p.platform == "LANDSAT8"
        pixel = 30.0 if landsat else 20.0
        codes = encode(scene.observe(p, season, grounds[pixel], pixel), layout, name)
        written.append(write_product(out, layout, name, p, tile, codes, pixel, as_zip, offset,
                                     landsat_shift(size) if landsat else 0.0))
        if progress:
            progress(k + 1, len(passes))
    return written
