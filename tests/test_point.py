"""A point's season (``snowdays point``, ``snowdays.point``): at pixels all over a stored tile, what
each day's products saw, the gap-filled series and the four values equal the naive reference read
from the products themselves (``snowdays.reference``) and the stored season's maps."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import httpx
import pytest

from infra.stack import Stack, urls
from snowdays.errors import UsageError
from snowdays.export import season_maps
from snowdays.point import point_season
from snowdays.settings import get_settings
from tests.conftest import RunCli, _free_port
from tests.seasondata import AS_OF, AS_OF_DAY, LABEL, SEASON, TILE, Cube, cut, lon_lat, naive_series

SETTINGS = get_settings()


def seen(value: int) -> str:
    return "no snow" if value == 0 else "snow" if value <= 100 else "cloud"


PIXELS = [(0, 0), (23, 23), (0, 23), (23, 0), *random.Random(1).sample(
    [(r, c) for r in range(24) for c in range(24)], 24)]


@pytest.mark.parametrize("as_of", [None, AS_OF])
def test_a_point_equals_the_reference_and_the_maps(season_store: str, season_truth: Cube,
                                                   as_of: date | None) -> None:
    expected = season_truth if as_of is None else cut(season_truth, AS_OF_DAY)
    maps = season_maps(season_store, TILE, LABEL, SETTINGS, as_of).maps
    cube, days, n_days = expected
    for row, col in PIXELS:
        got = point_season(season_store, *lon_lat(season_store, row, col), LABEL, SETTINGS, as_of=as_of)
        assert (got.tile, got.row, got.col) == (TILE, row, col)
        assert got.as_of == (as_of or SEASON.stop) and len(got.snow) == n_days
        assert got.snow == [int(s) for s in naive_series(expected, row, col)]
        assert [(o.day, o.seen) for o in got.observations] == [
            (d, seen(int(cube[k, row, col]))) for k, d in enumerate(days)]
        assert (got.scd, got.sod, got.smod, got.nobs) == tuple(
            int(a[row, col]) for _, a in maps.items())
        assert got.scd == sum(got.snow)
    assert {o.seen for o in got.observations} == {"snow", "no snow", "cloud"}


def test_a_point_off_the_stored_tiles_is_a_usage_error(season_store: str) -> None:
    with pytest.raises(UsageError, match=r"2.00000, 40.00000 is not on any tile stored under"):
        point_season(season_store, 2.0, 40.0, LABEL, SETTINGS)
    with pytest.raises(UsageError, match="is not on tile T31TCH"):
        point_season(season_store, 2.0, 40.0, LABEL, SETTINGS, tile="T31TCH")
    with pytest.raises(UsageError, match="has no season 2015-2016"):
        point_season(season_store, *lon_lat(season_store, 3, 3), "2015-2016", SETTINGS)


def test_the_command_prints_the_series_and_its_json(season_store: str, snowdays_cli: RunCli,
                                                    tmp_path: Path) -> None:
    lon, lat = lon_lat(season_store, 5, 7)
    expected = point_season(season_store, lon, lat, LABEL, SETTINGS)
    args = ["point", "--lon", str(lon), "--lat", str(lat), "--season", LABEL, "--store", season_store]
    shown = snowdays_cli(args, {}, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"SCD {expected.scd} days" in shown.stdout and f"NOBS {expected.nobs}" in shown.stdout
    day = next(o for o in expected.observations if o.seen == "snow" and o.day >= 0)
    assert f"{day.date}  snow" in shown.stdout
    as_json = snowdays_cli([*args, "--json"], {}, tmp_path)
    assert json.loads(as_json.stdout) == expected.to_json()
    off = snowdays_cli(["point", "--lon", "2", "--lat", "40", "--season", LABEL, "--store", season_store], {},
                       tmp_path)
    assert off.returncode == 2 and "is not on any tile stored" in off.stderr


def test_the_file_server_answers_a_point_as_json(season_store: str, tmp_path: Path) -> None:
    """``/point`` of the file server, as ``snowdays up`` starts it on 127.0.0.1."""
    env = {"STORE": season_store, "STAC_CATALOG": tmp_path / "catalog", "FILES_PORT": _free_port(),
           "STAC_API_PORT": _free_port(), "ARCHIVE": tmp_path / "archive"}
    lon, lat = lon_lat(season_store, 11, 2)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(f"SNOWDAYS_{name}", str(value))
        settings = get_settings()
        with Stack(settings, tmp_path / "logs", only={"files"}):
            url = f"{urls(settings.ports)['files']}/point"
            asked: dict[str, str | float] = {"lon": lon, "lat": lat, "season": LABEL}
            answer = httpx.get(url, params=asked, timeout=60)
            as_of = httpx.get(url, params={**asked, "as_of": AS_OF.isoformat()}, timeout=60)
            off = httpx.get(url, params={"lon": 2, "lat": 40, "season": LABEL}, timeout=60)
            wrong: list[dict[str, str | float]] = [
                {**asked, "lon": "east"}, {"lon": lon, "lat": lat}, {**asked, "season": "2017"},
                {**asked, "as_of": "yesterday"}]
            bad = [httpx.get(url, params=p, timeout=60) for p in wrong]
    assert answer.status_code == 200
    assert answer.json() == point_season(season_store, lon, lat, LABEL, SETTINGS).to_json()
    assert as_of.json() == point_season(season_store, lon, lat, LABEL, SETTINGS, as_of=AS_OF).to_json()
    assert off.status_code == 404 and "is not on any tile stored" in off.json()["error"]
    assert [b.status_code for b in bad] == [400] * 4
    assert all("/point?lon=" in b.json()["error"] for b in bad)
