"""Every layout as distributed (snowdays/layouts.py) is read by ``annual`` and by ``ingest``, in a folder,
a zip and on ``s3://``, with maps equal to the naive reference; what is no product is skipped with a note.

The layouts follow LIS 1.11's reader (``s2snow/snow_product.py`` of let-it-snow-1.11.0 in the public
repository of the Copernicus HR-WSI system) and HR-WSI's routines; each writer cites its source.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio

from flows.update_tile import update_tile
from infra.postgres import LocalPostgres
from snowdays.annual import run_annual
from snowdays.codes import WATER
from snowdays.export import season_maps
from snowdays.ingest import ingest
from snowdays.layouts import LAYOUTS
from snowdays.names import Family, not_a_product, parse_name, strip_suffix
from snowdays.products import open_product
from snowdays.reference import cube_maps, season_cube
from snowdays.sample import make_season
from snowdays.season import Season, parse_season
from snowdays.settings import get_settings
from tests.conftest import RunCli, S3Server
from tests.stacdata import pipeline_env

SEASON = parse_season("2017-2018")
WINTER = Season(start=date(2017, 11, 15), stop=date(2018, 1, 31), margin=15)
"""Where products are made for a fold one by one (each a transaction of the store): the part of the
season with snow, Landsat products among them."""
SIZE = 24
SNOW_LAYOUTS = [layout for layout in LAYOUTS if layout != "l2a"]  # L2A: tests/test_l2a.py


def expected(folder: Path, season: Season = SEASON) -> dict[str, np.ndarray]:
    cube, days, n_days = season_cube(folder, season.start, season.stop, season.margin)
    return cube_maps(cube, days, n_days)


def assert_maps(maps: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    for kind, array in maps.items():
        diff = np.argwhere(array != reference[kind.upper()])
        assert diff.size == 0, f"{kind} differs at {diff[:5].tolist()}"
    assert int(reference["NOBS"].max()) > 0


@pytest.mark.parametrize("as_zip", [False, True])
@pytest.mark.parametrize("layout", SNOW_LAYOUTS)
def test_annual_reads_every_layout(tmp_path: Path, layout: str, as_zip: bool) -> None:
    paths = make_season(tmp_path, "T31TCH", SEASON, SIZE, layout, as_zip, seed=3)  # type: ignore[arg-type]
    result = run_annual(str(tmp_path), "T31TCH", SEASON, get_settings())
    assert len(result.used) == len(paths) and not result.rejected
    assert_maps(dict(result.maps.items()), expected(tmp_path))


@pytest.mark.parametrize("layout", SNOW_LAYOUTS)
def test_ingest_in_name_order_reads_every_layout(tmp_path: Path, layout: str) -> None:
    """Folded one by one in the order of their names (Landsat first), the stored season (of winter's
    products) equals the reference, and nothing waits."""
    folder = tmp_path / "archive"
    make_season(folder, "T31TCH", WINTER, SIZE, layout, True, seed=4)  # type: ignore[arg-type]
    settings = get_settings(pending_max=4)
    outcomes = [ingest(str(tmp_path / "store"), str(p), settings).outcome
                for p in sorted(folder.iterdir()) if not_a_product(p.name) is None]
    assert {o.split(" ", 1)[0] for o in outcomes} == {"folded"}, sorted(set(outcomes))
    assert len(outcomes) > 20
    stored = season_maps(str(tmp_path / "store"), "T31TCH", "2017-2018", settings)
    assert stored.as_of >= WINTER.stop
    ytd = Season(start=SEASON.start, stop=stored.as_of, margin=SEASON.margin)  # maps to the last product
    assert_maps(dict(stored.maps.items()), expected(folder, ytd))


def test_layouts_on_s3(s3_server: S3Server, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Theia's downloads (zips with their .md5, and folders), the LIS_SEB layout and HR-WSI (folders),
    read from ``s3://`` (winter's products: each is a few requests to the server)."""
    local = tmp_path / "local"
    for layout, as_zip, seed in (("theia-download", True, 5), ("theia-download", False, 13),
                                 ("lis-seb", False, 6), ("hrwsi", False, 7)):
        make_season(local, "T31TCH", WINTER, SIZE, layout, as_zip, seed=seed)  # type: ignore[arg-type]
    monkeypatch.setenv("SNOWDAYS_S3_ENDPOINT_URL", s3_server.endpoint_url)
    prefix = s3_server.upload(local, "layouts", "archive")
    result = run_annual(prefix, "T31TCH", SEASON, get_settings())
    assert not result.rejected
    assert {p.id.name.split("_", 1)[0] for p in result.used} >= {"SENTINEL2A", "LANDSAT8-OLITIRS-XS",
                                                                "CLMS"}
    assert_maps(dict(result.maps.items()), expected(local))


