"""Stores of small sample seasons for the STAC tests, made in code (seeded) and ingested for real."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
import urllib.request
from datetime import date
from pathlib import Path
from typing import IO, Any

from infra.postgres import LocalPostgres
from snowdays.ingest import ingest
from snowdays.names import parse_name
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.settings import Settings, get_settings
from stac.database import migrate
from tests.conftest import console_script

SIZE = 24


def sample(folder: Path, tile: str, label: str, seed: int) -> list[Path]:
    """A season's products of ``tile`` (zips), in acquisition order."""
    return make_season(folder, tile, parse_season(label), SIZE, "muscate", True, seed=seed)


def ingest_until(store: Path, products: list[Path], last: date, settings: Settings,
                 first: date | None = None) -> int:
    """Ingest the products acquired from ``first`` to ``last`` (both included); how many."""
    chosen = [p for p in products
              if (first or date.min) <= parse_name(p.name).acquired.date() <= last]
    for path in chosen:
        ingest(str(store), str(path), settings)
    return len(chosen)


def database(cluster: LocalPostgres, name: str) -> str:
    """A new database ``name`` with pgstac in the session's cluster; its URL."""
    db = dataclasses.replace(cluster, database=name)
    db.create_database()
    migrate(db.url)
    return db.url


def serve(settings: Settings, cwd: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """``snowdays stac serve`` in the background, once it answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWDAYS_")}
    env |= {"SNOWDAYS_STAC_DATABASE_URL": settings.stac_database_url,
            "SNOWDAYS_STAC_POSTGRES_DATA": settings.stac_postgres_data,
            "SNOWDAYS_STAC_API_PORT": str(settings.stac_api_port)}
    server = subprocess.Popen([str(console_script()), "stac", "serve"], env=env, cwd=cwd, stdout=log,
                              stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, f"stac serve exited with {server.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{settings.stac_api_port}/_mgmt/ping",
                                        timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    server.terminate()
    raise AssertionError("stac serve did not answer within 90 s")


def pipeline_env(postgres: LocalPostgres, folder: Path, monkeypatch: Any, name: str) -> Settings:
    """Settings of a pipeline in ``folder`` (archive, stores, catalog; a STAC database ``name``), put in
    the environment as a flow run reads them; the archive is made, empty."""
    values = {"ARCHIVE": folder / "archive", "STORE": folder / "stores", "STAC_CATALOG": folder / "catalog",
              "STAC_DATABASE_URL": database(postgres, name), "STAC_POSTGRES_DATA": "", "DASK_WORKERS": "1"}
    for key, value in values.items():
        monkeypatch.setenv(f"SNOWDAYS_{key}", str(value))
    (folder / "archive").mkdir()
    return get_settings()
