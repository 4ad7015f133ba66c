"""A STAC API search in the style of CNES GEODES as an arrival source: the watched tiles' products,
downloaded into the archive.

The search is pystac-client's :class:`~pystac_client.ItemSearch` (``POST {url}/search``, GEODES's
``query`` filters on ``dataset`` and ``grid:code``, paged by its ``next`` links); a product is an item's
zip data asset, checked against the MD5 the asset's description gives. The API key goes only to the
API's origin (scheme, host and port), on searches and downloads alike, never to asset hosts, ``next``
links or redirect targets elsewhere (:class:`KeyedSession`).
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests
from pystac_client import ItemSearch
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO

from snowdays.archive import arrived, identify
from snowdays.errors import StorageError, UsageError
from snowdays.names import ProductId, normalise_tile
from snowdays.settings import Settings
from snowdays.storage import filesystem, is_s3

log = logging.getLogger(__name__)
API_KEY = "X-API-Key"
TIMEOUT = (10.0, 60.0)
"""Seconds to connect, and to wait for each read, of every request."""
MAX_PAGES = 10_000
"""Pages of one search followed at most (a guard against a server whose ``next`` link loops)."""
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MD5 = re.compile(r"Checksum MD5:\s*([0-9a-fA-F]{32})")


@dataclass(frozen=True)
class Offer:
    """A product a STAC API offers: its id, the zip asset's URL, and the zip's MD5 if given."""

    pid: ProductId
    url: str
    md5: str | None


def origin(url: str) -> tuple[str, str, int | None]:
    """A URL's origin: scheme, host and port (the scheme's default port when none is written)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


class KeyedSession(requests.Session):
    """A session that puts the API key on every request to the API's origin and takes it off any
    other. ``send`` sees each hop of a redirect: requests copies a request's headers to the next hop
    and strips only ``Authorization`` when the host changes, so a key among the session's headers
    would follow a redirect, or a ``next`` link, to any host."""

    def __init__(self, api: str, key: str) -> None:
        super().__init__()
        self.home = origin(api)
        self.key = key

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send one hop, keyed if it goes to the API's origin."""
        if origin(request.url or "") == self.home:
            request.headers[API_KEY] = self.key
        else:
            request.headers.pop(API_KEY, None)
        return super().send(request, **kwargs)


def api_io(api: str, key: str) -> StacApiIO:
    """pystac-client's IO on a :class:`KeyedSession` (the key is in no session header), with the
    timeouts and no retries: a failed search waits for the next poll."""
    io = StacApiIO(timeout=TIMEOUT, max_retries=None)
    io.session = KeyedSession(api, key)
    return io


class GeodesSearch(ItemSearch):
    """pystac-client's search, with the first page's number in its body as GEODES's examples give
    it (the ``next`` links' bodies, merged, give the later pages')."""

    def get_parameters(self) -> dict[str, Any]:
        return {"page": 1, **super().get_parameters()}


def search(io: StacApiIO, url: str, datasets: list[str], tiles: list[str],
           limit: int) -> Iterator[dict[str, Any]]:
    """The items of the datasets' products of the tiles, page after page."""
    target = f"{url.rstrip('/')}/search"
    found = GeodesSearch(target, method="POST", stac_io=io, limit=limit, collections=datasets,
                         query={"dataset": {"in": datasets}, "grid:code": {"in": tiles}})
    try:
        for page in islice(found.pages_as_dicts(), MAX_PAGES):
            yield from page.get("features", [])
    except APIError as e:
        _failed(e, target)
    except ValueError as e:
        raise StorageError(f"The STAC API at {target} did not answer with JSON: {e}") from e


def _failed(error: APIError, url: str) -> NoReturn:
    """Raise what a failed search means: an error of the HTTP status, or an API out of reach."""
    status = getattr(error, "status_code", None)  # None: no answer at all
    if status is not None:
        _check(status, url, lambda: str(error))
    raise StorageError(f"The STAC API at {url} cannot be reached: {error}") from error


