"""The hillshade of a DEM against a loop over its pixels, its light from the north-west, and its COG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import rasterio

from snowdays import relief
from snowdays.relief import NO_DATA, hillshade, write_hillshade
from snowdays.sample import write_dem
from snowdays.settings import get_settings
from tests.cogs import assert_cog


def naive(dem: npt.NDArray[np.int16], width: float, height: float) -> npt.NDArray[np.uint8]:
    """Shade pixel by pixel: slopes by central differences, one-sided at the edges."""
    az, alt = math.radians(315), math.radians(45)
    sun = (math.sin(az) * math.cos(alt), math.cos(az) * math.cos(alt), math.sin(alt))
    rows, cols = dem.shape
    out = np.zeros(dem.shape, np.uint8)
    z = dem.astype(float)
    for r in range(rows):
        for c in range(cols):
            c0, c1 = max(c - 1, 0), min(c + 1, cols - 1)
            r0, r1 = max(r - 1, 0), min(r + 1, rows - 1)
            east = (z[r, c1] - z[r, c0]) / ((c1 - c0) * width)
            north = (z[r0, c] - z[r1, c]) / ((r1 - r0) * height)  # the row above is further north
            normal = (-east, -north, 1.0)
            shade = sum(n * s for n, s in zip(normal, sun, strict=True)) / math.sqrt(
                sum(n * n for n in normal))
            out[r, c] = 1 + round(254 * min(max(shade, 0.0), 1.0))
    return out


def test_hillshade_equals_the_loop_band_by_band(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    dem = np.cumsum(rng.normal(0, 30, (40, 33)), axis=0).astype(np.int16) + 1500
    dem[5, 7] = -32768
    monkeypatch.setattr(relief, "ROWS", 7)  # bands of 7 rows meet inside the DEM
    got, want = hillshade(dem, (20.0, 30.0), -32768), naive(dem, 20.0, 30.0)
    want[5, 7] = NO_DATA
    assert np.abs(got.astype(int) - want).max() <= 1  # float32 against float64 at a rounding
    assert (got == want).mean() > 0.99
    assert got[5, 7] == NO_DATA and (np.delete(got.ravel(), 5 * 33 + 7) > 0).all()


def test_the_light_comes_from_the_north_west() -> None:
    flat = np.full((10, 10), 1000, np.int16)
    rows, cols = np.indices((10, 10))
    facing_nw = (1000 + 20 * (rows + cols)).astype(np.int16)  # rises to the south-east
    facing_se = (1000 - 20 * (rows + cols)).astype(np.int16)
    shades = [int(np.median(hillshade(d, (20.0, 20.0), None))) for d in (flat, facing_nw, facing_se)]
    assert shades[0] == 1 + round(254 * math.sin(math.radians(45)))
    assert shades[1] > shades[0] > shades[2]


def test_the_hillshade_cog_of_a_tile(tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "dem" / "T31TCH.tif", "T31TCH", 700, seed=4)
    settings = get_settings(dem=str(tmp_path / "dem"))
    path = write_hillshade("T31TCH", tmp_path / "hillshade.tif", settings)
    assert path is not None
    assert_cog(path)
    with rasterio.open(dem) as source, rasterio.open(path) as ds:
        heights = source.read(1)
        assert (ds.dtypes[0], ds.nodata, ds.crs, ds.transform) == ("uint8", 0, source.crs, source.transform)
        np.testing.assert_array_equal(ds.read(1), hillshade(heights, (20.0, 20.0), None))
    assert write_hillshade("T32TLR", tmp_path / "none.tif", settings) is None
    assert write_hillshade("T31TCH", tmp_path / "none.tif", get_settings(dem="")) is None
