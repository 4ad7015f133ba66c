"""Statistics by elevation band, over the tile and over polygons (``snowdays elevation``): each row
equals a plain loop over the pixels of the season's maps and the DEM of the generated scene (the same
relief the products' snow follows); CSV, JSON and the plot are written."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.warp import transform_geom

from snowdays.elevation import WHOLE_TILE, BandStats, elevation_stats, load_polygons, plot, write_tables
from snowdays.errors import UsageError
from snowdays.export import season_maps
from snowdays.grid import Grid
from snowdays.l2a import read_dem
from snowdays.relief import hillshade
from snowdays.sample import write_dem
from snowdays.settings import Settings, get_settings
from snowdays.store import attr, open_repo, read
from stac.publish import PublishReport, write_static
from stac.validate import validate
from tasks.report import summary
from tests.cogs import assert_cog
from tests.conftest import RunCli
from tests.seasondata import LABEL, TILE, stored

LABELS = [LABEL, "2018-2019"]
BAND = 100


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("dem")
    write_dem(folder / f"{TILE}.tif", TILE, 24, seed=7)
    return get_settings(dem=str(folder))


def half(store: str) -> dict[str, Any]:
    """A polygon over the 12 western columns of the stored grid, in longitude and latitude."""
    grid = Grid.from_json(attr(read(open_repo(store, TILE, get_settings())), "grid"))
    (x0, y0), (x1, y1) = grid.affine @ (0, 0), grid.affine @ (12, grid.height)
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    shape = transform_geom(grid.crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {"name": "west"}, "geometry": shape}]}


def naive(store: str, label: str, settings: Settings, columns: int) -> dict[int, dict[str, float | None]]:
    """Band -> its statistics, pixel by pixel over the first ``columns`` columns."""
    maps = season_maps(store, TILE, label, settings)
    dem = read_dem(TILE, maps.grid, settings)
    assert dem is not None
    days = (maps.as_of - maps.season.start).days + 1
    by_band: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for i in range(dem.shape[0]):
        for j in range(columns):
            if dem[i, j] != 0:
                by_band[int(dem[i, j]) // BAND * BAND].append(
                    (int(maps.maps.scd[i, j]), int(maps.maps.sod[i, j]), int(maps.maps.smod[i, j])))
    found = {}
    for low, values in by_band.items():
        dated = [v for v in values if v[0] > 10]
        found[low] = {"pixels": len(values), "scd_mean": sum(v[0] for v in values) / len(values),
                      "sod_mean": sum(v[1] for v in dated) / len(dated) if dated else None,
                      "smod_mean": sum(v[2] for v in dated) / len(dated) if dated else None,
                      "dated_pixels": len(dated),
                      "snow_share": sum(v[0] for v in values) / len(values) / days}
    return found


def as_table(rows: list[BandStats], label: str, zone: str) -> dict[int, dict[str, float | None]]:
    return {r.low: {"pixels": r.pixels, "scd_mean": r.scd_mean, "sod_mean": r.sod_mean,
                    "smod_mean": r.smod_mean, "dated_pixels": r.dated_pixels, "snow_share": r.snow_share}
            for r in rows if r.season == label and r.zone == zone}


def test_bands_over_the_tile_and_a_polygon_equal_a_pixel_loop(settings: Settings, tmp_path: Path) -> None:
    _, store = stored()
    rows = elevation_stats(store, TILE, LABELS, settings, half(store), BAND)
    for label in LABELS:
        for zone, columns in ((WHOLE_TILE, 24), ("west", 12)):
            got, expected = as_table(rows, label, zone), naive(store, label, settings, columns)
            assert got.keys() == expected.keys() and len(got) >= 3, (label, zone)
            for low, values in expected.items():
                assert got[low] == pytest.approx(values), (label, zone, low)
    assert sum(r.pixels for r in rows if r.season == LABEL and r.zone == WHOLE_TILE) == 24 * 24
    csv_path, json_path = write_tables(rows, tmp_path, "elevation")
    with csv_path.open() as f:
        from_csv = list(csv.DictReader(f))
    from_json = json.loads(json_path.read_text())
    assert len(from_csv) == len(from_json) == len(rows)
    assert [float(r["scd_mean"]) for r in from_csv] == pytest.approx([r["scd_mean"] for r in from_json])
    with Image.open(plot([r for r in rows if r.zone == WHOLE_TILE], tmp_path / "tile.png", BAND,
                         "the tile")) as picture:
        assert picture.format == "PNG" and picture.size == (500, 400)
        pixels = np.asarray(picture.convert("RGB")).reshape(-1, 3).astype(int)
    for colour in ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)):  # the first two seasons' lines
        assert (np.abs(pixels - colour).sum(axis=1) < 30).sum() > 50, colour


def test_without_a_dem_it_says_how_to_give_one() -> None:
    _, store = stored()
    with pytest.raises(UsageError, match="set SNOWDAYS_DEM"):
        elevation_stats(store, TILE, [LABEL], get_settings(dem=None))


def test_the_command_writes_tables_and_plots(settings: Settings, snowdays_cli: RunCli,
                                             tmp_path: Path) -> None:
    _, store = stored()
    polygons = tmp_path / "areas.geojson"
    polygons.write_text(json.dumps(half(store)))
    done = snowdays_cli(["elevation", "--store", store, "--tile", TILE, "--season", LABEL, "--out",
                         str(tmp_path / "out"), "--polygons", str(polygons)], {"SNOWDAYS_DEM": settings.dem},
                        tmp_path)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["elevation-T31TCH-tile.png", "elevation-T31TCH-west.png", "elevation-T31TCH.csv",
                     "elevation-T31TCH.json"]


def test_a_published_season_carries_its_statistics_by_elevation(settings: Settings,
                                                                 tmp_path: Path) -> None:
    """Where the tile has a DEM, a publish writes the table, its JSON, the plot and the hillshade of
    the DEM beside the maps, lists them as assets of the item, and the run's summary links them."""
    _, store = stored()
    published = get_settings(dem=settings.dem, stac_catalog=str(tmp_path / "catalog"))
    written = write_static(store, TILE, LABEL, published)
    item = written.item
    assert {"elevation", "elevation-json", "elevation-plot"} <= set(item.assets)
    validate(item.to_dict(transform_hrefs=False))
    folder = Path(written.folder)
    with (folder / Path(item.assets["elevation"].href).name).open() as f:
        table = list(csv.DictReader(f))
    expected = [r for r in elevation_stats(store, TILE, [LABEL], settings) if r.zone == WHOLE_TILE]
    assert [(int(r["low"]), int(r["pixels"])) for r in table] == [(r.low, r.pixels) for r in expected]
    assert [float(r["scd_mean"]) for r in table] == pytest.approx([r.scd_mean for r in expected])
    with Image.open(folder / Path(item.assets["elevation-plot"].href).name) as picture:
        assert picture.format == "PNG"
    report = PublishReport(item, str(folder / f"{item.id}.json"), "", 1, None, [])
    text = summary(TILE, [], {LABEL: report}, published, {LABEL: None})
    assert "- by elevation: [elevation](" in text and "- quality layers: [NSP](" in text
    relief = folder / Path(item.assets["hillshade"].href).name  # the viewer's relief, over the whole DEM
    assert_cog(relief)
    assert item.assets["hillshade"].roles == ["visual"]
    with rasterio.open(relief) as ds, rasterio.open(Path(settings.dem or "") / f"{TILE}.tif") as dem:
        assert (ds.shape, ds.transform, ds.dtypes[0]) == (dem.shape, dem.transform, "uint8")
        np.testing.assert_array_equal(ds.read(1), hillshade(dem.read(1), dem.res, dem.nodata))
    bare = write_static(store, TILE, LABEL, get_settings(stac_catalog=str(tmp_path / "bare"), dem=None))
    assert not {"elevation", "elevation-plot", "hillshade"} & set(bare.item.assets)


