"""The tile grid, putting rasters on it, and merging one day's products."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from affine import Affine
from numba import njit
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

Codes = npt.NDArray[np.uint8]

INVALID = 255
"""Raw code used for pixels no product covers (any value above 100 is invalid)."""


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

    def blocks(self, rows: int) -> list[Window]:
        """Full-width row bands of at most ``rows`` rows, covering the grid."""
        return [Window(0, r, self.width, min(rows, self.height - r)) for r in
                range(0, self.height, rows)]


def read_on_grid(dataset: DatasetReader, grid: Grid, warp: bool) -> Codes:
    """Band 1 on the tile grid: read as is, or warped with GDAL's nearest neighbour."""
    if not warp:
        return np.asarray(dataset.read(1), dtype=np.uint8)
    with WarpedVRT(
        dataset, crs=grid.crs, transform=grid.affine, width=grid.width, height=grid.height,
        resampling=Resampling.nearest, nodata=INVALID, src_nodata=None,
    ) as vrt:
        return np.asarray(vrt.read(1), dtype=np.uint8)


def merge_day(observations: Sequence[Codes]) -> Codes:
    """One day's products, in merge order, into one observation: per pixel the first valid wins."""
    merged = observations[0].copy()
    for other in observations[1:]:
        _fill_invalid(merged.ravel(), other.ravel())
    return merged


@njit(cache=True, nogil=True)
def _fill_invalid(merged: Codes, other: Codes) -> None:  # pragma: no cover - compiled
    for i in range(merged.size):
        if merged[i] > 100:
            merged[i] = other[i]
