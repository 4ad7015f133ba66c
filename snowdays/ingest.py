"""Fold arriving products into their tiles' stores; export and describe what the stores hold."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from tempfile import TemporaryDirectory

import icechunk
import zarr

from snowdays.errors import ProductRejected, WrongGrid
from snowdays.grid import Codes, Grid
from snowdays.names import ProductId, parse_name
from snowdays.packing import pack
from snowdays.products import Product, fetch
from snowdays.season import Season
from snowdays.settings import Settings
from snowdays.state import (
    Block,
    Entry,
    Outcome,
    Staging,
    advance_block,
    blocks,
    checkpointed,
    due,
    season_group,
)
from snowdays.store import UNIDENTIFIED, Mapper, attr, fan_out, open_repo, read, subgroup, transact
from snowdays.tiling import product_window

log = logging.getLogger(__name__)


class Status(StrEnum):
    """What became of one product: the pipeline decides on it, the command line and the run's report
    render it (:attr:`Report.outcome`)."""

    FOLDED = "folded"
    RECOMPUTED = "recomputed"  # folded, and a season it fell in recomputed (it came out of order)
    SKIPPED = "skipped"
    REJECTED = "rejected"
    FAILED = "failed"  # an unforeseen fault (a bug, or one retries did not clear): it stays pending


#: What each outcome in a season says of the product: its status and why.
_STATUS = {Outcome.FOLDED: (Status.FOLDED, ""), Outcome.RECOMPUTED: (Status.RECOMPUTED, ""),
           Outcome.DUPLICATE: (Status.SKIPPED, "duplicate"),
           Outcome.OLDER: (Status.SKIPPED, "older version"),
           Outcome.SUPERSEDED: (Status.SKIPPED, "a snow product of its acquisition is folded")}


@dataclass
class Report:
    """What became of one product: its status, why (``detail``), and its outcome in each season."""

    product: str
    status: Status
    detail: str = ""
    seasons: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether a season changed, and is to be published again."""
        return self.status in (Status.FOLDED, Status.RECOMPUTED)

    @property
    def outcome(self) -> str:
        """One line: ``folded``, ``folded (season recomputed)``, ``rejected (reason)``..."""
        if self.status is Status.RECOMPUTED:
            return "folded (season recomputed)"
        return f"{self.status} ({self.detail})" if self.detail else str(self.status)


def seasons_of(when: date, settings: Settings) -> list[tuple[str, Season]]:
    """Every season whose window holds ``when`` (the margins make two seasons overlap)."""
    found = []
    for year in (when.year - 1, when.year):
        label = f"{year}-{year + 1}"
        season = settings.season(label)
        if season.in_window(when):
            found.append((label, season))
    return found


@dataclass(frozen=True)
class Prepared:
    """A product read, checked and put on its tile's grid: all a fold needs (and a worker returns)."""

    href: str
    id: ProductId
    grid: Grid
    packed: Codes
    checksum: str


def ingest(root: str, href: str, settings: Settings) -> Report:
    """Fold one product into every season of its tile whose window holds it, then checkpoint the
    tile if due; quarantine the product if bad."""
    ready = prepare(root, href, settings)
    if isinstance(ready, Report):
        return ready
    report = stage(root, ready, settings)
    if report.seasons:
        checkpoint(root, ready.id.tile, settings)
    return report


def checkpoint(root: str, tile: str, settings: Settings, mapper: Mapper[Block] = map) -> list[str]:
    """Fold the pending products of every season of the tile where more than ``pending_max`` wait
    into its state, chunk by chunk through ``mapper``, in one commit. Returns the seasons."""
    def plan(group: zarr.Group) -> tuple[list[Block], str | None]:
        jobs = []
        for label, season in subgroup(group, "seasons").groups() if "seasons" in group else []:
            until = due(season, settings.pending_max)
            if until is not None:
                jobs += blocks(season, f"seasons/{label}", settings.season(label).n_days, until)
        labels = sorted({b.season.removeprefix("seasons/") for b in jobs})
        return jobs, f"checkpoint {', '.join(labels)}" if labels else None

    done = fan_out(open_repo(root, tile, settings), plan, advance_block, checkpointed, mapper)
    return sorted({b.season.removeprefix("seasons/") for b in done})


def prepare(root: str, href: str, settings: Settings) -> Prepared | Report:
    """Read a product onto its tile's grid (reading the store only); a bad one is quarantined, with
    its report."""
    try:
        with TemporaryDirectory(prefix="snowdays-fetch-") as spool:
            got = fetch(href, settings, Path(spool))
            grid = _grid_for(open_repo(root, got.product.id.tile, settings, create=True), got.product)
            return Prepared(href, got.product.id, grid, pack(got.read(grid, settings)), got.checksum)
    except ProductRejected as e:
        quarantine(root, href, e, settings)
        return Report(e.product, Status.REJECTED, e.reason)


