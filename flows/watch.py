"""watch: the arrival sources, each turning products that land in the archive into a Prefect event.

Every source emits ``snow.product.arrived`` through :func:`emit_arrival`, one event per product; the
event only wakes ``update_tile`` up (the truth is the archive minus the ledgers), so a duplicate costs
a no-op run and a lost one is found by the next :func:`sweep`.

- :func:`sweep` lists the archive and emits an event per product no tile store has folded or
  quarantined (served on an interval by ``snowdays up``);
- :func:`listen_sqs` long-polls an SQS queue that receives the archive bucket's S3 notifications;
- :func:`poll_stac_api` searches a STAC API in the style of CNES GEODES for the watched tiles,
  downloads new products' zips into the archive, then emits their events.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import boto3  # type: ignore[import-untyped]
import httpx
from prefect import flow, get_run_logger
from prefect.events import Event, emit_event
from prefect.exceptions import MissingContextError

from snowdays.archive import arrived, identify, pending
from snowdays.errors import StorageError, UsageError
from snowdays.names import ProductId, normalise_tile
from snowdays.settings import Settings, get_settings
from snowdays.storage import filesystem, is_s3

ARRIVED = "snow.product.arrived"
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
MAX_PAGES = 10_000
"""Pages of one search followed at most (a guard against a server whose ``next`` link loops)."""
API_KEY = "X-API-Key"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _log() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run's logger inside a flow (shown in the Prefect UI), this module's outside."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def emit_arrival(href: str, pid: ProductId) -> Event | None:
    """Emit ``snow.product.arrived`` for one product of the archive (None: events are off)."""
    resource = {
        "prefect.resource.id": f"snow.product.{pid.name}",
        "prefect.resource.name": pid.name,
        "tile": pid.tile,
        "platform": pid.platform,
        "acquired": pid.acquired.date().isoformat(),
        "href": href,
    }
    return emit_event(event=ARRIVED, resource=resource)


# --- the sweep -----------------------------------------------------------------------------------


def sweep_archive(archive: str, store: str, settings: Settings) -> list[str]:
    """Emit an event per product of the archive that its tile's store has neither folded nor
    quarantined; return their hrefs."""
    products = arrived(archive, settings)
    emitted = []
    for tile in sorted({pid.tile for pid in products.values()}):
        for href in pending(archive, store, tile, settings):
            emit_arrival(href, products[href])
            emitted.append(href)
    _log().info("sweep of %s: %d pending products of %d", archive, len(emitted), len(products))
    return emitted


@flow(name="sweep-archive")
def sweep(archive: str | None = None, store: str | None = None) -> list[str]:
    """The safety net for lost events: an event per pending product (archive and store default to
    the settings')."""
    settings = get_settings()
    return sweep_archive(archive or settings.archive, store or settings.store, settings)


# --- S3 notifications through SQS ----------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """What one SQS message says: the archive's products it names, and the keys that name none."""

    products: dict[str, ProductId] = field(default_factory=dict)
    strays: list[str] = field(default_factory=list)


def read_notification(body: str, archive: str) -> Notice:
    """The products of an S3 notification (``ObjectCreated:*`` records) under the archive prefix.

    A key names the product of its first path component under the prefix: a zip or tif object, or a
    member of a directory product. ``s3:TestEvent`` and other events than creations name nothing.
    """
    try:
        message = json.loads(body)
    except json.JSONDecodeError:
        return Notice(strays=[f"(not an S3 notification: {body[:80]!r})"])
    if not isinstance(message, dict) or message.get("Event") == "s3:TestEvent":
        return Notice()
    bucket, _, prefix = archive.removeprefix("s3://").rstrip("/").partition("/")
    products: dict[str, ProductId] = {}
    strays = []
    for record in message.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record.get("s3", {})
        named = s3.get("bucket", {}).get("name", "")
        key = unquote_plus(s3.get("object", {}).get("key", ""))
        href = _entry(bucket, prefix, named, key)
        pid = identify(href) if href else None
        if href and pid is not None:
            products[href] = pid
        else:
            strays.append(f"s3://{named}/{key}")
    return Notice(products, strays)


def _entry(bucket: str, prefix: str, record_bucket: str, key: str) -> str | None:
    """The archive entry (``s3://bucket/prefix/NAME``) an object key belongs to, if any."""
    head = f"{prefix}/" if prefix else ""
    if record_bucket != bucket or not key.startswith(head):
        return None
    name = key[len(head):].split("/", 1)[0]
    return f"s3://{bucket}/{head}{name}" if name else None


def _sqs(settings: Settings) -> Any:
    endpoint = settings.sqs_endpoint_url or settings.s3_endpoint_url
    return boto3.client("sqs", region_name=settings.s3_region, endpoint_url=endpoint)


def listen_sqs(
    queue_url: str, archive: str, settings: Settings | None = None, *, max_messages: int | None = None,
    stop: Callable[[], bool] | None = None, until_empty: bool = False, wait_seconds: int | None = None,
) -> list[str]:
    """Long-poll the queue and emit one event per product named in each batch; return the hrefs.

    Messages are deleted once their events are emitted (a message naming no product is logged and
    deleted too). Stops after ``max_messages`` messages, when ``stop()`` is true (checked between
    polls), or at the first empty poll with ``until_empty``; else runs for ever.
    """
    settings = settings or get_settings()
    if not is_s3(archive):
        raise UsageError(f"S3 notifications need an s3:// archive, not {archive!r}")
    sqs = _sqs(settings)
    wait = settings.sqs_wait_seconds if wait_seconds is None else wait_seconds
    emitted: list[str] = []
    received = 0
    while not (stop and stop()) and (max_messages is None or received < max_messages):
        batch = min(10, max_messages - received) if max_messages is not None else 10
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=batch,
                                       WaitTimeSeconds=wait).get("Messages", [])
        if not messages and until_empty:
            break
        received += len(messages)
        emitted += _handle_batch(sqs, queue_url, messages, archive)
    return emitted


