"""The map viewer in a headless Chromium, against the stack's own servers on 127.0.0.1: the STAC API on
pgstac and the file server (the viewer, the catalog's COGs read with range requests), started as
``snowdays up`` starts them. Three seasons of a tile are ingested and published for real, and the
anomalies of the later two; the mosaics, ski runs and resort ranking are fixture files that follow
the contract (``tests/viewerdata.py``), the region's anomaly is made of its tile's for real; the tile
has a DEM beside its maps (``tests/basemapdata.py``), so its seasons carry the relief of the base map.
Screenshots are kept in ``test-artifacts/viewer/``."""

from __future__ import annotations

import io
import json
import re
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
from PIL import Image
from playwright.sync_api import Page
from rasterio.warp import transform

from infra.postgres import LocalPostgres
from infra.stack import Stack, urls
from snowdays.point import point_season
from snowdays.relief import hillshade
from snowdays.settings import get_settings
from tests.basemapdata import Screen, shared_border, write_relief_dem
from tests.browser import wait_for, wait_for_text
from tests.cogs import on_scale as scale_colour
from tests.cogs import viewer_stops
from tests.conftest import Chromium, _free_port
from tests.stacdata import database
from tests.viewerdata import (
    DISPLAY_MIN_DAYS,
    NODATA,
    REGION,
    SEASONS,
    TILE,
    TILE_ONLY,
    laea_grid,
    load_mosaics,
    lonlat,
    pixel_at,
    publish_anomalies,
    publish_tiles,
    season_day,
    value_at,
    write_mosaic,
    write_pistes,
    write_ranking,
)

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts" / "viewer"
EARLIER, LATER = SEASONS
SKI_AREA = "Station Test"
#: The legend's scales, as the viewer documents them (ColorBrewer Blues and RdBu), to check drawn colours.
BLUES = [(0, "#f7fbff"), (45, "#deebf7"), (90, "#c6dbef"), (135, "#9ecae1"), (180, "#6baed6"),
         (225, "#4292c6"), (270, "#2171b5"), (315, "#08519c"), (360, "#08306b")]
RDBU = [(-120, "#b2182b"), (-60, "#ef8a62"), (-20, "#fddbc7"), (0, "#f7f7f7"), (20, "#d1e5f0"),
        (60, "#67a9cf"), (120, "#2166ac")]
ANOMALY = [(-1.0, "#b2182b"), (-2 / 3, "#ef8a62"), (-1 / 3, "#fddbc7"), (0.0, "#ffffff"), (1 / 3, "#d1e5f0"),
           (2 / 3, "#67a9cf"), (1.0, "#2166ac")]
"""The anomaly's scale at fractions of its half range: white at 0, red fewer snow days, blue more."""
DASH = "\u2013"
"""The en dash of ranges and missing dates in the ranking."""
CHART = """(() => {
  const c = document.querySelector('#season-at-point svg.season-chart');
  const numbers = (r) => [Number(r.dataset.first), Number(r.dataset.last)];
  return c && {days: Number(c.dataset.days), snow: Number(c.dataset.snowDays),
    seen: [...c.querySelectorAll('[data-seen]')].map((m) => m.dataset.seen),
    runs: [...c.querySelectorAll('rect.snow')].map(numbers),
    dates: [...c.querySelectorAll('[data-date]')].map((l) => l.dataset.date)};
})()"""
"""What the point's season chart shows, once drawn."""
BACKGROUND = (217, 217, 217)
"""The map's background (#d9d9d9), where nothing is drawn."""


@dataclass(frozen=True)
class Viewer:
    url: str
    stac: str
    files: str
    mosaics: dict[str, Path]
    """Season -> its mosaic folder (``scd.tif``...)."""
    centre: tuple[float, float]
    """The centre of a mosaic pixel (EPSG:3035) with snow enough to be shown in both seasons."""
    pistes: dict[str, Any]
    ranking: dict[str, Any]
    tile: dict[str, Path]
    """The COGs (``SCD``..) of ``TILE_ONLY``, a season without mosaic."""
    tile_point: tuple[float, float]
    """The centre of one of its pixels with more than 10 snow days (in the tile's CRS)."""
    stores: str
    """The tile stores the file server answers ``/point`` from."""
    anomalies: dict[str, Path]
    """Season (``region``: the region's of ``LATER``) -> its anomaly item's file."""
    dem: Path
    """The tile's DEM, whose hillshade is the base map's relief."""


