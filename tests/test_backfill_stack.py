"""``snowdays backfill`` through the whole local stack (``snowdays up``, every part a real server on
127.0.0.1): the command starts a run of the served ``backfill`` deployment and follows it to its end;
every tile-season then equals ``snowdays annual`` on its products, and the tile items and the regional
mosaic's item are in the STAC API, where the viewer finds its seasons."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from infra.postgres import LocalPostgres
from infra.stack import Stack, urls
from tests.backfilldata import LABEL, TILES, assert_like_annual, assert_published, region_archive
from tests.conftest import console_script
from tests.stacdata import database
from tests.stackenv import stack_settings

pytestmark = pytest.mark.timeout(900)


def served(api: str) -> None:
    """Wait until the stack serves the backfill deployment."""
    deadline = time.monotonic() + 240
    while httpx.get(f"{api}/deployments/name/backfill/backfill", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the backfill deployment is not served"
        time.sleep(1)


def test_a_backfill_through_the_stack(postgres: LocalPostgres, tmp_path: Path) -> None:
    env = {"ARCHIVE": tmp_path / "archive", "STORE": tmp_path / "stores",
           "STAC_CATALOG": tmp_path / "catalog", "STAC_DATABASE_URL": database(postgres, "backfillstack"),
           "STAC_POSTGRES_DATA": "", "DASK_WORKERS": "2", "SWEEP_INTERVAL_SECONDS": "3600"}
    with stack_settings(tmp_path, **env) as settings:
        region = region_archive(tmp_path, settings)
        with Stack(settings, tmp_path / "logs"):
            at = urls(settings.ports)
            child = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
            child["PREFECT_API_URL"] = f"{at['Prefect UI']}/api"
            served(child["PREFECT_API_URL"])
            done = subprocess.run([str(console_script()), "backfill", "--region", str(region),
                                   "--season", LABEL], env=child, cwd=tmp_path, capture_output=True,
                                  text=True, timeout=600, check=False)
            logs = (tmp_path / "logs" / "pipeline.log").read_text()[-3000:]
            assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{logs}"
            assert ": Completed" in done.stdout
            assert_like_annual(tmp_path, settings)
            assert_published(region, settings)
            stac = at["STAC API"]
            for tile in TILES:
                item = httpx.get(f"{stac}/collections/snow-cover-duration/items/"
                                 f"scd-{tile.lower()}-{LABEL}", timeout=30)
                assert item.status_code == 200, tile
            mosaic = httpx.get(f"{stac}/collections/snow-cover-duration-mosaics/items/"
                               f"scd-mosaic-three-{LABEL}", timeout=30)
            assert mosaic.status_code == 200
            assert mosaic.json()["assets"]["scd_display"]["href"]
            config = httpx.get(f"{at['viewer']}config.json", timeout=30).raise_for_status().json()
            assert config["stac_api"].rstrip("/") == stac.rstrip("/")
