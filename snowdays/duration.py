"""SCD, SOD, SMOD and NOBS in closed form over the intervals between valid observations.

Each pixel carries a small state (last valid day and value, snow days so far, the current snow run and
the longest closed one, observations so far). Folding one merged observation updates it in one compiled
pass, counting the snow days of the whole interval since the previous valid observation at once: the
daily series is never built. :meth:`FoldState.maps` then closes the season at any stop day without
changing the state, which gives the year-to-date maps. See SEMANTICS.md for the definitions.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

from snowdays.codes import NO_SNOW, VALID_MAX

NONE = -32768
"""``last_day`` of a pixel with no valid observation yet."""
MIN_SCD_FOR_DATES = 10
"""SOD and SMOD are given only where SCD exceeds this many days."""

DAYS_AT_ONCE = 8
"""Days folded in one pass over the state (:meth:`FoldState.advance_days`), and held by a
:class:`Folding` until then (8 merged observations of a full tile: 240 MB)."""

U16 = npt.NDArray[np.uint16]
I16, U8 = np.int16, np.uint8  # scalar types in the compiled kernels


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
        self.advance_days([raw], [day])

    def advance_days(self, raws: Sequence[npt.NDArray[np.uint8]], days: Sequence[int]) -> None:
        """Advance the state by merged observations of ``days`` (increasing), in one pass over the
        state: each row of it takes every day before the next row, so that the state crosses
        memory once, not once a day (8 days of a full tile: 11 ms a day instead of 19)."""
        if not raws:
            return
        if any(a >= b for a, b in itertools.pairwise([self.latest, *days])):
            raise ValueError(f"days {list(days)} folded after day {self.latest}: folds must be in day order")
        for raw in raws:
            if raw.shape != self.scd.shape:
                raise ValueError(f"observation shape {raw.shape} differs from the state {self.scd.shape}")
        for start in range(0, len(raws), DAYS_AT_ONCE):
            part = [np.ascontiguousarray(raw) for raw in raws[start:start + DAYS_AT_ONCE]]
            # always DAYS_AT_ONCE arrays (the first repeated, never read): one compiled signature
            padded = tuple(part + part[:1] * (DAYS_AT_ONCE - len(part)))
            _fold(padded, np.asarray(days[start:start + DAYS_AT_ONCE], np.int16), len(part), self.n_days,
                  *self._arrays())
        self.latest = days[-1]

    def maps(self, n_days: int | None = None, threads: int = 1) -> Maps:
        """Close the season at day ``n_days - 1`` (default: its stop day) without changing state, in
        ``threads`` bands of rows at once (the kernel releases the GIL)."""
        n = self.n_days if n_days is None else n_days
        if self.latest != NONE and self.latest >= n and n != self.n_days:
            raise ValueError(f"cannot stop at day {n - 1} before the latest observation {self.latest}")
        scd, sod, smod = (np.empty(self.scd.shape, np.uint16) for _ in range(3))  # every pixel written
        arrays = (*self._arrays()[:-1], scd, sod, smod)
        cuts = np.linspace(0, len(scd), max(threads, 1) + 1).astype(int)
        bands = [tuple(a[r0:r1] for a in arrays) for r0, r1 in itertools.pairwise(cuts)]
        with ThreadPoolExecutor(len(bands), thread_name_prefix="snowdays-maps") as pool:
            list(pool.map(lambda band: _finish(n, *band), bands))
        return Maps(scd, sod, smod, self.nobs.copy())


class Folding:
    """Merged observations handed over in day order, folded into ``state`` :data:`DAYS_AT_ONCE` at a
    time (:meth:`FoldState.advance_days`); :meth:`flush` folds those held."""

    def __init__(self, state: FoldState) -> None:
        self.state = state
        self._raws: list[npt.NDArray[np.uint8]] = []
        self._days: list[int] = []

    def add(self, raw: npt.NDArray[np.uint8], day: int) -> None:
        self._raws.append(raw)
        self._days.append(day)
        if len(self._raws) == DAYS_AT_ONCE:
            self.flush()

    def flush(self) -> FoldState:
        """Fold the days held; the state, every day handed over folded."""
        self.state.advance_days(self._raws, self._days)
        self._raws, self._days = [], []
        return self.state


@njit(cache=True, nogil=True)
def _fold(raws, days, count, n, last_day, last_snow, scd, run_start, best_start, best_len, nobs):  # type: ignore[no-untyped-def]  # pragma: no cover
    for i in range(last_day.shape[0]):  # row by row: views of one row each, never copies
        for k in range(count):  # every day of a row while the row's state is in the cache
            _fold_row(raws[k][i], days[k], n, last_day[i], last_snow[i], scd[i], run_start[i],
                      best_start[i], best_len[i], nobs[i])


@njit(cache=True, nogil=True, error_model="numpy")
def _fold_row(raw, t, n, last_day, last_snow, scd, run_start, best_start, best_len, nobs):  # type: ignore[no-untyped-def]  # pragma: no cover
    # Written so that the compiler vectorizes it, 16 pixels a step: each pixel's state is loaded into
    # locals, every case is worked out in the state's own 16-bit integers and kept with one-level
    # selects, and the state is stored back. A nested conditional expression, a store of ``a[j] if c
    # else`` a new value, or 64-bit arithmetic keeps the loop scalar (ten times slower); branches on
    # validity and snow, which change from pixel to pixel, are mispredicted about half the time.
    # Days lie within a few hundred of the season start, so the 16-bit sums cannot overflow, but
    # those with the NONE of a first observation (t - ta), whose results are never selected.
    t = I16(t)
    n1 = I16(n - 1)
    zero, one = I16(0), I16(1)
    for j in range(raw.shape[0]):
        v = raw[j]
        ta = last_day[j]
        count = scd[j]
        start = run_start[j]
        b_start = best_start[j]
        b_len = best_len[j]
        seen = nobs[j]
        snow_before = last_snow[j]
        valid = v <= VALID_MAX
        s = v > NO_SNOW
        first = ta == I16(NONE)
        after_snow = (snow_before == 1) & ~first
        half = I16(I16(t - ta) >> one)  # (t - ta) // 2, without floor division's sign checks
        # the snow days up to t: before the first observation 0 .. t; from snow ta + 1 .. t (to
        # snow) or ta + half (to no snow); from no snow to snow t - half .. t
        from_last = I16(ta + one) if after_snow else I16(t - half)
        lo = zero if first else from_last
        to_no_snow = I16(ta + half) if after_snow else I16(-1)
        hi = t if s else to_no_snow
        days = I16(I16(min(hi, n1) - max(lo, zero)) + one)
        days = days if days > zero else zero
        count = np.uint16(count + np.uint16(days)) if valid else count
        length = I16(I16(min(I16(ta + half), n1) - start) + one)  # of the run snow to no snow closes
        closes = valid & ~s & after_snow & (length > b_len)
        b_len = length if closes else b_len
        b_start = start if closes else b_start
        opens = valid & s & ~after_snow
        start = max(lo, zero) if opens else start
        seen = np.uint16(seen + np.uint16(1)) if valid else seen
        snow_now = U8(1) if s else U8(0)
        snow_before = snow_now if valid else snow_before
        ta = t if valid else ta
        scd[j] = count
        best_len[j] = b_len
        best_start[j] = b_start
        run_start[j] = start
        nobs[j] = seen
        last_snow[j] = snow_before
        last_day[j] = ta


@njit(cache=True, nogil=True)
def _finish(n, last_day, last_snow, scd, run_start, best_start, best_len, out_scd, out_sod, out_smod):  # type: ignore[no-untyped-def]  # pragma: no cover
    for i in range(scd.shape[0]):
        _finish_row(n, last_day[i], last_snow[i], scd[i], run_start[i], best_start[i], best_len[i],
                    out_scd[i], out_sod[i], out_smod[i])


@njit(cache=True, nogil=True, error_model="numpy")
def _finish_row(n, last_day, last_snow, scd, run_start, best_start, best_len, out_scd, out_sod, out_smod):  # type: ignore[no-untyped-def]  # pragma: no cover
    # vectorized as _fold_row is: loads, one-level selects, stores
    n = np.int32(n)
    zero, one = np.int32(0), np.int32(1)
    for j in range(scd.shape[0]):
        ta = np.int32(last_day[j])
        start = np.int32(best_start[j])
        length = np.int32(best_len[j])
        open_start = np.int32(run_start[j])
        snowing = (ta != np.int32(NONE)) & (np.int32(last_snow[j]) == one)
        tail = (n - 1) - max(ta + one, zero) + one  # the days after the last observation: its value
        tail = tail if tail > zero else zero
        total = np.int32(scd[j]) + tail if snowing else np.int32(scd[j])
        open_length = n - open_start
        longer = snowing & (open_length > length)
        length = open_length if longer else length
        start = open_start if longer else start
        dated = total > MIN_SCD_FOR_DATES
        out_scd[j] = np.uint16(total)
        sod = start if dated else zero
        smod = start + length - one if dated else zero
        out_sod[j] = np.uint16(sod)
        out_smod[j] = np.uint16(smod)


def warm() -> None:
    """Load the compiled fold and closing of the maps: numba takes about a second to load them from
    its cache in a new process, which a batch does in a thread while its first products decode."""
    state = FoldState.empty((1, 1), 2)
    state.advance(np.zeros((1, 1), np.uint8), 0)
    state.maps()


def annual_maps(raw: npt.NDArray[np.uint8], days: list[int], n_days: int) -> Maps:
    """Maps of a cube of merged observations (days x rows x cols, any day order)."""
    order = np.argsort(days, kind="stable")
    state = FoldState.empty((raw.shape[1], raw.shape[2]), n_days)
    for k in order:
        state.advance(raw[k], int(days[k]))
    return state.maps()
