"""Products on S3 (a real moto server on 127.0.0.1) give exactly the maps of the same products on disk.

Listing and small members go through fsspec/s3fs, rasters through GDAL's ``/vsis3/`` and
``/vsizip//vsis3/``, both configured from the settings' endpoint.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import numpy as np
import pytest
import zarr

from snowdays.annual import run_annual
from snowdays.backfill import build_season
from snowdays.errors import CorruptProduct, RejectedProducts, StorageError, UnsafeArchive, is_retryable
from snowdays.ingest import ingest
from snowdays.names import strip_suffix
from snowdays.products import open_product
from snowdays.settings import get_settings
from snowdays.state import STATE, ledger
from snowdays.store import array, open_repo, read, subgroup
from tests.badproducts import (
    SEASON,
    START,
    STOP,
    TILE,
    build,
    case,
    good_of,
    good_season,
    product_name,
)
from tests.conftest import RunCli, S3Server

LAYOUTS = [("muscate", False), ("muscate", True), ("fsc", False)]


@pytest.mark.parametrize(("family", "as_zip"), LAYOUTS,
                         ids=["muscate-dirs", "muscate-zips", "lis-tifs"])
def test_s3_maps_equal_local_maps(family: str, as_zip: bool, s3_server: S3Server,
                                  tmp_path: Path) -> None:
    folder = tmp_path / "products"
    written = good_season(folder, family, as_zip)  # type: ignore[arg-type]
    url = s3_server.upload(folder, f"snow-{family}-{'zips' if as_zip else 'plain'}", "theia/T31TCH")
    settings = get_settings(s3_endpoint_url=s3_server.endpoint_url)

    remote = run_annual(url, TILE, SEASON, settings)
    local = run_annual(str(folder), TILE, SEASON, settings)

    assert len(local.used) == len(written) and not local.rejected
    assert [p.id.name for p in remote.used] == [p.id.name for p in local.used]
    assert not remote.rejected
    vsi = "/vsizip//vsis3/" if as_zip else "/vsis3/"
    assert all(p.raster.startswith(vsi) for p in remote.used), remote.used[0].raster
    assert remote.grid == local.grid
    assert remote.landsat and local.landsat
    for (kind, got), (same, expected) in zip(remote.maps.items(), local.maps.items(), strict=True):
        assert kind == same
        assert got.dtype == expected.dtype == np.uint16
        np.testing.assert_array_equal(got, expected, err_msg=kind)
    assert local.maps.scd.any() and local.maps.nobs.min() > 0


@pytest.fixture(scope="module")
def slip_bucket(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A bucket prefix holding a good season and a zip with a ``..`` member: (URL, its name)."""
    folder = tmp_path_factory.mktemp("s3-slip")
    good = good_of(good_season(folder))
    name = product_name(build(case("zip-parent"), folder, good))
    return s3_server.upload(folder, "snow-zip-slip", "theia/T31TCH"), name


def test_s3_zip_slip_rejected(slip_bucket: tuple[str, str], s3_server: S3Server) -> None:
    url, name = slip_bucket
    settings = get_settings(s3_endpoint_url=s3_server.endpoint_url)
    with pytest.raises(UnsafeArchive) as caught:
        open_product(f"{url}/{name}.zip", settings, TILE)
    assert caught.value.product == name
    assert re.search(case("zip-parent").reason, caught.value.reason)

    with pytest.raises(RejectedProducts) as batch:
        run_annual(url, TILE, SEASON, settings)
    assert [(type(r), r.product) for r in batch.value.rejected] == [(UnsafeArchive, name)]

    kept = run_annual(url, TILE, SEASON, settings, strict=False)
    assert [r.product for r in kept.rejected] == [name]
    assert name not in {p.id.name for p in kept.used}


@pytest.mark.parametrize("content", [b"PK\x03\x04 cut short", b"PK\x03\x04" + bytes(40), b""],
                         ids=["shorter-than-an-end-record", "no-end-record", "empty"])
