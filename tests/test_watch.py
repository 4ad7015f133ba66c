"""The arrival sources emit one ``snow.product.arrived`` per new product, against real servers on loopback:
a moto S3 + SQS server, a small GEODES-like STAC API served here, and Prefect's test harness (events are
recorded with Prefect's ``AssertingEventsClient``)."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from flows.watch import ARRIVED, emit_arrival, fetch_new, listen_sqs, poll_stac_api, sweep
from snowdays.archive import identify
from snowdays.errors import StorageError, UsageError
from snowdays.ingest import ingest
from snowdays.names import ProductId, parse_name, strip_suffix
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.settings import Settings, get_settings
from snowdays.storage import filesystem, list_products
from tests.conftest import S3Server

SEASON = parse_season("2017-2018")
KEY = "good-key"
DATASET = "MUSCATE_Snow_SENTINEL2_L2B-SNOW"
Events = Callable[[], list[Any]]


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Zipped products of T31TCH, in acquisition order."""
    return make_season(tmp_path_factory.mktemp("season"), "T31TCH", SEASON, 20, "muscate", True, seed=7)


@pytest.fixture(scope="module")
def other_tile(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two zipped products of T32TLR."""
    return make_season(tmp_path_factory.mktemp("other"), "T32TLR", SEASON, 20, "muscate", True, seed=3)[:2]


def pid_of(path: Path) -> ProductId:
    return parse_name(strip_suffix(path.name))


def announced(events: Events) -> list[dict[str, str]]:
    """The resources of the arrival events (flow runs emit events of their own)."""
    return [dict(e.resource.items()) for e in events() if e.event == ARRIVED]


def arrivals(events: Events) -> Counter[str]:
    """How many arrival events each product got."""
    return Counter(r["prefect.resource.name"] for r in announced(events))


def test_emit_arrival_sends_the_contract_resource(prefect_events: Events) -> None:
    name = "SENTINEL2A_20170821-103629-085_L2B-SNOW_T31TCH_C_V1-7"
    sent = emit_arrival(f"s3://bucket/archive/{name}.zip", parse_name(name))
    [event] = [e for e in prefect_events() if e.event == ARRIVED]
    assert sent is not None and event.id == sent.id
    assert dict(event.resource.items()) == {
        "prefect.resource.id": f"snow.product.{name}", "prefect.resource.name": name,
        "tile": "T31TCH", "platform": "SENTINEL2A", "acquired": "2017-08-21",
        "href": f"s3://bucket/archive/{name}.zip",
    }


# --- the sweep -----------------------------------------------------------------------------------


def test_sweep_emits_one_event_per_pending_product(tmp_path: Path, season: list[Path], other_tile: list[Path],
                                                   prefect_events: Events) -> None:
    """Of a tile with a partly filled store, only the products its ledger lacks; every product of a
    tile without a store; nothing for an entry that is not a product."""
    archive, store = tmp_path / "archive", str(tmp_path / "stores")
    archive.mkdir()
    ours = [Path(shutil.copy(p, archive)) for p in season[:6]]
    theirs = [Path(shutil.copy(p, archive)) for p in other_tile]
    (archive / "README.txt").write_text("not a product")
    settings = get_settings()
    folded = [p for p in ours if "SENTINEL2" in p.name][:2]
    for path in folded:
        ingest(store, str(path), settings)

    hrefs = sweep(str(archive), store)

    expected = {pid_of(p).name for p in ours + theirs if p not in folded}
    assert {pid_of(Path(h)).name for h in hrefs} == expected
    assert arrivals(prefect_events) == Counter(expected)
    tiles = {r["prefect.resource.name"]: r["tile"] for r in announced(prefect_events)}
    assert {tiles[pid_of(p).name] for p in theirs} == {"T32TLR"}


# --- S3 notifications through SQS ----------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """A bucket whose object creations are notified to an SQS queue, both on the moto server."""

    name: str
    queue_url: str
    settings: Settings
    s3: Any
    sqs: Any

    def left(self) -> int:
        """Messages still in the queue, visible or in flight."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:
    import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 - as in conftest

    name = f"watch-{uuid.uuid4().hex[:8]}"
    s3 = s3_server.client()
    sqs = boto3.client("sqs", endpoint_url=s3_server.endpoint_url, region_name="us-east-1")
    s3.create_bucket(Bucket=name)
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    return Bucket(name, queue_url, get_settings(s3_endpoint_url=s3_server.endpoint_url), s3, sqs)


def test_sqs_notifications_become_events(bucket: Bucket, season: list[Path], tmp_path: Path,
                                         prefect_events: Events, caplog: pytest.LogCaptureFixture) -> None:
    """Objects put in the bucket: a zip product, the members of a directory product, a file that is no
    product, and a product outside the archive prefix. The server's notifications (and its
    ``s3:TestEvent``) give one event per product under the prefix; every message is deleted."""
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

    with caplog.at_level(logging.INFO, logger="flows.watch"):
        hrefs = listen_sqs(bucket.queue_url, f"s3://{bucket.name}/archive", bucket.settings,
                           until_empty=True, wait_seconds=1)

    archive = f"s3://{bucket.name}/archive"
    assert sorted(hrefs) == sorted([f"{archive}/{zipped.name}", f"{archive}/{directory.name}"])
    assert arrivals(prefect_events) == Counter([pid_of(zipped).name, directory.name])
    assert sorted(list_products(archive, bucket.settings)) == sorted([*hrefs, f"{archive}/notes on it.txt"])
    assert f"skipped s3://{bucket.name}/archive/notes on it.txt: it names no product" in caplog.text
    assert f"skipped s3://{bucket.name}/elsewhere/{season[2].name}" in caplog.text
    assert bucket.left() == 0


def s3_notification(bucket: str, key: str) -> str:
    """The JSON S3 sends to SQS when an object is created (keys URL-encoded as S3 does)."""
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2018-01-15T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "arrivals",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key, safe="/"), "size": 1, "eTag": "0"}},
    }]})


