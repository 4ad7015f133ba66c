"""One tile, one season, one batch: products in a folder -> the four annual maps."""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from snowdays.decoding import Decoded, decoded
from snowdays.duration import Folding, FoldState, Maps, warm
from snowdays.errors import ProductRejected, RejectedProducts, UsageError, WrongGrid
from snowdays.grid import Codes, Grid, merge_day
from snowdays.names import not_a_product, rivals
from snowdays.outputs import write_maps
from snowdays.products import Product, open_product
from snowdays.season import Season
from snowdays.settings import Settings
from snowdays.storage import list_products
from snowdays.tiling import product_window

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
"""Called with (products done, products in all) as the fold goes."""


@dataclass
class Annual:
    """The outcome of a batch: maps, the products used, the products rejected."""

    tile: str
    season: Season
    grid: Grid
    maps: Maps
    used: list[Product]
    rejected: list[ProductRejected] = field(default_factory=list)

    @property
    def landsat(self) -> bool:
        return any(p.id.mission == "L8" for p in self.used)


def discover(
    prefix: str, tile: str, settings: Settings
) -> tuple[list[Product], list[ProductRejected]]:
    """Open every entry under ``prefix``: the products that pass the checks, and the rejected
    (entries that are no product, a checksum or a README, are skipped with a note)."""
    products, rejected = [], []
    for href in list_products(prefix, settings):
        if (why := not_a_product(href)) is not None:
            log.info("ignored %s: not a product (%s)", href, why)
            continue
        try:
            products.append(open_product(href, settings, tile))
        except ProductRejected as e:
            log.warning("rejected %s", e)
            rejected.append(e)
    return products, rejected


def select(products: Iterable[Product], season: Season) -> list[Product]:
    """Products in the season's window; of rivals (versions of a product, an L2A product and a snow
    product of its acquisition) only the one of highest precedence, once."""
    chosen: list[Product] = []
    ranked = sorted((p for p in products if season.in_window(p.id.acquired)),
                    key=lambda p: (p.id.precedence, p.id.name), reverse=True)
    for p in ranked:
        if not any(rivals(p.id, kept.id) for kept in chosen):
            chosen.append(p)
    return sorted(chosen, key=lambda p: (p.id.acquired.date(), p.id.merge_order))


def batch_grid(products: list[Product], tile: str) -> tuple[Grid, list[ProductRejected]]:
    """The tile grid of a batch: the window of the tile's named grid that most Sentinel-2 products
    give (the earliest product's on a tie; Landsat products' when there is no Sentinel-2 product);
    and the products rejected, off the named grid (or their tile's name no MGRS square) or, for
    Sentinel-2 ones, off that window.

    A batch sees all its products at once, so one product on a wrong grid cannot impose it on the
    others, even when it comes first.
    """
    windows: dict[str, Grid] = {}
    rejected: list[ProductRejected] = []
    for p in sorted(products, key=lambda p: (p.id.acquired.date(), p.id.merge_order)):
        try:
            windows[p.id.name] = product_window(tile, p.grid, p.id.mission, p.id.name)
        except ProductRejected as e:
            rejected.append(e)
    if not windows:
        raise RejectedProducts(rejected)
    missions = {p.id.name: p.id.mission for p in products}
    grids = [g for name, g in windows.items() if missions[name] == "S2"] or list(windows.values())
    counts = Counter(grids)
    grid = max(grids, key=lambda g: counts[g])  # max keeps the first of equals
    rejected += [WrongGrid(name, f"grid {g.describe()}, tile has {grid.describe()}")
                 for name, g in windows.items() if missions[name] == "S2" and g != grid]
    return grid, rejected


def compute(
    products: list[Product], season: Season, grid: Grid, settings: Settings, strict: bool,
    progress: Progress | None = None,
) -> tuple[FoldState, list[Product], list[ProductRejected]]:
    """Fold the products day by day (:class:`~snowdays.duration.Folding`: eight days in one pass) as
    threads decode the next ones (:func:`decoded`); a product that fails to decode leaves its day
    untouched."""
    threading.Thread(target=warm, name="snowdays-warm", daemon=True).start()
    folding = Folding(FoldState.empty(grid.shape, season.n_days))
    used: list[Product] = []
    rejected: list[ProductRejected] = []
    with closing(decoded(products, grid, settings)) as results:
        for day, group in itertools.groupby(results, key=lambda r: season.day(r[0].id.acquired)):
            if rasters := _sort_day(group, strict, used, rejected):
                folding.add(merge_day(rasters), day)
            if progress:
                progress(len(used) + len(rejected), len(products))
    return folding.flush(), used, rejected


def _sort_day(
    group: Iterable[Decoded], strict: bool, used: list[Product],
    rejected: list[ProductRejected],
) -> list[Codes]:
    """The codes of one day's decoded products, each product added to ``used`` or ``rejected``
    (strict: a rejection raises)."""
    rasters = []
    for p, codes in group:
        if isinstance(codes, ProductRejected):
            if strict:
                raise RejectedProducts([codes]) from codes
            log.warning("rejected %s", codes)
            rejected.append(codes)
        else:
            rasters.append(codes)
            used.append(p)
    return rasters


def run_annual(
    prefix: str, tile: str, season: Season, settings: Settings, strict: bool = True,
    progress: Progress | None = None,
) -> Annual:
    """Compute the annual maps of the products under ``prefix``.

    Strict (the default): any rejected product raises, and nothing is computed. Otherwise rejected
    products are left out and listed, and the maps are those of the other products.
    """
    products, rejected = discover(prefix, tile, settings)
    if rejected and strict:
        raise RejectedProducts(rejected)
    chosen = select(products, season)
    if not chosen:
        raise UsageError(f"no product of {tile} between {season.start} and {season.stop} "
                         f"(margin {season.margin} days) under {prefix}")
    grid, wrong = batch_grid(chosen, tile)
    if wrong and strict:
        raise RejectedProducts(wrong)
    rejected += wrong
    chosen = [p for p in chosen if p.id.name not in {r.product for r in rejected}]
    state, used, failed = compute(chosen, season, grid, settings, strict, progress)
    return Annual(tile, season, grid, state.maps(threads=settings.cores), used, rejected + failed)


def write(annual: Annual, out: Path, settings: Settings) -> list[Path]:
    s = annual.season
    return write_maps(annual.maps.items(), annual.grid, out, tile=annual.tile, start=s.start, stop=s.stop,
                      landsat=annual.landsat, settings=settings)
