"""COG outputs: layout, overviews, compression, colour tables, and all-or-nothing writes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio

from snowdays.colours import SCALES
from snowdays.duration import Maps
from snowdays.grid import Grid
from snowdays.outputs import NODATA, write_maps
from snowdays.quality import Quality
from snowdays.settings import get_settings
from tests.cogs import assert_cog, assert_colour_table, viewer_stops

GRID = Grid("EPSG:32631", (20.0, 0.0, 300000.0, 0.0, -20.0, 4900020.0), 1300, 1100)


def maps() -> Maps:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 366, GRID.shape, dtype=np.uint16) for _ in range(4)]
    return Maps(*arrays)


@pytest.mark.parametrize("compress", ["DEFLATE", "ZSTD"])
def test_cogs_have_overviews_and_compression(tmp_path: Path, compress: str) -> None:
    settings = get_settings(cog_compress=compress)
    written = write_maps(maps().items(), GRID, tmp_path, tile="T31TCH", start=date(2017, 9, 1),
                         stop=date(2018, 1, 15), landsat=False, settings=settings)
    assert [p.name.split("_")[1] for p in written] == [
        "S2-SNOW-SCD", "S2-SNOW-SOD", "S2-SNOW-SMOD", "S2-SNOW-NOBS"]
    assert all("_20170901_20180115_" in p.name for p in written)
    for path, (_, array) in zip(written, maps().items(), strict=True):
        assert_cog(path)
        with rasterio.open(path) as ds:
            assert ds.compression.name == compress.lower()
            assert ds.overviews(1) == [2, 4]
            assert ds.block_shapes[0] == (512, 512)
            np.testing.assert_array_equal(ds.read(1), array)


def test_the_compression_level_is_a_setting(tmp_path: Path) -> None:
    """A higher level makes smaller files of the same pixels; DEFLATE stops at 12."""
    rows, cols = np.indices(GRID.shape)
    smooth = ((rows // 3 + cols // 5 + rows * cols % 7) % 366).astype(np.uint16)
    sizes = {}
    for level in (1, 9):
        [path] = write_maps([("SCD", smooth)], GRID, tmp_path / str(level), tile="T31TCH",
                            start=date(2017, 9, 1), stop=date(2018, 1, 15), landsat=False,
                            settings=get_settings(cog_level=level))
        with rasterio.open(path) as ds:
            np.testing.assert_array_equal(ds.read(1), smooth)
        sizes[level] = path.stat().st_size
    assert sizes[1] > sizes[9]
    with pytest.raises(ValueError, match="DEFLATE's levels are 1 to 12"):
        get_settings(cog_level=13)
    assert get_settings(cog_compress="ZSTD", cog_level=19).cog_options["LEVEL"] == 19


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    good = maps()
    broken = Maps(good.scd, good.sod, good.smod, np.zeros((3, 3), np.uint16))  # the last one fails
    with pytest.raises(ValueError, match="shape"):
        write_maps(broken.items(), GRID, tmp_path, tile="T31TCH", start=date(2017, 9, 1),
                   stop=date(2018, 8, 31), landsat=True, settings=get_settings())
    assert list(tmp_path.iterdir()) == []


def quality() -> Quality:
    rng = np.random.default_rng(1)
    gaps = rng.integers(0, 40, GRID.shape, dtype=np.uint16)
    gaps[rng.random(GRID.shape) < 0.2] = NODATA["QCOD"]
    return Quality(rng.integers(0, 9, GRID.shape, dtype=np.uint16), gaps, gaps[::-1].copy(),
                   rng.integers(0, 4, GRID.shape, dtype=np.uint16))


def test_every_layer_carries_its_colour_table(tmp_path: Path) -> None:
    """SCD is coloured as the viewer colours it (its scale read from ``web/src/colours.js``), every
    other layer on its own scale; nodata is transparent; the values and the averaged overviews are
    those of the data, not of the colours."""
    layers = maps().items() + quality().items()
    written = write_maps(layers, GRID, tmp_path, tile="T31TCH", start=date(2017, 9, 1),
                         stop=date(2018, 8, 31), landsat=False, settings=get_settings())
    assert SCALES["SCD"] == tuple((int(v), c) for v, c in viewer_stops())
    for path, (kind, array) in zip(written, layers, strict=True):
        assert_cog(path)
        stops = viewer_stops() if kind == "SCD" else list(SCALES[kind])
        assert_colour_table(path, stops, [*np.unique(array).tolist(), 400, 65534])
        with rasterio.open(path) as ds:
            np.testing.assert_array_equal(ds.read(1), array)
            assert ds.nodata == NODATA.get(kind)
            half = ds.read(1, out_shape=(ds.height // 2, ds.width // 2))
        if kind in ("SCD", "NOBS"):  # the mean of each 2 x 2 block, rounded
            blocks = array.reshape(GRID.height // 2, 2, GRID.width // 2, 2).mean(axis=(1, 3))
            assert np.abs(half - blocks).max() <= 0.5
        else:  # picked: one of the block's values
            assert set(np.unique(half)) <= set(np.unique(array))
