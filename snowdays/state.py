"""A tile's seasons in the store: state arrays, observation cube and ledger, folded exactly.

Per season (a zarr group ``seasons/2017-2018``):

- the cube: one slot per product, its observation classed (no snow, snow, invalid) and packed four
  pixels to a byte;
- the ledger: one entry per product (name, acquisition key, version, checksum, day, slot, merge order);
- the state: the seven arrays of :class:`FoldState`, holding the fold of every product up to the day
  ``folded``. Later products are *pending*: kept in the cube and the ledger only, and folded into the
  state at a checkpoint once more than ``pending_max`` of them wait (all but those of the latest day,
  which often sees more products), chunk by chunk, each chunk on any worker. Maps are the state with
  the pending days folded on top.

A product arriving on a day after ``folded`` costs one packed slot (O(pixels of one product)); one on or
before it (late, or a higher version of a folded product) drops the stored state, which the next
checkpoint makes anew from the cube. Either way the maps are those of one batch over the ledger's
products, in any order of arrival.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr
from zarr.codecs import ZstdCodec

from snowdays.duration import DAYS_AT_ONCE, NONE, FoldState
from snowdays.grid import Codes, Grid, merge_day
from snowdays.names import parse_name, rivals
from snowdays.packing import ALL_INVALID, PER_BYTE, unpack
from snowdays.season import Season
from snowdays.store import array, attr, subgroup

CHUNK = 1098
"""Rows of a chunk of the state and the cube (a tile of 5490 is five of them)."""
STATE = ("last_day", "last_snow", "scd", "run_start", "best_start", "best_len", "nobs")
_DTYPES = ("int16", "uint8", "uint16", "int16", "int16", "int16", "uint16")
CHUNK_COLS = 5492
"""Columns of a chunk of the state at most (a whole number of the cube's bytes, so that a chunk of the
state reads whole chunks of the cube): a tile's whole width, so that each chunk of either is a band of
rows, and a product's slot in the cube five objects, not 25 (zarr and the store cost about 1 ms an
object, more than compressing it; a band is also what the quality layers read)."""
_CODEC = ZstdCodec(level=3)
"""The state's and the cube's: the cube's 2-bit classes and the state's small integers, compressed in
one pass each. zstd's level 9 (and Blosc's zstd 5 with byte shuffle on the state) made them 14% and
37% smaller, at 11 ms more a product staged and 1 s more a full tile's state written."""


class Outcome(StrEnum):
    FOLDED = "folded"
    RECOMPUTED = "folded (season recomputed)"
    DUPLICATE = "skipped (duplicate)"
    OLDER = "skipped (older version)"
    SUPERSEDED = "skipped (a snow product of its acquisition is folded)"


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


