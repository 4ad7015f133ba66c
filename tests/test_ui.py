"""The Prefect UI shows a finished update's report: a real Prefect server (with its UI) on 127.0.0.1, a
real run of ``update_tile``, and a headless Chromium reading the rendered page. The screenshot is kept
in ``test-artifacts/ui/``."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from PIL import Image

from infra.postgres import LocalPostgres
from infra.stack import Stack, urls
from snowdays.names import parse_name
from snowdays.settings import get_settings
from tests.browser import wait_for_text
from tests.conftest import Chromium, _free_port, starts
from tests.stacdata import pipeline_env, sample

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts" / "ui"


@pytest.fixture
@starts("server")
def prefect_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``prefect server start`` (API and UI) on a free port, as ``snowdays up`` runs it; its URL."""
    monkeypatch.setenv("SNOWDAYS_PREFECT_PORT", str(_free_port()))
    monkeypatch.setenv("SNOWDAYS_PREFECT_HOME", str(tmp_path / "prefect"))
    settings = get_settings()
    with Stack(settings, tmp_path / "logs", only={"prefect"}):
        yield urls(settings.ports)["Prefect UI"]


def test_the_ui_shows_the_report_of_a_run(prefect_ui: str, postgres: LocalPostgres, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, chromium: Chromium) -> None:
    pipeline_env(postgres, tmp_path, monkeypatch, "ui")
    products = [p for p in sample(tmp_path / "made", "T31TCH", "2017-2018", 9)
                if date(2017, 9, 20) < parse_name(p.name).acquired.date()][:3]
    for p in products:
        shutil.copy2(p, tmp_path / "archive" / p.name)
    corrupt = tmp_path / "archive" / "SENTINEL2A_20171020-103629-000_L2B-SNOW_T31TCH_C_V1-7.zip"
    corrupt.write_bytes(b"not a zip")
    # the run in a process of its own, as a served run is, on that server only
    run = ("from flows.update_tile import update_tile; "
           "print(len(update_tile(tile='T31TCH', day='2017-10-20')))")
    env = os.environ | {"PREFECT_API_URL": f"{prefect_ui}/api"}
    done = subprocess.run([sys.executable, "-c", run], env=env, capture_output=True, text=True,
                          timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "4"

    body = {"artifacts": {"key": {"any_": ["update-t31tch"]}}, "sort": "UPDATED_DESC", "limit": 1}
    [artifact] = httpx.post(f"{prefect_ui}/api/artifacts/filter", json=body, timeout=30).json()
    with chromium(f"{prefect_ui}/artifacts/artifact/{artifact['id']}") as tab:
        wanted = [*(p.stem for p in products), corrupt.stem, "not a readable zip archive", "mean SCD"]
        text = wait_for_text(tab, wanted, timeout=90)
        shot = tab.screenshot()
    assert text.count("folded") >= len(products)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "update-t31tch.png").write_bytes(shot)
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.size[0] >= 800 and image.size[1] >= 600
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, "the screenshot is (almost) one colour"
