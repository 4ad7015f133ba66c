"""Generated MAJA L2A products (dir, zip, Sentinel-2 and Landsat-8, local and S3) whose reflectances
encode known snow, faint snow, cloud and edge patterns give exactly those codes; with a DEM, pass 2
equals the naive reference; the snow raster is written out on request."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from rasterio.warp import Resampling, reproject

from snowdays import lis_reference as lis
from snowdays.grid import Grid, put_on_grid
from snowdays.l2a import read_dem, warp_band
from snowdays.layouts import FAINT, Pass, corner, crs_of, l2a_layers, product_name, write_l2a, write_product
from snowdays.products import open_product
from snowdays.settings import Settings, get_settings
from tests.conftest import S3Server

TILE = "T31TCH"
ORIGIN = corner(TILE)
WHEN = datetime(2018, 1, 15, 10, 36, 29, 617000, tzinfo=UTC)
U8 = npt.NDArray[np.uint8]
TILE_GRID = Grid(crs_of(TILE), (20.0, 0.0, ORIGIN[0], 0.0, -20.0, ORIGIN[1]), 40, 48)


def pattern(rows: int, cols: int) -> U8:
    """Stripes of no snow, faint snow and cloud; snow on the lower half's snowy stripes; three edge
    rows on top; single pixels of each class inside the others."""
    classes = np.zeros((rows, cols), np.uint8)
    for k, value in enumerate([0, 100, FAINT, 205, FAINT, 100, 0, FAINT]):
        classes[:, k * cols // 8:(k + 1) * cols // 8] = value
    classes[: rows // 2][classes[: rows // 2] == 100] = 0
    classes[:3] = 255
    classes[10, 0], classes[12, cols // 8 * 5 + 1], classes[20, 2], classes[30, 2] = 100, 0, 205, 255
    return classes


def l2a(out: Path, classes: U8, platform: str = "SENTINEL2A", as_zip: bool = False,
        quantification: float = 10000.0) -> Path:
    """An L2A product of ``classes`` in ``out``; its path."""
    p = Pass(WHEN, platform, "full")
    name = product_name(p, TILE, "l2a")
    assert name is not None
    pixel = 30.0 if platform == "LANDSAT8" else 20.0
    write_l2a(out / name, name, p, TILE, classes, pixel, quantification)
    if not as_zip:
        return out / name
    shutil.make_archive(str(out / name), "zip", root_dir=out, base_dir=name)
    shutil.rmtree(out / name)
    return out / f"{name}.zip"


def ramp(rows: int, cols: int) -> npt.NDArray[np.int16]:
    """Elevations rising 50 m a row from 1000 m."""
    return np.repeat((1000 + 50 * np.arange(rows)).astype(np.int16)[:, None], cols, axis=1)


def write_dem(folder: Path, values: npt.NDArray[np.generic], pixel: float = 20.0) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(folder / f"{TILE}.tif", "w", driver="GTiff", width=values.shape[1],
                       height=values.shape[0], count=1, dtype=values.dtype.name, crs=crs_of(TILE),
                       transform=rasterio.Affine(pixel, 0, ORIGIN[0], 0, -pixel, ORIGIN[1])) as ds:
        ds.write(values, 1)
    return str(folder)


def reference(classes: U8, dem: npt.NDArray[np.int16] | None, settings: Settings,
              mission: str = "S2", quantification: float = 10000.0) -> lis.Result:
    """The naive reference on the product's layers, green and red taken on the SWIR grid (one value
    everywhere, so any resampling leaves them as they are)."""
    layers = l2a_layers(classes, mission, quantification)
    green, red = (layers[b][0][:: layers[b][1], :: layers[b][1]] for b in ("green", "red"))
    swir, clouds, edges = (layers[k][0] for k in ("swir", "clouds", "edges"))
    return lis.detect(green.astype(np.int16), red.astype(np.int16), swir.astype(np.int16),
                      clouds.astype(np.uint8), edges.astype(np.uint8), quantification, dem, settings.lis)


@pytest.mark.parametrize("as_zip", [False, True], ids=["dir", "zip"])
def test_sentinel2_codes_are_the_pattern(tmp_path: Path, as_zip: bool) -> None:
    classes = pattern(48, 40)
    settings = get_settings()
    product = open_product(str(l2a(tmp_path, classes, as_zip=as_zip)), settings, TILE)
    assert product.grid.same_as(TILE_GRID) and product.layers is not None
    assert product.layers.quantification == 10000.0
    codes = product.read(TILE_GRID, settings)
    np.testing.assert_array_equal(codes, np.where(classes == FAINT, 0, classes))  # no DEM: pass 1


def test_pass_two_with_the_tile_dem_equals_the_reference(tmp_path: Path) -> None:
    classes = pattern(48, 40)
    dem = ramp(48, 40)
    settings = get_settings(dem=write_dem(tmp_path / "dem", dem))
    codes = open_product(str(l2a(tmp_path, classes)), settings, TILE).read(TILE_GRID, settings)
    want = reference(classes, dem, settings)
    assert want.pass2 and want.zs is not None and 1000 < want.zs < 3000
    np.testing.assert_array_equal(codes, want.codes)
    faint = classes == FAINT
    assert (codes[faint & (dem > want.zs)] == 100).all() and (codes[faint & (dem <= want.zs)] == 0).all()
    assert (faint & (dem <= want.zs)).any() and (faint & (dem > want.zs)).any()
    floats = get_settings(dem=write_dem(tmp_path / "float-dem", dem.astype(np.float32) + 0.9))
    again = open_product(str(l2a(tmp_path / "again", classes)), floats, TILE).read(TILE_GRID, floats)
    np.testing.assert_array_equal(again, want.codes)  # a float DEM is truncated, as LIS reads it


def test_a_dem_on_another_grid_is_warped(tmp_path: Path) -> None:
    """A flat DEM at 60 m stays flat on the 20 m grid: one elevation, no band, no snowline."""
    settings = get_settings(dem=write_dem(tmp_path / "dem", np.full((20, 20), 2000, np.int16), 60.0))
    dem = read_dem(TILE, TILE_GRID, settings)
    assert dem is not None and dem.shape == TILE_GRID.shape and (dem == 2000).all()
    assert read_dem("T32TLR", TILE_GRID, settings) is None  # no DEM for that tile: pass 1 only
    classes = pattern(48, 40)
    codes = open_product(str(l2a(tmp_path, classes)), settings, TILE).read(TILE_GRID, settings)
    np.testing.assert_array_equal(codes, np.where(classes == FAINT, 0, classes))


def test_quantification_comes_from_the_metadata(tmp_path: Path) -> None:
    """Reflectances scaled by 1000 rather than 10000 give the same codes."""
    classes = pattern(48, 40)
    settings = get_settings()
    product = open_product(str(l2a(tmp_path, classes, quantification=1000.0)), settings, TILE)
    assert product.layers is not None and product.layers.quantification == 1000.0
    np.testing.assert_array_equal(product.read(TILE_GRID, settings), np.where(classes == FAINT, 0, classes))


def test_landsat_codes_at_30_m_are_warped_as_a_landsat_snow_product(tmp_path: Path) -> None:
    """Detected on the 30 m grid, then put on the tile grid exactly as a MUSCATE Landsat snow raster of
    the same codes is read."""
    classes = pattern(32, 27)
    settings = get_settings()
    product = open_product(str(l2a(tmp_path, classes, platform="LANDSAT8")), settings, TILE)
    assert product.grid.transform[0] == 30.0
    codes = product.read(TILE_GRID, settings)
    expected = np.where(classes == FAINT, 0, classes).astype(np.uint8)
    p = Pass(WHEN, "LANDSAT8", "full")
    name = product_name(p, TILE, "muscate")
    assert name is not None
    written = write_product(tmp_path / "snow", "muscate", name, p, TILE, expected, 30.0, False)
    snow = open_product(str(written), settings, TILE)
    np.testing.assert_array_equal(codes, snow.read(TILE_GRID, settings))
    np.testing.assert_array_equal(codes, put_on_grid(expected, product.grid, TILE_GRID))
    assert set(np.unique(codes)) == {0, 100, 205, 255}


def test_snow_raster_written_out_and_read_from_s3(tmp_path: Path, s3_server: S3Server) -> None:
    """An L2A zip and the tile's DEM on S3; the LIS-style snow raster goes to S3 too."""
    classes = pattern(48, 40)
    dem = ramp(48, 40)
    folder = tmp_path / "up"
    l2a(folder / "archive", classes, as_zip=True)
    write_dem(folder / "dem", dem)
    root = s3_server.upload(folder, "l2a", "data")
    settings = get_settings(s3_endpoint_url=s3_server.endpoint_url, dem=f"{root}/dem",
                            snow_rasters=f"{root}/snow")
    [href] = [f"{root}/archive/{p.name}" for p in (folder / "archive").iterdir()]
    product = open_product(href, settings, TILE)
    codes = product.read(TILE_GRID, settings)
    want = reference(classes, dem, settings)
    np.testing.assert_array_equal(codes, want.codes)
    key = f"data/snow/{product.id.name}_SNW_R2.tif"
    raster = tmp_path / "snow.tif"
    s3_server.client().download_file("l2a", key, str(raster))
    with rasterio.open(raster) as ds:
        np.testing.assert_array_equal(ds.read(1), codes)
        assert ds.nodata == 255 and Grid.of(ds).same_as(TILE_GRID)
        assert ds.tags()["ZS"] == str(want.zs) and ds.tags()["PASS2"] == "True"


