"""The library's arrival sources without Prefect: the archive's listing (snowdays.arrivals.listing)
and S3 notifications through SQS (snowdays.arrivals.sqs), against the moto S3 + SQS server on
loopback. The STAC API search is tested in tests/test_arrivals_stac_search.py."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from snowdays.archive import arrived as archive_listing
from snowdays.arrivals import listing
from snowdays.arrivals.listing import appearing, unfolded
from snowdays.arrivals.sqs import notices, read_notification
from snowdays.errors import UsageError
from snowdays.names import ProductId, strip_suffix
from snowdays.season import parse_season
from snowdays.settings import get_settings
from snowdays.storage import list_products
from tests.arrivaldata import (
    Bucket,
    first_folded,
    names,
    notified_bucket,
    partly_folded,
    pid_of,
    s3_notification,
)
from tests.conftest import S3Server

SEASON = parse_season("2017-2018")


# --- the listing ---------------------------------------------------------------------------------


def test_unfolded_is_what_no_store_has_folded(tmp_path: Path, zipped_season: list[Path],
                                              other_tile_zips: list[Path]) -> None:
    """Of a tile with a partly filled store, the products its ledger lacks; every product of a tile
    without a store; nothing for an entry that is not a product."""
    archive, store, ours, theirs, folded = partly_folded(tmp_path, zipped_season[:6], other_tile_zips)
    settings = get_settings()

    found = unfolded(str(archive), store, settings)

    expected = [pid_of(p).name for p in ours + theirs if p not in folded]
    assert sorted(names(list(found.items()))) == sorted(expected)
    assert {found[str(p)].tile for p in theirs} == {"T32TLR"}


def test_a_product_landing_during_a_sweep_is_left_to_the_next(tmp_path: Path, zipped_season: list[Path],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A product put in the archive between the sweep's listing and its tiles' pending lists (which
    list the archive again) is not announced by that sweep, which does not fail; the next finds it."""
    archive, store = first_folded(tmp_path, zipped_season[:3])
    settings, listed = get_settings(), archive_listing

    def then_one_lands(*args: Any) -> dict[str, ProductId]:
        found = listed(*args)
        shutil.copy(zipped_season[3], archive)
        return found

    monkeypatch.setattr(listing, "arrived", then_one_lands)
    first = unfolded(str(archive), str(store), settings)
    monkeypatch.undo()
    later = unfolded(str(archive), str(store), settings)

    assert sorted(names(list(first.items()))) == sorted(pid_of(p).name for p in zipped_season[1:3])
    assert sorted(names(list(later.items()))) == sorted(pid_of(p).name for p in zipped_season[1:4])


def test_appearing_gives_each_product_once(tmp_path: Path, zipped_season: list[Path]) -> None:
    """At start the products not folded yet (not the folded one), then the one copied in between two
    looks, and nothing twice: three looks in all, then stopped."""
    archive, store = first_folded(tmp_path, zipped_season[:3])
    settings = get_settings(archive=str(archive), store=str(store), watch_poll_seconds=0.01)
    looks: list[float] = []

    def wait(seconds: float) -> None:
        looks.append(seconds)
        if len(looks) == 1:
            shutil.copy(zipped_season[3], archive)

    found = names(appearing(settings, lambda: len(looks) == 3, wait))

    assert found == [pid_of(p).name for p in zipped_season[1:4]]
    assert looks == [0.01] * 3


# --- S3 notifications through SQS ----------------------------------------------------------------


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:
    return notified_bucket(s3_server)


def test_a_notification_names_the_products_under_the_archive(zipped_season: list[Path]) -> None:
    """A zip object and a member of a directory product under the prefix are products; a key of
    another bucket, and one that names no product, are strays; a test event and a deletion, nothing."""
    zipped, folder = zipped_season[0].name, strip_suffix(zipped_season[1].name)
    records = [json.loads(s3_notification(b, k))["Records"][0] for b, k in [
        ("b", f"archive/{zipped}"), ("b", f"archive/{folder}/{folder}_SNW_R2.tif"),
        ("other", f"archive/{zipped}"), ("b", "archive/notes on it.txt")]]
    deleted = {**records[0], "eventName": "ObjectRemoved:Delete"}
    notice = read_notification(json.dumps({"Records": [*records, deleted]}), "s3://b/archive")

    assert notice.products == {"s3://b/archive/" + zipped: pid_of(zipped_season[0]),
                               f"s3://b/archive/{folder}": pid_of(zipped_season[1])}
    assert notice.strays == [f"s3://other/archive/{zipped}", "s3://b/archive/notes on it.txt"]
    assert read_notification(json.dumps({"Event": "s3:TestEvent"}), "s3://b/archive").products == {}
    assert read_notification("not json", "s3://b/archive").strays == ["(not an S3 notification: 'not json')"]


