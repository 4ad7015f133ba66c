"""The STAC API's database: pgstac, migrated and loaded with pypgstac (upserts, so loading is idempotent)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods
from pypgstac.migrate import Migrate

from snowdays.errors import BadDatabaseUrl, StorageError

log = logging.getLogger(__name__)
MASK = "***"
_URI_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:@/]*:)(.*)@", re.IGNORECASE | re.DOTALL)
"""``scheme://user:PASSWORD@``, up to the last ``@`` (a password written with one unencoded too)."""
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&]*)", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)", re.IGNORECASE)
"""``password=VALUE`` or ``password='VALUE'`` in a ``key=value`` connection string."""
_PATTERNS = (_URI_PASSWORD, _QUERY_PASSWORD)


def masked(url: str) -> str:
    """The URL with its password, wherever libpq would read it, replaced by ``***``."""
    if "://" not in url:
        return _KEYWORD_PASSWORD.sub(rf"\g<1>{MASK}", url)
    return _QUERY_PASSWORD.sub(rf"\g<1>{MASK}", _URI_PASSWORD.sub(rf"\g<1>{MASK}@", url, count=1))


def _passwords(url: str) -> set[str]:
    """What the URL may hold as a password, as written and decoded."""
    patterns = _PATTERNS if "://" in url else (_KEYWORD_PASSWORD,)
    written = {m.group(2).strip("'") for pattern in patterns for m in pattern.finditer(url)}
    return {text for w in written for text in (w, unquote(w)) if text}


def _scrubbed(reason: str, url: str) -> str:
    """libpq's reason why the URL does not parse, without the URL's password (it may quote either)."""
    reason = reason.strip().replace(url, masked(url))
    for secret in sorted(_passwords(url), key=len, reverse=True):
        reason = reason.replace(secret, MASK)
    return reason


def parse_url(url: str) -> dict[str, Any]:
    """The connection parameters of a database URL; one that does not parse is a
    :class:`BadDatabaseUrl` whose message masks the password (raised from None: psycopg's error
    quotes the URL whole)."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error as e:
        raise BadDatabaseUrl(f"the STAC database URL {masked(url)} does not parse: "
                             f"{_scrubbed(str(e), url)}; write it "
                             "postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE") from None
    port = str(info.get("port") or "5432")
    if not all(part.isdigit() for part in port.split(",")):
        # not quoted: a password with an unencoded "/" makes libpq read a port out of it
        raise BadDatabaseUrl(f"the STAC database URL {masked(url)} gives a port that is not a number: "
                             "write it postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE")
    return info


def describe(url: str) -> str:
    """``host:port/dbname`` of a connection URL, without its credentials."""
    info = parse_url(url)
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
    """Migrate, then insert or replace the collection and the items (one row per id, newest wins),
    then make the collection's extent that of every item the database holds (:func:`update_extent`)."""
    with pgstac(url, timeout) as db:
        Migrate(db).run_migration()
        loader = Loader(db)
        loader.load_collections(iter([collection]), Methods.upsert)
        if items:
            loader.load_items(iter(items), Methods.upsert)
        update_extent(db, str(collection["id"]))
    log.info("upserted %s and %d items into %s", collection["id"], len(items), describe(url))


EXTENT = sql.SQL("UPDATE collections SET content = jsonb_set_lax(content, '{extent}', "
                 "collection_extent(%(id)s, TRUE), true, 'return_target') WHERE id = %(id)s")
"""pgstac's own extent of a collection's items (its partition statistics, brought up to date)."""


def update_extent(db: PgstacDB, collection: str) -> None:
    """Set the collection's extent from the items committed, one publisher at a time: a publisher's
    item is committed before it takes the lock, so the last to take it sees every item (its
    statement's snapshot starts once it holds the lock), and no extent rolls back another's."""
    conn = db.connect()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"snowdays extent {collection}"])
        conn.execute(EXTENT, {"id": collection})