def stage(root: str, ready: Prepared, settings: Settings) -> Report:
    """Stage a prepared product: put it in its tile's store (cube and ledger; its days pending in the
    state arrays until the checkpoint advances them), in one commit."""
    try:
        repo = open_repo(root, ready.id.tile, settings, create=True)
        outcomes = transact(repo, lambda r: stage_in(r, ready, settings))
    except ProductRejected as e:
        quarantine(root, ready.href, e, settings)
        return Report(e.product, Status.REJECTED, e.reason)
    seasons = {label: o.value for label, o in outcomes.items()}
    return _summary(ready.id.name, list(outcomes.values()), seasons)


def _summary(product: str, outcomes: list[Outcome], seasons: dict[str, str]) -> Report:
    """The report of a product put in several seasons: the most that happened to it."""
    for outcome in Outcome:  # in order: folded, recomputed, then the skipped ones
        if outcome in outcomes:
            return Report(product, *_STATUS[outcome], seasons)
    return Report(product, Status.SKIPPED, "outside every season", seasons)


def _grid_for(repo: icechunk.Repository, product: Product) -> Grid:
    """The tile's grid as stored, else the window of the tile's named grid that the product gives;
    a product off the named grid, or a Sentinel-2 one off the stored grid, is rejected, all before
    any pixel is decoded."""
    pid = product.id
    window = product_window(pid.tile, product.grid, pid.mission, pid.name)
    stored = attr(read(repo), "grid")
    if stored is None:
        return window
    grid = Grid.from_json(stored)
    if pid.mission == "S2" and not window.same_as(grid):
        raise WrongGrid(pid.name, f"grid {product.grid.describe()}, tile has {grid.describe()}")
    return grid


def stage_in(root: zarr.Group, ready: Prepared,
             settings: Settings) -> tuple[dict[str, Outcome], str | None]:
    """Put a prepared product in every season of an open tile whose window holds it (uncommitted);
    the outcomes by season, and the commit message (None: nothing changed)."""
    stager = Stager(root, settings)
    outcomes = stager.put(ready)
    stager.save()
    changed = any(o in (Outcome.FOLDED, Outcome.RECOMPUTED) for o in outcomes.values())
    return outcomes, (f"fold {ready.id.name} into {', '.join(outcomes)}" if changed else None)


class Stager:
    """Prepared products put in the seasons of an open tile, as :func:`stage_in` puts one; each
    season's ledger written back once, by :meth:`save`."""

    def __init__(self, root: zarr.Group, settings: Settings) -> None:
        self.root, self.settings = root, settings
        self._seasons: dict[str, Staging] = {}

    def put(self, ready: Prepared) -> dict[str, Outcome]:
        """Put the product in every season whose window holds it; its outcome in each."""
        stored = attr(self.root, "grid")
        if stored is None:
            self.root.attrs["grid"] = ready.grid.to_json()
        elif Grid.from_json(stored) != ready.grid:
            raise WrongGrid(ready.id.name, "the tile grid changed while it was folded")
        pid, outcomes = ready.id, {}
        for label, season in seasons_of(pid.acquired.date(), self.settings):
            entry = Entry(pid.name, [str(k) for k in pid.key], list(pid.version), ready.checksum,
                          season.day(pid.acquired), [*pid.merge_order[:1], pid.acquired.isoformat(),
                                                     pid.name], pid.mission == "L8")
            if label not in self._seasons:
                self._seasons[label] = Staging(season_group(self.root, season, label, ready.grid))
            outcomes[label] = self._seasons[label].stage(entry, ready.packed)
        return outcomes

    def save(self) -> None:
        for staging in self._seasons.values():
            staging.save()


def quarantine(root: str, href: str, error: ProductRejected, settings: Settings) -> None:
    """Record a rejected product and its reason in its tile's store (state left unchanged)."""
    log.info("rejected %s (%s): %s", error.product, error.reason_kind, error.reason)
    try:
        tile = parse_name(Path(href.rstrip("/")).name).tile
    except ProductRejected:
        tile = UNIDENTIFIED
    record = {"product": error.product, "href": href, "kind": error.reason_kind,
              "reason": error.reason, "at": datetime.now(UTC).isoformat(timespec="seconds")}

    def work(group: zarr.Group) -> tuple[None, str | None]:
        held: list[dict[str, str]] = attr(group, "quarantine", [])
        if any(r["product"] == record["product"] and r["reason"] == record["reason"] for r in held):
            return None, None
        group.attrs["quarantine"] = [*held, record]
        return None, f"quarantine {error.product}: {error.reason}"

    transact(open_repo(root, tile, settings, create=True), work)
