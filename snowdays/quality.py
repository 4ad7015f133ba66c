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
over each pixel's observations, beside the four maps the state gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr
from numba import njit

from snowdays.codes import NO_SNOW, VALID_MAX
from snowdays.duration import MIN_SCD_FOR_DATES, NONE, Maps
from snowdays.grid import merge_day
from snowdays.packing import unpack
from snowdays.state import CHUNK, ledger, observation_days
from snowdays.store import array

U16 = npt.NDArray[np.uint16]
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


def quality(group: zarr.Group, maps: Maps, n_days: int, until: int) -> Quality:
    """The quality layers of a stored season over its products up to day ``until``, closed at day
    ``n_days - 1`` as ``maps`` (the season's maps over the same products) are."""
    days = observation_days(ledger(group), NONE, until)
    cube = array(group, "cube")
    height, width = maps.scd.shape
    out = Quality(*(np.full((height, width), 0, np.uint16) for _ in range(4)))
    for r0 in range(0, height, CHUNK):
        r1 = min(r0 + CHUNK, height)
        observed, when = _observations(cube, days, r0, r1, width)
        _quality(observed, when, n_days, *(a[r0:r1] for a in (maps.scd, maps.sod, maps.smod, maps.nobs)),
                 *(a[r0:r1] for _, a in out.items()))
    return out


def _observations(cube: zarr.Array[Any], days: list[tuple[int, list[int]]], r0: int, r1: int,
                  width: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """A band's merged observations (days x rows x cols: 0 no snow, 1 snow, invalid) and their days."""
    observed = np.empty((len(days), r1 - r0, width), np.uint8)
    slots = sorted({s for _, day_slots in days for s in day_slots})
    if slots:
        packed = np.asarray(cube.get_orthogonal_selection((np.array(slots), slice(r0, r1), slice(None))))
        where = {s: k for k, s in enumerate(slots)}
        for k, (_, day_slots) in enumerate(days):
            observed[k] = merge_day([unpack(packed[where[s]], width) for s in day_slots])
    return observed, np.array([d for d, _ in days], np.int64)


@njit(cache=True, nogil=True)
def _quality(observed, days, n, scd, sod, smod, nobs, nsp, qcod, qcmd, qc):  # type: ignore[no-untyped-def]  # pragma: no cover
    _, rows, cols = observed.shape
    for i in range(rows):
        for j in range(cols):
            dated = scd[i, j] > MIN_SCD_FOR_DATES
            onset, melt = np.int64(sod[i, j]), np.int64(smod[i, j])
            periods, near_onset, near_melt = 0, NO_DATA, NO_DATA
            first, ta, was_snow = True, np.int64(0), False
            for k in range(days.shape[0]):
                v = observed[k, i, j]
                if v > VALID_MAX:
                    continue
                t = days[k]
                snow = v != NO_SNOW
                if snow and not first and not was_snow:  # a snow period opens at t - floor(L / 2)
                    start = t - ((t - ta) >> 1)
                    periods += 1 if 1 <= start <= n - 1 else 0
                if snow and dated and 0 <= t <= n - 1:
                    near_onset = min(near_onset, abs(t - onset))
                    near_melt = min(near_melt, abs(t - melt))
                first, ta, was_snow = False, t, snow
            nsp[i, j] = periods
            qcod[i, j] = near_onset
            qcmd[i, j] = near_melt
            qc[i, j] = _qc(np.int64(scd[i, j]), np.int64(nobs[i, j]))


@njit(cache=True, nogil=True)
def _qc(scd, nobs):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    if scd < QC_SCD_MIN:
        return 3
    if nobs < QC_NOBS[0]:
        return 2
    return 1 if nobs < QC_NOBS[1] else 0
