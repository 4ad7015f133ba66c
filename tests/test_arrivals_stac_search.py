"""The library's STAC API search and download (snowdays.arrivals.stac_search) without Prefect,
against servers on loopback: a small GEODES-like STAC API, an asset host on another origin (another
port of 127.0.0.1), and the moto S3 server for an S3 archive."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from snowdays.archive import identify
from snowdays.arrivals.stac_search import download_new, polling
from snowdays.errors import StorageError, UsageError
from snowdays.names import ProductId, strip_suffix
from snowdays.season import parse_season
from snowdays.settings import get_settings
from snowdays.storage import filesystem, list_products
from tests.arrivaldata import (
    DATASET,
    KEY,
    AssetHost,
    Geodes,
    asset_server,
    geodes_api,
    geodes_settings,
    item,
    names,
    pid_of,
)
from tests.conftest import S3Server

SEASON = parse_season("2017-2018")


@pytest.fixture
def geodes(zipped_season: list[Path], other_tile_zips: list[Path]) -> Iterator[Geodes]:
    """Five products of T31TCH in the dataset, one of another tile and one of another dataset."""
    with geodes_api([*zipped_season[:5], other_tile_zips[0]], [zipped_season[5]]) as api:
        yield api


@pytest.fixture
def asset_host() -> Iterator[AssetHost]:
    with asset_server() as host:
        yield host


@pytest.mark.parametrize("where", ["local", "s3"])
def test_stac_api_products_are_downloaded(where: str, geodes: Geodes, zipped_season: list[Path],
                                          tmp_path: Path,
                                          s3_server: S3Server) -> None:
    """Pages are followed (two items a page, GEODES's bodies), products already in the archive are
    skipped, the others land whole under their names, in the order of the search."""
    if where == "s3":
        archive = f"s3://stac-{uuid.uuid4().hex[:8]}/archive"
        s3_server.client().create_bucket(Bucket=archive.split("/")[2])
    else:
        archive = str(tmp_path / "archive")
        Path(archive).mkdir()
    settings = geodes_settings(geodes, s3_endpoint_url=s3_server.endpoint_url)
    fs = filesystem(archive, settings.s3)
    fs.pipe(f"{archive.removeprefix('s3://')}/{zipped_season[0].name}", zipped_season[0].read_bytes())

    found = list(download_new(archive, ["31TCH"], settings, limit=2))

    new = zipped_season[1:5]
    assert [href for href, _ in found] == [f"{archive}/{p.name}" for p in new]
    assert names(found) == [pid_of(p).name for p in new]
    for path in zipped_season[:5]:
        assert fs.cat_file(f"{archive.removeprefix('s3://')}/{path.name}") == path.read_bytes()
    assert sorted(list_products(archive, settings)) == (
        sorted(f"{archive}/{p.name}" for p in zipped_season[:5]))
    assert [key for key, _ in geodes.searches] == [KEY] * 3
    assert [body["page"] for _, body in geodes.searches] == [1, 2, 3]  # 5 matched, 2 a page
    assert {body["limit"] for _, body in geodes.searches} == {2}
    assert geodes.searches[0][1]["query"] == {"dataset": {"in": [DATASET]}, "grid:code": {"in": ["T31TCH"]}}


def test_a_wrong_api_key_is_a_clear_error(geodes: Geodes, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with pytest.raises(UsageError) as error:
        list(download_new(str(archive), ["T31TCH"], geodes_settings(geodes, key="wrong")))
    assert str(error.value) == (f"The STAC API at {geodes.url}/search refused the API key (HTTP 403): "
                                "set SNOWDAYS_GEODES_API_KEY to a valid key")
    assert not archive.exists()


def test_no_api_key_is_a_clear_error(geodes: Geodes, tmp_path: Path) -> None:
    settings = get_settings(geodes_url=geodes.url)
    with pytest.raises(UsageError, match=r"No API key for the STAC API at .*: set SNOWDAYS_GEODES_API_KEY"):
        list(download_new(str(tmp_path), ["T31TCH"], settings))
    assert geodes.searches == []


def test_an_api_out_of_reach_may_pass(tmp_path: Path) -> None:
    """No server on the port: a StorageError (the next poll tries again), not a refusal."""
    with asset_server() as host:
        gone = host.base
    settings = get_settings(geodes_url=f"{gone}/api/stac", geodes_api_key=KEY)
    with pytest.raises(StorageError, match=rf"The STAC API at {gone}/api/stac/search cannot be reached"):
        list(download_new(str(tmp_path), ["T31TCH"], settings))


def test_a_half_download_is_never_a_product(geodes: Geodes, zipped_season: list[Path],
                                            tmp_path: Path) -> None:
    """The connection drops halfway through the third product: the error names it, the products
    before it were given and are in place, and the archive holds nothing of it (no temporary file)."""
    archive = tmp_path / "archive"
    broken = pid_of(zipped_season[2]).name
    geodes.truncated.add(broken)
    found: list[tuple[str, ProductId]] = []

    with pytest.raises(StorageError, match=rf"Could not download {geodes.base}/api/download/{broken}"):
        found.extend(download_new(str(archive), ["T31TCH"], geodes_settings(geodes)))

    assert sorted(p.name for p in archive.iterdir()) == sorted(p.name for p in zipped_season[:2])
    assert {identify(str(p)) for p in archive.iterdir()} == {pid_of(p) for p in zipped_season[:2]}
    assert names(found) == [pid_of(p).name for p in zipped_season[:2]]


def test_a_download_unlike_its_md5_is_never_a_product(geodes: Geodes, zipped_season: list[Path],
                                                      tmp_path: Path) -> None:
    """The second product arrives whole but its bytes are not those its MD5 says: the error names it
    and both checksums, and the archive holds the first product only."""
    archive = tmp_path / "archive"
    bad = pid_of(zipped_season[1]).name
    geodes.corrupt.add(bad)

    with pytest.raises(StorageError, match=rf"Download of {bad} from .* is corrupt: MD5 [0-9a-f]{{32}}, "
                                           r"the STAC API says [0-9a-f]{32}"):
        list(download_new(str(archive), ["T31TCH"], geodes_settings(geodes)))

    assert [p.name for p in archive.iterdir()] == [zipped_season[0].name]


def test_the_api_key_goes_to_the_api_origin_only(geodes: Geodes, asset_host: AssetHost,
                                                 zipped_season: list[Path],
                                                 tmp_path: Path) -> None:
    """Of four products, one's asset is on the asset host (another port of 127.0.0.1), one's download
    on the API redirects there, two are served by the API: all four land whole, the API gets the key
    on every request (searches and its downloads), the asset host never."""
    archive = tmp_path / "archive"
    there, moved = zipped_season[0], zipped_season[1]
    for path in (there, moved):
        asset_host.files[path.name] = path.read_bytes()
    geodes.items[0]["assets"][there.name]["href"] = asset_host.url(there.name)
    geodes.moved[pid_of(moved).name] = asset_host.url(moved.name)
    geodes.items[:] = geodes.items[:4]

    found = list(download_new(str(archive), ["T31TCH"], geodes_settings(geodes)))

    assert [href for href, _ in found] == [str(archive / p.name) for p in zipped_season[:4]]
    assert sorted(p.read_bytes() for p in archive.iterdir()) == (
        sorted(p.read_bytes() for p in zipped_season[:4]))
    asked = sorted(path for path, _ in asset_host.received)
    assert asked == sorted(f"/files/{p.name}" for p in (there, moved))
    assert asset_host.keyed() == []
    assert [key for key, _ in geodes.searches] == [KEY]


def test_a_next_link_elsewhere_gets_no_key(geodes: Geodes, asset_host: AssetHost, zipped_season: list[Path],
                                           tmp_path: Path) -> None:
    """The first page's ``next`` link points to the asset host, whose page offers one more product
    there: it is followed and downloaded, without the key."""
    extra = zipped_season[6]
    asset_host.files[extra.name] = extra.read_bytes()
    page = {"type": "FeatureCollection", "links": [], "features": [
        item(strip_suffix(extra.name), extra.name, extra.read_bytes(), asset_host.url(extra.name))]}
    asset_host.files["page-2"] = json.dumps(page).encode()
    geodes.relay = asset_host.url("page-2")

    found = names(download_new(str(tmp_path), ["T31TCH"], geodes_settings(geodes)))

    assert found == [pid_of(p).name for p in [*zipped_season[:5], extra]]
    assert [path for path, _ in asset_host.received] == ["/files/page-2", f"/files/{extra.name}"]
    assert asset_host.keyed() == []


def test_polling_tries_again_after_a_fault(geodes: Geodes, zipped_season: list[Path], tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """The API answers the first search 503: the fault is logged, and the next search, a poll later,
    gives the products."""
    geodes.failing = 1
    settings = geodes_settings(geodes, archive=str(tmp_path / "archive"), watch_tiles=["T31TCH"],
                               geodes_poll_seconds=0.05, watch_poll_seconds=0.01)
    searched = geodes.searches

    with caplog.at_level(logging.WARNING, logger="snowdays.arrivals.stac_search"):
        found = names(polling(settings, lambda: len(searched) == 2, time.sleep))

    assert found == [pid_of(p).name for p in zipped_season[:5]]
    assert "STAC API search failed, trying again in 0 s: The STAC API at" in caplog.text
    assert "(HTTP 503)" in caplog.text
