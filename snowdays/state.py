"""A tile's seasons in the store: state arrays, observation cube and ledger, folded exactly.

Per season (a zarr group ``seasons/2017-2018``): the seven arrays of :class:`FoldState`, the cube of
classed observations (one slot per product: 0 no snow, 1 snow, 255 invalid), and the ledger (one
entry per product: name, acquisition key, version, checksum, day, slot, merge order). A product later
than every folded day is folded in O(pixels); any other change (an earlier day, a second product of a
folded day, a higher version) recomputes the season from the cube, which gives the same maps as one
batch over the ledger's products, in any order of arrival.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr
from numba import njit

from snowdays.duration import NONE, FoldState
from snowdays.grid import Codes, Grid, merge_day
from snowdays.season import Season
from snowdays.store import array, attr, subgroup

CHUNK = 1098
STATE = ("last_day", "last_snow", "scd", "run_start", "best_start", "best_len", "nobs")
_DTYPES = ("int16", "uint8", "uint16", "int16", "int16", "int16", "uint16")
_ALWAYS = frozenset({"last_day", "nobs"})
"""State arrays a valid observation always changes."""


class Outcome(StrEnum):
    FOLDED = "folded"
    RECOMPUTED = "folded (season recomputed)"
    DUPLICATE = "skipped (duplicate)"
    OLDER = "skipped (older version)"


@dataclass(frozen=True)
class Entry:
    """One product in a season's ledger."""

    name: str
    key: list[str]
    version: list[int]
    checksum: str
    day: int
    order: list[Any]
    """Merge order within its day: [0 Sentinel-2 / 1 Landsat, acquisition time, name]."""
    landsat: bool
    slot: int = -1

    @classmethod
    def of(cls, data: dict[str, Any]) -> Entry:
        return cls(**data)


def classify(raw: Codes) -> Codes:
    """Raw codes to classes: 0 no snow, 1 snow (1..100), 255 invalid (over 100)."""
    out = np.empty_like(raw, dtype=np.uint8)
    _classify(raw.ravel(), out.ravel())  # one pass, no temporaries (take would widen the codes)
    return out


