"""The console script as a user runs it: exit codes, messages, files."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

import numpy as np
import rasterio

from snowdays.reference import cube_maps, season_cube
from tests.conftest import RunCli

MAPS = ("SCD", "SOD", "SMOD", "NOBS")


def test_sample_then_annual(tmp_path: Path, snowdays_cli: RunCli) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return snowdays_cli(list(args), {}, tmp_path)

    done = run("sample", str(tmp_path / "in"), "--size", "24", "--layout", "fsc", "--season",
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
    bad_family = run("sample", str(tmp_path / "s"), "--layout", "modis")
    for done in (missing_option, bad_date, no_folder, bad_family):
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
    assert "2018-02-30" in bad_date.stderr
    assert "nowhere" in no_folder.stderr
    assert "modis" in bad_family.stderr
    assert not (tmp_path / "out").exists()


def test_ingest_export_status(tmp_path: Path, snowdays_cli: RunCli) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return snowdays_cli(list(args), {}, tmp_path)

    assert run("sample", "in", "--size", "16", "--zip").returncode == 0
    products = sorted(str(p) for p in (tmp_path / "in").iterdir())
    s2 = [p for p in products if "SENTINEL2" in p and "201801" in p][:3]
    landsat = next(p for p in products if "LANDSAT8" in p)
    (tmp_path / "X_bad.zip").write_bytes(b"junk")
    first = run("ingest", landsat, "--store", "store")  # the tile's grid comes from its name
    assert first.returncode == 0 and first.stdout.split(": ", 1)[1].startswith("folded"), first.stdout
    done = run("ingest", *s2, s2[0], str(tmp_path / "X_bad.zip"), landsat, "--store", "store")
    assert done.returncode == 3, done.stderr
    assert re.search(r"ingesting products .* 6/6", done.stderr), done.stderr  # the bar, on stderr
    lines = done.stdout.splitlines()
    assert [line.split(": ", 1)[1].split(" [")[0] for line in lines] == [
        "folded", "folded", "folded", "skipped (duplicate)",
        "rejected (the name matches no Theia snow or L2A product family)", "skipped (duplicate)"]
    shown = run("status", "--store", "store")
    assert shown.returncode == 0, shown.stderr
    assert "2017-2018" in shown.stdout and "quarantined in _unidentified: X_bad" in shown.stdout
    row = next(line for line in shown.stdout.splitlines() if "2017-2018" in line)
    assert " 4 " in row  # three Sentinel-2 products and the Landsat one
    out = run("export", "--store", "store", "--tile", "T31TCH", "--season", "2017-2018",
              "--out", "maps", "--as-of", "2018-01-31")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name.split("_")[1] for p in (tmp_path / "maps").iterdir()) == [
        f"S2L8-SNOW-{kind}" for kind in ("NOBS", "NSP", "QC", "QCMD", "QCOD", "SCD", "SMOD", "SOD")]
    assert all("_20170901_20180131_" in p.name for p in (tmp_path / "maps").iterdir())
    missing = run("export", "--store", "store", "--tile", "T32TLR", "--season", "2017-2018",
                  "--out", "none")
    assert missing.returncode == 2 and "no store for tile T32TLR" in missing.stderr


def test_l2a_sample_detect_and_ingest(tmp_path: Path, snowdays_cli: RunCli) -> None:
    """A sample L2A season with its DEM; one product's snow as a LIS-style raster; an L2A product and
    then its snow product ingested: the snow product takes its place, a second L2A is skipped."""
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return snowdays_cli(list(args), env or {}, tmp_path)

    made = run("sample", "l2a", "--size", "24", "--layout", "l2a", "--dem", "dem", "--season", "2017-2018")
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[-1] == "dem/T31TCH.tif" and (tmp_path / "dem" / "T31TCH.tif").is_file()
    assert run("sample", "snow", "--size", "24", "--season", "2017-2018").returncode == 0
    january = sorted(p.name for p in (tmp_path / "l2a").iterdir() if "SENTINEL2A_201801" in p.name)[0]
    done = run("detect", f"l2a/{january}", "--out", "rasters", "--dem", "dem")
    assert done.returncode == 0, done.stderr
    path, summary = done.stdout.splitlines()
    assert path == f"rasters/{january}_SNW_R2.tif" and summary.startswith("snowline ")
    with rasterio.open(tmp_path / path) as ds:
        assert set(np.unique(ds.read(1))) <= {0, 100, 205, 255} and ds.tags()["SOURCE"] == january
    snow = january.replace("_L2A_", "_L2B-SNOW_").replace("_V2-2", "_V1-7")
    env = {"SNOWDAYS_DEM": "dem"}
    lines = [run("ingest", f"l2a/{january}", "--store", "store", env=env).stdout,
             run("ingest", f"snow/{snow}", f"l2a/{january}", "--store", "store", env=env).stdout]
    assert [line.split(": ", 1)[1].split(" [")[0] for line in "".join(lines).splitlines()] == [
        "folded", "folded", "skipped (a snow product of its acquisition is folded)"]
    wrong = run("detect", f"snow/{snow}", "--out", "rasters")
    assert wrong.returncode == 2 and "is a snow product already, not an L2A product" in wrong.stderr


def test_a_whole_season_in_name_order_folds_and_equals_the_batch(tmp_path: Path,
                                                                 snowdays_cli: RunCli) -> None:
    """``snowdays ingest archive/*/`` on a generated season: the Landsat products come first by name,
    and before any Sentinel-2 product they waited (exit code 1); the tile's grid now comes from its
    name, so every product folds, and the maps are those of ``snowdays annual`` and of the naive
    reference."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return snowdays_cli(list(args), {}, tmp_path)

    made = run("sample", "archive", "--tile", "T31TCH", "--season", "2017-2018", "--size", "64")
    assert made.returncode == 0, made.stderr
    names = sorted(p.name for p in (tmp_path / "archive").iterdir())
    assert names[0].startswith("LANDSAT8") and any(n.startswith("SENTINEL2") for n in names)
    done = run("ingest", *[f"archive/{n}/" for n in names], "--store", "store")
    assert done.returncode == 0, done.stdout + done.stderr
    outcomes = [line.split(": ", 1)[1].split(" ")[0] for line in done.stdout.splitlines()]
    assert outcomes == ["folded"] * len(names)  # "folded (season recomputed)" out of order
    exported = run("export", "--store", "store", "--tile", "T31TCH", "--season", "2017-2018",
                   "--out", "stored", "--annual")
    assert exported.returncode == 0, exported.stderr
    batch = run("annual", "archive", "--tile", "T31TCH", "--start", "2017-09-01", "--stop", "2018-08-31",
                "--out", "batch")
    assert batch.returncode == 0, batch.stderr
    computed = sorted((tmp_path / "batch").iterdir())  # the four maps; an export adds the quality layers
    stored = sorted(p for p in (tmp_path / "stored").iterdir()
                    if p.name.split("_")[1].rsplit("-", 1)[1] in MAPS)
    assert [p.name for p in stored] == [p.name for p in computed] and len(stored) == 4
    assert len(list((tmp_path / "stored").iterdir())) == 8
    cube, days, n_days = season_cube(tmp_path / "archive", date(2017, 9, 1), date(2018, 8, 31))
    expected = cube_maps(cube, days, n_days)
    for a, b in zip(stored, computed, strict=True):
        with rasterio.open(a) as got, rasterio.open(b) as want:
            assert got.shape == want.shape == (64, 64) and got.transform == want.transform
            np.testing.assert_array_equal(got.read(1), want.read(1), err_msg=a.name)
            kind = a.name.split("_")[1].removeprefix("S2L8-SNOW-")
            np.testing.assert_array_equal(got.read(1), expected[kind], err_msg=a.name)
