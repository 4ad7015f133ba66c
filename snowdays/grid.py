"""The tile grid, putting rasters on it, and merging one day's products."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from affine import Affine
from numba import njit
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import DatasetReader
from rasterio.warp import reproject

from snowdays.codes import INVALID, VALID_MAX

# rasterio warns that an array's in-memory dataset has no geotransform before it sets the one given,
# and a raster that really has none is rejected by name (snowdays.products), never warned about. Set
# once for the process: products decode in threads, and warnings.catch_warnings is not thread-safe.
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)

Codes = npt.NDArray[np.uint8]

@dataclass(frozen=True)
class Grid:
    """A tile's Sentinel-2 20 m grid: CRS, affine transform and shape."""

    crs: str
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int

    @classmethod
    def of(cls, dataset: DatasetReader) -> Grid:
        t = dataset.transform
        return cls(dataset.crs.to_string(), (t.a, t.b, t.c, t.d, t.e, t.f), dataset.width,
                   dataset.height)

    @classmethod
    def from_json(cls, data: Any) -> Grid:
        return cls(str(data["crs"]), tuple(float(x) for x in data["transform"]),  # type: ignore[arg-type]
                   int(data["width"]), int(data["height"]))

    def to_json(self) -> dict[str, Any]:
        return {"crs": self.crs, "transform": list(self.transform), "width": self.width,
                "height": self.height}

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    def same_as(self, other: Grid, tolerance: float = 1e-6) -> bool:
        return (
            self.shape == other.shape
            and CRS.from_user_input(self.crs) == CRS.from_user_input(other.crs)
            and all(abs(a - b) <= tolerance for a, b in zip(self.transform, other.transform,
                                                             strict=True))
        )

    def describe(self) -> str:
        t = self.transform
        return f"{self.crs} {self.width}x{self.height} origin ({t[2]:.0f}, {t[5]:.0f}) pixel {t[0]:g} m"


def read_on_grid(dataset: DatasetReader, grid: Grid, warp: bool) -> Codes:
    """Band 1 on the tile grid: read as is, or warped with GDAL's nearest neighbour.

    The warp is ``rasterio.warp.reproject`` with nearest neighbour of the decoded band into the grid
    prefilled with INVALID, no nodata on either side: pixels it does not cover stay INVALID. Where
    that warp is a separable lookup (same CRS, no rotation: the usual Landsat on its tile), the
    lookup is found once per source grid and applied in one compiled pass (0.02 s instead of 0.25 s).
    """
    band = np.asarray(dataset.read(1), dtype=np.uint8)
    return put_on_grid(band, Grid.of(dataset), grid) if warp else band


def put_on_grid(band: Codes, source: Grid, grid: Grid) -> Codes:
    """Codes on the ``source`` grid warped onto ``grid`` as :func:`read_on_grid` warps them."""
    with _LOOKUP_FOUND_ONCE:
        lookup = _lookup(band.shape, source.affine, source.crs, grid)
    if lookup is None:
        return _warp(band, source.affine, source.crs, grid)
    out = np.empty(grid.shape, np.uint8)
    _gather(band, *lookup, out)
    return out


def _warp(band: Codes, transform: Affine, crs: str, grid: Grid) -> Codes:
    # init_dest_nodata=False: by default reproject sets the pixels it does not cover to 0.
    out = np.full(grid.shape, INVALID, dtype=np.uint8)
    reproject(band, out, src_transform=transform, src_crs=crs, dst_transform=grid.affine,
              dst_crs=grid.crs, resampling=Resampling.nearest, init_dest_nodata=False)
    return out


Index = npt.NDArray[np.intp]
_LOOKUP_FOUND_ONCE = threading.Lock()
"""Held while a lookup is found or taken from the cache: threads decoding Landsat products of one
source grid at once (:mod:`snowdays.decoding`) find its lookup once (0.8 s on a full tile), not each."""