def test_a_duplicated_notification_gives_one_event(bucket: Bucket, season: list[Path],
                                                   prefect_events: Events) -> None:
    """SQS may deliver a message twice and S3 may notify one object twice: one event per batch.
    The notifications are sent here, in the exact form S3 gives them, so that the batch holds both;
    the third message is the server's ``s3:TestEvent``, which names nothing."""
    key = f"archive/{season[3].name}"
    for _ in range(2):
        bucket.sqs.send_message(QueueUrl=bucket.queue_url, MessageBody=s3_notification(bucket.name, key))

    hrefs = listen_sqs(bucket.queue_url, f"s3://{bucket.name}/archive", bucket.settings, max_messages=3,
                       wait_seconds=1)

    assert hrefs == [f"s3://{bucket.name}/{key}"]
    assert arrivals(prefect_events) == Counter([pid_of(season[3]).name])
    assert bucket.left() == 0


def test_sqs_needs_an_s3_archive(bucket: Bucket) -> None:
    with pytest.raises(UsageError, match=r"S3 notifications need an s3:// archive, not 'archive'"):
        listen_sqs(bucket.queue_url, "archive", bucket.settings, until_empty=True, wait_seconds=0)


# --- a GEODES-like STAC API ----------------------------------------------------------------------


@dataclass
class Geodes:
    """A STAC API in the style of CNES GEODES on 127.0.0.1: ``POST /api/stac/search`` filtered by
    ``query`` on ``dataset`` and ``grid:code``, paged by ``page``/``limit`` with ``next`` links (POST,
    merged body), the ``X-API-Key`` header required, zip assets served under ``/api/download/``."""

    products: dict[str, bytes]
    base: str = ""
    truncated: set[str] = field(default_factory=set)
    moved: dict[str, str] = field(default_factory=dict)
    """Products whose download answers a redirect to the URL given."""
    searches: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base}/api/stac"

    def add(self, path: Path, dataset: str = DATASET) -> None:
        name, data = strip_suffix(path.name), path.read_bytes()
        self.products[name] = data
        pid = parse_name(name)
        self.items.append({
            "type": "Feature", "stac_version": "1.0.0", "id": f"URN:FEATURE:DATA:gdh:{uuid.uuid4()}:V1",
            "collection": dataset, "geometry": None, "links": [],
            "properties": {"identifier": name, "dataset": dataset, "grid:code": pid.tile,
                           "datetime": pid.acquired.isoformat()},
            "assets": {
                f"{name}_quicklook.jpg": {"href": f"{self.base}/api/quicklook/{name}", "type": "image/jpeg",
                                          "roles": ["overview"]},
                path.name: {"href": f"{self.base}/api/download/{name}", "type": "application/zip",
                            "title": path.name, "roles": ["data"],
                            "description": f"File size: {len(data)} bytes\n\nChecksum MD5: "
                                           f"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"},
            },
        })

    def page(self, body: dict[str, Any]) -> dict[str, Any]:
        query, page, limit = body["query"], int(body.get("page", 1)), int(body.get("limit", 80))
        matched = [i for i in self.items if i["properties"]["dataset"] in query["dataset"]["in"]
                   and i["properties"]["grid:code"] in query["grid:code"]["in"]]
        features = matched[(page - 1) * limit: page * limit]
        links = [{"rel": "next", "href": f"{self.url}/search", "method": "POST", "merge": True,
                  "body": {"page": page + 1}}] if page * limit < len(matched) else []
        return {"type": "FeatureCollection", "features": features, "links": links,
                "context": {"page": page, "limit": limit, "matched": len(matched), "returned": len(features)}}