def season_group(root: zarr.Group, season: Season, label: str, grid: Grid) -> zarr.Group:
    """The season's group, created empty on first use."""
    path = f"seasons/{label}"
    if path in root:
        return subgroup(root, path)
    group = root.require_group(path)
    chunks = (min(CHUNK, grid.height), min(CHUNK_COLS, grid.width))
    for name, dtype in zip(STATE, _DTYPES, strict=True):
        group.create_array(name, shape=grid.shape, chunks=chunks, dtype=dtype, compressors=_CODEC,
                           fill_value=NONE if name == "last_day" else 0)
    packed = -(-grid.width // PER_BYTE)
    group.create_array("cube", shape=(0, grid.height, packed), dtype="uint8", compressors=_CODEC,
                       chunks=(1, chunks[0], min(CHUNK_COLS // PER_BYTE, packed)),
                       fill_value=ALL_INVALID)
    group.attrs.update(start=season.start.isoformat(), stop=season.stop.isoformat(),
                       margin=season.margin, ledger=[], latest=None, folded=None)
    return group


def ledger(group: zarr.Group) -> list[Entry]:
    return [Entry.of(e) for e in attr(group, "ledger", [])]


def folded_day(group: zarr.Group) -> int:
    """Every product of a day up to this one is in the state arrays (NONE: none is)."""
    folded = attr(group, "folded")
    return NONE if folded is None else int(folded)


class Staging:
    """A season's products being staged in an open session: its ledger read once, each product put
    in the cube as it comes, and the ledger written back once (:meth:`save`), so that staging a
    batch of products costs each of them once, not the ledger's length each."""

    def __init__(self, group: zarr.Group) -> None:
        self.group = group
        self.entries = ledger(group)
        self._ids = [parse_name(e.name) for e in self.entries]
        self._cube = _writable(group, "cube")
        self._folded = folded_day(group)
        self._dropped = self._changed = False

    def stage(self, new: Entry, packed: Codes) -> Outcome:
        """Put one product's packed classes in the cube and the ledger (in place, uncommitted). One
        on or before the day ``folded`` makes the stored state stale: it is dropped (every product is
        then pending) and made anew at the next checkpoint.

        Of rivals (:func:`~snowdays.names.rivals`: versions of a product, an L2A product and a snow
        product of its acquisition) only the one of highest precedence stays: a higher version, or a
        snow product after the L2A product, takes its slot; a lower one is skipped."""
        pid = parse_name(new.name)
        for i, kept in enumerate(self._ids):
            if rivals(kept, pid):
                if kept.precedence >= pid.precedence:
                    return (Outcome.DUPLICATE if kept.precedence == pid.precedence else
                            Outcome.SUPERSEDED if kept.derived != pid.derived else Outcome.OLDER)
                slot = self.entries[i].slot  # a re-published version takes its slot
                self.entries[i], self._ids[i] = replace(new, slot=slot), pid
                self._cube[slot] = packed
                return self._staged(new.day)
        slot = self._cube.shape[0]
        self._cube.resize((slot + 1, *self._cube.shape[1:]))
        self._cube[slot] = packed
        self.entries.append(replace(new, slot=slot))
        self._ids.append(pid)
        return self._staged(new.day)

    def _staged(self, day: int) -> Outcome:
        self._changed = True
        if day > self._folded:
            return Outcome.FOLDED
        self._folded, self._dropped = NONE, True
        return Outcome.RECOMPUTED

    def save(self) -> None:
        """Write the ledger back (nothing when no product was staged), in one update."""
        if not self._changed:
            return
        dropped: dict[str, Any] = {"folded": None} if self._dropped else {}
        # vars, not asdict: its fields are JSON already, and asdict deep-copies each
        self.group.update_attributes({"ledger": [dict(vars(e)) for e in self.entries],
                                      "latest": max(e.day for e in self.entries), **dropped})
        self._changed = self._dropped = False


@dataclass(frozen=True)
class Block:
    """A chunk of a season's state arrays to fold the pending days into, on any worker."""

    season: str
    """Path of the season's group in the tile's store."""
    n_days: int
    days: list[tuple[int, list[int]]]
    since: int
    until: int
    rows: tuple[int, int]
    cols: tuple[int, int]


def due(group: zarr.Group, pending_max: int) -> int | None:
    """The day to fold the state up to, when more than ``pending_max`` products wait: all but those
    of the latest day, which often sees more products (None: not due)."""
    entries, folded = ledger(group), folded_day(group)
    waiting = [e.day for e in entries if e.day > folded]
    if len(waiting) <= pending_max or not waiting:
        return None
    until = max(waiting) - 1
    return until if any(day <= until for day in waiting) else None


def blocks(group: zarr.Group, path: str, n_days: int, until: int) -> list[Block]:
    """The chunks of the season's state, each with the days after ``folded`` up to ``until``."""
    since = folded_day(group)
    days = observation_days(ledger(group), since, until)
    (height, width), (rows, cols) = array(group, STATE[0]).shape, array(group, STATE[0]).chunks
    return [Block(path, n_days, days, since, until, (r, min(r + rows, height)), (c, min(c + cols, width)))
            for r in range(0, height, rows) for c in range(0, width, cols)]


def checkpointed(root: zarr.Group, done: list[Block]) -> None:
    """Record that the blocks' seasons are folded up to their day (every chunk written)."""
    for block in done:
        subgroup(root, block.season).attrs["folded"] = block.until


def advance_block(root: zarr.Group, block: Block) -> None:
    """Advance a block's chunk of the stored state over its pending days (in place, uncommitted)."""
    group = subgroup(root, block.season)
    arrays = [_writable(group, name) for name in STATE]
    (r0, r1), (c0, c1) = block.rows, block.cols
    if block.since == NONE:
        state = FoldState.empty((r1 - r0, c1 - c0), block.n_days)
    else:
        state = FoldState(block.n_days, *(np.asarray(a[r0:r1, c0:c1]) for a in arrays))  # type: ignore[arg-type]
        state.latest = block.since
    _fold_days(state, array(group, "cube"), block.days, block.rows, block.cols)
    _tidy(state)
    for name, a in zip(STATE, arrays, strict=True):
        a[r0:r1, c0:c1] = getattr(state, name)


def put_state(group: zarr.Group, state: FoldState, folded: int) -> None:
    """Store a whole season's state as folded up to day ``folded`` (in place, uncommitted), as the
    checkpoint of every block of it leaves it."""
    _tidy(state)
    for name in STATE:
        _writable(group, name)[...] = getattr(state, name)
    group.attrs["folded"] = folded


def _tidy(state: FoldState) -> None:
    state.run_start[state.last_snow == 0] = 0  # unread where no run is open; zeros compress best


def _fold_days(state: FoldState, cube: zarr.Array[Any], days: list[tuple[int, list[int]]],
               rows: tuple[int, int], cols: tuple[int, int]) -> None:
    """Fold days (each with the cube slots of its products in merge order) over a block."""
    (r0, r1), (c0, c1) = rows, cols
    if c0 % PER_BYTE:
        raise ValueError(f"a block's columns must start on a byte of the cube, not at pixel {c0}")
    b0, b1 = c0 // PER_BYTE, -(-c1 // PER_BYTE)  # the bytes holding the block's columns
    for first in range(0, len(days), DAYS_AT_ONCE):  # read and folded at once: their slots x a band
        part = days[first:first + DAYS_AT_ONCE]
        slots = sorted({s for _, day_slots in part for s in day_slots})
        packed, where = _read_slots(cube, slots, (r0, r1), (b0, b1))
        state.advance_days([merge_day([unpack(packed[where[s]], c1 - c0) for s in day_slots])
                            for _, day_slots in part], [day for day, _ in part])


def _read_slots(cube: zarr.Array[Any], slots: list[int], rows: tuple[int, int],
                cols: tuple[int, int]) -> tuple[Codes, dict[int, int]]:
    """The slots' packed bytes over a block, and where each slot is in them: one range of slots when
    they are at most half of it apart (it reads several times faster than a selection), else the
    selection."""
    (r0, r1), (b0, b1) = rows, cols
    first, last = slots[0], slots[-1] + 1
    if last - first <= 2 * len(slots):
        return np.asarray(cube[first:last, r0:r1, b0:b1]), {s: s - first for s in slots}
    chosen = np.asarray(cube.get_orthogonal_selection((np.array(slots), slice(r0, r1), slice(b0, b1))))
    return chosen, {s: k for k, s in enumerate(slots)}


def _writable(group: zarr.Group, name: str) -> zarr.Array[Any]:
    """An array to write whole chunks to: each chunk is stored, even one equal to the fill value
    (zarr's test for that costs more than compressing it to a few bytes)."""
    return array(group, name).with_config({"write_empty_chunks": True})


def observation_days(entries: list[Entry], since: int, until: int) -> list[tuple[int, list[int]]]:
    """The days after ``since`` up to ``until`` and, for each, its products' slots in merge order."""
    chosen = sorted((e for e in entries if since < e.day <= until), key=lambda e: (e.day, e.order))
    return [(day, [e.slot for e in same_day])
            for day, same_day in itertools.groupby(chosen, key=lambda e: e.day)]


@dataclass(frozen=True)
class Slots:
    """Where a season's days are in its cube, to read them as one range of slots (one range reads
    several times faster than a selection of them): ``cube[first:last]``, day ``days[k]`` being the
    products ``at[starts[k]:starts[k + 1]]`` of that range, in merge order."""

    first: int
    last: int
    at: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    days: npt.NDArray[np.int64]

    @classmethod
    def of(cls, group: zarr.Group, until: int) -> Slots:
        """Every product of the season up to day ``until`` (margin days included)."""
        days = observation_days(ledger(group), NONE, until)
        slots = [s for _, day_slots in days for s in day_slots]
        first, last = (min(slots), max(slots) + 1) if slots else (0, 0)
        return cls(first, last, np.array([s - first for s in slots], np.int64),
                   np.cumsum([0] + [len(day_slots) for _, day_slots in days], dtype=np.int64),
                   np.array([d for d, _ in days], np.int64))

    def read(self, cube: zarr.Array[Any], rows: tuple[int, int], cols: tuple[int, int]) -> Codes:
        """The packed cube over the range of slots, rows ``rows`` and the bytes of pixel columns
        ``cols`` (starting on a byte)."""
        (r0, r1), (c0, c1) = rows, cols
        return np.asarray(cube[self.first:self.last, r0:r1, c0 // PER_BYTE:-(-c1 // PER_BYTE)])

    def kernel_args(self) -> tuple[npt.NDArray[np.int64], ...]:
        return self.at, self.starts, self.days


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
    height, width = state.scd.shape
    _fold_days(state, array(group, "cube"), observation_days(entries, folded, stop), (0, height), (0, width))
    return state


def recompute(group: zarr.Group, n_days: int, entries: list[Entry], until: int) -> FoldState:
    """The season folded anew from the cube alone, over the entries up to day ``until``."""
    cube = array(group, "cube")
    height, width = cube.shape[1], array(group, STATE[0]).shape[1]
    state = FoldState.empty((height, width), n_days)
    _fold_days(state, cube, observation_days(entries, NONE, until), (0, height), (0, width))
    return state


def window_state(group: zarr.Group, first: int, n_days: int, margin: int) -> FoldState:
    """The state of the window of ``n_days`` days from day ``first`` of the season, folded from the
    cube over the products within ``margin`` days of it, as a season of that window takes them."""
    entries = ledger(group)
    chosen = observation_days(entries, first - margin - 1, first + n_days - 1 + margin)
    cube = array(group, "cube")
    height, width = cube.shape[1], array(group, STATE[0]).shape[1]
    state = FoldState.empty((height, width), n_days)
    _fold_days(state, cube, [(day - first, slots) for day, slots in chosen], (0, height), (0, width))
    return state


def load(group: zarr.Group, n_days: int) -> FoldState:
    """The stored state (the products up to day ``folded``; none when it is NONE)."""
    if folded_day(group) == NONE:
        shape = array(group, STATE[0]).shape
        return FoldState.empty((shape[0], shape[1]), n_days)
    state = FoldState(n_days, *(np.asarray(array(group, name)[...]) for name in STATE))  # type: ignore[arg-type]
    state.latest = folded_day(group)
    return state
