"""The library's arrival sources without Prefect: the archive's listing (snowdays.arrivals.listing)
and S3 notifications through SQS (snowdays.arrivals.sqs), against the moto S3 + SQS server on
loopback. The STAC API search is tested in tests/test_arrivals_stac_search.py."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from snowdays.arrivals.listing import appearing, unfolded
from snowdays.arrivals.sqs import notices, read_notification
from snowdays.errors import UsageError
from snowdays.ingest import ingest
from snowdays.names import strip_suffix
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.settings import get_settings
from snowdays.storage import list_products
from tests.arrivaldata import Bucket, names, notified_bucket, pid_of, s3_notification
from tests.conftest import S3Server

SEASON = parse_season("2017-2018")


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Zipped products of T31TCH, in acquisition order."""
    return make_season(tmp_path_factory.mktemp("season"), "T31TCH", SEASON, 20, "muscate", True, seed=7)


@pytest.fixture(scope="module")
def other_tile(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two zipped products of T32TLR."""
    return make_season(tmp_path_factory.mktemp("other"), "T32TLR", SEASON, 20, "muscate", True, seed=3)[:2]


# --- the listing ---------------------------------------------------------------------------------


def test_unfolded_is_what_no_store_has_folded(tmp_path: Path, season: list[Path],
                                              other_tile: list[Path]) -> None:
    """Of a tile with a partly filled store, the products its ledger lacks; every product of a tile
    without a store; nothing for an entry that is not a product."""
    archive, store = tmp_path / "archive", str(tmp_path / "stores")
    archive.mkdir()
    ours = [Path(shutil.copy(p, archive)) for p in season[:6]]
    theirs = [Path(shutil.copy(p, archive)) for p in other_tile]
    (archive / "README.txt").write_text("not a product")
    settings = get_settings()
    folded = [p for p in ours if "SENTINEL2" in p.name][:2]
    for path in folded:
        ingest(store, str(path), settings)

    found = unfolded(str(archive), store, settings)

    expected = [pid_of(p).name for p in ours + theirs if p not in folded]
    assert sorted(names(list(found.items()))) == sorted(expected)
    assert {found[str(p)].tile for p in theirs} == {"T32TLR"}


def test_appearing_gives_each_product_once(tmp_path: Path, season: list[Path]) -> None:
    """At start the products not folded yet (not the folded one), then the one copied in between two
    looks, and nothing twice: three looks in all, then stopped."""
    archive, store = tmp_path / "archive", tmp_path / "stores"
    archive.mkdir()
    for path in season[:3]:
        shutil.copy(path, archive)
    settings = get_settings(archive=str(archive), store=str(store), watch_poll_seconds=0.01)
    ingest(str(store), str(archive / season[0].name), settings)
    looks: list[float] = []

    def wait(seconds: float) -> None:
        looks.append(seconds)
        if len(looks) == 1:
            shutil.copy(season[3], archive)

    found = names(appearing(settings, lambda: len(looks) == 3, wait))

    assert found == [pid_of(p).name for p in season[1:4]]
    assert looks == [0.01] * 3


# --- S3 notifications through SQS ----------------------------------------------------------------


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:
    return notified_bucket(s3_server)


def test_a_notification_names_the_products_under_the_archive(season: list[Path]) -> None:
    """A zip object and a member of a directory product under the prefix are products; a key of
    another bucket, and one that names no product, are strays; a test event and a deletion, nothing."""
    zipped, folder = season[0].name, strip_suffix(season[1].name)
    records = [json.loads(s3_notification(b, k))["Records"][0] for b, k in [
        ("b", f"archive/{zipped}"), ("b", f"archive/{folder}/{folder}_SNW_R2.tif"),
        ("other", f"archive/{zipped}"), ("b", "archive/notes on it.txt")]]
    deleted = {**records[0], "eventName": "ObjectRemoved:Delete"}
    notice = read_notification(json.dumps({"Records": [*records, deleted]}), "s3://b/archive")

    assert notice.products == {"s3://b/archive/" + zipped: pid_of(season[0]),
                               f"s3://b/archive/{folder}": pid_of(season[1])}
    assert notice.strays == [f"s3://other/archive/{zipped}", "s3://b/archive/notes on it.txt"]
    assert read_notification(json.dumps({"Event": "s3:TestEvent"}), "s3://b/archive").products == {}
    assert read_notification("not json", "s3://b/archive").strays == ["(not an S3 notification: 'not json')"]


def test_sqs_notifications_name_the_products(bucket: Bucket, season: list[Path], tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """Objects put in the bucket: a zip product, the members of a directory product, a file that is no
    product, and a product outside the archive prefix. The server's notifications (and its
    ``s3:TestEvent``) give each product under the prefix once; every message is deleted."""
    zipped, folder = season[0], season[1]
    shutil.unpack_archive(folder, tmp_path)
    directory = tmp_path / strip_suffix(folder.name)
    members = sorted(directory.iterdir())
    assert len(members) > 1
    bucket.s3.upload_file(str(zipped), bucket.name, f"archive/{zipped.name}")
    for member in members:
        bucket.s3.upload_file(str(member), bucket.name, f"archive/{directory.name}/{member.name}")
    bucket.s3.put_object(Bucket=bucket.name, Key="archive/notes on it.txt", Body=b"no product")
    bucket.s3.upload_file(str(season[2]), bucket.name, f"elsewhere/{season[2].name}")

    with caplog.at_level(logging.INFO, logger="snowdays.arrivals.sqs"):
        found = dict(notices(bucket.queue_url, bucket.archive, bucket.settings, until_empty=True))

    assert sorted(found) == sorted([f"{bucket.archive}/{zipped.name}", f"{bucket.archive}/{directory.name}"])
    assert sorted(names(list(found.items()))) == sorted([pid_of(zipped).name, directory.name])
    assert sorted(list_products(bucket.archive, bucket.settings)) == sorted(
        [*found, f"{bucket.archive}/notes on it.txt"])
    assert f"skipped s3://{bucket.name}/archive/notes on it.txt: it names no product" in caplog.text
    assert f"skipped s3://{bucket.name}/elsewhere/{season[2].name}" in caplog.text
    assert bucket.left() == 0


def test_a_duplicated_notification_names_its_product_once(bucket: Bucket, season: list[Path]) -> None:
    """SQS may deliver a message twice and S3 may notify one object twice: one product per batch.
    Both notifications are sent in the exact form S3 gives them, so that the batch holds them; the
    third message is the server's ``s3:TestEvent``, which names nothing."""
    key = f"archive/{season[3].name}"
    bucket.notify(key)
    bucket.notify(key)

    found = list(notices(bucket.queue_url, bucket.archive, bucket.settings, max_messages=3))

    assert found == [(f"s3://{bucket.name}/{key}", pid_of(season[3]))]
    assert bucket.left() == 0


def test_messages_are_deleted_once_their_products_are_taken(bucket: Bucket, season: list[Path]) -> None:
    """While the caller holds a batch's first product (has not asked for the next), its messages stay
    in the queue: a caller that dies then has them delivered again."""
    for path in season[:2]:
        bucket.notify(f"archive/{path.name}")
    arrivals = notices(bucket.queue_url, bucket.archive, bucket.settings, until_empty=True)

    first = next(arrivals)
    held = bucket.left()
    rest = list(arrivals)

    assert names([first, *rest]) == [pid_of(p).name for p in season[:2]]
    assert held == 3  # both notifications and the server's test event, in flight
    assert bucket.left() == 0


def test_sqs_needs_an_s3_archive(bucket: Bucket) -> None:
    with pytest.raises(UsageError, match=r"S3 notifications need an s3:// archive, not 'archive'"):
        next(notices(bucket.queue_url, "archive", bucket.settings, until_empty=True))