def test_a_lis_raster_in_a_muscate_folder(tmp_path: Path) -> None:
    """LIS 1.11 reads a MUSCATE-named folder without ``_SNW_R2`` through its ``*SNOW-FSC_*.tif``."""
    paths = make_season(tmp_path / "fsc", "T31TCH", SEASON, SIZE, "fsc", False, seed=14)
    tif = next(p for p in paths if p.name.startswith("LIS_S2"))
    when = parse_name(tif.name).acquired
    folder = tmp_path / f"SENTINEL2A_{when:%Y%m%d-%H%M%S}-000_L2B-SNOW_T31TCH_C_V2-0"
    folder.mkdir()
    shutil.copy2(tif, folder / tif.name)
    product = open_product(str(folder), get_settings(), "T31TCH")
    assert product.raster == str(folder / tif.name)
    with rasterio.open(tif) as ds:
        np.testing.assert_array_equal(product.read(product.grid, get_settings()), ds.read(1))


def test_a_download_takes_its_version_from_the_folder_it_holds(tmp_path: Path) -> None:
    paths = make_season(tmp_path, "T31TCH", SEASON, SIZE, "theia-download", True, seed=8)
    unversioned = next(p for p in paths if p.name.endswith("_D.zip"))
    assert parse_name(unversioned.name).version == ()
    product = open_product(str(unversioned), get_settings(), "T31TCH")
    assert product.id.name == unversioned.name.removesuffix(".zip")
    assert product.id.version == (1, 9)
    assert "_C_V1-9/" in product.raster


@pytest.mark.parametrize(("written", "accepted"), [("1.9", True), ("1-9", True), ("1.8", False)])
def test_product_version_in_either_form(tmp_path: Path, written: str, accepted: bool) -> None:
    paths = make_season(tmp_path, "T31TCH", SEASON, SIZE, "theia-download", False, seed=9)
    download = next(p for p in paths if p.name.endswith("_D_V1-9"))
    (inner,) = download.iterdir()
    xml = inner / f"{inner.name}_MTD_ALL.xml"
    assert "<PRODUCT_VERSION>1.9<" in xml.read_text()
    xml.write_text(xml.read_text().replace("<PRODUCT_VERSION>1.9<", f"<PRODUCT_VERSION>{written}<"))
    result = run_annual(str(tmp_path), "T31TCH", SEASON, get_settings(), strict=False)
    rejected = [r.product for r in result.rejected]
    assert rejected == ([] if accepted else [download.name])


def test_water_is_a_clear_observation_of_no_snow(tmp_path: Path) -> None:
    paths = make_season(tmp_path, "T31TCH", SEASON, SIZE, "hrwsi", False, seed=10)
    first = paths[0] / f"{paths[0].name}_FSCOG.tif"
    with rasterio.open(first) as ds:
        lake = ds.read(1) == WATER
    assert lake.any(), "the sample must hold water"
    result = run_annual(str(tmp_path), "T31TCH", SEASON, get_settings())
    assert {p.id.family for p in result.used} == {Family.HRSI}
    assert (result.maps.scd[lake] == 0).all()
    n_days = sum(1 for p in result.used if SEASON.in_window(p.id.acquired))
    assert int(result.maps.nobs[lake].min()) > n_days // 2  # water is seen through every pass
    assert_maps(dict(result.maps.items()), expected(tmp_path))