def _handler(api: Geodes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
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
            api.searches.append((self.headers.get("X-API-Key"), body))
            if self.path != "/api/stac/search" or self.refused():
                return
            if "dataset" not in body.get("query", {}) or "grid:code" not in body["query"]:
                self.reply(400, b'{"message": "query.dataset and query.grid:code are required"}')
                return
            self.reply(200, json.dumps(api.page(body)).encode())

        def do_GET(self) -> None:
            name = self.path.removeprefix("/api/download/")
            if self.refused():
                return
            if name in api.moved:
                self.send_response(302)
                self.send_header("Location", api.moved[name])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = api.products[name]
            if name not in api.truncated:
                self.reply(200, data, "application/zip")
                return
            self.send_response(200)  # a connection lost halfway
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True

    return Handler


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


@pytest.fixture
def geodes(season: list[Path], other_tile: list[Path]) -> Iterator[Geodes]:
    """Five products of T31TCH in the dataset, one of another tile and one of another dataset."""
    api = Geodes({})
    with serving(_handler(api)) as base:
        api.base = base
        for path in season[:5]:
            api.add(path)
        api.add(other_tile[0])
        api.add(season[5], dataset="MUSCATE_SENTINEL2_SENTINEL2_L2A")
        yield api


@dataclass
class AssetHost:
    """Another origin than the API's (another port of 127.0.0.1): it serves files under ``/files/``
    and records the headers of every request it receives."""

    files: dict[str, bytes] = field(default_factory=dict)
    base: str = ""
    received: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base}/files/{name}"


