"""Real products dropped into ``tests/real/`` (see its README): what holds on any data.

Skipped, saying why, while the folder holds no product. The direct NOBS count reads each raster plainly
(``snowdays/reference.py``), sharing no reading code with ``snowdays``.
"""

from __future__ import annotations

import random
import shutil
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, reproject

from flows.update_tile import update_tile
from infra.postgres import LocalPostgres
from snowdays.annual import Annual, run_annual
from snowdays.export import season_maps
from snowdays.ingest import ingest, seasons_of
from snowdays.names import not_a_product, parse_name
from snowdays.reference import raster_of, read_codes
from snowdays.season import Season
from snowdays.settings import get_settings
from tests.stacdata import pipeline_env

REAL = Path(__file__).parent / "real"


def real_products() -> list[Path]:
    return sorted(p for p in REAL.iterdir() if p.name != "README.md" and not_a_product(p.name) is None)


pytestmark = pytest.mark.skipif(not real_products(), reason="no real product in tests/real/ (see its README)")


def tile_seasons() -> list[tuple[str, str]]:
    """Every (tile, season) the real products fall in, each with at least two products."""
    count: dict[tuple[str, str], int] = defaultdict(int)
    for p in real_products():
        pid = parse_name(p.name)
        for label, _ in seasons_of(pid.acquired.date(), get_settings()):
            count[(pid.tile, label)] += 1
    return sorted(k for k, n in count.items() if n >= 2)


def batch(tile: str, label: str, as_of: date | None = None) -> Annual:
    """``annual`` over the real products of a tile's season (up to ``as_of``: year to date)."""
    settings = get_settings()
    season = settings.season(label)
    if as_of is not None:
        season = Season(start=season.start, stop=as_of, margin=season.margin)
    return run_annual(str(REAL), tile, season, settings, strict=False)


def assert_stored_equals_batch(store: str, tile: str, label: str) -> None:
    stored = season_maps(store, tile, label, get_settings())
    expected = batch(tile, label, stored.as_of)
    for (kind, a), (_, b) in zip(stored.maps.items(), expected.maps.items(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"{tile} {label} {kind}")


def direct_nobs(result: Annual) -> np.ndarray:
    """Clear observations per pixel: the used products' rasters read plainly, merged by day."""
    grid = result.grid
    by_day: dict[object, np.ndarray] = {}
    for product in result.used:
        path = Path(product.source.href)
        data = np.full(grid.shape, 255, np.uint8)
        with rasterio.open(raster_of(path)) as ds:
            reproject(read_codes(raster_of(path)), data, src_transform=ds.transform, src_crs=ds.crs,
                      dst_transform=grid.affine, dst_crs=grid.crs, resampling=Resampling.nearest,
                      init_dest_nodata=False)
        day = product.id.acquired.date()
        by_day[day] = by_day.get(day, np.zeros(grid.shape, bool)) | (data <= 100)
    return np.asarray(np.sum(list(by_day.values()), axis=0, dtype=np.uint16))


@pytest.mark.parametrize(("tile", "label"), tile_seasons() if real_products() else [])
def test_invariants_of_the_batch(tile: str, label: str) -> None:
    result = batch(tile, label)
    assert result.used, f"no product of {tile} {label} was read: {result.rejected}"
    scd, sod, smod, nobs = (result.maps.scd, result.maps.sod, result.maps.smod, result.maps.nobs)
    n_days = result.season.n_days
    assert int(scd.max()) <= n_days
    long = scd > 10
    assert (sod[long] <= smod[long]).all() and (smod[long] < n_days).all()
    assert (sod[~long] == 0).all() and (smod[~long] == 0).all()
    np.testing.assert_array_equal(nobs, direct_nobs(result))


@pytest.mark.parametrize(("tile", "label"), tile_seasons() if real_products() else [])
def test_folded_in_a_shuffled_order_equals_the_batch(tile: str, label: str, tmp_path: Path) -> None:
    stream = [p for p in real_products() if parse_name(p.name).tile == tile]
    random.Random(1).shuffle(stream)
    settings = get_settings()
    for p in stream:
        assert not ingest(str(tmp_path / "store"), str(p), settings).outcome.startswith("rejected")
    assert_stored_equals_batch(str(tmp_path / "store"), tile, label)


def test_the_pipeline_equals_the_batch(postgres: LocalPostgres, prefect_api: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    settings = pipeline_env(postgres, tmp_path, monkeypatch, "real")
    for p in real_products():
        (shutil.copytree if p.is_dir() else shutil.copy2)(p, Path(settings.archive) / p.name)
    for tile, label in tile_seasons():
        update_tile(tile=tile, day=f"{label[5:]}-08-31")
        assert_stored_equals_batch(settings.store, tile, label)
