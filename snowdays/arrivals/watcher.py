"""The watcher's arrival source, as the settings choose it: what ``snowdays watch`` announces."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from snowdays.arrivals.listing import appearing
from snowdays.arrivals.sqs import notices
from snowdays.arrivals.stac_search import polling
from snowdays.names import ProductId
from snowdays.settings import Settings


def arriving(settings: Settings, stopped: Callable[[], bool],
             wait: Callable[[float], object]) -> Iterator[tuple[str, ProductId]]:
    """The archive's arriving products until ``stopped()``: its bucket's SQS notifications when a
    queue is set, else STAC API searches when tiles are watched, else a look at the archive every
    ``watch_poll_seconds``. ``wait(seconds)`` sleeps between two looks (and may end early)."""
    if settings.sqs_queue_url:
        return notices(settings.sqs_queue_url, settings.archive, settings, stopped=stopped)
    if settings.watch_tiles:
        return polling(settings, stopped, wait)
    return appearing(settings, stopped, wait)
