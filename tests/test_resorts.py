"""``snowdays resorts``: ski areas ranked from a mosaic of two generated tiles and generated ski runs,
checked against a direct computation: every mosaic pixel whose square a downhill piste meets (shapely,
exactly), its values gathered in plain Python."""

from __future__ import annotations

import json
import math
import statistics
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds, transform_geom
from shapely.geometry import box, shape

from snowdays.mosaic import MosaicReport
from snowdays.pistes import import_pistes
from snowdays.regions import load_region
from snowdays.resorts import ranking
from snowdays.sample_pistes import Piste, SkiArea, random_areas, write_osm
from snowdays.season import parse_season
from snowdays.settings import Settings, get_settings
from stac.mosaics import build
from tests.conftest import RunCli, _free_port, starts
from tests.mosaicdata import LABEL, NODATA, Tiles, make_tiles

SEASON = parse_season(LABEL)


def offline() -> Settings:
    return get_settings(stac_database_url=f"postgresql://postgres@127.0.0.1:{_free_port()}/none",
                        stac_connect_timeout=1, mosaic_block=32)


@pytest.fixture(scope="module")
@starts("slow")  # two tiles folded over the season
def mosaic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Tiles, MosaicReport]:
    tiles = make_tiles(tmp_path_factory.mktemp("resorts"), offline(), until=SEASON.stop)
    (tiles.catalog.parent / "boundary.txt").write_text("T31TGL T32TLR")
    report = build(load_region(str(tiles.catalog.parent / "boundary.txt")), LABEL, offline(),
                   str(tiles.catalog))
    return tiles, report


def areas_over(report: MosaicReport) -> list[SkiArea]:
    """Generated ski areas over the mosaic, one with a piste mapped as an area, one far away."""
    g = report.plan.grid
    (x0, y0), (x1, y1) = g.affine @ (0, 0), g.affine @ (g.width, g.height)
    west, south, east, north = transform_bounds(g.crs, "EPSG:4326", x0, y1, x1, y0)
    areas = random_areas((west, south, east, north), 4, seed=7)
    cx, cy = (west + east) / 2, (south + north) / 2
    d = (east - west) / 20
    square = [(cx, cy), (cx + d, cy), (cx + d, cy + d), (cx, cy + d), (cx, cy)]
    areas[0].pistes.append(Piste("Stade", "downhill", "advanced", square, area=True))
    far = SkiArea("Ailleurs", [(7.5, 46.5), (7.51, 46.5), (7.51, 46.51), (7.5, 46.5)],
                  [Piste("Loin", "downhill", None, [(7.502, 46.505), (7.505, 46.502)])])
    return [*areas, far]