def _handle_batch(sqs: Any, queue_url: str, messages: list[dict[str, Any]], archive: str) -> list[str]:
    """Emit the batch's products once each, then delete its messages."""
    found: dict[str, ProductId] = {}
    for message in messages:
        notice = read_notification(message["Body"], archive)
        found |= notice.products
        for stray in notice.strays:
            _log().info("skipped %s: it names no product of %s", stray, archive)
    for href, pid in found.items():
        emit_arrival(href, pid)
    if messages:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        failed = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
        for failure in failed:
            _log().warning("could not delete message %s from %s: %s", failure.get("Id"), queue_url,
                           failure.get("Message"))
    return list(found)


# --- a STAC API search, in the style of CNES GEODES ----------------------------------------------


@dataclass(frozen=True)
class Offer:
    """A product a STAC API offers: its id, the zip asset's URL, and the zip's MD5 if given."""

    pid: ProductId
    url: str
    md5: str | None


_MD5 = re.compile(r"Checksum MD5:\s*([0-9a-fA-F]{32})")


def search_body(datasets: list[str], tiles: list[str], limit: int) -> dict[str, Any]:
    """The first page's body: GEODES filters with ``query`` operators on ``dataset`` and ``grid:code``."""
    return {"page": 1, "limit": limit, "collections": datasets,
            "query": {"dataset": {"in": datasets}, "grid:code": {"in": tiles}}}


