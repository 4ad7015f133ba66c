"""The archive's listing as an arrival source: what no tile store has folded yet, and what appears.

The truth of what a tile has to fold is the archive minus its ledgers (:func:`snowdays.archive.pending`),
so a listing finds every product an event missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from snowdays.archive import arrived, pending
from snowdays.errors import SnowdaysError
from snowdays.names import ProductId
from snowdays.settings import Settings

log = logging.getLogger(__name__)


def unfolded(archive: str, store: str, settings: Settings) -> dict[str, ProductId]:
    """The archive's products that their tile's store has neither folded nor quarantined, by href
    (tile by tile, each in folding order): what the sweep announces, the safety net for lost events."""
    products = arrived(archive, settings)
    waiting = _pending(archive, store, products, settings)
    log.info("sweep of %s: %d pending products of %d", archive, len(waiting), len(products))
    return waiting


def _pending(archive: str, store: str, products: dict[str, ProductId],
             settings: Settings) -> dict[str, ProductId]:
    """Of the archive's ``products``, those their tiles' stores still have to fold. The archive is
    listed again by :func:`pending`: a product landed since the first listing is left to the next look
    (its own event announces it)."""
    tiles = sorted({pid.tile for pid in products.values()})
    return {href: products[href] for tile in tiles for href in pending(archive, store, tile, settings)
            if href in products}


def appearing(settings: Settings, stopped: Callable[[], bool],
              wait: Callable[[float], object]) -> Iterator[tuple[str, ProductId]]:
    """Each product of the settings' archive once: first those no store has folded yet, then every
    new one, looking every ``watch_poll_seconds`` (through ``wait``) until ``stopped()``."""
    products = arrived(settings.archive, settings)
    seen = set(products) - set(_pending(settings.archive, settings.store, products, settings))
    while not stopped():
        for href, pid in sorted(_look(settings).items()):
            if href not in seen:
                seen.add(href)
                yield href, pid
        wait(settings.watch_poll_seconds)


def _look(settings: Settings) -> dict[str, ProductId]:
    """The archive's products; none while it is out of reach (the next look tries again)."""
    try:
        return arrived(settings.archive, settings)
    except SnowdaysError as e:
        log.warning("could not look at the archive %s: %s", settings.archive, e)
        return {}