def test_s3_truncated_zip_rejected(content: bytes, s3_server: S3Server, tmp_path: Path) -> None:
    """A zip cut short is a bad product on S3 as it is locally, whatever its length."""
    name = "SENTINEL2A_20171030-103629-000_L2B-SNOW_T31TCH_C_V1-7"
    for where in ("local", "s3"):
        folder = tmp_path / where
        folder.mkdir()
        (folder / f"{name}.zip").write_bytes(content)
    url = s3_server.upload(tmp_path / "s3", "snow-truncated", f"cut-{len(content)}")
    settings = get_settings(s3_endpoint_url=s3_server.endpoint_url)
    for href in (str(tmp_path / "local" / f"{name}.zip"), f"{url}/{name}.zip"):
        with pytest.raises(CorruptProduct) as caught:
            open_product(href, settings, TILE)
        assert caught.value.product == name
        assert caught.value.reason.startswith("not a readable zip archive"), caught.value.reason


def test_s3_zip_slip_rejected_by_cli(slip_bucket: tuple[str, str], s3_server: S3Server,
                                     snowdays_cli: RunCli, tmp_path: Path) -> None:
    url, name = slip_bucket
    out = tmp_path / "out"
    out.mkdir()
    result = snowdays_cli(
        ["annual", url, "--tile", TILE, "--start", START, "--stop", STOP, "--out", str(out)],
        {"SNOWDAYS_S3_ENDPOINT_URL": s3_server.endpoint_url}, tmp_path,
    )
    assert result.returncode == 3, result.stderr
    assert re.search(rf"^error: {re.escape(name)}: member '.*' escapes the archive \(\.\.\)$",
                     result.stderr, re.MULTILINE), result.stderr
    assert "Traceback" not in result.stderr
    assert list(out.iterdir()) == []


