"""The daily gap-filled snow series of a stored season (docs/SEMANTICS.md, "Gap filling"), from the
packed cube as stored, by one compiled pass over each pixel's observations."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import zarr
from numba import njit

from snowdays.packing import ALL_INVALID, INVALID_CLASS, PER_BYTE, day_byte
from snowdays.state import Slots


def daily_block(cube: zarr.Array[Any], slots: Slots, n: int, rows: tuple[int, int],
                 cols: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """Days 0 .. n - 1 of each pixel of a block (rows, columns starting on a byte of the cube): 1 snow,
    0 no snow."""
    return gap_filled(slots.read(cube, rows, cols), slots, n, cols[1] - cols[0])


def gap_filled(packed: npt.NDArray[np.uint8], slots: Slots, n: int, width: int) -> npt.NDArray[np.uint8]:
    """Days 0 .. n - 1 of the first ``width`` pixels of each row of ``packed`` (read by ``slots``)."""
    out = np.zeros((n, packed.shape[1], width), np.uint8)
    _daily(packed, *slots.kernel_args(), out)
    return out


@njit(cache=True, nogil=True)
def _daily(packed, at, starts, days, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Gap-fill each pixel's merged observations (the packed cube as stored, read a byte of four
    pixels at a time) into ``out`` (days x rows x cols, zero: no snow where nothing is seen)."""
    n, rows, cols = out.shape
    seen = np.zeros(PER_BYTE, np.bool_)
    last_t = np.zeros(PER_BYTE, np.int64)
    last_s = np.zeros(PER_BYTE, np.int64)
    for i in range(rows):
        for j0 in range(0, cols, PER_BYTE):
            width = min(PER_BYTE, cols - j0)
            seen[:] = False
            for k in range(days.shape[0]):
                byte = day_byte(packed, at, starts[k], starts[k + 1], i, j0 // PER_BYTE)
                if byte == ALL_INVALID:
                    continue
                t = days[k]
                for q in range(width):
                    c = (byte >> (2 * q)) & 3
                    if c != INVALID_CLASS:
                        _fill(out, i, j0 + q, seen[q], last_t[q], last_s[q], t, c)
                        seen[q], last_t[q], last_s[q] = True, t, c
            for q in range(width):
                if seen[q]:
                    for d in range(max(last_t[q] + 1, 0), n):
                        out[d, i, j0 + q] = last_s[q]


@njit(cache=True, nogil=True)
def _fill(out, i, j, seen, ta, sa, t, c):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The days from the previous observation (``ta``, ``sa``; before the first, its class) up to an
    observation of class ``c`` on day ``t``, and that day."""
    n = out.shape[0]
    if not seen:
        for d in range(0, min(t, n)):
            out[d, i, j] = c
    else:
        for d in range(max(ta + 1, 0), min(t, n)):
            out[d, i, j] = 1 if 2 * (sa * (t - d) + c * (d - ta)) >= t - ta else 0
    if 0 <= t < n:
        out[t, i, j] = c