def test_a_published_season_carries_the_statistics_of_the_polygons_meeting_its_tile(
        settings: Settings, tmp_path: Path) -> None:
    """With SNOWDAYS_POLYGONS, the published table holds each polygon meeting the tile, equal to the
    pixel loop; a polygon elsewhere has no row; the plot draws a line per zone."""
    _, store = stored()
    areas = half(store)
    far = [[[10.0, 46.0], [10.1, 46.0], [10.1, 46.1], [10.0, 46.1], [10.0, 46.0]]]  # in the Alps, off T31TCH
    areas["features"].append({"type": "Feature", "properties": {"name": "elsewhere"},
                              "geometry": {"type": "Polygon", "coordinates": far}})
    polygons = tmp_path / "areas.geojson"
    polygons.write_text(json.dumps(areas))
    published = get_settings(dem=settings.dem, polygons=str(polygons), stac_catalog=str(tmp_path / "catalog"))
    written = write_static(store, TILE, LABEL, published)
    folder = Path(written.folder)
    table = json.loads((folder / Path(written.item.assets["elevation-json"].href).name).read_text())
    assert {r["zone"] for r in table} == {WHOLE_TILE, "west"}
    rows = [BandStats(**r) for r in table]
    for zone, columns in ((WHOLE_TILE, 24), ("west", 12)):
        got, expected = as_table(rows, LABEL, zone), naive(store, LABEL, settings, columns)
        assert got.keys() == expected.keys()
        for low, values in expected.items():
            assert got[low] == pytest.approx(values), (zone, low)
    with Image.open(folder / Path(written.item.assets["elevation-plot"].href).name) as picture:
        pixels = np.asarray(picture.convert("RGB")).reshape(-1, 3).astype(int)
    for colour in ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)):  # the two zones' lines
        assert (np.abs(pixels - colour).sum(axis=1) < 30).sum() > 50, colour


@pytest.mark.parametrize(("text", "reason"), [
    ("{", "cannot be read as JSON"), ('{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Point", '
     '"coordinates": [0, 0]}}]}', "feature 0 is a Point, not a Polygon")])
def test_a_polygons_file_that_is_not_one_is_named_with_why(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / f"bad{len(text)}.geojson"
    path.write_text(text)
    with pytest.raises(UsageError, match=f"polygons {re.escape(str(path))}: {reason}"):
        load_polygons(str(path))
    assert load_polygons(None) is None and load_polygons("") is None
