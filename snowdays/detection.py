"""LIS snow detection on one acquisition's surface reflectances: pass 1, the snowline, pass 2.

As let-it-snow (LIS, ``s2snow/snow_detector.py``) does it on a MAJA L2A product, on the grid of its
SWIR band (Sentinel-2: 20 m, Landsat-8: 30 m), with the codes of a snow product (SEMANTICS.md):

- no data (255) where MAJA's edge mask is set or a band holds no data;
- cloud (205) where MAJA's cloud mask has any bit set (LIS's "all cloud" mask of a MAJA product);
- pass 1: snow (100) where NDSI = (green - SWIR) / (green + SWIR) > ``lis_ndsi_pass1`` and the red
  reflectance > ``lis_red_pass1``; no snow (0) elsewhere;
- pass 2, with a DEM, once pass 1 found snow on more than ``lis_fsnow_total_lim`` of the image: the
  snowline zs (:func:`snowline`), then snow where the elevation > zs, NDSI > ``lis_ndsi_pass2`` and the
  red reflectance > ``lis_red_pass2``.

Each pass is one compiled loop over the pixels, in float64 as LIS's band math computes. Known
differences from LIS, on purpose: clouds are MAJA's mask as it is (LIS refines it with the red band
resampled to 240 m: dark clouds back to clear, bright ones kept), and the edge mask and a no-data value
in any band make no data (LIS looks at the SWIR band only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

from snowdays.codes import CLOUD, INVALID, NO_SNOW, SNOW
from snowdays.grid import Codes
from snowdays.settings import LisThresholds

I16 = npt.NDArray[np.int16]
F64 = npt.NDArray[np.float64]
NO_DATA = -10000
"""Reflectance of a pixel with no data in a MAJA L2A band."""
LOWEST_BAND_CENTRE = -413
"""LIS >= 1.7 passes over elevation bands centred below this (no-data elevations; the Dead Sea shore)."""
BANDS_BELOW = 2
"""zs is taken this many elevation bands below the first snowy one (LIS's offset -2)."""


@dataclass(frozen=True)
class Reflectances:
    """One acquisition on its grid: int16 surface reflectances (``NO_DATA`` where none), to be divided
    by ``quantification``, and MAJA's cloud and edge masks."""

    green: I16
    red: I16
    swir: I16
    clouds: Codes
    """MAJA's CLM: any bit set is a cloud or a cloud's shadow."""
    edges: Codes
    """MAJA's EDG: any bit set is outside the acquisition."""
    quantification: float


@dataclass(frozen=True)
class Detection:
    codes: Codes
    snowline: int | None
    """zs in metres; None without a DEM, or when no elevation band qualifies."""
    pass2: bool
    """Whether pass 2 ran (a snowline, and enough snow in pass 1)."""


def detect(r: Reflectances, dem: I16 | None, lis: LisThresholds) -> Detection:
    """Codes of one acquisition: pass 1, then pass 2 where ``dem`` (on the same grid) is given."""
    shapes = {a.shape for a in (r.green, r.red, r.swir, r.clouds, r.edges)}
    if len(shapes) != 1 or (dem is not None and dem.shape not in shapes):
        raise ValueError(f"layers of different shapes: {sorted(shapes)}, DEM "
                         f"{None if dem is None else dem.shape}")
    codes = np.empty(r.swir.shape, np.uint8)
    snow = _pass1(r.green, r.red, r.swir, r.clouds, r.edges, r.quantification, lis.ndsi_pass1,
                  lis.red_pass1, codes)
    if dem is None:
        return Detection(codes, None, False)
    zs = snowline(dem, codes, r.clouds, lis)
    fraction = snow / codes.size * 100 / 100  # as LIS: compute_percent(pass1, 1) / 100
    if zs is None or not fraction > lis.fsnow_total_lim:
        return Detection(codes, zs, False)
    _pass2(r.green, r.red, r.swir, dem, zs, r.quantification, lis.ndsi_pass2,
           lis.red_pass2, codes)
    return Detection(codes, zs, True)


@dataclass(frozen=True)
class ElevationBands:
    """The elevation bands of a DEM as LIS's ITK histogram cuts them.

    ``count = int((high - low) / dz)`` bins from the lowest elevation ``low`` to the highest ``high``
    (so a bin may be a little higher than ``dz``), of height ``float32((float32(high) - float32(low)) /
    float32(count))``; the lower edge of bin k is ``low + float32(float32(k) * height)`` (a double), the
    top of the last one ``high``, which it includes (``itk::Statistics::Histogram::Initialize`` and
    ``GetIndex``). None when ``count`` < 1 (LIS finds no snowline then).
    """

    low: int
    high: int
    edges: F64
    """Lower edge of each bin, then ``high``."""

    @classmethod
    def of(cls, low: int, high: int, dz: int) -> ElevationBands | None:
        count = int((high - low) / dz)
        if count < 1:
            return None
        height = (np.float32(high) - np.float32(low)) / np.float32(count)
        lower = [low + float(np.float32(np.float32(k) * height)) for k in range(count)]
        return cls(low, high, np.array([*lower, float(high)]))

    @property
    def count(self) -> int:
        return len(self.edges) - 1

    def centre(self, k: int) -> float:
        """ITK's measurement of bin k: the middle of its edges."""
        return float((self.edges[k] + self.edges[k + 1]) / 2.0)

    def lookup(self) -> npt.NDArray[np.intp]:
        """The bin of each elevation ``low`` .. ``high`` (index: elevation - ``low``)."""
        levels = np.arange(self.low, self.high + 1, dtype=np.float64)
        found: npt.NDArray[np.intp] = np.searchsorted(self.edges[:-1], levels, side="right") - 1
        return found


def snowline(dem: I16, codes: Codes, clouds: Codes, lis: LisThresholds) -> int | None:
    """The snowline zs of pass 1's codes, exactly as LIS computes it.

    LIS (``src/histo_utils.cxx``: ``compute_snowline_internal`` and ``get_elev_snowline_from_bin``,
    called by ``snow_detector.py`` with reverse False, offset -2 and centre offset -dz/2; ATBD
    "Snowline elevation") counts, in each elevation band of the DEM (:class:`ElevationBands`, over
    every pixel of the image, no-data ones too), the pixels, the clear ones (cloud mask unset) and the
    clear ones pass 1 found snowy. Scanning the bands from the lowest, the first band whose pixels are
    clear by more than ``lis_fclear_lim`` and whose clear pixels are snowy by more than
    ``lis_fsnow_lim`` (fractions in double against the thresholds as C++ floats) sets zs: the centre of
    the band two below it (the lowest band at most) minus dz / 2, rounded down, i.e. the lower edge of
    that band when bands are exactly dz high. LIS >= 1.7 passes over bands centred below -413 m. None
    when no band qualifies (LIS: -1000).
    """
    bands = ElevationBands.of(int(dem.min()), int(dem.max()), lis.dz)
    if bands is None:
        return None
    counts = np.zeros((bands.count, 3), np.int64)
    _histogram(dem, codes, clouds, bands.lookup(), bands.low, counts)
    fclear, fsnow = float(np.float32(lis.fclear_lim)), float(np.float32(lis.fsnow_lim))
    for k in range(bands.count):
        if bands.centre(k) < LOWEST_BAND_CENTRE:
            continue
        total, clear, snowy = (int(c) for c in counts[k])
        if (clear / total if total else 0.0) > fclear and snowy / clear > fsnow:
            return math.floor(bands.centre(max(k - BANDS_BELOW, 0)) - lis.dz // 2)
    return None


@njit(cache=True, nogil=True, error_model="numpy")
def _pass1(green, red, swir, clouds, edges, scale, ndsi_min, red_min, out):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Codes of pass 1 into ``out``; returns the number of snow pixels. A zero sum gives LIS's
    IEEE NDSI (inf or nan), hence the numpy error model."""
    rows, cols = out.shape
    snow = 0
    for i in range(rows):
        for j in range(cols):
            g, r, s = green[i, j], red[i, j], swir[i, j]
            if edges[i, j] != 0 or NO_DATA in (g, r, s):
                out[i, j] = INVALID
            elif clouds[i, j] != 0:
                out[i, j] = CLOUD
            elif ((np.float64(g) - np.float64(s)) / (np.float64(g) + np.float64(s)) > ndsi_min
                  and r / scale > red_min):
                out[i, j] = SNOW
                snow += 1
            else:
                out[i, j] = NO_SNOW
    return snow


@njit(cache=True, nogil=True)
def _histogram(dem, codes, clouds, band_of, low, counts):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Per elevation band: pixels, clear pixels, clear pixels of pass-1 snow."""
    rows, cols = dem.shape
    for i in range(rows):
        for j in range(cols):
            k = band_of[np.int64(dem[i, j]) - low]
            counts[k, 0] += 1
            if clouds[i, j] == 0:
                counts[k, 1] += 1
                if codes[i, j] == SNOW:
                    counts[k, 2] += 1


@njit(cache=True, nogil=True, error_model="numpy")
def _pass2(green, red, swir, dem, zs, scale, ndsi_min, red_min, codes):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Snow above the snowline among pass 1's no-snow pixels (clear, with data), in place."""
    rows, cols = codes.shape
    for i in range(rows):
        for j in range(cols):
            if codes[i, j] == NO_SNOW and dem[i, j] > zs:
                g, s = np.float64(green[i, j]), np.float64(swir[i, j])
                if (g - s) / (g + s) > ndsi_min and red[i, j] / scale > red_min:
                    codes[i, j] = SNOW
