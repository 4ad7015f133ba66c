"""A tile's seasons in the store: state arrays, observation cube and ledger, folded exactly.

Per season (a zarr group ``seasons/2017-2018``):

- the cube: one slot per product, its observation classed (no snow, snow, invalid) and packed four
  pixels to a byte;
- the ledger: one entry per product (name, acquisition key, version, checksum, day, slot, merge order);
- the state: the seven arrays of :class:`FoldState`, holding the fold of every product up to the day
  ``folded``. Later products are *pending*: kept in the cube and the ledger only, and folded into the
  state once more than ``pending_max`` of them wait (all but those of the latest day, which often sees
  more products). Maps are the state with the pending days folded on top.

A product arriving on a day after ``folded`` costs one packed slot (O(pixels of one product)); one on or
before it (late, or a higher version of a folded product) recomputes the state from the cube. Either way
the maps are those of one batch over the ledger's products, in any order of arrival.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import zarr
from numba import njit
from zarr.codecs import BloscCodec, ZstdCodec

from snowdays.duration import NONE, FoldState
from snowdays.grid import Codes, Grid, merge_day
from snowdays.season import Season
from snowdays.store import array, attr, subgroup

CHUNK = 1098
STATE = ("last_day", "last_snow", "scd", "run_start", "best_start", "best_len", "nobs")
_DTYPES = ("int16", "uint8", "uint16", "int16", "int16", "int16", "uint16")
PER_BYTE = 4
"""Pixels packed in one byte of the cube (two bits each: 0 no snow, 1 snow, 2 invalid)."""
_ALL_INVALID = 0b10101010
_STATE_CODEC = BloscCodec(cname="zstd", clevel=5, shuffle="shuffle")
"""State arrays are written once per ``pending_max`` products: worth compressing well."""
_CUBE_CODEC = ZstdCodec(level=9)
_READ_DAYS = 8
"""Days of the cube read at once when folding (bounds memory: their slots x a band of rows)."""


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


def pack(raw: Codes) -> Codes:
    """Raw codes (valid iff <= 100, snow iff >= 1) to packed classes, four pixels a byte, in one pass."""
    rows, cols = raw.shape
    out = np.empty((rows, -(-cols // PER_BYTE)), np.uint8)
    _pack(raw, out)
    return out


def unpack(packed: Codes, cols: int) -> Codes:
    """Packed classes to codes the fold reads: 0 no snow, 1 snow, 255 invalid."""
    out = np.empty((packed.shape[0], cols), np.uint8)
    _unpack(packed, out)
    return out


@njit(cache=True, nogil=True)
def _class(v):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    return 0 if v == 0 else (1 if v <= 100 else 2)


@njit(cache=True, nogil=True)
def _pack(raw, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    rows, cols = raw.shape
    full = cols // PER_BYTE
    for i in range(rows):
        for b in range(full):
            j = b * PER_BYTE
            out[i, b] = (_class(raw[i, j]) | (_class(raw[i, j + 1]) << 2) | (_class(raw[i, j + 2]) << 4)
                         | (_class(raw[i, j + 3]) << 6))
        if full < out.shape[1]:  # the last byte: its missing pixels are invalid
            byte = 0
            for k in range(PER_BYTE):
                j = full * PER_BYTE + k
                byte |= (_class(raw[i, j]) if j < cols else 2) << (2 * k)
            out[i, full] = byte


@njit(cache=True, nogil=True)
def _unpack(packed, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    rows, cols = out.shape
    full = cols // PER_BYTE
    for i in range(rows):
        for b in range(full):
            byte = packed[i, b]
            for k in range(PER_BYTE):
                c = (byte >> (2 * k)) & 3
                out[i, b * PER_BYTE + k] = 255 if c == 2 else c
        for j in range(full * PER_BYTE, cols):
            c = (packed[i, full] >> (2 * (j - full * PER_BYTE))) & 3
            out[i, j] = 255 if c == 2 else c


def season_group(root: zarr.Group, season: Season, label: str, grid: Grid) -> zarr.Group:
    """The season's group, created empty on first use."""
    path = f"seasons/{label}"
    if path in root:
        return subgroup(root, path)
    group = root.require_group(path)
    chunks = (min(CHUNK, grid.height), min(CHUNK, grid.width))
    for name, dtype in zip(STATE, _DTYPES, strict=True):
        group.create_array(name, shape=grid.shape, chunks=chunks, dtype=dtype, compressors=_STATE_CODEC,
                           fill_value=NONE if name == "last_day" else 0)
    packed = -(-grid.width // PER_BYTE)
    group.create_array("cube", shape=(0, grid.height, packed), dtype="uint8", compressors=_CUBE_CODEC,
                       chunks=(1, chunks[0], min(-(-CHUNK // PER_BYTE), packed)),
                       fill_value=_ALL_INVALID)
    group.attrs.update(start=season.start.isoformat(), stop=season.stop.isoformat(),
                       margin=season.margin, ledger=[], latest=None, folded=None)
    return group


def ledger(group: zarr.Group) -> list[Entry]:
    return [Entry.of(e) for e in attr(group, "ledger", [])]


def folded_day(group: zarr.Group) -> int:
    """Every product of a day up to this one is in the state arrays (NONE: none is)."""
    folded = attr(group, "folded")
    return NONE if folded is None else int(folded)


def fold_product(group: zarr.Group, n_days: int, new: Entry, packed: Codes, pending_max: int) -> Outcome:
    """Fold one product's packed classes into a season group (in place, uncommitted)."""
    entries = ledger(group)
    cube = _writable(group, "cube")
    folded = folded_day(group)
    for i, old in enumerate(entries):
        if old.key == new.key:
            if old.version >= new.version:
                return Outcome.DUPLICATE if old.version == new.version else Outcome.OLDER
            entries[i] = replace(new, slot=old.slot)  # a re-published version takes its slot
            cube[old.slot] = packed
            return _settle(group, n_days, entries, new.day <= folded, pending_max)
    slot = cube.shape[0]
    cube.resize((slot + 1, *cube.shape[1:]))
    cube[slot] = packed
    entries.append(replace(new, slot=slot))
    return _settle(group, n_days, entries, new.day <= folded, pending_max)


def _settle(group: zarr.Group, n_days: int, entries: list[Entry], stale: bool,
            pending_max: int) -> Outcome:
    """Recompute the state if the change reaches into it, or fold the pending products if too many
    wait; then save the ledger."""
    latest, folded = max(e.day for e in entries), folded_day(group)
    if stale:
        _fold_into_state(group, n_days, entries, NONE, latest - 1)
    elif sum(e.day > folded for e in entries) > pending_max and any(folded < e.day < latest
                                                                    for e in entries):
        _fold_into_state(group, n_days, entries, folded, latest - 1)
    group.attrs.update(ledger=[asdict(e) for e in entries], latest=latest)
    return Outcome.RECOMPUTED if stale else Outcome.FOLDED


def _fold_into_state(group: zarr.Group, n_days: int, entries: list[Entry], since: int, until: int) -> None:
    """Fold the days after ``since`` up to ``until`` into the stored state, a band of rows at a time
    (``since`` NONE: the state is made anew from the cube)."""
    arrays = [_writable(group, name) for name in STATE]
    cube = array(group, "cube")
    days = _days(entries, since, until)
    height, width = arrays[0].shape
    rows = arrays[0].chunks[0]
    for r0 in range(0, height, rows):
        r1 = min(r0 + rows, height)
        if since == NONE:
            state = FoldState.empty((r1 - r0, width), n_days)
        else:
            state = FoldState(n_days, *(np.asarray(a[r0:r1]) for a in arrays))  # type: ignore[arg-type]
            state.latest = since
        _fold_days(state, cube, days, (r0, r1), width)
        state.run_start[state.last_snow == 0] = 0  # unread where no run is open; zeros compress best
        for name, a in zip(STATE, arrays, strict=True):
            a[r0:r1] = getattr(state, name)
    group.attrs["folded"] = until


def _fold_days(state: FoldState, cube: zarr.Array[Any], days: list[tuple[int, list[int]]],
               rows: tuple[int, int], width: int) -> None:
    """Fold days (each with the cube slots of its products in merge order) over a band of rows."""
    r0, r1 = rows
    for first in range(0, len(days), _READ_DAYS):
        part = days[first:first + _READ_DAYS]
        slots = sorted({s for _, day_slots in part for s in day_slots})
        packed = np.asarray(cube.get_orthogonal_selection((np.array(slots), slice(r0, r1), slice(None))))
        where = {s: k for k, s in enumerate(slots)}
        for day, day_slots in part:
            state.fold(merge_day([unpack(packed[where[s]], width) for s in day_slots]), day)


def _writable(group: zarr.Group, name: str) -> zarr.Array[Any]:
    """An array to write whole chunks to: each chunk is stored, even one equal to the fill value
    (zarr's test for that costs more than compressing it to a few bytes)."""
    return array(group, name).with_config({"write_empty_chunks": True})


def _days(entries: list[Entry], since: int, until: int) -> list[tuple[int, list[int]]]:
    """The days after ``since`` up to ``until`` and, for each, its products' slots in merge order."""
    chosen = sorted((e for e in entries if since < e.day <= until), key=lambda e: (e.day, e.order))
    return [(day, [e.slot for e in same_day])
            for day, same_day in itertools.groupby(chosen, key=lambda e: e.day)]


def state_at(group: zarr.Group, n_days: int, until: int | None = None) -> FoldState:
    """The season's state with every product up to day ``until`` (default: every product) folded:
    the stored state plus the pending days, or the cube folded anew when ``until`` is before the
    stored state's last day."""
    entries = ledger(group)
    stop = max((e.day for e in entries), default=NONE) if until is None else until
    folded = folded_day(group)
    if stop < folded:
        return recompute(group, n_days, entries, stop)
    state = load(group, n_days)
    cube = array(group, "cube")
    _fold_days(state, cube, _days(entries, folded, stop), (0, state.scd.shape[0]), state.scd.shape[1])
    return state


def recompute(group: zarr.Group, n_days: int, entries: list[Entry], until: int) -> FoldState:
    """The season folded anew from the cube alone, over the entries up to day ``until``."""
    cube = array(group, "cube")
    height, width = cube.shape[1], array(group, STATE[0]).shape[1]
    state = FoldState.empty((height, width), n_days)
    _fold_days(state, cube, _days(entries, NONE, until), (0, height), width)
    return state


def load(group: zarr.Group, n_days: int) -> FoldState:
    """The stored state (the products up to day ``folded``)."""
    state = FoldState(n_days, *(np.asarray(array(group, name)[...]) for name in STATE))  # type: ignore[arg-type]
    state.latest = folded_day(group)
    return state
