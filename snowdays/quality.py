"""The quality layers of a season, as HR-WSI's snow phenology and LIS 1.11 define them (docs/SEMANTICS.md):

- NSP, the number of snow periods: days d in 1 .. N-1 where the gap-filled series goes from no snow
  (d - 1) to snow (d), as LIS 1.11 counts them (``s2snow/compute_NSP.py``: ``np.diff(series) > 0``);
- QCOD and QCMD, the days between SOD (SMOD) and the nearest day of the season with an observation of
  snow, as HR-WSI's post-processing finds them (``lis_sps1s2_post_processing.py``,
  ``make_lis_sps2_qcod_qcmd_layer``, over the input dates inside the season); :data:`NO_DATA` where
  the date is not given (SCD of 10 days or less) or no such observation exists;
- QC, 0 (best) to 3, from SCD and NOBS (``make_lis_sps2_qc_layer``): 3 where SCD < 60 days, else 2
  where NOBS < 40, 1 where NOBS < 80, 0 otherwise. HR-WSI adds the rounded-down mean QC of its input
  FSC products; Theia's snow products carry none, so it is taken as 0.

They are computed from the stored cube of a season, one band of rows at a time, by one compiled pass
over each pixel's observations that reads the packed cube as stored (the same-day merge included),
beside the four maps the state gives.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import zarr
from numba import njit

from snowdays.duration import MIN_SCD_FOR_DATES, U16, Maps
from snowdays.packing import ALL_INVALID, INVALID_CLASS, PER_BYTE, day_byte
from snowdays.state import CHUNK, Slots
from snowdays.store import array

NO_DATA = 65535
"""QCOD and QCMD where they are not defined."""
QC_SCD_MIN = 60
"""QC is 3 (lowest) where SCD is below this many days (HR-WSI's threshold)."""
QC_NOBS = (40, 80)
"""QC is 2 below the first count of clear observations, 1 below the second, else 0."""


@dataclass(frozen=True)
class Quality:
    """The quality layers of one tile and season (uint16)."""

    nsp: U16
    qcod: U16
    qcmd: U16
    qc: U16

    def items(self) -> list[tuple[str, U16]]:
        return [("NSP", self.nsp), ("QCOD", self.qcod), ("QCMD", self.qcmd), ("QC", self.qc)]


def quality(group: zarr.Group, maps: Maps, n_days: int, until: int, threads: int = 1) -> Quality:
    """The quality layers of a stored season over its products up to day ``until``, closed at day
    ``n_days - 1`` as ``maps`` (the season's maps over the same products) are; bands of rows in
    ``threads`` threads (the kernel releases the GIL)."""
    slots = Slots.of(group, until)
    cube = array(group, "cube")
    height, width = maps.scd.shape
    out = Quality(*(np.full((height, width), 0, np.uint16) for _ in range(4)))

    def band(r0: int) -> None:
        r1 = min(r0 + CHUNK, height)
        _quality(slots.read(cube, (r0, r1), (0, width)), *slots.kernel_args(), n_days,
                 *(a[r0:r1] for _, a in maps.items()), *(a[r0:r1] for _, a in out.items()))

    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="snowdays-quality") as pool:
        list(pool.map(band, range(0, height, CHUNK)))
    return out


# A pixel's running values in the kernel (a row of its small state array, one row per pixel of a byte).
_PERIODS, _NEAR_ONSET, _NEAR_MELT, _SEEN, _LAST_DAY, _LAST_SNOW, _ONSET, _MELT, _DATED = range(9)


@njit(cache=True, nogil=True)
def _quality(packed, at, starts, days, n, scd, sod, smod, nobs, nsp, qcod, qcmd, qc):  # type: ignore[no-untyped-def]  # pragma: no cover
    """One pass over the packed cube (slots x rows x bytes) as stored: for each byte (four pixels),
    its days in order, each day's products merged on the way."""
    rows, cols = scd.shape
    state = np.empty((PER_BYTE, 9), np.int64)
    for i in range(rows):
        for j0 in range(0, cols, PER_BYTE):
            width = min(PER_BYTE, cols - j0)
            for q in range(width):
                _start(state[q], scd[i, j0 + q], sod[i, j0 + q], smod[i, j0 + q])
            for k in range(days.shape[0]):
                byte = day_byte(packed, at, starts[k], starts[k + 1], i, j0 // PER_BYTE)
                if byte != ALL_INVALID:
                    for q in range(width):
                        _advance(state[q], (byte >> (2 * q)) & 3, days[k], n)
            for q in range(width):
                j = j0 + q
                nsp[i, j] = state[q, _PERIODS]
                qcod[i, j] = state[q, _NEAR_ONSET]
                qcmd[i, j] = state[q, _NEAR_MELT]
                qc[i, j] = _qc(np.int64(scd[i, j]), np.int64(nobs[i, j]))


@njit(cache=True, nogil=True)
def _start(state, scd, sod, smod):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    state[_PERIODS], state[_NEAR_ONSET], state[_NEAR_MELT] = 0, NO_DATA, NO_DATA
    state[_SEEN], state[_LAST_DAY], state[_LAST_SNOW] = 0, 0, 0
    state[_ONSET], state[_MELT], state[_DATED] = sod, smod, scd > MIN_SCD_FOR_DATES


@njit(cache=True, nogil=True)
def _advance(state, c, t, n):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """One day's class ``c`` (0 no snow, 1 snow, invalid) of a pixel on day ``t``."""
    if c == INVALID_CLASS:
        return
    if c == 1 and state[_SEEN] and not state[_LAST_SNOW]:  # a snow period opens at t - floor(L / 2)
        start = t - ((t - state[_LAST_DAY]) >> 1)
        state[_PERIODS] += 1 if 1 <= start <= n - 1 else 0
    if c == 1 and state[_DATED] and 0 <= t <= n - 1:
        state[_NEAR_ONSET] = min(state[_NEAR_ONSET], abs(t - state[_ONSET]))
        state[_NEAR_MELT] = min(state[_NEAR_MELT], abs(t - state[_MELT]))
    state[_SEEN], state[_LAST_DAY], state[_LAST_SNOW] = 1, t, c


@njit(cache=True, nogil=True)
def _qc(scd, nobs):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    if scd < QC_SCD_MIN:
        return 3
    if nobs < QC_NOBS[0]:
        return 2
    return 1 if nobs < QC_NOBS[1] else 0
