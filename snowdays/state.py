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
import zarr

from snowdays.duration import NONE, FoldState
from snowdays.grid import Codes, Grid, merge_day
from snowdays.season import Season
from snowdays.store import array, attr, subgroup

CHUNK = 1098
STATE = ("last_day", "last_snow", "scd", "run_start", "best_start", "best_len", "nobs")
_DTYPES = ("int16", "uint8", "uint16", "int16", "int16", "int16", "uint16")


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
    return np.where(raw == 0, 0, np.where(raw <= 100, 1, 255)).astype(np.uint8)


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
    cube = array(group, "cube")
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
        state = load(group, n_days)
        state.fold(classes, new.day)
        _save(group, state, entries)
        return Outcome.FOLDED
    _save(group, recompute(group, n_days, entries), entries)
    return Outcome.RECOMPUTED


def recompute(group: zarr.Group, n_days: int, entries: list[Entry],
              until: int | None = None) -> FoldState:
    """The season folded anew from the cube, over the entries (up to day ``until``)."""
    cube = array(group, "cube")
    chosen = sorted((e for e in entries if until is None or e.day <= until),
                    key=lambda e: (e.day, e.order))
    state = FoldState.empty((cube.shape[1], cube.shape[2]), n_days)
    for day, same_day in itertools.groupby(chosen, key=lambda e: e.day):
        state.fold(merge_day([np.asarray(cube[e.slot]) for e in same_day]), day)
    return state


def load(group: zarr.Group, n_days: int) -> FoldState:
    arrays = [np.asarray(array(group, name)[...]) for name in STATE]
    latest = attr(group, "latest")
    state = FoldState(n_days, *arrays)  # type: ignore[arg-type]
    state.latest = NONE if latest is None else int(latest)
    return state


def _save(group: zarr.Group, state: FoldState, entries: list[Entry]) -> None:
    for name in STATE:
        array(group, name)[...] = getattr(state, name)
    latest = max(e.day for e in entries)
    group.attrs.update(ledger=[asdict(e) for e in entries], latest=latest)
