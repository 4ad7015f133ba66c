"""The STAC API on a real PostgreSQL with PostGIS and pgstac (127.0.0.1), run by ``snowdays stac serve``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import psycopg
import pystac
import pytest
import rasterio

from infra.postgres import LocalPostgres
from snowdays.export import season_maps
from snowdays.settings import Settings, get_settings
from stac.items import KINDS, QUALITY
from stac.publish import publish
from stac.search import open_client, search
from tests.conftest import _free_port
from tests.stacdata import database, ingest_until, sample, serve, store_until

IN_SEASON = date(2018, 2, 1)
A, B = "scd-t31tch-2017-2018", "scd-t32tlr-2018-2019"


@dataclass(frozen=True)
class Published:
    url: str
    """The STAC API."""
    settings: Settings
    stores: dict[str, Path]
    """Item id -> its tile's store."""
    catalog: Path


@pytest.fixture(scope="module")
def published(postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    """Two tiles and seasons published into a database, and the API over it."""
    base = tmp_path_factory.mktemp("api")
    settings = get_settings(stac_database_url=database(postgres, "api"), stac_postgres_data="",
                            stac_api_port=_free_port())
    stores = {A: base / "t31tch", B: base / "t32tlr"}
    store_until(stores[A], "T31TCH", "2017-2018", 5, date(2018, 1, 31), settings)
    store_until(stores[B], "T32TLR", "2018-2019", 8, date(2018, 12, 31), settings)
    for report in (publish(str(stores[A]), "T31TCH", "2017-2018", settings, str(base / "cat"),
                           today=IN_SEASON),
                   publish(str(stores[B]), "T32TLR", "2018-2019", settings, str(base / "cat"))):
        assert report.api_error is None, report.api_error
    with (base / "serve.log").open("wb") as log:
        server = serve(settings, base, log)
        try:
            yield Published(f"http://127.0.0.1:{settings.stac_api_port}", settings, stores, base / "cat")
        finally:
            server.terminate()
            assert server.wait(timeout=30) == 128 + 15  # SIGTERM: stopped gracefully, then exits


def ids(items: Sequence[pystac.Item]) -> list[str]:
    return [i.id for i in items]


def test_search_by_tile_with_cql2(published: Published) -> None:
    assert ids(search(published.url, tile="T32TLR")) == [B]
    assert ids(search(published.url, tile="31tch")) == [A]
    assert ids(search(published.url, tile="T30TYN")) == []
    assert ids(search(published.url, filter="\"snowdays:products\" > 0 AND \"grid:code\" LIKE "
                                             "'MGRS-31%'")) == [A]


def test_search_by_bbox(published: Published) -> None:
    item = search(published.url, tile="T31TCH")[0]
    west, south, east, north = item.bbox or []
    inside = [west + (east - west) / 4, south + (north - south) / 4, west + (east - west) / 2,
              south + (north - south) / 2]
    assert ids(search(published.url, bbox=inside)) == [A]
    assert ids(search(published.url, bbox=[-10.0, 60.0, -9.0, 61.0])) == []


def test_search_by_datetime_and_season(published: Published) -> None:
    assert ids(search(published.url, datetime="2018-01-01/2018-02-01")) == [A]
    assert ids(search(published.url, datetime="2019-01-15")) == [B]
    assert ids(search(published.url, season="2018-2019")) == [B]
    assert sorted(ids(search(published.url, datetime="2018-08-01/2018-10-01"))) == [A, B]


def test_sorted_by_as_of(published: Published) -> None:
    newest_first = search(published.url)
    assert ids(newest_first) == [B, A]
    as_of = [i.properties["snowdays:as_of"] for i in newest_first]
    assert as_of == sorted(as_of, reverse=True)
    assert ids(search(published.url, sortby="+properties.snowdays:as_of")) == [A, B]


def test_round_trip_to_the_pixels(published: Published) -> None:
    client = open_client(published.url)
    item = next(client.search(ids=[A], collections=["snow-cover-duration"]).items())
    expected = season_maps(str(published.stores[A]), "T31TCH", "2017-2018", published.settings).maps
    for key, array in expected.items():
        href = item.assets[key].href
        assert Path(href).is_absolute()
        with rasterio.open(href) as ds:
            assert np.array_equal(ds.read(1), array)
    assert item.properties["snowdays:status"] == "provisional"


def test_publish_twice_gives_one_newer_item(postgres: LocalPostgres, tmp_path: Path) -> None:
    settings = get_settings(stac_database_url=database(postgres, "twice"))
    products = sample(tmp_path / "p", "T31TCH", "2017-2018", 5)
    store_until(tmp_path / "s", "T31TCH", "2017-2018", 5, date(2017, 12, 31), settings)
    first = publish(str(tmp_path / "s"), "T31TCH", "2017-2018", settings, str(tmp_path / "c"),
                    today=IN_SEASON)
    ingest_until(tmp_path / "s", products, date(2018, 3, 31), settings, first=date(2018, 1, 1))
    second = publish(str(tmp_path / "s"), "T31TCH", "2017-2018", settings, str(tmp_path / "c"),
                     today=IN_SEASON)
    assert first.api_error is None and second.api_error is None
    rows = stored(settings.stac_database_url)
    assert list(rows) == [A]
    assert rows[A]["snowdays:as_of"] == second.item.properties["snowdays:as_of"]
    assert rows[A]["snowdays:as_of"] > first.item.properties["snowdays:as_of"]
    assert rows[A]["snowdays:products"] > first.item.properties["snowdays:products"]
    old = Path(first.item.assets["SCD"].get_absolute_href() or "")
    new = Path(second.item.assets["SCD"].get_absolute_href() or "")
    assert old != new and new.is_file() and not old.exists()
    assert sorted(second.removed) == sorted(Path(first.item.assets[k].href).name
                                            for k in KINDS + QUALITY)


def test_database_down_then_next_publish_catches_up(postgres: LocalPostgres, tmp_path: Path) -> None:
    """A publish upserts its own item only: the item the database missed is loaded by its tile's next
    publish, and another tile's publish in between does not touch it."""
    url = database(postgres, "faults")
    down = get_settings(stac_database_url=f"postgresql://postgres@127.0.0.1:{_free_port()}/faults",
                        stac_connect_timeout=2)
    store_until(tmp_path / "s1", "T31TCH", "2017-2018", 5, date(2017, 11, 30), down)
    missed = publish(str(tmp_path / "s1"), "T31TCH", "2017-2018", down, str(tmp_path / "c"))
    assert missed.api_error is not None and "cannot be reached" in missed.api_error
    assert Path(missed.item_href).is_file() and missed.api_items == 0
    assert stored(url) == {}
    store_until(tmp_path / "s2", "T32TLR", "2018-2019", 8, date(2018, 11, 30), down)
    up = down.model_copy(update={"stac_database_url": url})
    other = publish(str(tmp_path / "s2"), "T32TLR", "2018-2019", up, str(tmp_path / "c"))
    assert other.api_error is None and other.api_items == 1
    assert sorted(stored(url)) == [B]
    caught_up = publish(str(tmp_path / "s1"), "T31TCH", "2017-2018", up, str(tmp_path / "c"))
    assert caught_up.api_error is None and caught_up.api_items == 1
    assert sorted(stored(url)) == [A, B]
    assert extent(url) == [[min(b[0] for b in boxes(url)), min(b[1] for b in boxes(url)),
                            max(b[2] for b in boxes(url)), max(b[3] for b in boxes(url))]]


def extent(url: str) -> list[list[float]]:
    """The collection's spatial extent as the database holds it."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT content->'extent'->'spatial'->'bbox' FROM pgstac.collections "
                           "WHERE id = 'snow-cover-duration'").fetchone()
    assert row is not None
    return [[round(v, 6) for v in box] for box in row[0]]


def boxes(url: str) -> list[list[float]]:
    """The bounding boxes of the items the database holds (its naive union is the extent)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT pgstac.get_item(id, collection)->'bbox' FROM pgstac.items").fetchall()
    return [[round(v, 6) for v in r[0]] for r in rows]


def stored(url: str) -> dict[str, dict[str, object]]:
    """Items in the database by id, with their properties (read back through pgstac)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, pgstac.get_item(id, collection)->'properties' "
                            "FROM pgstac.items").fetchall()
    return {str(r[0]): dict(r[1]) for r in rows}