def test_sqs_notifications_name_the_products(bucket: Bucket, zipped_season: list[Path], tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """Objects put in the bucket: a zip product, the members of a directory product, a file that is no
    product, and a product outside the archive prefix. The server's notifications (and its
    ``s3:TestEvent``) give each product under the prefix once; every message is deleted."""
    zipped, folder = zipped_season[0], zipped_season[1]
    shutil.unpack_archive(folder, tmp_path)
    directory = tmp_path / strip_suffix(folder.name)
    members = sorted(directory.iterdir())
    assert len(members) > 1
    bucket.s3.upload_file(str(zipped), bucket.name, f"archive/{zipped.name}")
    for member in members:
        bucket.s3.upload_file(str(member), bucket.name, f"archive/{directory.name}/{member.name}")
    bucket.s3.put_object(Bucket=bucket.name, Key="archive/notes on it.txt", Body=b"no product")
    bucket.s3.upload_file(str(zipped_season[2]), bucket.name, f"elsewhere/{zipped_season[2].name}")

    with caplog.at_level(logging.INFO, logger="snowdays.arrivals.sqs"):
        found = dict(notices(bucket.queue_url, bucket.archive, bucket.settings, until_empty=True))

    assert sorted(found) == sorted([f"{bucket.archive}/{zipped.name}", f"{bucket.archive}/{directory.name}"])
    assert sorted(names(list(found.items()))) == sorted([pid_of(zipped).name, directory.name])
    assert sorted(list_products(bucket.archive, bucket.settings)) == sorted(
        [*found, f"{bucket.archive}/notes on it.txt"])
    assert f"skipped s3://{bucket.name}/archive/notes on it.txt: it names no product" in caplog.text
    assert f"skipped s3://{bucket.name}/elsewhere/{zipped_season[2].name}" in caplog.text
    assert bucket.left() == 0


def test_a_duplicated_notification_names_its_product_once(bucket: Bucket, zipped_season: list[Path]) -> None:
    """SQS may deliver a message twice and S3 may notify one object twice: one product per batch.
    Both notifications are sent in the exact form S3 gives them, so that the batch holds them; the
    third message is the server's ``s3:TestEvent``, which names nothing."""
    key = f"archive/{zipped_season[3].name}"
    bucket.notify(key)
    bucket.notify(key)

    found = list(notices(bucket.queue_url, bucket.archive, bucket.settings, max_messages=3))

    assert found == [(f"s3://{bucket.name}/{key}", pid_of(zipped_season[3]))]
    assert bucket.left() == 0


def test_messages_are_deleted_once_their_products_are_taken(bucket: Bucket,
                                                            zipped_season: list[Path]) -> None:
    """While the caller holds a batch's first product (has not asked for the next), its messages stay
    in the queue: a caller that dies then has them delivered again."""
    for path in zipped_season[:2]:
        bucket.notify(f"archive/{path.name}")
    arrivals = notices(bucket.queue_url, bucket.archive, bucket.settings, until_empty=True)

    first = next(arrivals)
    held = bucket.left()
    rest = list(arrivals)

    assert names([first, *rest]) == [pid_of(p).name for p in zipped_season[:2]]
    assert held == 3  # both notifications and the server's test event, in flight
    assert bucket.left() == 0


def test_sqs_needs_an_s3_archive(bucket: Bucket) -> None:
    with pytest.raises(UsageError, match=r"S3 notifications need an s3:// archive, not 'archive'"):
        next(notices(bucket.queue_url, "archive", bucket.settings, until_empty=True))
