"""The console script as a user runs it: exit codes, messages, files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import rasterio

from tests.conftest import RunCli


def test_sample_then_annual(tmp_path: Path, snowdays_cli: RunCli) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return snowdays_cli(list(args), {}, tmp_path)

    done = run("sample", str(tmp_path / "in"), "--size", "24", "--family", "fsc", "--season",
               "2018-2019")
    assert done.returncode == 0, done.stderr
    assert any(p.name.startswith("LIS_L8-SNOW-MSK_T31TCH_2018") for p in (tmp_path / "in").iterdir())
    done = run("annual", str(tmp_path / "in"), "--tile", "31tch", "--start", "2018-09-01",
               "--stop", "2019-08-31", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(written) == 4 and all("_T31TCH_20180901_20190831_" in n for n in written)
    with rasterio.open(next((tmp_path / "out").glob("LIS_S2L8-SNOW-SCD_*"))) as ds:
        scd = ds.read(1)
    assert 0 < float(np.mean(scd)) < 365


def test_bad_usage_exits_2(tmp_path: Path, snowdays_cli: RunCli) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return snowdays_cli(list(args), {}, tmp_path)

    missing_option = run("annual", str(tmp_path), "--tile", "T31TCH", "--out", str(tmp_path))
    bad_date = run("annual", str(tmp_path), "--tile", "T31TCH", "--start", "2018-02-30",
                   "--stop", "2019-08-31", "--out", str(tmp_path / "out"))
    no_folder = run("annual", str(tmp_path / "nowhere"), "--tile", "T31TCH", "--start",
                    "2018-09-01", "--stop", "2019-08-31", "--out", str(tmp_path / "out"))
    bad_family = run("sample", str(tmp_path / "s"), "--family", "modis")
    for done in (missing_option, bad_date, no_folder, bad_family):
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
    assert "2018-02-30" in bad_date.stderr
    assert "nowhere" in no_folder.stderr
    assert "modis" in bad_family.stderr
    assert not (tmp_path / "out").exists()
