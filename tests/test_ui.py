"""The Prefect UI shows a finished update's report: a real Prefect server (with its UI) on 127.0.0.1, a
real run of ``update_tile``, and a headless Chromium reading the rendered pages: the run's summary with
its plots (the SCD histogram, SCD against elevation) loaded from the stack's file server, and the
run's logs holding the library's record of a rejected product. The screenshots are kept in
``test-artifacts/ui/``."""

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
from infra.stack import RUN_LOGS, Stack, urls
from snowdays.names import parse_name
from snowdays.sample import write_dem
from snowdays.settings import get_settings
from tests.browser import wait_for, wait_for_text
from tests.conftest import Chromium, _free_port, starts
from tests.stacdata import SIZE, pipeline_env, sample

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


LOADED = """[...document.querySelectorAll('img')]
  .filter((i) => i.complete && i.naturalWidth > 0).map((i) => i.src)"""
"""The images of the page that are loaded."""
SHOW = """(() => {
  const e = [...document.querySelectorAll('*')]
    .find((e) => !e.children.length && e.textContent.includes('WANTED'));
  if (e) e.scrollIntoView({block: 'center'});
  return Boolean(e);
})()"""
"""Scroll the element whose text holds WANTED into view."""


def test_the_ui_shows_the_report_of_a_run(prefect_ui: str, postgres: LocalPostgres, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, chromium: Chromium) -> None:
    monkeypatch.setenv("SNOWDAYS_FILES_PORT", str(_free_port()))
    settings = pipeline_env(postgres, tmp_path, monkeypatch, "ui")
    products = [p for p in sample(tmp_path / "made", "T31TCH", "2017-2018", 9)
                if date(2017, 9, 20) < parse_name(p.name).acquired.date()][:3]
    for p in products:
        shutil.copy2(p, tmp_path / "archive" / p.name)
    corrupt = tmp_path / "archive" / "SENTINEL2A_20171020-103629-000_L2B-SNOW_T31TCH_C_V1-7.zip"
    corrupt.write_bytes(b"not a zip")
    write_dem(tmp_path / "dem" / "T31TCH.tif", "T31TCH", SIZE, seed=9)
    files = urls(settings.ports)["files"]
    # the run in a process of its own, as a served run is, on that server only, as `snowdays up` runs it
    run = ("from flows.update_tile import update_tile; "
           "print(len(update_tile(tile='T31TCH', day='2017-10-20')))")
    env = os.environ | RUN_LOGS | {"PREFECT_API_URL": f"{prefect_ui}/api", "SNOWDAYS_FILES_URL": files,
                                   "SNOWDAYS_DEM": str(tmp_path / "dem")}
    done = subprocess.run([sys.executable, "-c", run], env=env, capture_output=True, text=True,
                          timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "4"

    item = f"{files}/snow-cover-duration/scd-t31tch-2017-2018"
    plots = [f"{item}/histogram.png", f"{item}/elevation.png"]
    body = {"artifacts": {"key": {"any_": ["update-t31tch"]}}, "sort": "UPDATED_DESC", "limit": 1}
    [artifact] = httpx.post(f"{prefect_ui}/api/artifacts/filter", json=body, timeout=30).json()
    with Stack(settings, tmp_path / "logs", only={"files"}), \
            chromium(f"{prefect_ui}/artifacts/artifact/{artifact['id']}") as tab:
        wanted = [*(p.stem for p in products), corrupt.stem, "not a readable zip archive", "mean SCD"]
        text = wait_for_text(tab, wanted, timeout=90)
        both = f"(() => {{ const l = {LOADED}; return {plots}.every((u) => l.includes(u)) && l; }})()"
        loaded = wait_for(tab, both, 60)
        sizes = tab.evaluate("[...document.querySelectorAll('img')].map((i) => [i.src, i.naturalWidth])")
        shot = tab.screenshot()
    assert set(plots) <= set(loaded)
    assert {src: width for src, width in sizes if src in plots} == {plots[0]: 500, plots[1]: 500}
    assert text.count("folded") >= len(products)
    keep(shot, "update-t31tch.png")

    runs = httpx.post(f"{prefect_ui}/api/flow_runs/filter", json={"flow_runs": {"name": {
        "like_": "update-T31TCH-2017-10-20"}}}, timeout=30).json()
    rejection = f"rejected {corrupt.stem} (unreadable): not a readable zip archive"
    with chromium(f"{prefect_ui}/runs/flow-run/{runs[0]['id']}") as tab:
        wait_for_text(tab, [rejection, "snowdays.ingest"], timeout=90)
        assert tab.evaluate(SHOW.replace("WANTED", rejection))
        keep(tab.screenshot(), "update-t31tch-logs.png")


def keep(shot: bytes, name: str) -> None:
    """Keep a screenshot, once it is seen to show a page (not one colour)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / name).write_bytes(shot)
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.size[0] >= 800 and image.size[1] >= 600
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, f"{name}: the screenshot is (almost) one colour"