def chosen_pixel(later: Path, earlier: Path) -> tuple[float, float]:
    """The pixel nearest the mosaic's centre that is shown with its neighbours (at least the display
    threshold), has data in the earlier season, and changed since."""
    with rasterio.open(later) as b, rasterio.open(earlier) as a:
        new, old, affine = b.read(1).astype(int), a.read(1).astype(int), b.transform
    rows, cols = np.indices(new.shape)
    shown = (new >= DISPLAY_MIN_DAYS) & (new != NODATA)
    whole = np.zeros_like(shown)
    whole[1:-1, 1:-1] = np.lib.stride_tricks.sliding_window_view(shown, (3, 3)).all(axis=(2, 3))
    good = whole & (old != NODATA) & (old != new)
    assert good.any(), "no pixel of the fixture fits"
    distance = np.where(good, (rows - new.shape[0] / 2) ** 2 + (cols - new.shape[1] / 2) ** 2, np.inf)
    row, col = np.unravel_index(np.argmin(distance), new.shape)
    x, y = affine @ (col + 0.5, row + 0.5)
    return float(x), float(y)


def dated_pixel(scd: Path) -> tuple[float, float]:
    """The centre of the pixel nearest the map's centre with more than 10 snow days (dated SOD, SMOD)."""
    with rasterio.open(scd) as ds:
        days, affine = ds.read(1), ds.transform
    rows, cols = np.indices(days.shape)
    distance = np.where(days > 10, (rows - days.shape[0] / 2) ** 2 + (cols - days.shape[1] / 2) ** 2, np.inf)
    assert np.isfinite(distance).any(), "no pixel of the fixture has more than 10 snow days"
    row, col = np.unravel_index(np.argmin(distance), days.shape)
    x, y = affine @ (col + 0.5, row + 0.5)
    return float(x), float(y)


@pytest.fixture(scope="module")
def viewer(postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Viewer]:
    base = tmp_path_factory.mktemp("viewer")
    catalog = base / "catalog"
    env = {"STAC_CATALOG": catalog, "STAC_DATABASE_URL": database(postgres, "viewer"),
           "STAC_POSTGRES_DATA": "", "STAC_API_PORT": _free_port(), "FILES_PORT": _free_port(),
           "ARCHIVE": base / "archive", "STORE": base / "stores", "DEM": base / "dem"}
    dem = write_relief_dem(base / "dem", TILE)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(f"SNOWDAYS_{name}", str(value))
        settings = get_settings()
        tiles = publish_tiles(base, catalog, settings)
        grid = laea_grid(tiles[EARLIER]["SCD"])
        load_mosaics([write_mosaic(tiles[label], label, grid, catalog) for label in SEASONS], settings)
        mosaics = {label: catalog / "mosaics" / REGION / label for label in SEASONS}
        centre = chosen_pixel(mosaics[LATER] / "scd.tif", mosaics[EARLIER] / "scd.tif")
        pistes = write_pistes(catalog, centre, SKI_AREA)
        anomalies = publish_anomalies(base / "stores", catalog, settings)
        ranking = write_ranking(catalog, LATER, [
            {"rank": 1, "ski_area": SKI_AREA, "pixels": 412, "scd_mean": 151.4, "scd_p10": 98.0,
             "scd_p90": 190.2, "share_120": 0.73, "smod_median": "2019-04-27"},
            {"rank": 2, "ski_area": "Col du Fixture", "pixels": 95, "scd_mean": 88.6, "scd_p10": 40.0,
             "scd_p90": 120.0, "share_120": 0.1, "smod_median": None}])
        with Stack(settings, base / "logs", only={"stac-api", "files"}):
            at = urls(settings.ports)
            yield Viewer(at["viewer"], at["STAC API"], at["files"], mosaics, centre, pistes, ranking,
                         tiles[TILE_ONLY], dated_pixel(tiles[TILE_ONLY]["SCD"]), str(base / "stores"),
                         anomalies, dem)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    n = int(colour[1:], 16)
    return n >> 16 & 255, n >> 8 & 255, n & 255


