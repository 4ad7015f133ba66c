"""What the arrival tests share: the servers the sources talk to, on 127.0.0.1 (a small GEODES-like
STAC API, an asset host on another origin, a bucket of the moto server that notifies an SQS queue),
and the products' names they find."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from snowdays.archive import identify
from snowdays.ingest import ingest
from snowdays.names import ProductId, parse_name, strip_suffix
from snowdays.settings import Settings, get_settings
from tests.conftest import S3Server

KEY = "good-key"
DATASET = "MUSCATE_Snow_SENTINEL2_L2B-SNOW"


def pid_of(path: Path) -> ProductId:
    """The product a zip of the sample season is."""
    return parse_name(strip_suffix(path.name))


def partly_folded(tmp_path: Path, ours: Sequence[Path],
                  theirs: Sequence[Path]) -> tuple[Path, str, list[Path], list[Path], list[Path]]:
    """An archive of products of a tile (``ours``) and of another (``theirs``), and a README; the
    tile's store holds two of its Sentinel-2 products: (archive, store, ours, theirs, those folded)."""
    archive, store = tmp_path / "archive", str(tmp_path / "stores")
    archive.mkdir()
    copied = [Path(shutil.copy(p, archive)) for p in ours]
    others = [Path(shutil.copy(p, archive)) for p in theirs]
    (archive / "README.txt").write_text("not a product")
    folded = [p for p in copied if "SENTINEL2" in p.name][:2]
    for path in folded:
        ingest(store, str(path), get_settings())
    return archive, store, copied, others, folded


def first_folded(tmp_path: Path, products: Sequence[Path]) -> tuple[Path, Path]:
    """An archive of the products, the first of them in the tile's store: (archive, store)."""
    archive, store = tmp_path / "archive", tmp_path / "stores"
    archive.mkdir()
    for path in products:
        shutil.copy(path, archive)
    ingest(str(store), str(archive / products[0].name), get_settings())
    return archive, store


def names(arrivals: Iterable[tuple[str, ProductId]]) -> list[str]:
    """The product names of arrivals, checking that each href names the product given with it."""
    found = list(arrivals)
    assert all(identify(href) == pid for href, pid in found)
    return [pid.name for _, pid in found]


@dataclass
class Geodes:
    """A STAC API in the style of CNES GEODES: ``POST /api/stac/search`` filtered by ``query`` on
    ``dataset`` and ``grid:code``, paged by ``page``/``limit`` with ``next`` links (POST, merged body),
    the ``X-API-Key`` header required, zip assets served under ``/api/download/``."""

    products: dict[str, bytes]
    base: str = ""
    truncated: set[str] = field(default_factory=set)
    """Products whose download is cut halfway (the connection drops)."""
    corrupt: set[str] = field(default_factory=set)
    """Products whose download is whole but not what their MD5 says."""
    moved: dict[str, str] = field(default_factory=dict)
    """Products whose download answers a redirect to the URL given."""
    relay: str | None = None
    """URL the first page's ``next`` link points to (GET) instead of the API's second page."""
    failing: int = 0
    """Searches still to be answered 503 (the API down for a while)."""
    searches: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base}/api/stac"

    def add(self, path: Path, dataset: str = DATASET) -> None:
        name, data = strip_suffix(path.name), path.read_bytes()
        self.products[name] = data
        self.items.append(item(name, path.name, data, f"{self.base}/api/download/{name}", dataset))

    def page(self, body: dict[str, Any]) -> dict[str, Any]:
        query, page, limit = body["query"], int(body.get("page", 1)), int(body.get("limit", 80))
        matched = [i for i in self.items if i["properties"]["dataset"] in query["dataset"]["in"]
                   and i["properties"]["grid:code"] in query["grid:code"]["in"]]
        features = matched[(page - 1) * limit: page * limit]
        links = [{"rel": "next", "href": f"{self.url}/search", "method": "POST", "merge": True,
                  "body": {"page": page + 1}}] if page * limit < len(matched) else []
        if self.relay:
            links = [{"rel": "next", "href": self.relay, "method": "GET"}]
        return {"type": "FeatureCollection", "features": features, "links": links,
                "context": {"page": page, "limit": limit, "matched": len(matched), "returned": len(features)}}


def item(name: str, filename: str, data: bytes, href: str, dataset: str = DATASET) -> dict[str, Any]:
    """A GEODES item of a product: a quicklook and the zip, whose description gives its MD5."""
    pid = parse_name(name)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": f"URN:FEATURE:DATA:gdh:{uuid.uuid4()}:V1",
        "collection": dataset, "geometry": None, "links": [],
        "properties": {"identifier": name, "dataset": dataset, "grid:code": pid.tile,
                       "datetime": pid.acquired.isoformat()},
        "assets": {
            f"{name}_quicklook.jpg": {"href": f"{href}/quicklook", "type": "image/jpeg",
                                      "roles": ["overview"]},
            filename: {"href": href, "type": "application/zip", "title": filename, "roles": ["data"],
                       "description": f"File size: {len(data)} bytes\n\nChecksum MD5: {md5}"},
        },
    }


