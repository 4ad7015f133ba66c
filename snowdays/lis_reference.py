"""LIS's snow detection by its obvious, slow definition, written from LIS's own code independently of
the engine (``snowdays.detection``), which the tests check against it and ``bench/l2a.py`` measures
against it.

Pass 1 and pass 2 are whole-array numpy expressions as LIS's band math writes them; the snowline is
LIS's ``compute_snowline_internal`` / ``get_elev_snowline_from_bin`` (``src/histo_utils.cxx``) over
an ITK-style histogram built bin by bin with boolean masks (bin edges as
``itk::Statistics::Histogram::Initialize`` computes them, in float32 steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from snowdays.settings import LisThresholds

I16 = npt.NDArray[np.int16]
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Result:
    codes: U8
    zs: int | None
    pass2: bool


def histogram(dem: I16, snow: npt.NDArray[np.bool_], cloud: npt.NDArray[np.bool_], dz: int
              ) -> tuple[list[tuple[float, float]], list[tuple[int, int, int]]] | None:
    """Bins (lower, upper edge) and, per bin, (pixels, clear pixels, clear snow pixels)."""
    low, high = int(dem.min()), int(dem.max())
    n = int((float(high) - float(low)) / dz)  # C++: unsigned int of a double
    if n < 1:
        return None
    step = np.float32(np.float32(high) - np.float32(low)) / np.float32(n)
    starts = low + (np.arange(n, dtype=np.float32) * step).astype(np.float64)
    ends = np.append(low + (np.arange(1, n, dtype=np.float32) * step).astype(np.float64), float(high))
    counts = []
    for k in range(n):
        inside = (dem >= starts[k]) & ((dem < ends[k]) | ((k == n - 1) & (dem == high)))
        clear = inside & ~cloud
        counts.append((int(inside.sum()), int(clear.sum()), int((clear & snow).sum())))
    if sum(c[0] for c in counts) != dem.size:
        raise ValueError("a pixel falls in no bin")
    return list(zip(starts.tolist(), ends.tolist(), strict=True)), counts


def snowline(dem: I16, snow: npt.NDArray[np.bool_], cloud: npt.NDArray[np.bool_], lis: LisThresholds,
             ) -> int | None:
    """zs as LIS computes it (reverse False, offset -2, centre offset -dz/2); None for -1000."""
    found = histogram(dem, snow, cloud, lis.dz)
    if found is None:
        return None
    bins, counts = found
    for k, (total, clear, snowy) in enumerate(counts):
        if (bins[k][0] + bins[k][1]) / 2.0 < -413:
            continue
        cloud_free = clear / total if total != 0 else 0.0
        if cloud_free > np.float32(lis.fclear_lim) and (
                clear and snowy / clear > np.float32(lis.fsnow_lim)):
            lower, upper = bins[max(k - 2, 0)]
            return math.floor((lower + upper) / 2.0 + int(-lis.dz / 2))
    return None


def detect(green: I16, red: I16, swir: I16, clouds: U8, edges: U8, quantification: float,
           dem: I16 | None, lis: LisThresholds) -> Result:
    g, r, s = (a.astype(np.float64) for a in (green, red, swir))
    with np.errstate(divide="ignore", invalid="ignore"):
        ndsi = (g - s) / (g + s)
    no_data = (edges != 0) | (green == -10000) | (red == -10000) | (swir == -10000)
    cloud = clouds != 0
    bright = r / quantification
    pass1 = ~no_data & ~cloud & (ndsi > lis.ndsi_pass1) & (bright > lis.red_pass1)
    snow = pass1.copy()
    zs, ran = None, False
    if dem is not None:
        zs = snowline(dem, pass1, cloud, lis)
        fraction = (float(pass1.sum()) / float(pass1.size)) * 100 / 100
        if zs is not None and fraction > lis.fsnow_total_lim:
            ran = True
            snow |= (~no_data & ~cloud & (dem > zs) & (ndsi > lis.ndsi_pass2)
                     & (bright > lis.red_pass2))
    codes = np.where(no_data, 255, np.where(snow, 100, np.where(cloud, 205, 0))).astype(np.uint8)
    return Result(codes, zs, ran)
