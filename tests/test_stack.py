"""``snowdays up`` on a machine where a port it needs is taken: one line naming the setting to change,
nothing left running."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from infra.stack import Stack, StackError, parts
from snowdays.settings import for_workers, get_settings
from tests.conftest import RunCli, _free_port

PORTS = ("PREFECT_PORT", "DASK_PORT", "STAC_API_PORT", "FILES_PORT")


@contextmanager
def listening() -> Iterator[int]:
    """A port something listens on (as another program's server would), for the test's duration."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


@pytest.mark.parametrize("setting", PORTS)
def test_up_with_a_port_taken_names_its_setting(setting: str, tmp_path: Path, snowdays_cli: RunCli) -> None:
    env: dict[str, str | None] = {f"SNOWDAYS_{name}": str(_free_port()) for name in PORTS}
    with listening() as port:
        env[f"SNOWDAYS_{setting}"] = str(port)
        done = snowdays_cli(["up"], env, tmp_path)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: port {port} on 127.0.0.1, for ")
    assert lines[0].endswith(f"is taken: stop what listens there, or give SNOWDAYS_{setting} a free port")
    assert list((tmp_path / ".snowdays" / "logs").iterdir()) == [], "nothing was started"


@pytest.mark.server  # starts the stack
def test_a_part_that_dies_tells_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The STAC API's database port is taken: the stack's error carries the child's own one-line error."""
    folder = tmp_path / "pg"
    with listening() as port:
        for name, value in {"STAC_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/snowdays",
                            "STAC_POSTGRES_DATA": str(folder), "STAC_API_PORT": str(_free_port())}.items():
            monkeypatch.setenv(f"SNOWDAYS_{name}", value)
        monkeypatch.chdir(tmp_path)
        with pytest.raises(StackError) as raised, Stack(get_settings(), tmp_path / "logs", only={"stac-api"}):
            pass
    assert str(raised.value) == (
        f"stac-api exited with 1: port {port} on 127.0.0.1, for the STAC database, is taken: stop what "
        f"listens there, or give SNOWDAYS_STAC_DATABASE_URL a free port; "
        f"see {tmp_path / 'logs' / 'stac-api.log'}")


def test_stac_serve_with_its_port_taken_starts_no_database(tmp_path: Path, snowdays_cli: RunCli) -> None:
    with listening() as port:
        env = {"SNOWDAYS_STAC_API_PORT": str(port), "SNOWDAYS_STAC_POSTGRES_DATA": str(tmp_path / "pg")}
        done = snowdays_cli(["stac", "serve"], env, tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1, for the STAC API, is taken: stop what listens there, or give "
        "SNOWDAYS_STAC_API_PORT a free port"]
    assert not (tmp_path / "pg").exists()


@pytest.mark.parametrize("given", ["postgresql://", "postgres://", "postgresql+psycopg://"])
def test_prefect_runs_on_the_postgresql_given_and_workers_never_see_it(
        given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Prefect server's part gets the database through asyncpg (the outage test runs it so, on the
    session's PostgreSQL); without the setting, SQLite in its home; the Dask workers' settings lack it."""
    monkeypatch.chdir(tmp_path)  # the parts make the default archive and catalog folders
    url = f"{given}prefect:secret@127.0.0.1:5999/prefect"
    settings = get_settings(prefect_database_url=url)
    [prefect] = [p for p in parts(settings) if p.name == "prefect"]
    assert prefect.env["PREFECT_API_DATABASE_CONNECTION_URL"] == \
        "postgresql+asyncpg://prefect:secret@127.0.0.1:5999/prefect"
    [plain] = [p for p in parts(get_settings(prefect_database_url="")) if p.name == "prefect"]
    assert "PREFECT_API_DATABASE_CONNECTION_URL" not in plain.env
    assert "secret" not in for_workers(settings).model_dump_json()


def test_an_s3_archive_and_catalog_make_no_local_folder(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    parts(get_settings(archive="s3://bucket/archive", stac_catalog="s3://bucket/catalog"))
    parts(get_settings(archive="archive", stac_catalog="catalog"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive", "catalog"]