def test_the_unmasked_warp_gives_what_the_masked_one_gives() -> None:
    """Green and red are warped as LIS warps them (cubic, no data -10000 excluded); a band without
    no data takes GDAL's unmasked path, which gives the same values on a varied band."""
    rng = np.random.default_rng(1)
    walk = np.clip(np.cumsum(rng.integers(-900, 900, (96, 80)), axis=1) + 4000, -9000, 20000)
    values: npt.NDArray[np.int16] = walk.astype(np.int16)
    a, b, c, d, e, f = TILE_GRID.transform
    source = Grid(TILE_GRID.crs, (a / 2, b, c, d, e / 2, f), 80, 96)

    def masked(band: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        out = np.full(TILE_GRID.shape, -10000, np.int16)
        reproject(band, out, src_transform=source.affine, src_crs=source.crs, src_nodata=-10000,
                  dst_transform=TILE_GRID.affine, dst_crs=TILE_GRID.crs, dst_nodata=-10000,
                  resampling=Resampling.cubic)
        return out

    np.testing.assert_array_equal(warp_band(values, source, TILE_GRID), masked(values))
    values[:10, :30] = -10000
    np.testing.assert_array_equal(warp_band(values, source, TILE_GRID), masked(values))
    assert (masked(values)[:5, :15] == -10000).all()
