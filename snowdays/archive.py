"""The archive: where products land (a folder or an ``s3://`` prefix, one entry per product).

The truth of what a tile still has to fold is the archive minus the tile's ledgers: events only say
when to look.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from snowdays.errors import ProductRejected
from snowdays.names import ProductId, normalise_tile, parse_name, rivals
from snowdays.settings import Settings
from snowdays.storage import list_products
from snowdays.store import attr, open_repo, read, subgroup, tiles


def identify(href: str) -> ProductId | None:
    """The product an archive entry holds, by its name (None: not a product's name)."""
    try:
        return parse_name(PurePosixPath(href.rstrip("/")).name)
    except ProductRejected:
        return None


def arrived(archive: str, settings: Settings, tile: str | None = None) -> dict[str, ProductId]:
    """The archive's products (of one tile), by href."""
    found = {href: identify(href) for href in list_products(archive, settings)}
    wanted = None if tile is None else normalise_tile(tile)
    return {href: pid for href, pid in found.items()
            if pid is not None and (wanted is None or pid.tile == wanted)}


def known(store: str, tile: str, settings: Settings) -> set[str]:
    """Names of the products a tile's store has folded, or holds in quarantine."""
    folded, quarantined = _recorded(store, tile, settings)
    return folded | quarantined


def _recorded(store: str, tile: str, settings: Settings,
              label: str | None = None) -> tuple[set[str], set[str]]:
    """Names of the products in the tile's ledgers (of season ``label`` alone, if given), and of
    those in its quarantine."""
    if tile not in tiles(store, settings):
        return set(), set()
    root = read(open_repo(store, tile, settings))
    folded: set[str] = set()
    if "seasons" in root:
        for name, season in subgroup(root, "seasons").groups():
            if label in (None, name):
                folded |= {e["name"] for e in attr(season, "ledger", [])}
    return folded, {q["product"] for q in attr(root, "quarantine", [])}


def pending(archive: str, store: str, tile: str, settings: Settings,
            label: str | None = None) -> list[str]:
    """Hrefs of the tile's products in the archive that its store has neither folded nor
    quarantined, and that no rival of higher precedence outranks (a higher version, or a snow product
    of an L2A product's acquisition) among those folded or in the archive (not quarantined): folding
    them would change nothing. Oldest acquisition first, each day in merge order. With ``label``: the
    products of that season's window that its ledger lacks (none: the tile-season is complete)."""
    tile = normalise_tile(tile)
    folded, quarantined = _recorded(store, tile, settings, label)
    found = arrived(archive, settings, tile)
    if label is not None:
        window = settings.season(label)
        found = {href: pid for href, pid in found.items() if window.in_window(pid.acquired)}
    counted: dict[object, list[ProductId]] = {}  # by acquisition: rivals share theirs
    for pid in [identify(name) for name in folded] + [p for p in found.values() if p.name not in quarantined]:
        if pid is not None:
            counted.setdefault(pid.acquisition, []).append(pid)
    done = folded | quarantined
    waiting = [(pid, href) for href, pid in found.items()
               if pid.name not in done and not outranked(pid, counted.get(pid.acquisition, []))]
    return [href for pid, href in sorted(waiting, key=lambda w: (w[0].acquired.date(), w[0].merge_order))]


def outranked(pid: ProductId, others: list[ProductId]) -> bool:
    """Whether one of ``others`` counts instead of ``pid``."""
    return any(rivals(pid, other) and other.precedence > pid.precedence for other in others)
