"""The STAC API's database: pgstac, migrated and loaded with pypgstac (upserts, so loading is idempotent)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods
from pypgstac.migrate import Migrate

from snowdays.errors import StorageError

log = logging.getLogger(__name__)


def describe(url: str) -> str:
    """``host:port/dbname`` of a connection URL, without its credentials."""
    info = conninfo_to_dict(url)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


@contextmanager
def pgstac(url: str, timeout: float) -> Iterator[PgstacDB]:
    """A pypgstac connection to ``url``; a database that cannot be reached is a :class:`StorageError`."""
    where = describe(url)
    try:
        psycopg.connect(url, connect_timeout=max(1, round(timeout))).close()
    except psycopg.Error as e:
        raise StorageError(f"the STAC database at {where} cannot be reached: {e}".strip()) from e
    try:
        with (ConnectionPool(url, min_size=0, max_size=1, timeout=timeout, open=True) as pool,
              PgstacDB(pool=pool) as db):
            yield db
    except psycopg.Error as e:
        raise StorageError(f"the STAC database at {where} failed: {e}".strip()) from e


def migrate(url: str, timeout: float = 5.0) -> str:
    """Install or upgrade pgstac in the database (a no-op when it is current); its version."""
    with pgstac(url, timeout) as db:
        return Migrate(db).run_migration()


def upsert(url: str, collection: dict[str, Any], items: Sequence[dict[str, Any]],
           timeout: float = 5.0) -> None:
    """Migrate, then insert or replace the collection and the items (one row per id, newest wins)."""
    with pgstac(url, timeout) as db:
        Migrate(db).run_migration()
        loader = Loader(db)
        loader.load_collections(iter([collection]), Methods.upsert)
        if items:
            loader.load_items(iter(items), Methods.upsert)
    log.info("upserted %s and %d items into %s", collection["id"], len(items), describe(url))
