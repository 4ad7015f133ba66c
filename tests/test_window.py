"""The maps of any window inside a stored season (``snowdays export --window-start --window-stop``),
from the store alone: equal to the naive reference and to the batch over the same products, with that
window as its season (the seed compares 1 January - 31 May across years)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio

from snowdays.annual import run_annual
from snowdays.errors import UsageError
from snowdays.export import window_maps
from snowdays.reference import cube_maps, season_cube
from snowdays.season import Season
from snowdays.settings import get_settings
from tests.conftest import RunCli
from tests.seasondata import LABEL, TILE, stored

SETTINGS = get_settings()
WINDOWS = [(date(2018, 1, 1), date(2018, 5, 31)), (date(2017, 9, 1), date(2017, 9, 20)),
           (date(2018, 8, 31), date(2018, 8, 31))]


@pytest.mark.parametrize(("first", "last"), WINDOWS)
def test_a_window_equals_the_reference_and_the_batch(first: date, last: date) -> None:
    products, store = stored()
    got = window_maps(store, TILE, LABEL, first, last, SETTINGS)
    window = Season(start=first, stop=last, margin=SETTINGS.margin_days)
    expected = cube_maps(*season_cube(products, first, last, window.margin))
    batch = run_annual(str(products), TILE, window, SETTINGS)
    batch_maps = dict(batch.maps.items())
    for kind, values in got.maps.items():
        np.testing.assert_array_equal(values, expected[kind], err_msg=kind)
        np.testing.assert_array_equal(values, batch_maps[kind], err_msg=kind)
    assert got.products == len(batch.used) and (got.season.start, got.as_of) == (first, last)
    assert got.maps.scd.max() > 0 or last == first


def test_a_window_outside_the_season_or_past_its_products_is_a_usage_error() -> None:
    _, store = stored()
    with pytest.raises(UsageError, match="is not inside the season 2017-2018"):
        window_maps(store, TILE, LABEL, date(2017, 8, 1), date(2017, 12, 31), SETTINGS)
    with pytest.raises(UsageError, match="is not inside the season"):
        window_maps(store, TILE, LABEL, date(2018, 2, 1), date(2018, 1, 1), SETTINGS)
    with pytest.raises(UsageError, match="holds products up to 2018-09-15, before 2018-10-01"):
        window_maps(store, TILE, "2018-2019", date(2018, 9, 1), date(2018, 10, 1), SETTINGS)


def test_the_command_exports_a_window(snowdays_cli: RunCli, tmp_path: Path) -> None:
    _, store = stored()
    args = ["export", "--store", store, "--tile", TILE, "--season", LABEL, "--out", str(tmp_path)]
    done = snowdays_cli([*args, "--window-start", "2018-01-01", "--window-stop", "2018-05-31"], {}, tmp_path)
    assert done.returncode == 0, done.stderr
    written = sorted(tmp_path.glob("LIS_*_T31TCH_20180101_20180531_*.tif"))
    assert len(written) == 4
    (scd,) = (p for p in written if "-SNOW-SCD_" in p.name)
    with rasterio.open(scd) as ds:
        first, last = WINDOWS[0]
        expected = window_maps(store, TILE, LABEL, first, last, SETTINGS).maps.scd
        np.testing.assert_array_equal(ds.read(1), expected)
    half = snowdays_cli([*args, "--window-start", "2018-01-01"], {}, tmp_path)
    assert half.returncode == 2 and "needs both --window-start and --window-stop" in half.stderr
