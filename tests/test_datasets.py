"""A stored season as xarray (``snowdays.open_season``, ``snowdays.open_daily``): every layer and every
day of every pixel equals the naive reference (``snowdays.reference``, written from SEMANTICS.md), on
a local store and on one in S3 (moto server on 127.0.0.1), annual and as of a day inside the season."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dask.array as da
import numpy as np
import numpy.typing as npt
import pytest
import xarray as xr

import snowdays
from snowdays.reference import cube_maps, cube_quality
from snowdays.settings import get_settings
from tests.conftest import S3Server
from tests.seasondata import AS_OF, AS_OF_DAY, LABEL, SEASON, TILE, Cube, cut, naive_series


def naive_daily(season_truth: Cube) -> npt.NDArray[np.uint8]:
    """Every pixel's daily series, one pixel at a time, by the reference."""
    cube, _, n_days = season_truth
    out = np.zeros((n_days, *cube.shape[1:]), np.uint8)
    for i in range(cube.shape[1]):
        for j in range(cube.shape[2]):
            out[:, i, j] = naive_series(season_truth, i, j)
    return out


def assert_season(ds: xr.Dataset, season_truth: Cube) -> None:
    expected = cube_maps(*season_truth) | cube_quality(*season_truth)
    assert set(ds.data_vars) == set(expected)
    for name, layer in expected.items():
        assert ds[name].dtype == np.uint16 and ds[name].dims == ("y", "x")
        np.testing.assert_array_equal(ds[name].values, layer, err_msg=name)
    assert ds.SCD.values.any() and ds.NSP.values.any()


@pytest.mark.parametrize("as_of", [None, AS_OF])
def test_open_season_equals_the_reference(season_store: str, season_truth: Cube, as_of: date | None) -> None:
    ds = snowdays.open_season(season_store, TILE, LABEL, as_of=as_of)
    assert_season(ds, season_truth if as_of is None else cut(season_truth, AS_OF_DAY))
    assert ds.attrs["tile"] == TILE and ds.attrs["as_of"] == (as_of or SEASON.stop).isoformat()
    assert ds.rio.crs.to_epsg() == 32631 and ds.rio.shape == (24, 24)
    x0, y0 = ds.x.values[0], ds.y.values[0]
    transform = ds.rio.transform()
    assert (transform.a, transform.e) == (20.0, -20.0)
    assert (transform.c + 10, transform.f - 10) == (x0, y0)  # coordinates are pixel centres
    assert ds.QCOD.rio.nodata == 65535 and ds.SCD.rio.nodata is None


@pytest.mark.parametrize("as_of", [None, AS_OF])
def test_open_daily_equals_the_reference_on_every_pixel_and_day(season_store: str, season_truth: Cube,
                                                                 as_of: date | None) -> None:
    daily = snowdays.open_daily(season_store, TILE, LABEL, as_of=as_of, chunks=(10, 16))
    expected = season_truth if as_of is None else cut(season_truth, AS_OF_DAY)
    assert isinstance(daily.data, da.Array)
    assert daily.chunks == ((expected[2],), (10, 10, 4), (16, 8))
    assert daily.time.values[0] == np.datetime64(SEASON.start)
    assert daily.time.values[-1] == np.datetime64(as_of or SEASON.stop)
    values = daily.values
    np.testing.assert_array_equal(values, naive_daily(expected))
    assert 0 < values.mean() < 1
    scd = snowdays.open_season(season_store, TILE, LABEL, as_of=as_of).SCD
    np.testing.assert_array_equal(daily.sum("time").values, scd.values)  # SCD counts these days
    assert daily.rio.crs.to_epsg() == 32631


def test_the_daily_cube_computes_in_other_processes(season_store: str, season_truth: Cube) -> None:
    """Its chunks carry the commit they read, as a distributed cluster's workers would get them."""
    daily = snowdays.open_daily(season_store, TILE, LABEL, chunks=(12, 12))
    got = daily.isel(time=slice(100, 140)).compute(scheduler="processes", num_workers=2)
    np.testing.assert_array_equal(got.values, naive_daily(season_truth)[100:140])


def test_a_store_in_s3_opens_as_a_local_one(season_store: str, s3_server: S3Server) -> None:
    """The local season_store's objects copied to a bucket (the season_store's layout is the same on both)."""
    remote = s3_server.upload(Path(season_store), "datasets", "stores")
    settings = get_settings(s3_endpoint_url=s3_server.endpoint_url)
    local, got = snowdays.open_season(season_store, TILE, LABEL), snowdays.open_season(remote, TILE, LABEL,
                                                                               settings=settings)
    xr.testing.assert_identical(got, local)
    daily = snowdays.open_daily(remote, TILE, LABEL, settings=settings, chunks=(24, 12))
    xr.testing.assert_identical(daily.compute(), snowdays.open_daily(season_store, TILE, LABEL).compute())


def test_chunks_split_the_cube_on_its_bytes(season_store: str) -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        snowdays.open_daily(season_store, TILE, LABEL, chunks=(10, 10))
    with pytest.raises(AttributeError, match="open_everything"):
        snowdays.open_everything  # noqa: B018 - the lazy attributes name only what exists
