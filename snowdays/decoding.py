"""Decoding products in threads, ahead of the fold that consumes them in acquisition order.

GDAL and the compiled kernels (detection, fold, merge) release the GIL, so threads put every core to
work without copying rasters between processes. Each decode opens its own dataset under its own
``rasterio.Env`` (both are per thread), so no GDAL handle is shared; the decode reaches storage
through GDAL alone (``/vsis3/``, ``/vsizip/``), never through fsspec. Each product is decoded as GDAL
does by default, on one thread (``GDAL_NUM_THREADS`` unset), so ``settings.cores`` is the number of
cores a batch keeps busy decoding.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar

from snowdays.errors import ProductRejected
from snowdays.grid import Codes, Grid
from snowdays.names import ProductId
from snowdays.products import Product
from snowdays.settings import Settings


class Readable(Protocol):
    """A product to decode: a :class:`~snowdays.products.Product`, or one fetched for folding."""

    @property
    def id(self) -> ProductId: ...

    def read(self, grid: Grid, settings: Settings) -> Codes: ...


R = TypeVar("R", bound=Readable)
Decoded = tuple[Product, Codes | ProductRejected]
"""A product and its codes on the grid, or the rejection its decoding raised."""
AHEAD = 2
"""Products in flight per thread: enough that a thread never waits for the fold to take its result."""


def decoded(
    products: Iterable[R], grid: Grid, settings: Settings
) -> Generator[tuple[R, Codes | ProductRejected], None, None]:
    """Each product with its codes on ``grid``, or the rejection its decoding raised, in the order
    given, while ``settings.cores`` threads decode the next ones.

    With one thread each product is decoded in the caller when asked for, as a plain loop would.
    Otherwise at most ``AHEAD x cores`` products are decoding or decoded and not yet taken: the
    peak is that many decoded rasters (a full tile's: 30 MB each, 120 MB on two cores) beside those
    the caller holds. An error
    other than a rejection (a storage fault, a bug) is raised where its product is taken. Closing
    the iterator early cancels the products not yet started and waits for those decoding.
    """
    n = settings.cores
    if n == 1:
        yield from ((p, _decode(p, grid, settings)) for p in products)
        return
    pool = ThreadPoolExecutor(n, thread_name_prefix="snowdays-decode")
    try:
        yield from _ahead(pool, iter(products), AHEAD * n, grid, settings)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ahead(
    pool: ThreadPoolExecutor, products: Iterator[R], depth: int, grid: Grid, settings: Settings
) -> Iterator[tuple[R, Codes | ProductRejected]]:
    """Keep ``depth`` products submitted; yield the oldest when it is decoded."""
    flight: deque[tuple[R, Future[Codes | ProductRejected]]] = deque()
    for p in products:
        flight.append((p, pool.submit(_decode, p, grid, settings)))
        if len(flight) == depth:
            oldest, future = flight.popleft()
            yield oldest, future.result()
    while flight:
        oldest, future = flight.popleft()
        yield oldest, future.result()


def _decode(product: Readable, grid: Grid, settings: Settings) -> Codes | ProductRejected:
    try:
        return product.read(grid, settings)
    except ProductRejected as e:
        return e
