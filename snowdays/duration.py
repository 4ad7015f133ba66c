"""SCD, SOD, SMOD and NOBS in closed form over the intervals between valid observations.

Each pixel carries a small state (last valid day and value, snow days so far, the current snow run and
the longest closed one, observations so far). Folding one merged observation updates it in one compiled
pass, counting the snow days of the whole interval since the previous valid observation at once: the
daily series is never built. :meth:`FoldState.maps` then closes the season at any stop day without
changing the state, which gives the year-to-date maps. See SEMANTICS.md for the definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

from snowdays.codes import NO_SNOW, VALID_MAX

NONE = -32768
"""``last_day`` of a pixel with no valid observation yet."""
MIN_SCD_FOR_DATES = 10
"""SOD and SMOD are given only where SCD exceeds this many days."""

U16 = npt.NDArray[np.uint16]


@dataclass(frozen=True)
class Maps:
    """The four LIS annual maps of one tile and season (uint16)."""

    scd: U16
    sod: U16
    smod: U16
    nobs: U16

    def items(self) -> list[tuple[str, U16]]:
        return [("SCD", self.scd), ("SOD", self.sod), ("SMOD", self.smod), ("NOBS", self.nobs)]


@dataclass
class FoldState:
    """Per-pixel aggregates (2-D arrays) of the observations folded so far, in day order."""

    n_days: int
    """Days of the season (day 0 is the start); snow days are counted in 0 .. n_days - 1."""
    last_day: npt.NDArray[np.int16]
    last_snow: npt.NDArray[np.uint8]
    scd: U16
    run_start: npt.NDArray[np.int16]
    best_start: npt.NDArray[np.int16]
    best_len: npt.NDArray[np.int16]
    nobs: U16
    latest: int = NONE
    """Day of the latest observation folded (every pixel's ``last_day`` is at most this)."""

    @classmethod
    def empty(cls, shape: tuple[int, int], n_days: int) -> FoldState:
        def z(dtype: type[np.generic]) -> npt.NDArray[np.generic]:
            # written now, not lazily zero-mapped: first writes to calloc'd pages made the first
            # folds of a full tile 20 times slower
            return np.full(shape, 0, dtype=dtype)

        return cls(n_days, np.full(shape, NONE, np.int16), z(np.uint8), z(np.uint16),  # type: ignore[arg-type]
                   z(np.int16), z(np.int16), z(np.int16), z(np.uint16))  # type: ignore[arg-type]

    def _arrays(self) -> tuple[npt.NDArray[np.generic], ...]:
        return (self.last_day, self.last_snow, self.scd, self.run_start, self.best_start,
                self.best_len, self.nobs)

    def advance(self, raw: npt.NDArray[np.uint8], day: int) -> None:
        """Advance the state by one merged observation of ``day`` (raw codes: valid iff <=
        ``VALID_MAX``, snow iff not ``NO_SNOW``)."""
        if day <= self.latest:
            raise ValueError(f"day {day} folded after day {self.latest}: folds must be in day order")
        if raw.shape != self.scd.shape:
            raise ValueError(f"observation shape {raw.shape} differs from the state {self.scd.shape}")
        _fold(raw, day, self.n_days, *self._arrays())
        self.latest = day

    def maps(self, n_days: int | None = None) -> Maps:
        """Close the season at day ``n_days - 1`` (default: its stop day) without changing state."""
        n = self.n_days if n_days is None else n_days
        if self.latest != NONE and self.latest >= n and n != self.n_days:
            raise ValueError(f"cannot stop at day {n - 1} before the latest observation {self.latest}")
        scd, sod, smod = (np.full(self.scd.shape, 0, np.uint16) for _ in range(3))
        _finish(n, *self._arrays()[:-1], scd, sod, smod)
        return Maps(scd, sod, smod, self.nobs.copy())


@njit(cache=True, nogil=True)
def _count(first: int, last: int, n: int) -> int:  # pragma: no cover - compiled
    """Days in [first, last] that lie in the season 0 .. n - 1."""
    lo = max(first, 0)
    hi = min(last, n - 1)
    return hi - lo + 1 if hi >= lo else 0


@njit(cache=True, nogil=True)
def _fold(raw, t, n, last_day, last_snow, scd, run_start, best_start, best_len, nobs):  # type: ignore[no-untyped-def]  # pragma: no cover
    for i in range(raw.shape[0]):  # row by row: views of one row each, never copies
        _fold_row(raw[i], t, n, last_day[i], last_snow[i], scd[i], run_start[i], best_start[i],
                  best_len[i], nobs[i])


@njit(cache=True, nogil=True, error_model="numpy")
def _fold_row(raw, t, n, last_day, last_snow, scd, run_start, best_start, best_len, nobs):  # type: ignore[no-untyped-def]  # pragma: no cover
    # Without branches: each pixel works out every case and keeps its own with selects. Validity
    # and snow change from pixel to pixel, so branches on them were mispredicted about half the
    # time, which made the fold two to three times slower (the arrangement matters: keep it).
    for j in range(raw.shape[0]):
        v = raw[j]
        valid = v <= VALID_MAX
        s = v > NO_SNOW
        ta = np.int64(last_day[j])
        first = ta == NONE
        was_snow = last_snow[j] == 1
        half = (t - ta) >> 1  # (t - ta) // 2, without floor division's sign checks
        # the snow days up to t: before the first observation 0 .. t; from snow ta + 1 .. t (to
        # snow) or ta + half (to no snow); from no snow to snow t - half .. t
        lo = 0 if first else (ta + 1 if was_snow else t - half)
        hi = t if s else (ta + half if (was_snow and not first) else -1)
        days = min(hi, n - 1) - max(lo, 0) + 1
        days = days if days > 0 else 0
        scd[j] += days if valid else 0
        start = np.int64(run_start[j])
        length = min(ta + half, n - 1) - start + 1  # of the run that snow to no snow closes
        closes = valid and (not s) and was_snow and (not first) and length > best_len[j]
        best_len[j] = length if closes else best_len[j]
        best_start[j] = start if closes else best_start[j]
        opens = valid and s and (first or not was_snow)
        run_start[j] = max(lo, 0) if opens else start
        nobs[j] += 1 if valid else 0
        last_day[j] = t if valid else ta
        last_snow[j] = (1 if s else 0) if valid else last_snow[j]


@njit(cache=True, nogil=True)
def _finish(n, last_day, last_snow, scd, run_start, best_start, best_len, out_scd, out_sod, out_smod):  # type: ignore[no-untyped-def]  # pragma: no cover
    rows, cols = scd.shape
    for i in range(rows):
        for j in range(cols):
            total = np.int64(scd[i, j])
            start = np.int64(best_start[i, j])
            length = np.int64(best_len[i, j])
            if last_day[i, j] != NONE and last_snow[i, j] == 1:  # after the last: its value
                total += _count(np.int64(last_day[i, j]) + 1, n - 1, n)
                open_length = n - np.int64(run_start[i, j])
                if open_length > length:
                    length = open_length
                    start = run_start[i, j]
            out_scd[i, j] = total
            if total > MIN_SCD_FOR_DATES:
                out_sod[i, j] = start
                out_smod[i, j] = start + length - 1


def annual_maps(raw: npt.NDArray[np.uint8], days: list[int], n_days: int) -> Maps:
    """Maps of a cube of merged observations (days x rows x cols, any day order)."""
    order = np.argsort(days, kind="stable")
    state = FoldState.empty((raw.shape[1], raw.shape[2]), n_days)
    for k in order:
        state.advance(raw[k], int(days[k]))
    return state.maps()
