"""Backfill: a tile-season built in batch into the tile's store, as if its products had been folded
one by one and checkpointed, in one commit.

Every product of the tile-season is read (decoded in threads, taken in acquisition order:
:func:`snowdays.decoding.decoded`, as ``snowdays annual`` reads), staged in the
cube and the ledger as :func:`~snowdays.ingest.stage_in` puts an arriving one (so a product of the
margins lands in both seasons, as an arrival would), and the state arrays are folded up to the day
before the latest, as a checkpoint leaves them; all of it in one session, one commit. A season new to
the store is folded as its products are staged, from their decoded codes (the threads decode the next
ones meanwhile), never read back from the cube; one that already holds products is folded from the cube
as a checkpoint folds it. Later arrivals
fold incrementally on top. A tile-season is *complete* when the archive holds no product of its
window that its ledger lacks: a backfill skips it, so a killed backfill started again redoes only the
tile-seasons it had not committed.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from tempfile import TemporaryDirectory

import icechunk
import zarr
from rasterio.warp import transform_bounds
from shapely.geometry import box, shape

from snowdays.annual import batch_grid, select
from snowdays.archive import arrived, pending
from snowdays.decoding import decoded
from snowdays.duration import NONE, Folding, FoldState
from snowdays.errors import ProductRejected, RejectedProducts, UsageError, WrongGrid
from snowdays.grid import Codes, Grid, merge_day
from snowdays.ingest import Prepared, Stager, quarantine
from snowdays.names import strip_suffix
from snowdays.packing import pack
from snowdays.products import Fetched, Product, fetch
from snowdays.regions import Region
from snowdays.season import Season
from snowdays.settings import Settings
from snowdays.state import (
    Outcome,
    advance_block,
    blocks,
    checkpointed,
    folded_day,
    ledger,
    put_state,
)
from snowdays.store import attr, open_repo, read, subgroup, tiles, transact
from snowdays.tiling import product_window, tile_grid

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildReport:
    """What a backfill did to one tile-season."""

    tile: str
    label: str
    products: int = 0
    """Products the build put in the season (0: it was complete, or every one was rejected)."""
    rejected: list[str] = field(default_factory=list)
    """Products rejected (and quarantined), with their reasons."""
    held: int = 0
    """Products in the season's ledger after the build (0: the tile-season has none to publish)."""

    @property
    def changed(self) -> bool:
        """Whether the season changed, and is to be published again."""
        return self.products > 0


def region_tiles(region: Region, archive: str, settings: Settings) -> list[str]:
    """The tiles of a region: its list, or those of the archive whose square meets its polygon."""
    if region.tiles is not None:
        return list(region.tiles)
    if region.polygon is None:
        raise UsageError(f"region {region.name} has neither tiles nor a polygon")
    area = shape(region.polygon)
    found = sorted({pid.tile for pid in arrived(archive, settings).values()})
    return [tile for tile in found if box(*_lonlat(tile_grid(tile))).intersects(area)]


def _lonlat(grid: Grid) -> tuple[float, float, float, float]:
    a, _, left, _, e, top = grid.transform
    right, bottom = left + a * grid.width, top + e * grid.height
    west, south, east, north = transform_bounds(grid.crs, "EPSG:4326", left, bottom, right, top,
                                                densify_pts=21)
    return float(west), float(south), float(east), float(north)


def backfill_season(store: str, tile: str, label: str, settings: Settings) -> BuildReport:
    """Build the tile-season from the archive's products its ledger lacks; nothing when complete."""
    hrefs = pending(settings.archive, store, tile, settings, label)
    if hrefs:
        report = build_season(store, tile, label, hrefs, settings)
    else:
        log.info("%s %s is complete: skipped", tile, label)
        report = BuildReport(tile, label)
    return replace(report, held=held(store, tile, label, settings))


def held(store: str, tile: str, label: str, settings: Settings) -> int:
    """Products in the tile-season's ledger (0: no store, or no such season)."""
    if tile not in tiles(store, settings):
        return 0
    root = read(open_repo(store, tile, settings))
    path = f"seasons/{label}"
    return len(ledger(subgroup(root, path))) if path in root else 0


