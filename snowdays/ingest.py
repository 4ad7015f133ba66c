"""Fold arriving products into their tiles' stores; export and describe what the stores hold."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import icechunk
import zarr

from snowdays.errors import Deferred, ProductRejected, WrongGrid
from snowdays.grid import Codes, Grid
from snowdays.names import ProductId, parse_name
from snowdays.products import Product, open_product
from snowdays.season import Season, parse_season
from snowdays.settings import Settings
from snowdays.state import Entry, Outcome, fold_product, pack, season_group
from snowdays.store import UNIDENTIFIED, attr, open_repo, read, transact

log = logging.getLogger(__name__)


@dataclass
class Report:
    """What became of one product."""

    product: str
    outcome: str
    seasons: dict[str, str] = field(default_factory=dict)


def seasons_of(when: date, settings: Settings) -> list[tuple[str, Season]]:
    """Every season whose window holds ``when`` (the margins make two seasons overlap)."""
    found = []
    for year in (when.year - 1, when.year):
        label = f"{year}-{year + 1}"
        season = parse_season(label, settings.season_start, settings.margin_days)
        if season.in_window(when):
            found.append((label, season))
    return found


def checksum(product: Product) -> str:
    digest = hashlib.sha256()
    for member in sorted(product.source.members) if product.source.kind == "dir" else [""]:
        path = product.source.href.rstrip("/") + (f"/{member}" if member else "")
        with product.source.fs.open(path.removeprefix("s3://"), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Prepared:
    """A product read, checked and put on its tile's grid: all a fold needs (and a worker returns)."""

    href: str
    id: ProductId
    grid: Grid
    packed: Codes
    checksum: str


def ingest(root: str, href: str, settings: Settings) -> Report:
    """Fold one product into every season of its tile whose window holds it; quarantine it if bad."""
    ready = prepare(root, href, settings)
    return ready if isinstance(ready, Report) else fold(root, ready, settings)


def prepare(root: str, href: str, settings: Settings) -> Prepared | Report:
    """Read a product onto its tile's grid (reading the store only); a bad one is quarantined and a
    Landsat one before any grid is deferred, each with its report."""
    try:
        product = open_product(href, settings)
        grid = _grid_for(open_repo(root, product.id.tile, settings, create=True), product)
        return Prepared(href, product.id, grid, pack(product.read(grid, settings)), checksum(product))
    except ProductRejected as e:
        quarantine(root, href, e, settings)
        return Report(e.product, f"rejected ({e.reason})")
    except Deferred as e:
        return Report(product.id.name, f"deferred ({e})")


def fold(root: str, ready: Prepared, settings: Settings) -> Report:
    """Fold a prepared product into its tile's store, in one commit."""
    try:
        repo = open_repo(root, ready.id.tile, settings, create=True)
        outcomes = transact(repo, lambda r: _fold(r, ready, settings))
    except ProductRejected as e:
        quarantine(root, ready.href, e, settings)
        return Report(e.product, f"rejected ({e.reason})")
    seasons = {label: o.value for label, o in outcomes.items()}
    return Report(ready.id.name, _summary(list(outcomes.values())), seasons)


def _summary(outcomes: list[Outcome]) -> str:
    """One word for a product folded into several seasons: the most that happened to it."""
    for outcome in Outcome:  # in order: folded, recomputed, duplicate, older
        if outcome in outcomes:
            return outcome.value
    return "skipped (outside every season)"


def _grid_for(repo: icechunk.Repository, product: Product) -> Grid:
    stored = attr(read(repo), "grid")
    if stored is not None:
        grid = Grid.from_json(stored)
        if product.id.mission == "S2" and not product.grid.same_as(grid):
            raise WrongGrid(product.id.name,
                            f"grid {product.grid.describe()}, tile has {grid.describe()}")
        return grid
    if product.id.mission != "S2":
        raise Deferred(f"no Sentinel-2 product of {product.id.tile} defines the tile grid yet; "
                       "fold it again after one")
    return product.grid


def _fold(root: zarr.Group, ready: Prepared, settings: Settings) -> tuple[dict[str, Outcome], str | None]:
    stored = attr(root, "grid")
    if stored is None:
        root.attrs["grid"] = ready.grid.to_json()
    elif Grid.from_json(stored) != ready.grid:
        raise WrongGrid(ready.id.name, "the tile grid changed while it was folded")
    pid, outcomes = ready.id, {}
    for label, season in seasons_of(pid.acquired.date(), settings):
        entry = Entry(pid.name, [str(k) for k in pid.key], list(pid.version), ready.checksum,
                      season.day(pid.acquired), [*pid.merge_order[:1], pid.acquired.isoformat(),
                                                 pid.name], pid.mission == "L8")
        group = season_group(root, season, label, ready.grid)
        outcomes[label] = fold_product(group, season.n_days, entry, ready.packed, settings.pending_max)
    changed = any(o in (Outcome.FOLDED, Outcome.RECOMPUTED) for o in outcomes.values())
    return outcomes, (f"fold {pid.name} into {', '.join(outcomes)}" if changed else None)


def quarantine(root: str, href: str, error: ProductRejected, settings: Settings) -> None:
    """Record a rejected product and its reason in its tile's store (state left unchanged)."""
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