def test_s3_without_credentials_is_a_clean_error(slip_bucket: tuple[str, str], s3_server: S3Server,
                                                 snowdays_cli: RunCli, tmp_path: Path) -> None:
    """No credentials anywhere: a usage error (exit 2) saying so, not a botocore traceback."""
    url, _ = slip_bucket
    out = tmp_path / "out"
    result = snowdays_cli(
        ["annual", url, "--tile", TILE, "--start", START, "--stop", STOP, "--out", str(out)],
        {"SNOWDAYS_S3_ENDPOINT_URL": s3_server.endpoint_url, "AWS_ACCESS_KEY_ID": None,
         "AWS_SECRET_ACCESS_KEY": None}, tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert re.search(rf"^error: Could not read {re.escape(url)}: no usable S3 credentials \(",
                     result.stderr, re.MULTILINE), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_an_unreachable_store_is_a_storage_fault_not_a_bad_product(
    s3_server: S3Server, tmp_path: Path
) -> None:
    """A network fault is transient (retried by whoever runs the work); it must not reject."""
    folder = tmp_path / "products"
    good_season(folder, "fsc", False)
    url = s3_server.upload(folder, "snow-outage", "theia/T31TCH")
    settings = get_settings(s3_endpoint_url=s3_server.endpoint_url)
    product = open_product(f"{url}/{sorted(p.name for p in folder.iterdir())[0]}", settings, TILE)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = get_settings(s3_endpoint_url=f"http://127.0.0.1:{s.getsockname()[1]}")
    grid = run_annual(str(folder), TILE, SEASON, settings).grid
    with pytest.raises(StorageError) as caught:
        product.read(grid, dead)
    assert is_retryable(caught.value) and product.id.name in str(caught.value)
    with pytest.raises(StorageError):
        run_annual(url, TILE, SEASON, dead)


def requested_bytes(recording: str, bucket: str, sizes: dict[str, int]) -> dict[str, int]:
    """Bytes the server was asked for, per object of ``sizes``, from moto's recording of every
    request it answered (a GET without a range asks for the whole object)."""
    asked = dict.fromkeys(sizes, 0)
    for line in filter(None, recording.splitlines()):
        entry = json.loads(line)
        key = unquote(urlsplit(entry["url"]).path).removeprefix(f"/{bucket}/")
        if entry["method"] != "GET" or key not in sizes:
            continue
        span = re.fullmatch(r"bytes=(\d+)-(\d*)", entry["headers"].get("Range", ""))
        first, last = (int(span[1]), int(span[2] or sizes[key] - 1)) if span else (0, sizes[key] - 1)
        asked[key] += min(last, sizes[key] - 1) - first + 1
    return asked


@pytest.mark.parametrize("as_zip", [True, False], ids=["zips", "dirs"])
def test_ingest_reads_a_product_on_s3_once(as_zip: bool, s3_server: S3Server, tmp_path: Path) -> None:
    """Ingesting a product from S3 asks the server for each of its bytes once: its listing, its
    checks, its checksum and its decode all read one copy. The ledger's checksum is the SHA-256 of
    the bytes stored (a folder's: of its members in name order), and the state is the one local
    products give."""
    folder = tmp_path / "products"
    good_season(folder, "muscate", as_zip)
    bucket = f"snow-once-{'zips' if as_zip else 'dirs'}"
    url = s3_server.upload(folder, bucket, "theia")
    settings = get_settings(s3_endpoint_url=s3_server.endpoint_url)
    entries = sorted(folder.iterdir())
    sizes = {f"theia/{f.relative_to(folder)}": f.stat().st_size for f in folder.rglob("*") if f.is_file()}
    moto = f"{s3_server.endpoint_url}/moto-api/recorder"
    httpx.post(f"{moto}/reset-recording").raise_for_status()
    httpx.post(f"{moto}/start-recording").raise_for_status()
    try:
        reports = [ingest(str(tmp_path / "s3-store"), f"{url}/{e.name}", settings) for e in entries]
    finally:
        httpx.post(f"{moto}/stop-recording").raise_for_status()
    recording = httpx.get(f"{moto}/download-recording").text
    assert all(r.changed for r in reports), [r.outcome for r in reports]
    assert requested_bytes(recording, bucket, sizes) == sizes  # every byte once, none twice

    for e in entries:
        ingest(str(tmp_path / "local-store"), str(e), settings)
    digests = {}
    for e in entries:
        stored = [e] if e.is_file() else sorted(f for f in e.rglob("*") if f.is_file())
        digests[strip_suffix(e.name)] = hashlib.sha256(b"".join(f.read_bytes() for f in stored)).hexdigest()
    remote = subgroup(read(open_repo(str(tmp_path / "s3-store"), TILE, settings)), "seasons")
    local = subgroup(read(open_repo(str(tmp_path / "local-store"), TILE, settings)), "seasons")
    assert sorted(remote.group_keys()) == sorted(local.group_keys())
    for label in remote.group_keys():
        held = ledger(subgroup(remote, label))
        assert held == ledger(subgroup(local, label))
        assert {x.name: x.checksum for x in held} == {x.name: digests[x.name] for x in held}
        np.testing.assert_array_equal(array(remote, f"{label}/cube")[:], array(local, f"{label}/cube")[:])


def test_a_backfill_reads_each_product_on_s3_once(s3_server: S3Server, tmp_path: Path) -> None:
    """A tile-season built from S3 in one commit asks for each byte of its products once too, and
    holds the state and the ledger (in its own slot order) that the same products ingested from
    disk one by one give."""
    folder = tmp_path / "products"
    good_season(folder, "muscate", True)
    url = s3_server.upload(folder, "snow-once-backfill", "theia")
    settings = get_settings(s3_endpoint_url=s3_server.endpoint_url, pending_max=0)
    sizes = {f"theia/{f.name}": f.stat().st_size for f in folder.iterdir()}
    moto = f"{s3_server.endpoint_url}/moto-api/recorder"
    httpx.post(f"{moto}/reset-recording").raise_for_status()
    httpx.post(f"{moto}/start-recording").raise_for_status()
    try:
        report = build_season(str(tmp_path / "built"), TILE, "2017-2018",
                              [f"{url}/{f.name}" for f in sorted(folder.iterdir())], settings)
    finally:
        httpx.post(f"{moto}/stop-recording").raise_for_status()
    assert report.products == len(sizes) and not report.rejected
    assert requested_bytes(httpx.get(f"{moto}/download-recording").text, "snow-once-backfill", sizes) == sizes
    for f in sorted(folder.iterdir()):
        ingest(str(tmp_path / "one-by-one"), str(f), settings)
    built = subgroup(read(open_repo(str(tmp_path / "built"), TILE, settings)), "seasons/2017-2018")
    one = subgroup(read(open_repo(str(tmp_path / "one-by-one"), TILE, settings)), "seasons/2017-2018")

    def held(group: zarr.Group) -> list[tuple[str, str, int]]:  # slots follow the order of staging
        return sorted((e.name, e.checksum, e.day) for e in ledger(group))

    assert held(built) == held(one)
    for name in STATE:
        np.testing.assert_array_equal(array(built, name)[:], array(one, name)[:], err_msg=name)