def build_season(store: str, tile: str, label: str, hrefs: list[str], settings: Settings) -> BuildReport:
    """Read every product of ``hrefs`` (the tile's, in the season's window), stage them all and fold
    the state, in one commit; the rejected are quarantined, as ingest does, once it is made. Each
    product is read from storage once (:func:`~snowdays.products.fetch`; a copy of those on
    ``s3://`` is held in a temporary folder until the commit: the tile-season's products)."""
    season = settings.season(label)
    repo = open_repo(store, tile, settings, create=True)
    with TemporaryDirectory(prefix="snowdays-fetch-") as spool:
        fetched, rejected = _fetched(hrefs, tile, settings, Path(spool))
        of = {id(f.product): f for f in fetched}
        chosen = select([f.product for f in fetched], season)
        grid, wrong = _grid(repo, chosen, tile)
        bad = {e.product for e in wrong}
        ready = [of[id(p)] for p in chosen if p.id.name not in bad]
        staged, failed = transact(repo, lambda root: _build(root, label, season, ready, grid, settings))
    where = dict(_names(hrefs)) | {f.id.name: f.href for f in fetched}
    for e in rejected + wrong + failed:
        quarantine(store, where.get(e.product, e.product), e, settings)
    log.info("%s %s: %d products built in one commit, %d rejected", tile, label, staged,
             len(rejected + wrong + failed))
    return BuildReport(tile, label, staged, [str(e) for e in rejected + wrong + failed])


def _names(hrefs: Iterable[str]) -> Iterator[tuple[str, str]]:
    for href in hrefs:
        yield strip_suffix(posixpath.basename(href.rstrip("/"))), href


def _fetched(hrefs: list[str], tile: str, settings: Settings,
             spool: Path) -> tuple[list[Fetched], list[ProductRejected]]:
    """The products that open and pass their checks, each read once, and the rejected."""
    fetched, rejected = [], []
    for href in hrefs:
        try:
            fetched.append(fetch(href, settings, spool, tile))
        except ProductRejected as e:
            rejected.append(e)
    return fetched, rejected


def _grid(repo: icechunk.Repository, products: list[Product],
          tile: str) -> tuple[Grid, list[ProductRejected]]:
    """The tile's grid as stored, else the batch's (as ``snowdays annual`` takes it); and the
    products off it, rejected before any pixel is decoded."""
    stored = attr(read(repo), "grid")
    if stored is None and products:
        try:
            return batch_grid(products, tile)
        except RejectedProducts as e:  # not one product on the tile's named grid
            return tile_grid(tile), e.rejected
    if stored is None:
        return tile_grid(tile), []
    grid, rejected = Grid.from_json(stored), []
    for p in products:
        try:
            window = product_window(tile, p.grid, p.id.mission, p.id.name)
            if p.id.mission == "S2" and not window.same_as(grid):
                raise WrongGrid(p.id.name, f"grid {p.grid.describe()}, tile has {grid.describe()}")
        except ProductRejected as e:
            rejected.append(e)
    return grid, rejected


def _build(root: zarr.Group, label: str, season: Season, products: list[Fetched], grid: Grid,
           settings: Settings) -> tuple[tuple[int, list[ProductRejected]], str | None]:
    """Stage every product, folding the season's state as they come when the season is new (else
    from the cube once they are staged), in the open session."""
    path = f"seasons/{label}"
    folding = DayByDay(season.n_days, grid.shape) if path not in root or not ledger(subgroup(root, path)) \
        else None
    staged, failed, stager = 0, [], Stager(root, settings)
    for got, codes in decoded(products, grid, settings):
        if isinstance(codes, ProductRejected):
            failed.append(codes)
            continue
        outcomes = stager.put(Prepared(got.href, got.id, grid, pack(codes), got.checksum))
        if outcomes.get(label) in (Outcome.FOLDED, Outcome.RECOMPUTED):
            staged += 1
            if folding is not None:
                folding.add(season.day(got.id.acquired), codes)
    stager.save()
    if staged and folding is None:
        _advance(root, label, season)
    elif staged and folding is not None and (state := folding.folded()).latest != NONE:
        put_state(subgroup(root, path), state, folding.day - 1)
    return (staged, failed), (f"backfill {label}: {staged} products" if staged else None)


class DayByDay:
    """A season's state folded as its products come, in acquisition (and merge) order: each day once
    the next one's first product comes, so that the latest day stays pending, as a checkpoint leaves
    it (:class:`~snowdays.duration.Folding`: eight days in one pass). Holds the codes of one day's
    products and of the days not yet folded."""

    def __init__(self, n_days: int, shape: tuple[int, int]) -> None:
        self.folding = Folding(FoldState.empty(shape, n_days))
        self.day = NONE
        self._held: list[Codes] = []

    def add(self, day: int, codes: Codes) -> None:
        if day != self.day and self._held:
            self.folding.add(merge_day(self._held), self.day)
            self._held = []
        self.day = day
        self._held.append(codes)

    def folded(self) -> FoldState:
        """The state, every day but the latest folded."""
        return self.folding.flush()


def _advance(root: zarr.Group, label: str, season: Season) -> None:
    """Fold the state up to the day before the latest, as a checkpoint leaves it."""
    path = f"seasons/{label}"
    group = subgroup(root, path)
    until, since = int(attr(group, "latest")) - 1, folded_day(group)
    if not any(since < e.day <= until for e in ledger(group)):
        return
    jobs = blocks(group, path, season.n_days, until)
    for job in jobs:
        advance_block(root, job)
    checkpointed(root, jobs)