def on_scale(stops: Sequence[tuple[float, str]], value: float) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The colour of ``value`` on a scale: linear between stops, clamped at the ends."""
    values = [v for v, _ in stops]
    return np.array([np.interp(value, values, [hex_rgb(c)[k] for _, c in stops]) for k in range(3)])


def map_image(tab: Page) -> tuple[Image.Image, dict[str, float]]:
    """The screenshot cropped to the map, and the map's box in the page."""
    return element_image(tab, "#map")


def element_image(tab: Page, selector: str) -> tuple[Image.Image, dict[str, float]]:
    """The screenshot cropped to an element, and its box in the page."""
    box = tab.evaluate(f"(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect(); "
                       "return {x: r.x, y: r.y, width: r.width, height: r.height}; })()")
    shot = Image.open(io.BytesIO(tab.screenshot())).convert("RGB")
    crop = shot.crop((round(box["x"]), round(box["y"]), round(box["x"] + box["width"]),
                      round(box["y"] + box["height"])))
    return crop, box


def keep(image: Image.Image, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    image.save(SHOTS / name)


def centre_colour(image: Image.Image) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The mean colour of the 5 x 5 screen pixels at the map's centre (within one mosaic pixel at zoom 14)."""
    w, h = image.size
    block = np.asarray(image.crop((w // 2 - 2, h // 2 - 2, w // 2 + 3, h // 2 + 3)), dtype=np.float64)
    mean: np.ndarray[Any, np.dtype[np.float64]] = block.reshape(-1, 3).mean(axis=0)
    return mean


def click_centre(tab: Page, box: dict[str, float]) -> None:
    tab.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def value(tab: Page, key: str) -> str:
    return str(wait_for(tab, f"document.querySelector('#values [data-key={key}]')?.textContent", 60))


def open_at(chromium: Chromium, viewer: Viewer, season: str, lon: float, lat: float,
            mode: str = "season", zoom: int = 14) -> AbstractContextManager[Page]:
    """The viewer on ``season``, centred on a point, zoomed in (at 14, a map pixel spans 16 screen
    pixels)."""
    chosen = "" if mode == "season" else f"&mode={mode}"
    return chromium(f"{viewer.url}?season={season}{chosen}&center={lon:.9f},{lat:.9f}&zoom={zoom}")


def test_a_season_with_its_legend_runs_ranking_and_values_at_a_point(viewer: Viewer,
                                                                      chromium: Chromium) -> None:
    later = viewer.mosaics[LATER]
    with open_at(chromium, viewer, LATER, *lonlat(*viewer.centre)) as tab:
        wait_for(tab, f"document.getElementById('map')?.dataset.drawn === 'season:{LATER}'", 120)
        assert tab.evaluate("[...document.querySelectorAll('#season option')].map(o => o.value)") == [
            TILE_ONLY, LATER, EARLIER]  # every season, from the STAC API, newest first
        runs = sum(f["properties"]["kind"] == "piste" for f in viewer.pistes["features"])
        text = wait_for_text(tab, [f"Snow cover duration {LATER} (days)", f"{runs} ski runs, 1 ski area",
                                   f"Resorts of {REGION}, {LATER}",
                                   f"As of {LATER[5:]}-08-31.",  # the mosaic item's as-of date
                                   f"Pixels under {DISPLAY_MIN_DAYS} days are left out."], 30)
        assert tab.evaluate("document.getElementById('legend-ticks').innerText").split() == [
            "0", "60", "120", "180", "240", "300", "360"]
        assert "linear-gradient" in tab.evaluate("document.getElementById('legend-bar').style.background")
        rows = tab.evaluate("[...document.querySelectorAll('table.ranking tbody tr')]"
                            ".map(r => [...r.cells].map(c => c.textContent))")
        assert rows == [["1", SKI_AREA, "151", f"98{DASH}190", "73 %", "2019-04-27"],
                        ["2", "Col du Fixture", "89", f"40{DASH}120", "10 %", DASH]]
        image, box = map_image(tab)
        keep(image, "season.png")

        click_centre(tab, box)
        scd, sod, smod = value(tab, "scd"), value(tab, "sod"), value(tab, "smod")
        text = tab.inner_text("body")
    expected = {k: pixel_at(later / f"{k}.tif", viewer.centre) for k in ("scd", "sod", "smod")}
    assert expected["scd"] >= DISPLAY_MIN_DAYS  # dated: more than 10 snow days
    assert scd == f"{expected['scd']} days"
    assert sod == season_day(LATER, expected["sod"]).isoformat()
    assert smod == season_day(LATER, expected["smod"]).isoformat()
    lon, lat = lonlat(*viewer.centre)
    assert f"{lat:.5f}° N, {lon:.5f}° E" in text

    pixels = np.asarray(image, dtype=int).reshape(-1, 3)
    drawn = np.abs(pixels - BACKGROUND).max(axis=1) > 12
    assert drawn.mean() > 0.3, f"the map drew only {drawn.mean():.0%} of its pixels"
    assert len(np.unique(pixels[drawn], axis=0)) > 20
    red = (pixels[:, 0] > 190) & (pixels[:, 1] < 60) & (pixels[:, 2] < 60)  # the intermediate run
    assert red.sum() > 100, "the ski runs are not drawn"
    np.testing.assert_allclose(centre_colour(image), on_scale(BLUES, expected["scd"]), atol=8)


def test_the_difference_of_two_seasons(viewer: Viewer, chromium: Chromium) -> None:
    with open_at(chromium, viewer, LATER, *lonlat(*viewer.centre)) as tab:
        wait_for(tab, f"document.getElementById('map')?.dataset.drawn === 'season:{LATER}'", 120)
        assert tab.evaluate("document.getElementById('compare').value") == EARLIER
        radio = tab.evaluate("(() => { const r = document.querySelector('input[value=difference]')"
                             ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        tab.mouse.click(*radio)
        drawn = f"document.getElementById('map')?.dataset.drawn === 'difference:{LATER}:{EARLIER}'"
        wait_for(tab, drawn, 120)
        wait_for_text(tab, [f"SCD {LATER} minus {EARLIER} (days)"], 10)
        image, box = map_image(tab)
        keep(image, "difference.png")
        click_centre(tab, box)
        change, before, after = value(tab, "difference"), value(tab, "scd-compare"), value(tab, "scd")
    old = pixel_at(viewer.mosaics[EARLIER] / "scd.tif", viewer.centre)
    new = pixel_at(viewer.mosaics[LATER] / "scd.tif", viewer.centre)
    assert (before, after) == (f"{old} days", f"{new} days")
    assert change == f"{new - old:+d} days"
    np.testing.assert_allclose(centre_colour(image), on_scale(RDBU, new - old), atol=8)


def test_a_season_of_tiles_only(viewer: Viewer, chromium: Chromium) -> None:
    with rasterio.open(viewer.tile["SCD"]) as ds:
        crs = ds.crs
    (lon,), (lat,) = transform(crs, "EPSG:4326", [viewer.tile_point[0]], [viewer.tile_point[1]])
    with open_at(chromium, viewer, TILE_ONLY, lon, lat) as tab:
        wait_for(tab, f"document.getElementById('map')?.dataset.drawn === 'season:{TILE_ONLY}'", 120)
        wait_for_text(tab, ["From 1 Sentinel-2 tile."], 10)
        assert tab.evaluate("document.getElementById('status').textContent") == ""
        image, box = map_image(tab)
        keep(image, "tiles.png")
        click_centre(tab, box)
        scd, sod, smod = value(tab, "scd"), value(tab, "sod"), value(tab, "smod")
        chart = wait_for(tab, CHART, 60)
        keep(element_image(tab, "#point")[0], "point-season.png")
    expected = {k: pixel_at(path, viewer.tile_point) for k, path in viewer.tile.items()}
    point = point_season(viewer.stores, lon, lat, TILE_ONLY, get_settings())
    assert chart["days"] == len(point.snow) and chart["snow"] == point.scd == expected["SCD"]
    assert chart["seen"] == [o.seen for o in point.observations if 0 <= o.day < len(point.snow)]
    assert sum(last - first + 1 for first, last in chart["runs"]) == point.scd
    assert all(point.snow[d] for first, last in chart["runs"] for d in range(first, last + 1))
    assert chart["dates"] == ["SOD", "SMOD"] and {"snow", "no snow"} <= set(chart["seen"])
    assert expected["SCD"] > 10
    assert scd == f"{expected['SCD']} days"
    assert (sod, smod) == (season_day(TILE_ONLY, expected["SOD"]).isoformat(),
                           season_day(TILE_ONLY, expected["SMOD"]).isoformat())
    np.testing.assert_allclose(centre_colour(image), on_scale(BLUES, expected["SCD"]), atol=8)


def anomaly_scale(item: dict[str, Any]) -> list[tuple[float, str]]:
    """The item's scale: the documented colours over its symmetric range (its render hint)."""
    [[low, high]] = item["properties"]["renders"]["scd_anomaly"]["rescale"]
    assert low == -high and high % 10 == 0
    return [(f * high, colour) for f, colour in ANOMALY]


def days(value: float) -> str:
    rounded = round(value, 1)
    return f"{'+' if rounded > 0 else ''}{rounded:.1f} days"


def test_the_anomaly_of_a_region_season(viewer: Viewer, chromium: Chromium) -> None:
    item = json.loads(viewer.anomalies["region"].read_text())
    folder = (viewer.anomalies["region"].parent / item["assets"]["scd_anomaly"]["href"]).parent
    anomaly = value_at(folder / "scd-anomaly.tif", viewer.centre)
    mean = value_at(folder / "scd-mean.tif", viewer.centre)
    assert abs(anomaly) >= 1, "a pixel whose anomaly shows"
    with open_at(chromium, viewer, LATER, *lonlat(*viewer.centre), mode="anomaly") as tab:
        wait_for(tab, f"document.getElementById('map')?.dataset.drawn === 'anomaly:{LATER}'", 120)
        as_of = item["properties"]["snowdays:tiles_as_of"]["T31TCH"]
        wait_for_text(tab, [f"Snow cover duration anomaly {LATER}",
                           f"days vs mean of 1 season, as of {as_of}."], 30)
        half = anomaly_scale(item)[-1][0]
        assert tab.evaluate("document.getElementById('legend-ticks').innerText").split() == [
            f"{-half:g}", f"{-half / 2:g}", "0", f"+{half / 2:g}", f"+{half:g}"]
        assert tab.evaluate("document.querySelector('input[value=anomaly]').checked")
        image, box = map_image(tab)
        keep(image, "anomaly-region.png")
        click_centre(tab, box)
        assert value(tab, "anomaly") == days(anomaly)
        assert value(tab, "anomaly-mean") == f"{round(mean, 1):.1f} days"
        assert tab.evaluate("document.getElementById('status').textContent") == ""
    np.testing.assert_allclose(centre_colour(image), on_scale(anomaly_scale(item), anomaly), atol=8)


def extreme_pixels(path: Path) -> list[tuple[float, tuple[float, float]]]:
    """The anomaly and the centre (in the COG's CRS) of its largest and its smallest pixel."""
    with rasterio.open(path) as ds:
        values, affine = ds.read(1), ds.transform
    found = []
    for flat in (int(np.nanargmax(values)), int(np.nanargmin(values))):
        row, col = np.unravel_index(flat, values.shape)
        x, y = affine @ (col + 0.5, row + 0.5)
        found.append((float(values[row, col]), (float(x), float(y))))
    return found


def test_the_anomaly_of_a_tile_season_follows_the_diverging_scale(viewer: Viewer, chromium: Chromium) -> None:
    """A season without a regional anomaly shows its tile's, against two past seasons: its most
    positive pixel is drawn blue, its most negative red, each as the scale says."""
    item = json.loads(viewer.anomalies[TILE_ONLY].read_text())
    cog = viewer.anomalies[TILE_ONLY].parent / item["assets"]["SCD-ANOMALY"]["href"]
    (high, at_high), (low, at_low) = extreme_pixels(cog)
    assert high > 0 > low, "the fixture's anomaly has pixels of more snow and of less"
    with rasterio.open(cog) as ds:
        crs = ds.crs
    colours = []
    for where in (at_high, at_low):
        (lon,), (lat,) = transform(crs, "EPSG:4326", [where[0]], [where[1]])
        with open_at(chromium, viewer, TILE_ONLY, lon, lat, mode="anomaly") as tab:
            wait_for(tab, f"document.getElementById('map')?.dataset.drawn === 'anomaly:{TILE_ONLY}'", 120)
            as_of = item["properties"]["snowdays:as_of"]
            wait_for_text(tab, [f"days vs mean of 2 seasons, as of {as_of}."], 30)
            image, box = map_image(tab)
            keep(image, f"anomaly-tile-{'more' if where == at_high else 'less'}.png")
            colours.append(centre_colour(image))
            click_centre(tab, box)
            assert value(tab, "anomaly") == days(high if where == at_high else low)
            assert value(tab, "anomaly-as-of") == as_of
    scale = anomaly_scale(item)
    np.testing.assert_allclose(colours[0], on_scale(scale, high), atol=8)
    np.testing.assert_allclose(colours[1], on_scale(scale, low), atol=8)
    assert colours[0][2] > colours[0][0] and colours[1][0] > colours[1][2], "blue more snow, red less"


def test_the_stac_api_lets_the_viewer_read_it_from_its_origin(viewer: Viewer) -> None:
    answer = httpx.get(f"{viewer.stac}/collections/snow-cover-duration-mosaics/items",
                       headers={"Origin": viewer.files}, timeout=30)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] in ("*", viewer.files)
    assert sorted(f["id"] for f in answer.json()["features"]) == [f"scd-mosaic-{REGION}-{s}" for s in SEASONS]


BASEMAP = ROOT / "web" / "src" / "basemap.js"


def basemap_constant(name: str) -> str:
    """A constant of the viewer's base map, as ``basemap.js`` writes it."""
    found = re.search(rf"export const {name} = '?([^';]+)'?;", BASEMAP.read_text())
    assert found, f"no {name} in {BASEMAP}"
    return found.group(1)


def shot_pixels(tab: Page, screen: Screen, points: list[tuple[float, float]]
                ) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The colours of the screenshot at ``points`` (CSS pixels of the page)."""
    image = np.asarray(Image.open(io.BytesIO(tab.screenshot())).convert("RGB")).astype(np.int64)
    ratio = image.shape[1] / tab.evaluate("window.innerWidth")
    return np.array([image[round(y * ratio), round(x * ratio)] for x, y in points])


def test_the_base_map_relief_shades_the_maps(viewer: Viewer, chromium: Chromium) -> None:
    """The relief where the DEM is: its grey beside the maps, multiplied into their colours where it
    meets them (their hue kept), each pixel as the hillshade of the DEM and the map's scale say."""
    with rasterio.open(viewer.dem) as ds:
        heights, dem_at, crs = ds.read(1), ds.transform, ds.crs
    shades = hillshade(heights, (20.0, 20.0), None)
    with rasterio.open(viewer.tile["SCD"]) as ds:
        scd, map_at = ds.read(1), ds.transform
    shadow = float(basemap_constant("SHADOW"))
    x, y = dem_at @ (20.5, 30.5)
    (lon,), (lat,) = transform(crs, "EPSG:4326", [x], [y])
    with open_at(chromium, viewer, TILE_ONLY, lon, lat, zoom=13) as tab:
        wait_for(tab, f"document.getElementById('map')?.dataset.drawn === 'season:{TILE_ONLY}'", 120)
        image, box = map_image(tab)
        keep(image, "relief.png")
        screen = Screen((lon, lat), 13, box)
        cells = [(r, c) for r in range(1, 80, 3) for c in range(1, 60, 3)]
        xs, ys = zip(*(dem_at @ (c + 0.5, r + 0.5) for r, c in cells), strict=True)
        where = screen.pixels(list(xs), list(ys), crs.to_string())
        kept = [(cell, point) for cell, point in zip(cells, where, strict=True) if screen.inside(point, 12)]
        drawn = shot_pixels(tab, screen, [point for _, point in kept])
    expected, under_map = [], []
    for (r, c), _ in kept:
        grey = 255 * (shadow + (1 - shadow) * (shades[r, c] - 1) / 254)
        col, row = ~map_at @ (dem_at @ (c + 0.5, r + 0.5))
        on_map = 0 <= row < scd.shape[0] and 0 <= col < scd.shape[1]
        base = scale_colour(viewer_stops(), scd[int(row), int(col)]) if on_map else (255.0, 255.0, 255.0)
        expected.append(np.array(base) * grey / 255)
        under_map.append(on_map)
    error = np.abs(drawn - np.array(expected)).max(axis=1)
    beside, under = ~np.array(under_map), np.array(under_map)
    assert beside.sum() > 200 and under.sum() > 10, (beside.sum(), under.sum())
    assert np.mean(error[beside] <= 12) > 0.9, np.percentile(error[beside], [50, 90])
    assert np.mean(error[under] <= 12) > 0.9, np.percentile(error[under], [50, 90])
    assert drawn[beside].std() > 15, "the relief is flat"
    assert (drawn[under][:, 2] > drawn[under][:, 0]).all(), "the maps under the relief keep their blue"


def test_the_base_map_borders(viewer: Viewer, chromium: Chromium) -> None:
    """The border of France and Spain in the Pyrenees, south of the tile, where no map covers: drawn
    where the topology the viewer reads puts it, and not a few kilometres north of it."""
    lon, lat = 0.8, 42.85
    border = [(x, y) for x, y in shared_border("France", "Spain") if 0.4 < x < 1.3]
    colour = np.array(hex_rgb(basemap_constant("BORDER_COLOUR")))
    with open_at(chromium, viewer, LATER, lon, lat, zoom=8) as tab:
        wait_for(tab, f"document.getElementById('map')?.dataset.drawn === 'season:{LATER}'", 120)
        image, box = map_image(tab)
        keep(image, "borders.png")
        screen = Screen((lon, lat), 8, box)
        near, north = (screen.pixels([x for x, _ in border], [y + dy for _, y in border], "EPSG:4326")
                       for dy in (0.0, 0.08))
        corner = screen.pixels([viewer.centre[0]], [viewer.centre[1]], "EPSG:3035")[0]
        shot = np.asarray(Image.open(io.BytesIO(tab.screenshot())).convert("RGB")).astype(np.int64)
    assert corner[1] < box["y"], "the maps are north of the view"

    def bordered(point: tuple[float, float]) -> bool:
        x, y = round(point[0]), round(point[1])
        around = shot[y - 3:y + 4, x - 3:x + 4].reshape(-1, 3)
        return bool((np.abs(around - colour).max(axis=1) < 40).any())

    on_line = [bordered(p) for p in near if screen.inside(p, 20)]
    off_line = [bordered(p) for p in north if screen.inside(p, 20)]
    assert len(on_line) > 30 and len(off_line) > 30
    assert np.mean(on_line) > 0.9, np.mean(on_line)
    assert np.mean(off_line) < 0.1, np.mean(off_line)


@pytest.mark.slow  # node and the viewer's npm packages (make setup): not the library
def test_the_viewer_modules_on_their_own() -> None:
    """The viewer's pure functions (config, asset URLs, seasons, dates, scales) under node's runner."""
    done = subprocess.run(["node", "--test", "test/"], cwd=ROOT / "web", capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "# fail 0" in done.stdout
