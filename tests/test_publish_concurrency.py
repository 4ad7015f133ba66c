"""Publishes of different tiles at once, in real processes, many rounds: no item is lost or rolled back,
in the static catalog (a local folder, the S3 server) or in pgstac.

Each round every process publishes, at the same moment (a barrier), a new season of its tile (the
collection must gain every one) and the next version of its tile's first season (no other publish may
write an older one back). After each round the catalog and the database are compared with what every
process published, read naively: each item file, each collection link, each database row.
"""

from __future__ import annotations

import json
import multiprocessing
import traceback
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import psycopg
import pytest

from infra.postgres import LocalPostgres
from snowdays.settings import Settings, get_settings
from stac.catalog import item_folder, write_catalog
from stac.items import COLLECTION, item_id
from stac.publish import update_api
from stac.sample import synthetic_item
from tests.conftest import S3Server
from tests.stacdata import database

TILES = ("T31TCH", "T32TLR", "T31TGK")
FIRST = 2001
"""The season every round publishes again (``2001-2002``), a newer version each time."""
ROUNDS = 12
WAIT = 300.0
"""Seconds a barrier waits for the others (Prefect-free, but the machine is shared)."""


def label(year: int) -> str:
    return f"{year}-{year + 1}"


def publish_rounds(tile: str, root: str, settings: Settings, start: Barrier, done: Barrier,
                   errors: Any) -> None:
    """A publisher process: each round, a new season of ``tile`` and a newer version of its first."""
    try:
        for r in range(ROUNDS):
            start.wait(WAIT)
            for year, version in ((FIRST + 1 + r, 1), (FIRST, r + 1)):
                item = synthetic_item(tile, label(year), version, settings)
                folder = item_folder(root, item.id)
                report = update_api(write_catalog(root, item, settings), item, folder, settings)
                assert report.api_error is None, report.api_error
            done.wait(WAIT)
    except Exception:  # noqa: BLE001 - any failure is the parent's to report, with its traceback
        errors.put(f"{tile}: {traceback.format_exc()}")
        start.abort()
        done.abort()


def read(href: str, settings: Settings) -> dict[str, Any]:
    from snowdays.storage import filesystem  # noqa: PLC0415 - the checker's naive read

    return dict(json.loads(filesystem(href, settings.s3).cat_file(href)))


def check_round(r: int, root: str, settings: Settings) -> None:
    """After round ``r``: every item file is the newest of its tile, the collection links them all
    and its extent joins theirs, the catalog links the collection, pgstac holds the newest of each
    and an extent over them all."""
    expected = {item_id(t, label(FIRST)): r + 1 for t in TILES}
    expected |= {item_id(t, label(FIRST + 1 + k)): 1 for t in TILES for k in range(r + 1)}
    boxes = []
    for name, version in expected.items():
        item = read(f"{item_folder(root, name)}/{name}.json", settings)
        assert item["properties"]["snowdays:products"] == version, f"round {r}: {name} rolled back"
        boxes.append(item["bbox"])
    collection = read(f"{root}/{COLLECTION}/collection.json", settings)
    assert collection["extent"]["spatial"]["bbox"] == [
        [f(b[i] for b in boxes) for i, f in ((0, min), (1, min), (2, max), (3, max))]], f"round {r}"
    linked = sorted(link["href"] for link in collection["links"] if link["rel"] == "item")
    assert linked == sorted(f"./{name}/{name}.json" for name in expected), f"round {r}: links"
    catalog = read(f"{root}/catalog.json", settings)
    assert [link["href"] for link in catalog["links"] if link["rel"] == "child"] == [
        f"./{COLLECTION}/collection.json"]
    assert stored(settings.stac_database_url) == expected, f"round {r}: pgstac"
    assert extent(settings.stac_database_url) == union(settings.stac_database_url)


def stored(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, pgstac.get_item(id, collection)->'properties'->"
                            "'snowdays:products' FROM pgstac.items").fetchall()
    return {str(row[0]): int(row[1]) for row in rows}


def extent(url: str) -> list[float]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT content->'extent'->'spatial'->'bbox'->0 FROM pgstac.collections "
                           "WHERE id = %s", [COLLECTION]).fetchone()
    assert row is not None
    return [round(float(v), 5) for v in row[0]]


def union(url: str) -> list[float]:
    """The items' bounding boxes joined, naively."""
    with psycopg.connect(url) as conn:
        rows = [r[0] for r in conn.execute("SELECT pgstac.get_item(id, collection)->'bbox' "
                                           "FROM pgstac.items").fetchall()]
    return [round(f(float(b[i]) for b in rows), 5) for i, f in ((0, min), (1, min), (2, max), (3, max))]


def run_publishers(root: str, settings: Settings) -> None:
    context = multiprocessing.get_context("spawn")
    start, done = context.Barrier(len(TILES) + 1), context.Barrier(len(TILES) + 1)
    errors = context.Queue()
    workers = [context.Process(target=publish_rounds, args=(t, root, settings, start, done, errors))
               for t in TILES]
    for worker in workers:
        worker.start()
    try:
        for r in range(ROUNDS):
            start.wait(WAIT)
            done.wait(WAIT)
            check_round(r, root, settings)
    except Exception:
        start.abort()
        raise
    finally:
        for worker in workers:
            worker.join(60)
        failed = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
        assert not failed, "\n".join(failed)


def test_concurrent_publishes_on_a_folder(postgres: LocalPostgres, tmp_path: Path) -> None:
    settings = get_settings(stac_database_url=database(postgres, "concurrent_folder"))
    run_publishers(str(tmp_path / "catalog"), settings)


@pytest.mark.usefixtures("s3_server")
def test_concurrent_publishes_on_s3(postgres: LocalPostgres, s3_server: S3Server) -> None:
    s3_server.client().create_bucket(Bucket="concurrent")
    settings = get_settings(stac_database_url=database(postgres, "concurrent_s3"),
                            s3_endpoint_url=s3_server.endpoint_url)
    run_publishers("s3://concurrent/catalog", settings)


def test_republish_leaves_the_collection_and_a_broken_one_is_made_again(tmp_path: Path) -> None:
    """A tile publishing again writes its item only; a collection that does not parse is made again
    from the listing, its extent every item's (joined naively here)."""
    settings, root = get_settings(), str(tmp_path / "catalog")
    for tile in TILES:
        write_catalog(root, synthetic_item(tile, label(FIRST), 1, settings), settings)
    collection = tmp_path / "catalog" / COLLECTION / "collection.json"
    before = collection.stat().st_mtime_ns, collection.read_text()
    write_catalog(root, synthetic_item(TILES[0], label(FIRST), 2, settings), settings)
    assert (collection.stat().st_mtime_ns, collection.read_text()) == before
    collection.write_text(before[1][: len(before[1]) // 2])
    write_catalog(root, synthetic_item(TILES[1], label(FIRST), 3, settings), settings)
    made = json.loads(collection.read_text())
    assert sorted(link["href"] for link in made["links"] if link["rel"] == "item") == sorted(
        f"./{item_id(t, label(FIRST))}/{item_id(t, label(FIRST))}.json" for t in TILES)
    boxes = [synthetic_item(t, label(FIRST), 1, settings).bbox or [] for t in TILES]
    naive = [f(b[i] for b in boxes) for i, f in ((0, min), (1, min), (2, max), (3, max))]
    assert made["extent"]["spatial"]["bbox"] == [naive]
    assert made["summaries"]["grid:code"] == sorted(f"MGRS-{t[1:]}" for t in TILES)
