"""The local database works wherever the user runs snowdays, even as root in a folder only root may enter
(PostgreSQL runs as the postgres system user then)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.postgres import PostgresError, server_folder
from snowdays.settings import get_settings
from tests.conftest import _free_port
from tests.stacdata import serve

as_root = pytest.mark.skipif(os.geteuid() != 0,
                             reason="the postgres system user runs the server as root only")


@pytest.fixture
def root_only() -> Iterator[Path]:
    """A folder only root may enter, as ``mktemp -d`` makes; the clusters moved out of it removed after."""
    folder = Path(tempfile.mkdtemp(prefix="snowdays root only "))
    assert folder.stat().st_mode & 0o777 == 0o700
    try:
        yield folder
    finally:
        for link in folder.rglob("*"):
            if link.is_symlink():
                shutil.rmtree(link.resolve(), ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


@as_root
def test_a_folder_the_system_user_may_enter_keeps_the_cluster() -> None:
    open_folder = Path(tempfile.mkdtemp(prefix="snowdays-pg-"))
    try:
        open_folder.chmod(0o755)
        assert server_folder(open_folder / "data") == open_folder / "data"
        assert not (open_folder / "data").exists()
    finally:
        shutil.rmtree(open_folder)


@as_root
def test_a_folder_only_root_may_enter_moves_the_cluster_to_the_system_user(root_only: Path) -> None:
    data = root_only / ".snowdays" / "postgres"
    moved = server_folder(data)
    assert moved.parent == Path("~postgres/snowdays").expanduser()
    assert data.is_symlink() and data.resolve() == moved
    assert server_folder(data) == moved, "the link leads the next run to the same cluster"
    other = server_folder(root_only / "other" / "postgres")
    assert other != moved, "each configured folder has a cluster of its own"


@as_root
def test_a_cluster_left_in_a_folder_only_root_may_enter_is_named(root_only: Path) -> None:
    data = root_only / "postgres"
    data.mkdir()
    (data / "PG_VERSION").write_text("15\n")
    with pytest.raises(PostgresError, match=rf"cannot enter {root_only}, and {data} is not empty: move it"):
        server_folder(data)


@pytest.mark.server  # stac serve
@as_root
def test_stac_serve_from_a_folder_only_root_may_enter(root_only: Path) -> None:
    """``snowdays stac serve`` (the stack's STAC API part) with the default cluster folder, run from a
    folder made by ``mktemp -d``: it answers, stops, and answers again on the same database."""
    settings = get_settings(stac_database_url=f"postgresql://postgres@127.0.0.1:{_free_port()}/snowdays",
                            stac_postgres_data=".snowdays/postgres", stac_api_port=_free_port())
    for _ in range(2):
        with (root_only / "serve.log").open("ab") as log:
            server = serve(settings, root_only, log)
        try:
            url = f"http://127.0.0.1:{settings.stac_api_port}/collections"
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert answer.status == 200 and "collections" in json.load(answer)
        finally:
            server.terminate()
            assert server.wait(timeout=60) == 128 + 15
    assert (root_only / ".snowdays" / "postgres").is_symlink()
    assert (root_only / ".snowdays" / "postgres" / "PG_VERSION").is_file()
    assert "Traceback" not in (root_only / "serve.log").read_text()
