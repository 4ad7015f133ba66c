"""The file server of ``snowdays up`` (``python -m infra.files``, started as the stack starts it, on a
free port of 127.0.0.1): range requests, CORS for pages of other origins, the viewer and its config."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra.stack import Stack, urls
from snowdays.settings import Settings, get_settings
from tests.conftest import _free_port, starts

ORIGIN = "http://127.0.0.1:1"
"""The origin of a page elsewhere (never contacted: only named in requests)."""


@dataclass(frozen=True)
class Served:
    url: str
    catalog: Path
    settings: Settings
    data: bytes
    """The bytes of ``catalog/maps/scd.tif``."""


@pytest.fixture(scope="module")
@starts("server")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("files")
    data = os.urandom(300_000)  # a file larger than one read block of the server
    (base / "catalog" / "maps").mkdir(parents=True)
    (base / "catalog" / "maps" / "scd.tif").write_bytes(data)
    env = {"SNOWDAYS_STAC_CATALOG": str(base / "catalog"), "SNOWDAYS_FILES_PORT": str(_free_port()),
           "SNOWDAYS_STAC_API_PORT": str(_free_port()), "SNOWDAYS_ARCHIVE": str(base / "archive")}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        settings = get_settings()
        with Stack(settings, base / "logs", only={"files"}):
            yield Served(urls(settings.ports)["files"], base / "catalog", settings, data)


def test_a_range_request_gets_206_and_those_bytes(served: Served) -> None:
    answer = httpx.get(f"{served.url}/maps/scd.tif", headers={"Range": "bytes=70000-70999"})
    assert answer.status_code == 206
    assert answer.content == served.data[70_000:71_000]
    assert answer.headers["content-range"] == f"bytes 70000-70999/{len(served.data)}"
    assert answer.headers["accept-ranges"] == "bytes"
    suffix = httpx.get(f"{served.url}/maps/scd.tif", headers={"Range": "bytes=-100"})
    assert suffix.status_code == 206 and suffix.content == served.data[-100:]
    whole = httpx.get(f"{served.url}/maps/scd.tif")
    assert whole.status_code == 200 and whole.content == served.data


def test_a_range_past_the_end_is_416(served: Served) -> None:
    answer = httpx.get(f"{served.url}/maps/scd.tif", headers={"Range": f"bytes={len(served.data)}-"})
    assert answer.status_code == 416
    assert answer.headers["content-range"] == f"bytes */{len(served.data)}"


def test_cors_lets_a_page_of_another_origin_read_ranges(served: Served) -> None:
    preflight = httpx.options(f"{served.url}/maps/scd.tif", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", ORIGIN)
    assert "range" in preflight.headers["access-control-allow-headers"].lower()
    answer = httpx.get(f"{served.url}/maps/scd.tif", headers={"Origin": ORIGIN, "Range": "bytes=0-9"})
    assert answer.status_code == 206 and answer.content == served.data[:10]
    assert answer.headers["access-control-allow-origin"] == "*"
    exposed = {h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert {"content-range", "content-length", "accept-ranges"} <= exposed
    assert answer.headers["cache-control"] == "no-cache"  # a republished map is asked for again


def test_a_missing_file_is_404(served: Served) -> None:
    assert httpx.get(f"{served.url}/maps/sod.tif").status_code == 404


def test_the_viewer_and_its_config_are_served(served: Served) -> None:
    config = httpx.get(f"{served.url}/viewer/config.json").json()
    assert config == {"stac_api": f"http://127.0.0.1:{served.settings.stac_api_port}", "catalog_url": "/",
                      "catalog_root": str(served.catalog.resolve()), "season_start": "09-01",
                      "point_url": "/point"}
    page = httpx.get(f"{served.url}/viewer/")
    assert page.status_code == 200 and '<div id="map">' in page.text
    assert httpx.get(f"{served.url}/viewer/viewer.js").status_code == 200
    moved = httpx.get(f"{served.url}/viewer")
    assert moved.status_code in (307, 308) and moved.headers["location"].endswith("/viewer/")


def test_an_unbuilt_viewer_says_how_to_build_it(tmp_path: Path) -> None:
    from infra.files import make_app  # noqa: PLC0415 - the app alone, called in this process

    app = make_app(get_settings(stac_catalog=str(tmp_path)), web=tmp_path / "none")

    async def ask() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://files") as c:
            return await c.get("/viewer/")

    answer = asyncio.run(ask())
    assert answer.status_code == 404 and "make web" in answer.text