def search(client: httpx.Client, url: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The items of a search, following ``next`` links (POST with a body, merged or not, or GET)."""
    method, target, page = "POST", f"{url.rstrip('/')}/search", body
    for _ in range(MAX_PAGES):
        answer = _json(client.request(method, target, json=page if method == "POST" else None), target)
        yield from answer.get("features", [])
        link = next((k for k in answer.get("links", []) if k.get("rel") == "next"), None)
        if link is None or not answer.get("features"):
            return
        method, target = str(link.get("method", "GET")).upper(), link["href"]
        page = {**page, **link.get("body", {})} if link.get("merge") else link.get("body", {})


def _json(response: httpx.Response, url: str) -> dict[str, Any]:
    _check(response, url)
    try:
        answer = response.json()
    except ValueError as e:
        raise StorageError(f"The STAC API at {url} did not answer with JSON: {e}") from e
    if not isinstance(answer, dict):
        raise StorageError(f"The STAC API at {url} answered {type(answer).__name__}, not an object")
    return answer


def _check(response: httpx.Response, url: str) -> None:
    """Refused keys and bad requests are final; server faults and throttling may pass."""
    code = response.status_code
    if code in (401, 403):
        raise UsageError(f"The STAC API at {url} refused the API key (HTTP {code}): set "
                         "SNOWDAYS_GEODES_API_KEY to a valid key")
    if code in (408, 429) or code >= 500:
        raise StorageError(f"The STAC API at {url} failed (HTTP {code}); try again later")
    if code >= 400:
        response.read()
        raise UsageError(f"The STAC API at {url} rejected the request (HTTP {code}): {response.text[:300]}")


def offer(item: dict[str, Any]) -> Offer | None:
    """The product an item offers as a zip data asset (None: no zip, or not a product's name)."""
    for key, asset in item.get("assets", {}).items():
        name = posixpath.basename(str(asset.get("title") or key))
        is_zip = asset.get("type") == "application/zip" or name.lower().endswith(".zip")
        if is_zip and "data" in asset.get("roles", ["data"]):
            pid = identify(name)
            md5 = _MD5.search(str(asset.get("description", "")))
            return Offer(pid, asset["href"], md5.group(1).lower() if md5 else None) if pid else None
    return None


def download(client: httpx.Client, product: Offer, archive: str, settings: Settings) -> str:
    """Stream a product's zip into the archive under a hidden temporary name, check its MD5, then
    move it to ``NAME.zip``: a half download is never seen as a product. Return its href."""
    fs = filesystem(archive, settings)
    root = archive.rstrip("/")
    path = root.removeprefix("s3://")
    if not is_s3(archive):
        fs.makedirs(path, exist_ok=True)
    part = f"{path}/.{product.pid.name}.zip.part"
    try:
        digest = _stream(client, product.url, fs, part)
        if product.md5 and digest != product.md5:
            raise StorageError(f"Download of {product.pid.name} from {product.url} is corrupt: MD5 "
                               f"{digest}, the STAC API says {product.md5}")
        fs.mv(part, f"{path}/{product.pid.name}.zip")
    except BaseException:
        if fs.exists(part):
            fs.rm(part)
        raise
    return f"{root}/{product.pid.name}.zip"


def _stream(client: httpx.Client, url: str, fs: Any, part: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with client.stream("GET", url) as response, fs.open(part, "wb") as out:
            _check(response, url)
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
                digest.update(chunk)
    except httpx.HTTPError as e:
        raise StorageError(f"Could not download {url}: {e}") from e
    return digest.hexdigest()


def origin(url: httpx.URL | str) -> tuple[str, str, int | None]:
    """A URL's origin: scheme, host and port (the scheme's default port when none is written)."""
    url = httpx.URL(url)
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def keyed_to(api: str, key: str) -> Callable[[httpx.Request], None]:
    """A request hook that puts the API key on requests to the API's origin and takes it off any
    other: asset hosts and redirect targets elsewhere never see it (httpx runs request hooks on every
    hop of a redirect, and copies a request's headers to the next hop)."""
    home = origin(api)

    def hook(request: httpx.Request) -> None:
        if origin(request.url) == home:
            request.headers[API_KEY] = key
        else:
            request.headers.pop(API_KEY, None)

    return hook


def fetch_new(archive: str, tiles: list[str], settings: Settings, *, limit: int = 80) -> list[str]:
    """Search the STAC API for the tiles' products, download those not in the archive, and emit an
    event for each once it is in place; return their hrefs."""
    if settings.geodes_api_key is None:
        raise UsageError(f"No API key for the STAC API at {settings.geodes_url}: set "
                         "SNOWDAYS_GEODES_API_KEY")
    tiles = [normalise_tile(t) for t in tiles]
    have = {pid.name for pid in arrived(archive, settings).values()} if _exists(archive, settings) else set()
    hooks = {"request": [keyed_to(settings.geodes_url, settings.geodes_api_key.get_secret_value())]}
    fetched = []
    with httpx.Client(event_hooks=hooks, timeout=HTTP_TIMEOUT, follow_redirects=True) as client:
        body = search_body(settings.geodes_datasets, tiles, limit)
        for item in search(client, settings.geodes_url, body):
            product = offer(item)
            if product is None:
                _log().info("skipped item %s: no zip asset named like a product", item.get("id"))
            elif product.pid.name not in have and product.pid.tile in tiles:
                href = download(client, product, archive, settings)
                have.add(product.pid.name)
                emit_arrival(href, product.pid)
                fetched.append(href)
    _log().info("STAC API search for %s: %d new products", ", ".join(tiles), len(fetched))
    return fetched


def _exists(archive: str, settings: Settings) -> bool:
    """Whether the archive has been made (an S3 prefix exists once it holds an object)."""
    return bool(filesystem(archive, settings).exists(archive.removeprefix("s3://").rstrip("/")))


@flow(name="poll-stac-api")
def poll_stac_api(archive: str | None = None, tiles: list[str] | None = None) -> list[str]:
    """Fetch the watched tiles' new products from the STAC API into the archive (defaults: the
    settings' archive and ``watch_tiles``)."""
    settings = get_settings()
    return fetch_new(archive or settings.archive, tiles or settings.watch_tiles, settings)