def _asset_handler(host: AssetHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            host.received.append((self.path, dict(self.headers.items())))
            data = host.files.get(self.path.removeprefix("/files/"))
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

    return Handler


@pytest.fixture
def asset_host() -> Iterator[AssetHost]:
    host = AssetHost()
    with serving(_asset_handler(host)) as base:
        host.base = base
        yield host


def geodes_settings(api: Geodes, key: str = KEY, **more: Any) -> Settings:
    return get_settings(geodes_url=api.url, geodes_api_key=key, geodes_datasets=[DATASET], **more)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_stac_api_products_are_downloaded_then_announced(
        where: str, geodes: Geodes, season: list[Path], tmp_path: Path, s3_server: S3Server,
        prefect_events: Events, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages are followed (two items a page), products already in the archive are skipped, the
    others land whole under their names, each with one event; a second poll (the flow, settings from
    the environment) finds nothing new."""
    if where == "s3":
        archive = f"s3://stac-{uuid.uuid4().hex[:8]}/archive"
        s3_server.client().create_bucket(Bucket=archive.split("/")[2])
    else:
        archive = str(tmp_path / "archive")
        Path(archive).mkdir()
    settings = geodes_settings(geodes, s3_endpoint_url=s3_server.endpoint_url)
    fs = filesystem(archive, settings)
    fs.pipe(f"{archive.removeprefix('s3://')}/{season[0].name}", season[0].read_bytes())

    hrefs = fetch_new(archive, ["31TCH"], settings, limit=2)

    new = season[1:5]
    assert hrefs == [f"{archive}/{p.name}" for p in new]
    assert arrivals(prefect_events) == Counter(pid_of(p).name for p in new)
    for path in season[:5]:
        assert fs.cat_file(f"{archive.removeprefix('s3://')}/{path.name}") == path.read_bytes()
    assert sorted(list_products(archive, settings)) == sorted(f"{archive}/{p.name}" for p in season[:5])
    assert [key for key, _ in geodes.searches] == [KEY] * 3
    assert [body["page"] for _, body in geodes.searches] == [1, 2, 3]  # 5 matched, 2 a page
    assert geodes.searches[0][1]["query"] == {"dataset": {"in": [DATASET]}, "grid:code": {"in": ["T31TCH"]}}

    for name, value in {"SNOWDAYS_GEODES_URL": geodes.url, "SNOWDAYS_GEODES_API_KEY": KEY,
                        "SNOWDAYS_GEODES_DATASETS": json.dumps([DATASET]),
                        "SNOWDAYS_WATCH_TILES": '["T31TCH"]',
                        "SNOWDAYS_S3_ENDPOINT_URL": s3_server.endpoint_url}.items():
        monkeypatch.setenv(name, value)
    assert poll_stac_api(archive) == []
    assert len(geodes.searches) == 4
    assert sum(arrivals(prefect_events).values()) == len(new)


def test_a_wrong_api_key_is_a_clear_error(geodes: Geodes, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with pytest.raises(UsageError) as error:
        fetch_new(str(archive), ["T31TCH"], geodes_settings(geodes, key="wrong"))
    assert str(error.value) == (f"The STAC API at {geodes.url}/search refused the API key (HTTP 403): "
                                "set SNOWDAYS_GEODES_API_KEY to a valid key")
    assert not archive.exists()


def test_no_api_key_is_a_clear_error(geodes: Geodes, tmp_path: Path) -> None:
    settings = get_settings(geodes_url=geodes.url)
    with pytest.raises(UsageError, match=r"No API key for the STAC API at .*: set SNOWDAYS_GEODES_API_KEY"):
        fetch_new(str(tmp_path), ["T31TCH"], settings)
    assert geodes.searches == []


def test_a_half_download_is_never_a_product(geodes: Geodes, season: list[Path], tmp_path: Path,
                                            prefect_events: Events) -> None:
    """The connection drops halfway through the third product: the error names it, the products
    before it are in place and announced, and the archive holds nothing of it (no temporary file)."""
    archive = tmp_path / "archive"
    broken = pid_of(season[2]).name
    geodes.truncated.add(broken)

    with pytest.raises(StorageError, match=rf"Could not download {geodes.base}/api/download/{broken}"):
        fetch_new(str(archive), ["T31TCH"], geodes_settings(geodes))

    assert sorted(p.name for p in archive.iterdir()) == sorted(p.name for p in season[:2])
    assert {identify(str(p)) for p in archive.iterdir()} == {pid_of(p) for p in season[:2]}
    assert arrivals(prefect_events) == Counter(pid_of(p).name for p in season[:2])


def test_the_api_key_goes_to_the_api_origin_only(geodes: Geodes, asset_host: AssetHost, season: list[Path],
                                                 tmp_path: Path, prefect_events: Events) -> None:
    """Of four products, one's asset is on the asset host (another port of 127.0.0.1), one's download
    on the API redirects there, two are served by the API: all four land whole, the API gets the key
    on every request (searches and its downloads), the asset host never."""
    archive = tmp_path / "archive"
    there, moved = season[0], season[1]
    for path in (there, moved):
        asset_host.files[path.name] = path.read_bytes()
    geodes.items[0]["assets"][there.name]["href"] = asset_host.url(there.name)
    geodes.moved[pid_of(moved).name] = asset_host.url(moved.name)
    geodes.items[:] = geodes.items[:4]

    hrefs = fetch_new(str(archive), ["T31TCH"], geodes_settings(geodes))

    assert hrefs == [str(archive / p.name) for p in season[:4]]
    assert sorted(p.read_bytes() for p in archive.iterdir()) == sorted(p.read_bytes() for p in season[:4])
    asked = sorted(path for path, _ in asset_host.received)
    assert asked == sorted(f"/files/{p.name}" for p in (there, moved))
    leaked = [path for path, headers in asset_host.received if "x-api-key" in map(str.lower, headers)]
    assert leaked == []
    assert [key for key, _ in geodes.searches] == [KEY]