class _GeodesHandler(BaseHTTPRequestHandler):
    """The requests to a :class:`Geodes` (``api``, set on a subclass per server)."""

    api: Geodes

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, code: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refused(self) -> bool:
        if self.headers.get("X-API-Key") == KEY:
            return False
        self.reply(403, b'{"message": "Forbidden: invalid API key"}')
        return True

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.api.searches.append((self.headers.get("X-API-Key"), body))
        if self.path != "/api/stac/search" or self.refused():
            return
        if self.api.failing:
            self.api.failing -= 1
            self.reply(503, b'{"message": "Service Unavailable"}')
        elif "dataset" not in body.get("query", {}) or "grid:code" not in body["query"]:
            self.reply(400, b'{"message": "query.dataset and query.grid:code are required"}')
        else:
            self.reply(200, json.dumps(self.api.page(body)).encode())

    def do_GET(self) -> None:
        name = self.path.removeprefix("/api/download/")
        if self.refused():
            return
        if name in self.api.moved:
            self.send_response(302)
            self.send_header("Location", self.api.moved[name])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = self.api.products[name]
        if name in self.api.corrupt:
            data = bytes(b ^ 0xFF for b in data)
        if name in self.api.truncated:
            self.cut(data)
        else:
            self.reply(200, data, "application/zip")

    def cut(self, data: bytes) -> None:
        """Send half of ``data`` and drop the connection (a download lost halfway)."""
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server on a free port of 127.0.0.1 in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def geodes_api(products: Sequence[Path], other_dataset: Sequence[Path] = ()) -> Iterator[Geodes]:
    """A running :class:`Geodes` offering the products (and others in another dataset)."""
    api = Geodes({})
    with serving(type("Handler", (_GeodesHandler,), {"api": api})) as base:
        api.base = base
        for path in products:
            api.add(path)
        for path in other_dataset:
            api.add(path, dataset="MUSCATE_SENTINEL2_SENTINEL2_L2A")
        yield api


def geodes_settings(api: Geodes, key: str = KEY, **more: Any) -> Settings:
    return get_settings(geodes_url=api.url, geodes_api_key=key, geodes_datasets=[DATASET], **more)


@dataclass
class AssetHost:
    """Another origin than the API's (another port of 127.0.0.1): it serves files under ``/files/``
    and records the headers of every request it receives."""

    files: dict[str, bytes] = field(default_factory=dict)
    base: str = ""
    received: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base}/files/{name}"

    def keyed(self) -> list[str]:
        """The paths of the requests that came with an API key."""
        return [path for path, headers in self.received if "x-api-key" in map(str.lower, headers)]


class _AssetHandler(BaseHTTPRequestHandler):
    """The requests to an :class:`AssetHost` (``host``, set on a subclass per server)."""

    host: AssetHost

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.host.received.append((self.path, dict(self.headers.items())))
        data = self.host.files.get(self.path.removeprefix("/files/"))
        self.send_response(200 if data is not None else 404)
        self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")


@contextmanager
def asset_server() -> Iterator[AssetHost]:
    host = AssetHost()
    with serving(type("Handler", (_AssetHandler,), {"host": host})) as base:
        host.base = base
        yield host


@dataclass(frozen=True)
class Bucket:
    """A bucket whose object creations are notified to an SQS queue, both on the moto server."""

    name: str
    queue_url: str
    settings: Settings
    s3: Any
    sqs: Any

    @property
    def archive(self) -> str:
        return f"s3://{self.name}/archive"

    def left(self) -> int:
        """Messages still in the queue, visible or in flight."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def notify(self, key: str) -> None:
        """Send the queue the message S3 sends when the object ``key`` is created."""
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=s3_notification(self.name, key))


def notified_bucket(s3_server: S3Server, **settings: Any) -> Bucket:
    """A new bucket of the moto server, notifying a new queue of its object creations."""
    import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 - as in conftest

    name = f"watch-{uuid.uuid4().hex[:8]}"
    s3 = s3_server.client()
    sqs = boto3.client("sqs", endpoint_url=s3_server.endpoint_url, region_name="us-east-1")
    s3.create_bucket(Bucket=name)
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    options = {"s3_endpoint_url": s3_server.endpoint_url, "sqs_wait_seconds": 1, **settings}
    return Bucket(name, queue_url, get_settings(**options), s3, sqs)


def s3_notification(bucket: str, key: str) -> str:
    """The JSON S3 sends to SQS when an object is created (keys URL-encoded as S3 does)."""
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2018-01-15T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "arrivals",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key, safe="/"), "size": 1, "eTag": "0"}},
    }]})