@lru_cache(maxsize=8)
def _lookup(shape: tuple[int, int], transform: Affine, crs: str, grid: Grid
            ) -> tuple[Index, Index] | None:
    """Source row of each tile row and source column of each tile column that :func:`_warp` uses
    (``shape[0]``, ``shape[1]``: not covered), or None if its choice is not separable.

    Found by warping images of the source row and column numbers, as two bytes each, with the very
    call that warps the codes (same type and shapes, so the same chunks and pixel coordinates).
    """
    h, w = shape
    if max(h, w) >= 254 * 256:
        return None
    numbers = [_bytes_image(np.arange(h)[:, None], shape, k) for k in (0, 1)]
    numbers += [_bytes_image(np.arange(w)[None, :], shape, k) for k in (0, 1)]
    with ThreadPoolExecutor(len(numbers), thread_name_prefix="snowdays-lookup") as pool:  # GIL released
        r0, r1, c0, c1 = pool.map(lambda image: _warp(image, transform, crs, grid), numbers)
    rows, cols = np.empty(grid.height, np.intp), np.empty(grid.width, np.intp)
    return (rows, cols) if _separable(r0, r1, c0, c1, h, w, rows, cols) else None


@njit(cache=True, nogil=True)
def _separable(r0, r1, c0, c1, h, w, rows, cols):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Whether the warped row and column numbers (low and high bytes) are a separable choice: the
    pixels covered are the rows covered times the columns covered, and each covered pixel took the
    row of its row and the column of its column; if so ``rows`` and ``cols`` get them (``h``, ``w``
    where not covered)."""
    height, width = c1.shape
    any_row, any_col = np.zeros(height, np.bool_), np.zeros(width, np.bool_)
    for i in range(height):
        for j in range(width):
            if c1[i, j] != INVALID:
                any_row[i] = True
                any_col[j] = True
    if not any_row.any():
        return False
    i0, j0 = np.argmax(any_row), np.argmax(any_col)  # a covered row and column
    for i in range(height):
        for j in range(width):
            covered = c1[i, j] != INVALID
            if covered != (r1[i, j] != INVALID) or covered != (any_row[i] and any_col[j]):
                return False
            if covered and (r0[i, j] != r0[i, j0] or r1[i, j] != r1[i, j0] or c0[i, j] != c0[i0, j]
                            or c1[i, j] != c1[i0, j]):
                return False
    for i in range(height):
        rows[i] = (np.intp(r1[i, j0]) - 1) * 256 + r0[i, j0] if any_row[i] else h
    for j in range(width):
        cols[j] = (np.intp(c1[i0, j]) - 1) * 256 + c0[i0, j] if any_col[j] else w
    return True


@njit(cache=True, nogil=True)
def _gather(band, rows, cols, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """``out[i, j] = band[rows[i], cols[j]]``, INVALID where a row or column is past the band's."""
    h, w = band.shape
    for i in range(out.shape[0]):
        r = rows[i]
        if r >= h:
            out[i, :] = INVALID
            continue
        source, line = band[r], out[i]
        for j in range(out.shape[1]):
            c = cols[j]
            line[j] = source[c] if c < w else INVALID


def _bytes_image(numbers: npt.NDArray[np.int64], shape: tuple[int, int], k: int) -> Codes:
    """Byte ``k`` of ``numbers`` (the high byte plus one, so never INVALID), as a ``shape`` image."""
    part = numbers % 256 if k == 0 else numbers // 256 + 1
    return np.ascontiguousarray(np.broadcast_to(part, shape), dtype=np.uint8)


def merge_day(observations: Sequence[Codes]) -> Codes:
    """One day's products, in merge order, into one observation: per pixel the first valid wins.

    A single product is returned as it is (not copied); otherwise the inputs are left unchanged.
    """
    if len(observations) == 1:
        return observations[0]
    merged = observations[0].copy()
    for other in observations[1:]:
        _fill_invalid(merged.ravel(), other.ravel())
    return merged


@njit(cache=True, nogil=True)
def _fill_invalid(merged: Codes, other: Codes) -> None:  # pragma: no cover - compiled
    for i in range(merged.size):
        if merged[i] > VALID_MAX:
            merged[i] = other[i]