@pytest.mark.parametrize(("name", "why"), [
    ("SENTINEL2A_20180115-103629-617_L2B-SNOW_T31TCH_D_V1-9.zip.md5", "a .md5 file"),
    ("LIS_S2-SNOW-FSC_T31TCH_20180115T103629_1.7.0_01.tif.aux.xml", "a .aux.xml file"),
    ("README", "a document"),
    ("readme.txt", "a .txt file"),
    (".DS_Store", "a hidden file"),
    ("SENTINEL2A_20180115-103629-617_L2B-SNOW_T31TCH_D_V1-9.zip", None),
    ("CLMS_WSI_FSC_020m_T32TLR_20260402T102841_S2A_V200", None),
    ("SENTINEL2A_broken.zip", None),
    ("X_bad.zip", None),
])
def test_what_is_no_product(name: str, why: str | None) -> None:
    assert not_a_product(name) == why


def test_a_batch_notes_and_skips_what_is_no_product(tmp_path: Path, snowdays_cli: RunCli) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return snowdays_cli(list(args), {}, tmp_path)

    made = make_season(tmp_path / "in", "T31TCH", SEASON, SIZE, "theia-download", True, seed=11)
    (tmp_path / "in" / "README.md").write_text("downloaded from the distributor\n")
    (tmp_path / "in" / ".hidden").write_bytes(b"")
    annual = run("annual", "in", "--tile", "T31TCH", "--start", "2017-09-01", "--stop", "2018-08-31",
                 "--out", "out", "--skip-bad")
    assert annual.returncode == 0, annual.stderr
    assert "rejected" not in annual.stderr
    zips = [str(p) for p in made]
    done = run("ingest", *zips[:2], f"{zips[0]}.md5", str(tmp_path / "in" / "README.md"), "--store", "st")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[2] == f"{zips[0]}.md5: ignored (not a product: a .md5 file)"
    assert lines[3] == f"{tmp_path / 'in' / 'README.md'}: ignored (not a product: a .md file)"


def test_hrwsi_outranks_the_hrsi_product_of_its_acquisition(tmp_path: Path) -> None:
    """HR-WSI's V200 is a later version of the acquisition's HR-S&I V100 product: only it counts."""
    old = make_season(tmp_path / "hrsi", "T31TCH", SEASON, SIZE, "hrsi", False, seed=12)
    new = make_season(tmp_path / "hrwsi", "T31TCH", SEASON, SIZE, "hrwsi", False, seed=12)
    both = tmp_path / "both"
    for p in [*old[:5], *new[:5]]:
        shutil.copytree(p, both / p.name)
    result = run_annual(str(both), "T31TCH", SEASON, get_settings())
    assert sorted(p.id.name for p in result.used) == sorted(p.name for p in new[:5])


def test_the_pipeline_reads_every_layout(postgres: LocalPostgres, prefect_api: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """One run of update_tile over an archive holding October's products of every layout (Theia's
    downloads with their .md5 beside them): each is folded, and the stored year-to-date maps equal
    ``annual`` over the same products (which equals the reference, above)."""
    settings = pipeline_env(postgres, tmp_path, monkeypatch, "layouts")
    archive = Path(settings.archive)
    # HR-S&I left out: its products share their acquisitions with HR-WSI's, which outrank them (above)
    for seed, layout in enumerate(x for x in SNOW_LAYOUTS if x != "hrsi"):
        made = make_season(tmp_path / layout, "T31TCH", SEASON, SIZE, layout, True, seed=seed)  # type: ignore[arg-type]
        for p in made:
            acquired = parse_name(p.name.removesuffix(".md5")).acquired.date()
            if date(2017, 10, 1) <= acquired <= date(2017, 10, 31):
                shutil.copy2(p, archive / p.name)
                if (md5 := p.with_name(f"{p.name}.md5")).exists():
                    shutil.copy2(md5, archive / md5.name)
    assert any(p.suffix == ".md5" for p in archive.iterdir())
    done = update_tile(tile="T31TCH", day="2017-10-31")
    products = [p for p in archive.iterdir() if not_a_product(p.name) is None]
    assert sorted(r["product"] for r in done) == sorted(strip_suffix(p.name) for p in products)
    assert {r["outcome"] for r in done} <= {"folded", "recomputed"}
    stored = season_maps(settings.store, "T31TCH", "2017-2018", settings)
    ytd = Season(start=SEASON.start, stop=stored.as_of, margin=SEASON.margin)
    batch = run_annual(settings.archive, "T31TCH", ytd, settings)
    for (kind, got), (_, want) in zip(stored.maps.items(), batch.maps.items(), strict=True):
        np.testing.assert_array_equal(got, want, err_msg=kind)
