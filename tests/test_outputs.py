"""COG outputs: layout, overviews, compression, and all-or-nothing writes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio

from snowdays.duration import Maps
from snowdays.grid import Grid
from snowdays.outputs import write_maps
from snowdays.settings import get_settings

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
        with rasterio.open(path) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert ds.compression.name == compress.lower()
            assert ds.overviews(1) == [2, 4]
            assert ds.block_shapes[0] == (512, 512)
            np.testing.assert_array_equal(ds.read(1), array)


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    good = maps()
    broken = Maps(good.scd, good.sod, good.smod, np.zeros((3, 3), np.uint16))  # the last one fails
    with pytest.raises(ValueError, match="shape"):
        write_maps(broken.items(), GRID, tmp_path, tile="T31TCH", start=date(2017, 9, 1),
                   stop=date(2018, 8, 31), landsat=True, settings=get_settings())
    assert list(tmp_path.iterdir()) == []
