"""The errors snowdays raises, and which of them are worth retrying.

A bad product is final: it is rejected, named, and kept in quarantine. A storage fault is transient and
retried by whoever runs the work (the CLI reports it, the pipeline retries it).
"""

from __future__ import annotations


class SnowdaysError(Exception):
    """Base of every error snowdays raises on purpose."""


class UsageError(SnowdaysError):
    """The command or call was given arguments that cannot work (bad season, empty folder...)."""


class BadDatabaseUrl(UsageError):
    """A database URL that does not parse; the message shows it with its password masked, never the
    password itself."""


class StorageError(SnowdaysError):
    """Reading or writing storage failed for a reason that may pass (network, throttling)."""


class ProductRejected(SnowdaysError):
    """A product that cannot be used; final, never retried."""

    reason_kind = "rejected"

    def __init__(self, product: str, reason: str) -> None:
        super().__init__(f"{product}: {reason}")
        self.product = product
        self.reason = reason


class UnknownProduct(ProductRejected):
    reason_kind = "unknown name"


class WrongTile(ProductRejected):
    reason_kind = "wrong tile"


class CorruptProduct(ProductRejected):
    reason_kind = "unreadable"


class WrongRaster(ProductRejected):
    reason_kind = "wrong raster"


class WrongGrid(ProductRejected):
    reason_kind = "wrong grid"


class UnsafeArchive(ProductRejected):
    reason_kind = "unsafe archive"


class MetadataMismatch(ProductRejected):
    reason_kind = "metadata mismatch"


class ImplausibleDate(ProductRejected):
    reason_kind = "implausible date"


class RejectedProducts(SnowdaysError):
    """Several products rejected at once (a strict batch stops on them)."""

    def __init__(self, rejected: list[ProductRejected]) -> None:
        super().__init__("; ".join(str(r) for r in rejected))
        self.rejected = rejected


#: Errors worth another attempt; every other SnowdaysError is final.
RETRYABLE: tuple[type[SnowdaysError], ...] = (StorageError,)


def is_retryable(error: BaseException) -> bool:
    """Whether running the same work again may succeed."""
    return isinstance(error, RETRYABLE)


class BadInput(SnowdaysError):
    """A file given to a command that cannot be used as it is (the message names it and why); final."""


class PortTaken(SnowdaysError):
    """A port a server of the local stack needs is taken by another program (the message names the
    setting that moves it)."""