def _check(status: int, url: str, text: Callable[[], str]) -> None:
    """Refused keys and bad requests are final (UsageError); server faults and throttling may pass
    (StorageError). ``text`` gives the answer's body."""
    if status in (401, 403):
        raise UsageError(f"The STAC API at {url} refused the API key (HTTP {status}): set "
                         "SNOWDAYS_GEODES_API_KEY to a valid key")
    if status in (408, 429) or status >= 500:
        raise StorageError(f"The STAC API at {url} failed (HTTP {status}); try again later")
    if status >= 400:
        raise UsageError(f"The STAC API at {url} rejected the request (HTTP {status}): {text()[:300]}")


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


def download(session: requests.Session, product: Offer, archive: str, settings: Settings) -> str:
    """Stream a product's zip into the archive under a hidden temporary name, check its MD5, then
    move it to ``NAME.zip``: a half or corrupt download is never seen as a product. Return its href."""
    fs = filesystem(archive, settings.s3)
    root = archive.rstrip("/")
    path = root.removeprefix("s3://")
    if not is_s3(archive):
        fs.makedirs(path, exist_ok=True)
    part = f"{path}/.{product.pid.name}.zip.part"
    try:
        digest = _stream(session, product.url, fs, part)
        if product.md5 and digest != product.md5:
            raise StorageError(f"Download of {product.pid.name} from {product.url} is corrupt: MD5 "
                               f"{digest}, the STAC API says {product.md5}")
        fs.mv(part, f"{path}/{product.pid.name}.zip")
    except BaseException:
        if fs.exists(part):
            fs.rm(part)
        raise
    return f"{root}/{product.pid.name}.zip"


def _stream(session: requests.Session, url: str, fs: Any, part: str) -> str:
    """Write the answer to ``url`` to ``part``; return its MD5."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with session.get(url, stream=True, timeout=TIMEOUT) as response, fs.open(part, "wb") as out:
            _check(response.status_code, url, lambda: response.text)
            for chunk in response.iter_content(1 << 20):
                out.write(chunk)
                digest.update(chunk)
    except requests.RequestException as e:
        raise StorageError(f"Could not download {url}: {e}") from e
    return digest.hexdigest()


def download_new(archive: str, tiles: list[str], settings: Settings, *,
                 limit: int = 80) -> Iterator[tuple[str, ProductId]]:
    """Search the STAC API for the tiles' products and download those the archive lacks, yielding
    each once it is in place (a failed download raises after those before it were yielded)."""
    if settings.geodes_api_key is None:
        raise UsageError(f"No API key for the STAC API at {settings.geodes_url}: set "
                         "SNOWDAYS_GEODES_API_KEY")
    tiles = [normalise_tile(t) for t in tiles]
    have = {pid.name for pid in arrived(archive, settings).values()} if _exists(archive, settings) else set()
    io = api_io(settings.geodes_url, settings.geodes_api_key.get_secret_value())
    fetched = 0
    with io.session:
        for item in search(io, settings.geodes_url, settings.geodes_datasets, tiles, limit):
            product = offer(item)
            if product is None:
                log.info("skipped item %s: no zip asset named like a product", item.get("id"))
            elif product.pid.name not in have and product.pid.tile in tiles:
                href = download(io.session, product, archive, settings)
                have.add(product.pid.name)
                fetched += 1
                yield href, product.pid
    log.info("STAC API search for %s: %d new products", ", ".join(tiles), fetched)


def _exists(archive: str, settings: Settings) -> bool:
    """Whether the archive has been made (an S3 prefix exists once it holds an object)."""
    return bool(filesystem(archive, settings.s3).exists(archive.removeprefix("s3://").rstrip("/")))


def polling(settings: Settings, stopped: Callable[[], bool],
            wait: Callable[[float], object]) -> Iterator[tuple[str, ProductId]]:
    """The watched tiles' new products, searched every ``geodes_poll_seconds`` until ``stopped()``
    (a refused key ends it; a fault of the API or the archive waits for the next search). ``wait``
    sleeps at most ``watch_poll_seconds`` at a time, so that ``stopped`` is asked that often."""
    due = 0.0
    while not stopped():
        if time.monotonic() >= due:
            try:
                yield from download_new(settings.archive, settings.watch_tiles, settings)
            except StorageError as e:
                log.warning("STAC API search failed, trying again in %.0f s: %s",
                            settings.geodes_poll_seconds, e)
            due = time.monotonic() + settings.geodes_poll_seconds
        wait(min(settings.watch_poll_seconds, max(due - time.monotonic(), 0)))
