"""The maps against stations (``snowdays validate``): synthetic stations drawn from a generated
season's own truth (``tests/seasondata.py``), some altered by a known number of days, so that every
error, RMSE, bias and median is known before the comparison runs."""

from __future__ import annotations

import csv
import json
import math
import statistics
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from snowdays.errors import UsageError
from snowdays.export import season_maps
from snowdays.settings import get_settings
from snowdays.validation import COLUMNS, Scores, read_stations, validate
from tests.conftest import RunCli
from tests.seasondata import LABEL, SEASON, TILE, Cube, lon_lat, naive_series

SETTINGS = get_settings()
LONGER = 6
"""Days station B's snow lasts past the map's melt-out."""


def rows(name: str, where: tuple[float, float], depths: list[float], first: int = 0) -> list[list[str]]:
    return [[name, str(where[0]), str(where[1]), "1850", (SEASON.start + timedelta(first + d)).isoformat(),
             f"{depth:g}"] for d, depth in enumerate(depths)]


def melting_later(season_store: str, season_truth: Cube) -> tuple[int, int]:
    """A pixel whose longest snow run ends with at least ``LONGER`` + 1 days of no snow after it."""
    maps = season_maps(season_store, TILE, LABEL, SETTINGS).maps
    for row, col in zip(*np.nonzero(maps.scd > 30), strict=True):
        series, smod = naive_series(season_truth, row, col), int(maps.smod[row, col])
        if smod + LONGER + 1 < len(series) and not any(series[smod + 1:smod + LONGER + 2]):
            return int(row), int(col)
    raise AssertionError("no pixel of the fixture melts out early enough")


@pytest.fixture(scope="module")
def stations(season_store: str, season_truth: Cube,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """Station A: the season_truth itself; B: snow ``LONGER`` days past its melt-out; C: every snow day under
    the depth threshold; D: off the tiles; E: records outside the season only."""
    maps = season_maps(season_store, TILE, LABEL, SETTINGS).maps
    a = (3, 4) if maps.scd[3, 4] > 10 else tuple(int(v) for v in np.argwhere(maps.scd > 10)[0])
    b = melting_later(season_store, season_truth)
    c = tuple(int(v) for v in np.argwhere(maps.scd > 10)[-1])
    series = {name: [float(s) for s in naive_series(season_truth, *p)]
              for name, p in (("A", a), ("B", b), ("C", c))}
    smod_b = int(maps.smod[b])
    later = [1.0 if smod_b < d <= smod_b + LONGER else s for d, s in enumerate(series["B"])]
    table = [list(COLUMNS), *rows("A", lon_lat(season_store, *a), [0.8 * s for s in series["A"]]),
             *rows("B", lon_lat(season_store, *b), later),
             *rows("C", lon_lat(season_store, *c), [0.05 * s for s in series["C"]]),
             *rows("D", (2.0, 40.0), [1.0] * 20), *rows("E", lon_lat(season_store, *a), [1.0] * 5, first=400)]
    table.append(["A", *table[1][1:4], "2017-10-02", ""])  # an empty depth is no record
    path = tmp_path_factory.mktemp("stations") / "stations.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(table)
    return path, {"C_scd": int(maps.scd[c])}


def known(errors: list[int]) -> Scores:
    return Scores(len(errors), math.sqrt(sum(e * e for e in errors) / len(errors)), sum(errors) / len(errors),
                  float(statistics.median(errors)))


def test_errors_by_station_and_overall_are_the_known_ones(season_store: str,
                                                         stations: tuple[Path, dict[str, int]]) -> None:
    path, facts = stations
    got = validate(season_store, read_stations(path), [LABEL], SETTINGS)
    by_id = {c.station.id: c for c in got.compared}
    assert sorted(by_id) == ["A", "B", "C"]
    assert [(s, label) for s, label, _ in got.skipped] == [("D", LABEL), ("E", LABEL)]
    assert "is not on any tile stored" in got.skipped[0][2] and "no record from" in got.skipped[1][2]
    assert [by_id["A"].error(m) for m in ("scd", "sod", "smod")] == [0, 0, 0]
    assert [by_id["B"].error(m) for m in ("scd", "sod", "smod")] == [-LONGER, 0, -LONGER]
    assert by_id["C"].values["scd"] == (facts["C_scd"], 0) and by_id["C"].values["smod"] is None
    assert by_id["A"].days == SEASON.n_days - 0 and by_id["A"].tile == TILE
    assert got.overall("scd") == known([0, -LONGER, facts["C_scd"]])
    assert got.overall("sod") == known([0, 0])
    assert got.overall("smod") == known([0, -LONGER])
    assert got.by_station("smod") == {"A": known([0]), "B": known([-LONGER]), "C": None}


def test_a_depth_threshold_is_a_setting(season_store: str, stations: tuple[Path, dict[str, int]]) -> None:
    """Below C's thin snow, C is as snowy as the map: no error left."""
    path, _ = stations
    got = validate(season_store, read_stations(path), [LABEL], get_settings(station_snow_depth=0.01))
    assert {c.station.id: c.error("scd") for c in got.compared} == {"A": 0, "B": -LONGER, "C": 0}


def test_a_file_without_the_columns_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,lon,lat\nA,1,2\n")
    with pytest.raises(UsageError, match="no column station_id, elevation, date, snow_depth"):
        read_stations(bad)
    bad.write_text(",".join(COLUMNS) + "\nA,east,2,3,2018-01-01,0.5\n")
    with pytest.raises(UsageError, match="station A: could not convert"):
        read_stations(bad)


def test_the_command_prints_the_scores(season_store: str, stations: tuple[Path, dict[str, int]],
                                       snowdays_cli: RunCli, tmp_path: Path) -> None:
    path, facts = stations
    args = ["validate", "--stations", str(path), "--season", LABEL, "--store", season_store]
    shown = snowdays_cli(args, {}, tmp_path)
    assert shown.returncode == 0, shown.stderr
    smod = known([0, -LONGER])
    line = f"SMOD  n 2  RMSE {smod.rmse:.1f}  bias {smod.bias:+.1f}  median {smod.median:+.1f}"
    assert line in shown.stdout
    assert "skipped D 2017-2018:" in shown.stdout
    as_json = json.loads(snowdays_cli([*args, "--json"], {}, tmp_path).stdout)
    assert as_json["overall"]["scd"] == {"n": 3, **{k: v for k, v in vars(known(
        [0, -LONGER, facts["C_scd"]])).items() if k != "n"}}
    assert as_json["stations"][1]["smod"] == {"map": as_json["stations"][1]["smod"]["map"],
                                              "station": as_json["stations"][1]["smod"]["map"] + LONGER}
