"""``snowdays publish``, ``search`` and ``stac serve`` as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import rasterio

from infra.postgres import LocalPostgres
from snowdays.settings import get_settings
from tests.conftest import RunCli, _free_port
from tests.stacdata import serve


def by_name(paths: Iterable[Path]) -> list[str]:
    """In name order, as a shell's glob gives them (Landsat products first)."""
    return sorted(str(p) for p in paths)


def test_newcomer_serves_publishes_and_searches(tmp_path: Path, snowdays_cli: RunCli) -> None:
    """``stac serve`` starts its own database; a sample season is ingested, published and found."""
    cluster_folder = Path(tempfile.mkdtemp(prefix="snowdays-pg-"))
    cluster_folder.chmod(0o755)  # the postgres system user runs the server when tests run as root
    db_port, api_port = _free_port(), _free_port()
    env = {"SNOWDAYS_STAC_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{db_port}/snowdays",
           "SNOWDAYS_STAC_POSTGRES_DATA": str(cluster_folder / "data"),
           "SNOWDAYS_STAC_API_PORT": str(api_port)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return snowdays_cli(list(args), env, tmp_path)

    try:
        with (tmp_path / "serve.log").open("wb") as log:
            server = serve(get_settings(stac_database_url=env["SNOWDAYS_STAC_DATABASE_URL"],
                                        stac_postgres_data=env["SNOWDAYS_STAC_POSTGRES_DATA"],
                                        stac_api_port=api_port), tmp_path, log)
            try:
                assert run("sample", "in", "--size", "20", "--zip").returncode == 0
                products = by_name(p for p in (tmp_path / "in").iterdir() if "_2017" in p.name)
                assert run("ingest", *products, "--store", "store").returncode == 0
                done = run("publish", "--store", "store", "--tile", "T31TCH", "--season", "2017-2018")
                assert done.returncode == 0, done.stderr
                assert "STAC API up to date (1 items)" in done.stdout
                assert (tmp_path / "catalog" / "catalog.json").is_file()
                found = run("search", "--tile", "T31TCH")
                assert found.returncode == 0, found.stderr
                assert "scd-t31tch-2017-2018" in found.stdout and "MGRS-31TCH" in found.stdout
                assert "scd-t31tch" not in run("search", "--tile", "T32TLR").stdout
                listed = run("search", "--tile", "T31TCH", "--season", "2017-2018", "--json")
                features = json.loads(listed.stdout)["features"]
                assert [f["id"] for f in features] == ["scd-t31tch-2017-2018"]
                with rasterio.open(features[0]["assets"]["SCD"]["href"]) as ds:
                    assert ds.dtypes[0] == "uint16" and ds.read(1).max() > 0
            finally:
                server.terminate()
                assert server.wait(timeout=60) == 128 + 15
        assert not LocalPostgres(cluster_folder / "data", db_port).running()
    finally:
        shutil.rmtree(cluster_folder, ignore_errors=True)


def test_publish_faults(tmp_path: Path, snowdays_cli: RunCli) -> None:
    env = {"SNOWDAYS_STAC_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{_free_port()}/none",
           "SNOWDAYS_STAC_CONNECT_TIMEOUT": "2", "SNOWDAYS_STAC_API_PORT": str(_free_port())}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return snowdays_cli(list(args), env, tmp_path)

    assert run("sample", "in", "--size", "16", "--zip").returncode == 0
    products = by_name(p for p in (tmp_path / "in").iterdir() if "_201709" in p.name)
    assert run("ingest", *products, "--store", "store").returncode == 0
    unknown_tile = run("publish", "--store", "store", "--tile", "T32TLR", "--season", "2017-2018")
    unknown_season = run("publish", "--store", "store", "--tile", "T31TCH", "--season", "2020-2021")
    for done, words in [(unknown_tile, "no store for tile T32TLR"),
                        (unknown_season, "tile T31TCH has no season 2020-2021")]:
        assert done.returncode == 2, done.stderr
        assert words in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "catalog").exists()
    down = run("publish", "--store", "store", "--tile", "T31TCH", "--season", "2017-2018", "--out", "c")
    assert down.returncode == 1, down.stderr
    assert "the static catalog is written, the STAC API is not" in down.stderr
    assert "cannot be reached" in down.stderr
    said = down.stderr.splitlines()[-1]
    assert said.startswith("error: the static catalog is written"), "the error is the last line, whole"
    assert said.endswith("; publish again once the database is up"), said
    assert Path(down.stdout.strip()).is_file()
    no_api = run("search", "--tile", "T31TCH")
    assert no_api.returncode == 1 and "cannot be reached" in no_api.stderr
    bad_bbox = run("search", "--bbox", "1,2,x")
    assert bad_bbox.returncode == 2 and "1,2,x" in bad_bbox.stderr


PASSWORD = "s3cr3t-Pw"  # noqa: S105 - a test password, to be looked for in the output
BAD_URLS = {
    f"postgresql://snow:{PASSWORD}@[::1/snowdays": "does not parse",  # libpq quotes the URL whole
    f"postgresql://snow:{PASSWORD}%zz@127.0.0.1:5432/snowdays": "does not parse",  # and the token
    f"postgresql://snow:{PASSWORD}@127.0.0.1:5432/snowdays?bogus=1": "does not parse",
    f"postgresql://snow:{PASSWORD}@127.0.0.1:port/snowdays": "not a number",
    f"host=127.0.0.1 user=snow password={PASSWORD} dbname": "does not parse",
}


def test_a_database_url_that_does_not_parse_never_shows_its_password(tmp_path: Path,
                                                                     snowdays_cli: RunCli) -> None:
    """``stac serve`` and ``publish`` given a database URL that does not parse: a usage error (exit 2)
    that shows the URL with its password masked, and the password nowhere in what they print."""

    def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
        return snowdays_cli(list(args), {"SNOWDAYS_STAC_DATABASE_URL": url,
                                         "SNOWDAYS_STAC_API_PORT": str(_free_port())}, tmp_path)

    assert run("", "sample", "in", "--size", "16", "--zip").returncode == 0
    products = by_name(p for p in (tmp_path / "in").iterdir() if "_201709" in p.name)
    assert run("", "ingest", *products, "--store", "store").returncode == 0
    for url, reason in BAD_URLS.items():
        for command in (["stac", "serve"], ["publish", "--store", "store", "--tile", "T31TCH",
                                            "--season", "2017-2018"]):
            done = run(url, *command)
            said = done.stdout + done.stderr
            assert PASSWORD.lower() not in said.lower(), (command, said)
            assert done.returncode == 2, (command, url, done.stderr)
            assert f"the STAC database URL {url.split(PASSWORD)[0]}***" in done.stderr, done.stderr
            assert reason in done.stderr and "Traceback" not in done.stderr, done.stderr