def direct(folder: Path, overlay: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The statistics of every ski area, pixel by pixel."""
    with rasterio.open(folder / "scd.tif") as ds:
        scd, transform, crs = ds.read(1), ds.transform, ds.crs
    with rasterio.open(folder / "smod.tif") as ds:
        smod = ds.read(1)
    pistes: dict[str, list[Any]] = {}
    for f in overlay["features"]:
        p = f["properties"]
        if p["kind"] == "piste" and p["piste_type"] == "downhill" and p["ski_area"]:
            pistes.setdefault(p["ski_area"], []).append(shape(transform_geom("EPSG:4326", crs,
                                                                             f["geometry"])))
    found = {}
    for name, lines in pistes.items():
        days, melt = [], []
        for r in range(scd.shape[0]):
            for c in range(scd.shape[1]):
                (x0, y0), (x1, y1) = transform @ (c, r), transform @ (c + 1, r + 1)
                square = box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
                if scd[r, c] != NODATA and any(line.intersects(square) for line in lines):
                    days.append(int(scd[r, c]))
                    melt += [int(smod[r, c])] if smod[r, c] > 0 else []
        if days:
            melt.sort()
            found[name] = {
                "pixels": len(days), "scd_mean": statistics.fmean(days),
                "scd_p10": percentile(days, 0.1), "scd_p90": percentile(days, 0.9),
                "share_120": sum(d >= 120 for d in days) / len(days),
                "smod_median": (SEASON.start + timedelta(melt[(len(melt) - 1) // 2])).isoformat()
                if melt else None}
    return found


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    at = (len(ordered) - 1) * q
    low, high = math.floor(at), math.ceil(at)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def test_statistics_equal_a_direct_computation(mosaic: tuple[Tiles, MosaicReport], tmp_path: Path) -> None:
    _, report = mosaic
    overlay = import_pistes(write_osm(tmp_path / "ski.osm", areas_over(report)))
    got = ranking(report.plan.folder, overlay, "boundary", SEASON, LABEL, offline())
    want = direct(Path(report.plan.folder), overlay)
    assert got["season"] == LABEL and got["region"] == "boundary" and got["min_days"] == 120
    rows = got["resorts"]
    assert [r["ski_area"] for r in rows] and "Ailleurs" not in [r["ski_area"] for r in rows]
    assert {r["ski_area"] for r in rows} == set(want)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["scd_mean"] for r in rows] == sorted((r["scd_mean"] for r in rows), reverse=True)
    for row in rows:
        w = want[row["ski_area"]]
        assert row["pixels"] == w["pixels"], row["ski_area"]
        for key in ("scd_mean", "scd_p10", "scd_p90"):
            assert row[key] == pytest.approx(w[key], abs=0.005), (row["ski_area"], key)
        assert row["share_120"] == pytest.approx(w["share_120"], abs=0.00005)
        assert row["smod_median"] == w["smod_median"]
    assert any(0 < r["share_120"] < 1 for r in rows), "the threshold splits some area's pixels"
    assert sum(r["pixels"] for r in rows) > 50


def test_resorts_command(mosaic: tuple[Tiles, MosaicReport], tmp_path: Path, snowdays_cli: RunCli) -> None:
    tiles, report = mosaic
    osm = write_osm(tmp_path / "ski.osm", areas_over(report))
    env = {"SNOWDAYS_STAC_CATALOG": str(tiles.catalog)}
    no_overlay = snowdays_cli(["resorts", "--season", LABEL], env, tmp_path)
    assert no_overlay.returncode == 2 and "no ski runs overlay" in no_overlay.stderr
    assert snowdays_cli(["pistes", "import", str(osm)], env, tmp_path).returncode == 0
    as_json = snowdays_cli(["resorts", "--season", LABEL, "--format", "json"], env, tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    [document] = json.loads(as_json.stdout)
    written = tiles.catalog / "resorts" / f"boundary-{LABEL}.json"
    assert json.loads(written.read_text()) == document
    assert document == ranking(report.plan.folder, import_pistes(osm), "boundary", SEASON, LABEL,
                               offline())
    as_csv = snowdays_cli(["resorts", "--season", LABEL, "--region", "boundary", "--format", "csv"],
                          env, tmp_path)
    lines = as_csv.stdout.splitlines()
    assert lines[0] == "region,season,rank,ski_area,pixels,scd_mean,scd_p10,scd_p90,share_120,smod_median"
    assert len(lines) == len(document["resorts"]) + 1
    assert lines[1].startswith(f"boundary,{LABEL},1,{document['resorts'][0]['ski_area']},")
    region_file = str(tiles.catalog.parent / "boundary.txt")
    by_file = snowdays_cli(["resorts", "--season", LABEL, "--region", region_file, "--format", "json"],
                           env, tmp_path)
    assert by_file.returncode == 0, by_file.stderr
    assert json.loads(by_file.stdout) == [document], "the region file names the mosaic as mosaic did"
    table = snowdays_cli(["resorts", "--season", LABEL], env, tmp_path)
    assert table.returncode == 0 and document["resorts"][0]["ski_area"] in table.stdout
    for args, words in [(["--region", "himalaya"], "no mosaic of himalaya for 2017-2018"),
                        (["--format", "xml"], "format 'xml' is not one of table, csv, json")]:
        bad = snowdays_cli(["resorts", "--season", LABEL, *args], env, tmp_path)
        assert bad.returncode == 2 and words in bad.stderr, bad.stderr
    other = snowdays_cli(["resorts", "--season", "2018-2019"], env, tmp_path)
    assert other.returncode == 2 and "no mosaic for 2018-2019" in other.stderr
    assert np.isfinite([r["scd_mean"] for r in document["resorts"]]).all()