@njit(cache=True, nogil=True)
def _classify(raw, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    for i in range(raw.size):
        v = raw[i]
        out[i] = 0 if v == 0 else (1 if v <= 100 else 255)


def season_group(root: zarr.Group, season: Season, label: str, grid: Grid) -> zarr.Group:
    """The season's group, created empty on first use."""
    path = f"seasons/{label}"
    if path in root:
        return subgroup(root, path)
    group = root.require_group(path)
    chunks = (min(CHUNK, grid.height), min(CHUNK, grid.width))
    for name, dtype in zip(STATE, _DTYPES, strict=True):
        group.create_array(name, shape=grid.shape, chunks=chunks, dtype=dtype,
                           fill_value=NONE if name == "last_day" else 0)
    group.create_array("cube", shape=(0, *grid.shape), chunks=(1, *chunks), dtype="uint8",
                       fill_value=255)
    group.attrs.update(start=season.start.isoformat(), stop=season.stop.isoformat(),
                       margin=season.margin, ledger=[], latest=None)
    return group


def ledger(group: zarr.Group) -> list[Entry]:
    return [Entry.of(e) for e in attr(group, "ledger", [])]


def fold_product(group: zarr.Group, n_days: int, new: Entry, classes: Codes) -> Outcome:
    """Fold one product's classes into a season group (in place, uncommitted)."""
    entries = ledger(group)
    cube = _writable(group, "cube")
    for i, old in enumerate(entries):
        if old.key == new.key:
            if old.version >= new.version:
                return Outcome.DUPLICATE if old.version == new.version else Outcome.OLDER
            entries[i] = replace(new, slot=old.slot)  # a re-published version takes its slot
            cube[old.slot] = classes
            _save(group, recompute(group, n_days, entries), entries)
            return Outcome.RECOMPUTED
    slot = cube.shape[0]
    cube.resize((slot + 1, *cube.shape[1:]))
    cube[slot] = classes
    latest = attr(group, "latest")
    entries.append(replace(new, slot=slot))
    if latest is None or new.day > int(latest):
        _fold_in_order(group, n_days, classes, new.day, NONE if latest is None else int(latest))
        _save_ledger(group, entries)
        return Outcome.FOLDED
    _save(group, recompute(group, n_days, entries), entries)
    return Outcome.RECOMPUTED


def _fold_in_order(group: zarr.Group, n_days: int, classes: Codes, day: int, latest: int) -> None:
    """Fold a product later than every folded day into the stored state, a band of chunks at a
    time: only the chunks it has a valid pixel in are read, only those it changed are written."""
    arrays = [_writable(group, name) for name in STATE]
    rows, cols = arrays[0].chunks
    height, width = classes.shape
    for r0 in range(0, height, rows):
        r1 = min(r0 + rows, height)
        seen = [c for c in range(0, width, cols) if _any_valid(classes[r0:r1, c:c + cols])]
        if not seen:
            continue
        c0, c1 = seen[0], min(seen[-1] + cols, width)
        parts = [np.asarray(a[r0:r1, c0:c1]) for a in arrays]
        # a valid observation always changes last_day and nobs: only the others may be unchanged
        before = {name: p.copy() for name, p in zip(STATE, parts, strict=True) if name not in _ALWAYS}
        state = FoldState(n_days, *parts)  # type: ignore[arg-type]
        state.latest = latest
        state.fold(np.ascontiguousarray(classes[r0:r1, c0:c1]), day)
        _tidy(state)
        for name, a, now in zip(STATE, arrays, parts, strict=True):
            old = before.get(name)
            changed = [c for c in range(0, c1 - c0, cols)  # a chunk with no valid pixel is unchanged
                       if c0 + c in seen and (old is None or not _same(old, now, c, cols))]
            _write_runs(a, r0, c0, now, changed, cols)


def _write_runs(target: zarr.Array[Any], r0: int, c0: int, band: npt.NDArray[Any], starts: list[int],
                cols: int) -> None:
    """Write the chunks of a band that start at ``starts``, a run of adjacent ones at once."""
    width = band.shape[1]
    for _, run in itertools.groupby(enumerate(starts), key=lambda k: k[1] // cols - k[0]):
        chunk_starts = [c for _, c in run]
        lo, hi = chunk_starts[0], min(chunk_starts[-1] + cols, width)
        target[r0:r0 + band.shape[0], c0 + lo:c0 + hi] = band[:, lo:hi]


def _writable(group: zarr.Group, name: str) -> zarr.Array[Any]:
    """An array to write whole chunks to: each chunk is stored, even one equal to the fill value
    (zarr's test for that costs more than compressing it to a few bytes)."""
    return array(group, name).with_config({"write_empty_chunks": True})


def _tidy(state: FoldState) -> None:
    """Zero ``run_start`` where no snow run is open. It is only read where the last observation was
    snow, so the maps are the same, and the zeros compress far better than stale run starts."""
    state.run_start[state.last_snow == 0] = 0


@njit(cache=True, nogil=True)
def _any_valid(classes):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    rows, cols = classes.shape
    for i in range(rows):
        for j in range(cols):
            if classes[i, j] <= 100:
                return True
    return False


def _same(a: npt.NDArray[Any], b: npt.NDArray[Any], c0: int, cols: int) -> bool:
    """Whether columns c0 .. c0 + cols - 1 of two bands are equal."""
    return bool(np.array_equal(a[:, c0:c0 + cols], b[:, c0:c0 + cols]))


def _days(entries: list[Entry], until: int | None) -> list[tuple[int, list[int]]]:
    """The days to fold and, for each, the slots of its products in merge order."""
    chosen = sorted((e for e in entries if until is None or e.day <= until),
                    key=lambda e: (e.day, e.order))
    return [(day, [e.slot for e in same_day])
            for day, same_day in itertools.groupby(chosen, key=lambda e: e.day)]


def recompute(group: zarr.Group, n_days: int, entries: list[Entry],
              until: int | None = None) -> FoldState:
    """The season folded anew from the cube, over the entries (up to day ``until``)."""
    cube = array(group, "cube")
    state = FoldState.empty((cube.shape[1], cube.shape[2]), n_days)
    for day, slots in _days(entries, until):
        state.fold(merge_day([np.asarray(cube[s]) for s in slots]), day)
    return state


def load(group: zarr.Group, n_days: int) -> FoldState:
    arrays = [np.asarray(array(group, name)[...]) for name in STATE]
    latest = attr(group, "latest")
    state = FoldState(n_days, *arrays)  # type: ignore[arg-type]
    state.latest = NONE if latest is None else int(latest)
    return state


def _save(group: zarr.Group, state: FoldState, entries: list[Entry]) -> None:
    _tidy(state)
    for name in STATE:
        _writable(group, name)[...] = getattr(state, name)
    _save_ledger(group, entries)


def _save_ledger(group: zarr.Group, entries: list[Entry]) -> None:
    latest = max(e.day for e in entries)
    group.attrs.update(ledger=[asdict(e) for e in entries], latest=latest)
