"""S3 notifications through SQS as an arrival source: the archive bucket's ``ObjectCreated`` events.

A message names products by their objects' keys; a key names the product of its first path component
under the archive's prefix (a zip or tif object, or a member of a directory product).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import boto3  # type: ignore[import-untyped]

from snowdays.archive import identify
from snowdays.errors import UsageError
from snowdays.names import ProductId
from snowdays.settings import Settings
from snowdays.storage import is_s3

log = logging.getLogger(__name__)
BATCH = 10
"""Messages one poll receives at most (SQS allows 10)."""


@dataclass(frozen=True)
class Notice:
    """What one SQS message says: the archive's products it names, and the keys that name none."""

    products: dict[str, ProductId] = field(default_factory=dict)
    strays: list[str] = field(default_factory=list)


def read_notification(body: str, archive: str) -> Notice:
    """The products of an S3 notification (``ObjectCreated:*`` records) under the archive prefix;
    ``s3:TestEvent`` and events other than creations name nothing."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError:
        return Notice(strays=[f"(not an S3 notification: {body[:80]!r})"])
    if not isinstance(message, dict) or message.get("Event") == "s3:TestEvent":
        return Notice()
    notice = Notice()
    for record in message.get("Records", []):
        if str(record.get("eventName", "")).startswith("ObjectCreated:"):
            _add(notice, archive, record.get("s3", {}))
    return notice


def _add(notice: Notice, archive: str, s3: dict[str, Any]) -> None:
    """Put the record's object in the notice: as the product it names, else as a stray."""
    named = s3.get("bucket", {}).get("name", "")
    key = unquote_plus(s3.get("object", {}).get("key", ""))
    href = _entry(archive, named, key)
    pid = identify(href) if href else None
    if href and pid is not None:
        notice.products[href] = pid
    else:
        notice.strays.append(f"s3://{named}/{key}")


def _entry(archive: str, record_bucket: str, key: str) -> str | None:
    """The archive entry (``s3://bucket/prefix/NAME``) an object key belongs to, if any."""
    bucket, _, prefix = archive.removeprefix("s3://").rstrip("/").partition("/")
    head = f"{prefix}/" if prefix else ""
    if record_bucket != bucket or not key.startswith(head):
        return None
    name = key[len(head):].split("/", 1)[0]
    return f"s3://{bucket}/{head}{name}" if name else None


def notices(queue_url: str, archive: str, settings: Settings, *, stopped: Callable[[], bool] | None = None,
            max_messages: int | None = None, until_empty: bool = False) -> Iterator[tuple[str, ProductId]]:
    """Long-poll the queue (``sqs_wait_seconds`` a poll) and yield the products of each batch of
    messages, once each. A batch's messages are deleted when the caller asks for more after its last
    product: a product the caller failed to announce is notified again.

    Stops after ``max_messages`` messages, when ``stopped()`` is true (checked between polls), or at
    the first empty poll with ``until_empty``; else runs for ever.
    """
    if not is_s3(archive):
        raise UsageError(f"S3 notifications need an s3:// archive, not {archive!r}")
    sqs = boto3.client("sqs", region_name=settings.s3_region,
                       endpoint_url=settings.sqs_endpoint_url or settings.s3_endpoint_url)
    received = 0
    while not (stopped and stopped()) and (max_messages is None or received < max_messages):
        batch = BATCH if max_messages is None else min(BATCH, max_messages - received)
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=batch,
                                       WaitTimeSeconds=settings.sqs_wait_seconds).get("Messages", [])
        if not messages and until_empty:
            return
        received += len(messages)
        yield from _products(messages, archive).items()
        _delete(sqs, queue_url, messages)


def _products(messages: list[dict[str, Any]], archive: str) -> dict[str, ProductId]:
    """The products a batch of messages names (a product notified twice, once); strays are logged."""
    found: dict[str, ProductId] = {}
    for message in messages:
        notice = read_notification(message["Body"], archive)
        found |= notice.products
        for stray in notice.strays:
            log.info("skipped %s: it names no product of %s", stray, archive)
    return found


def _delete(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> None:
    """Delete a batch's messages; one that cannot be is logged (it comes back, a duplicate)."""
    if not messages:
        return
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
    for failure in sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", []):
        log.warning("could not delete message %s from %s: %s", failure.get("Id"), queue_url,
                    failure.get("Message"))
