"""A season's anomaly as of a day (``snowdays anomaly``) against its tile's past seasons as of the same
day of theirs: three generated seasons built into one store; the climatology (mean, median of SCD and
of SMOD where dated) and the anomaly equal those of the naive reference on every pixel, as of a day
inside the season and once it is over; the COGs read back as computed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import rasterio

from snowdays.anomaly import Anomaly, anomaly, write
from snowdays.backfill import build_season
from snowdays.errors import UsageError
from snowdays.reference import cube_maps, describe, season_cube
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.settings import get_settings
from tests.conftest import RunCli
from tests.seasondata import Cube, cut

TILE = "T31TCH"
LABELS = ("2016-2017", "2017-2018", "2018-2019")
SETTINGS = get_settings()
DAY = 140
F = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def seasons(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Cube]]:
    """The store, and each season's truth read from the products of its window. Each season is
    generated from its first day to 16 days before its last (the last season: to the end of its
    window), so that no two generate one product: a season's window then holds the next one's first
    products, as a store's seasons do."""
    base = tmp_path_factory.mktemp("anomaly")
    folder = base / "products"
    for seed, label in enumerate(LABELS, 11):
        season = parse_season(label)
        last = season.stop + timedelta(days=season.margin if label == LABELS[-1] else -16)
        for product in make_season(base / label, TILE, season, 24, "muscate", True, seed=seed):
            if season.start <= describe(product)[2].date() <= last:
                folder.mkdir(exist_ok=True)
                product.rename(folder / product.name)
    hrefs = sorted(str(p) for p in folder.iterdir())
    truths = {}
    for label in LABELS:
        build_season(str(base / "store"), TILE, label, hrefs, SETTINGS)
        season = parse_season(label)
        truths[label] = season_cube(folder, season.start, season.stop, season.margin)
    return str(base / "store"), truths


def naive(truths: dict[str, Cube], label: str, day: int | None) -> dict[str, F]:
    """The climatology and anomaly by hand: numpy over each past season's reference maps."""
    maps = {k: cube_maps(*(t if day is None else cut(t, day))) for k, t in truths.items()}
    past = [k for k in truths if k < label]
    scd = np.stack([maps[k]["SCD"] for k in past]).astype(np.float64)
    smod = np.stack([np.where(maps[k]["SCD"] > 10, maps[k]["SMOD"], np.nan) for k in past])
    this = maps[label]
    counted = np.isfinite(smod).sum(axis=0)
    def per_pixel(stat: Any) -> F:
        return np.array([[stat(smod[:, i, j][np.isfinite(smod[:, i, j])]) if counted[i, j] else np.nan
                          for j in range(smod.shape[2])] for i in range(smod.shape[1])])

    smod_mean = per_pixel(np.mean)
    return {"SCD-MEAN": scd.mean(axis=0), "SCD-MEDIAN": np.median(scd, axis=0),
            "SCD-ANOMALY": this["SCD"] - scd.mean(axis=0), "SMOD-MEAN": smod_mean,
            "SMOD-MEDIAN": per_pixel(np.median),
            "SMOD-ANOMALY": np.where(this["SCD"] > 10, this["SMOD"] - smod_mean, np.nan),
            "SMOD-SEASONS": counted.astype(np.float64), "SEASONS": np.full(scd.shape[1:], len(past), float)}


def assert_equal(got: Anomaly, expected: dict[str, F]) -> None:
    layers = dict(got.items())
    for name, values in expected.items():
        np.testing.assert_allclose(layers[name], values, rtol=1e-6, atol=1e-4, err_msg=name)
    assert np.isfinite(layers["SCD-ANOMALY"]).all() and np.abs(layers["SCD-ANOMALY"]).max() > 0


@pytest.mark.parametrize("label", LABELS[1:])
def test_as_of_a_day_against_the_same_day_of_the_past_seasons(seasons: tuple[str, dict[str, Cube]],
                                                              label: str) -> None:
    store, truths = seasons
    as_of = parse_season(label).start + timedelta(days=DAY)
    got = anomaly(store, TILE, label, SETTINGS, as_of)
    assert (got.day, got.as_of, got.past) == (DAY, as_of, [k for k in LABELS if k < label])
    assert_equal(got, naive(truths, label, DAY))


def test_a_season_over_against_the_past_annual_maps(seasons: tuple[str, dict[str, Cube]], tmp_path: Path,
                                                    ) -> None:
    store, truths = seasons
    got = anomaly(store, TILE, LABELS[2], SETTINGS)
    expected = naive(truths, LABELS[2], None)
    assert_equal(got, expected)
    written = {p.name.split("_")[1].split("-SNOW-")[1]: p for p in write(got, tmp_path, SETTINGS)}
    assert set(written) == {k for k, _ in got.items()}
    for name, values in expected.items():
        with rasterio.open(written[name]) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            read = ds.read(1).astype(np.float64)
            np.testing.assert_allclose(read, values, rtol=1e-6, atol=1e-4, err_msg=name)
            if ds.dtypes[0] == "float32":
                assert np.isnan(ds.nodata)


def test_the_first_season_has_no_past(seasons: tuple[str, dict[str, Cube]]) -> None:
    with pytest.raises(UsageError, match="holds no season before 2016-2017"):
        anomaly(seasons[0], TILE, LABELS[0], SETTINGS)


def test_the_command_writes_the_cogs(seasons: tuple[str, dict[str, Cube]], snowdays_cli: RunCli,
                                     tmp_path: Path) -> None:
    store, _ = seasons
    done = snowdays_cli(["anomaly", "--store", store, "--tile", TILE, "--season", LABELS[1], "--as-of",
                         "2018-01-19", "--out", str(tmp_path)], {}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "as of 2018-01-19 (day 140) against 2016-2017" in done.stdout
    assert len(list(tmp_path.glob("LIS_*-SNOW-SCD-ANOMALY_T31TCH_20170901_20180119_*.tif"))) == 1
