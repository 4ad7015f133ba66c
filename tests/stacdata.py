"""Stores of small sample seasons for the STAC tests, made in code (seeded) and ingested for real.

Several modules make the same seasons and fold the same months of them: each is made (and each store
folded) once a session (``made_once``), and every caller gets a copy of its own, free to change it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
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
from tests.conftest import console_script, made_once

SIZE = 24


def sample(folder: Path, tile: str, label: str, seed: int) -> list[Path]:
    """A season's products of ``tile`` (zips), in acquisition order: a copy in ``folder`` of those the
    session made."""
    key = f"sample-{tile}-{label}-{seed}"

    def make(out: Path) -> None:
        made = make_season(out, tile, parse_season(label), SIZE, "muscate", True, seed=seed)
        out.with_name(f"{key}.order").write_text("\n".join(p.name for p in made))

    made = made_once(key, make)
    shutil.copytree(made, folder, dirs_exist_ok=True)
    return [folder / name for name in made.with_name(f"{key}.order").read_text().splitlines()]


def store_until(store: Path, tile: str, label: str, seed: int, last: date, settings: Settings) -> int:
    """``ingest_until(store, sample(..., tile, label, seed), last, settings)`` into a new ``store``: a
    copy of the store the session folded so (once for the same settings, whatever their STAC database
    and ports); how many products it holds."""
    asked = {k: v for k, v in settings.model_dump(mode="json").items() if "stac" not in k and "port" not in k}
    digest = hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()[:12]
    key = f"store-{tile}-{label}-{seed}-{last}-{digest}"

    def fold(out: Path) -> None:
        count = ingest_until(out, sample(out.with_name(f"{out.name}-products"), tile, label, seed), last,
                             settings)
        out.with_name(f"{key}.count").write_text(str(count))

    made = made_once(key, fold)
    shutil.copytree(made, store)
    return int(made.with_name(f"{key}.count").read_text())


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
