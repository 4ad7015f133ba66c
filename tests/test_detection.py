"""LIS snow detection: the snowline on LIS's own test case and on hand-made reliefs, and every code
against the naive reference (snowdays/lis_reference.py) on random acquisitions."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from snowdays import lis_reference as lis
from snowdays.detection import ElevationBands, Reflectances, detect, snowline
from snowdays.settings import get_settings

I16 = npt.NDArray[np.int16]
U8 = npt.NDArray[np.uint8]
Q = 10000.0


def test_lis_own_snowline_case() -> None:
    """LIS's ``histo_utils_snowline_internal_test``: a 10 x 10 image at 0 m but for five cloudy pixels
    at 70 m and five clear snowy ones at 81 m, elevations 0 to 100 in bins of 20, limits 0 (the test
    passes "0.1" through atoi), offset -2, centre offset -10: zs is 40. LIS gives the bounds 0 and
    100; here they come from the DEM, so one clear pixel is at 100 m."""
    dem = np.zeros((10, 10), np.int16)
    codes = np.zeros((10, 10), np.uint8)
    clouds = np.zeros((10, 10), np.uint8)
    dem.flat[:5], clouds.flat[:5] = 70, 1
    dem.flat[5:10], codes.flat[5:10] = 81, 100
    dem.flat[10] = 100
    settings = get_settings(lis_dz=20, lis_fsnow_lim=0, lis_fclear_lim=0)
    assert snowline(dem, codes, clouds, settings.lis) == 40
    assert lis.snowline(dem, codes == 100, clouds != 0, settings.lis) == 40


def ramp() -> tuple[I16, U8, U8]:
    """A relief of 61 rows from 0 to 3000 m (50 m a row, so bands of exactly 100 m: two rows each),
    with pass 1's snow on every pixel from 1500 m up, and the band 1200-1300 m cloudy but for one
    snowy pixel."""
    dem = np.repeat((np.arange(61) * 50).astype(np.int16)[:, None], 40, axis=1)
    codes = np.where(dem >= 1500, 100, 0).astype(np.uint8)
    clouds = np.where((dem >= 1200) & (dem < 1300), 3, 0).astype(np.uint8)
    clouds[25, 0], codes[25, 0] = 0, 100
    codes[clouds != 0] = 205
    return dem, codes, clouds


def test_snowline_by_hand() -> None:
    """The first band whose clear pixels are more than 10 % snow is 1500-1600 m (1200-1300 m is all
    snow where clear, but clear on 1 % of it only): zs is the lower edge of the band two below it,
    1300 m."""
    dem, codes, clouds = ramp()
    settings = get_settings()
    assert snowline(dem, codes, clouds, settings.lis) == 1300
    assert snowline(dem, codes, clouds, get_settings(lis_fclear_lim=0.001).lis) == 1000  # 1200-1300 counts
    assert snowline(dem, np.zeros_like(codes), clouds, settings.lis) is None  # no snow, no snowline


def test_pass_two_takes_faint_snow_above_the_snowline_only() -> None:
    """Faint snow (NDSI 0.25) is snow strictly above zs = 1300 m once pass 1 found enough snow."""
    dem, codes, clouds = ramp()
    swir = np.where(codes == 100, 500, 3000).astype(np.int16)  # snow NDSI 0.82, faint snow 0.25
    flat = np.full(dem.shape, 5000, np.int16)
    r = Reflectances(flat, flat, swir, clouds, np.zeros_like(clouds), Q)
    found = detect(r, dem, get_settings().lis)
    assert (found.snowline, found.pass2) == (1300, True)
    clear = clouds == 0
    expected = np.where((dem > 1300) | (codes == 100), 100, 0)  # pass 1's snow at 1250 m stays
    np.testing.assert_array_equal(found.codes[clear], expected[clear])
    assert (found.codes[~clear] == 205).all()
    without = detect(r, None, get_settings().lis)
    np.testing.assert_array_equal(without.codes[clear], codes[clear])  # pass 1 alone
    gated = detect(r, dem, get_settings(lis_fsnow_total_lim=0.6).lis)  # pass 1 found 39 % of the image
    assert (gated.snowline, gated.pass2) == (1300, False)
    np.testing.assert_array_equal(gated.codes, without.codes)


def test_bands_as_itk_cuts_them() -> None:
    """Uneven ranges: float32 steps, bins a little higher than dz, the top value in the last bin."""
    bands = ElevationBands.of(412, 3963, 100)
    assert bands is not None and bands.count == 35
    lookup = bands.lookup()
    assert lookup[0] == 0 and lookup[-1] == 34 and np.all(np.diff(lookup) >= 0)
    height = np.float32(np.float32(3963) - np.float32(412)) / np.float32(35)
    assert bands.edges[1] == 412 + float(height) and bands.edges[-1] == 3963
    assert ElevationBands.of(0, 99, 100) is None  # less than one band: no snowline


def random_acquisition(seed: int, nodata_dem: bool) -> tuple[Reflectances, I16]:
    """Reflectances around every threshold (exact ones included), masks, and a relief where snow is
    likelier higher up; sometimes a patch of DEM no data (-32768)."""
    rng = np.random.default_rng(seed)
    rows, cols = 48, 40
    dem = (rng.integers(0, 3000) + np.linspace(0, rng.integers(300, 3000), rows)[:, None]
           + rng.normal(0, 80, (rows, cols))).astype(np.int16)
    if nodata_dem:
        dem[:6, :8] = -32768
    height = (dem - dem.min()) / max(int(np.ptp(dem)), 1)
    snowy = rng.random((rows, cols)) < height
    green = np.where(snowy, rng.integers(1500, 9000, (rows, cols)), rng.integers(0, 3000, (rows, cols)))
    swir = np.where(snowy, rng.integers(0, 2500, (rows, cols)), rng.integers(300, 5000, (rows, cols)))
    red = rng.choice([0, 399, 400, 401, 1999, 2000, 2001, 5000], (rows, cols))
    exact = rng.random((rows, cols)) < 0.05  # NDSI exactly 0.4 or 0.15, or a zero sum
    green = np.where(exact, rng.choice([7000, 1150, 0], (rows, cols)), green)
    swir = np.where(exact & (green == 7000), 3000, np.where(exact & (green == 1150), 850,
                                                            np.where(exact & (green == 0), 0, swir)))
    g, r, s = (np.asarray(a, dtype=np.int16) for a in (green, red, swir))
    for band in (g, r, s):
        band[rng.random((rows, cols)) < 0.02] = -10000
    clouds = np.where(rng.random((rows, cols)) < rng.uniform(0, 0.5), rng.integers(1, 256), 0)
    edges = (rng.random((rows, cols)) < 0.03).astype(np.uint8)
    return Reflectances(g, r, s, clouds.astype(np.uint8), edges, Q), dem


@pytest.mark.parametrize("seed", range(40))
def test_codes_equal_the_naive_reference(seed: int) -> None:
    r, dem = random_acquisition(seed, nodata_dem=seed % 4 == 0)
    settings = get_settings(lis_dz=[100, 50, 200, 36][seed % 4],
                            lis_fsnow_lim=[0.1, 0.3, 0.05][seed % 3])
    for elevation in (dem, None):
        got = detect(r, elevation, settings.lis)
        want = lis.detect(r.green, r.red, r.swir, r.clouds, r.edges, Q, elevation, settings.lis)
        np.testing.assert_array_equal(got.codes, want.codes)
        assert (got.snowline, got.pass2) == (want.zs, want.pass2)


def test_the_reference_cases_exercise_pass_two() -> None:
    """The random cases above find a snowline and change codes in pass 2, not only pass 1."""
    changed = 0
    for seed in range(40):
        r, dem = random_acquisition(seed, nodata_dem=seed % 4 == 0)
        with_dem = detect(r, dem, get_settings(lis_dz=[100, 50, 200, 36][seed % 4]).lis)
        changed += int(with_dem.pass2 and (with_dem.codes != detect(r, None, get_settings().lis).codes).any())
    assert changed >= 20


def test_no_data_dem_bands_are_passed_over() -> None:
    """A patch of DEM no data (-32768) that is clear snow would set zs far below sea level; LIS >= 1.7
    passes over bands centred below -413 m."""
    dem, codes, clouds = ramp()
    dem[:4] = -32768
    codes[:4] = 100
    zs = snowline(dem, codes, clouds, get_settings().lis)
    assert zs is not None and zs > 0
    assert zs == lis.snowline(dem, codes == 100, clouds != 0, get_settings().lis)


def test_layers_must_share_a_grid() -> None:
    a = np.zeros((4, 4), np.int16)
    r = Reflectances(a, a, a, np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8), Q)
    with pytest.raises(ValueError, match="layers of different shapes"):
        detect(r, None, get_settings().lis)
