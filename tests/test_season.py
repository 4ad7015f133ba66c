"""Seasons as the settings make them, and the one rule for when a season's window is over."""

from __future__ import annotations

from datetime import date

from snowdays.settings import get_settings


def test_settings_make_the_season_with_their_start_and_margin() -> None:
    season = get_settings(season_start="10-01", margin_days=5).season("2017-2018")
    assert (season.start, season.stop, season.margin) == (date(2017, 10, 1), date(2018, 9, 30), 5)


def test_a_season_is_closed_only_after_its_stop_plus_margin() -> None:
    season = get_settings(season_start="09-01", margin_days=15).season("2017-2018")
    assert not season.closed(date(2018, 9, 15))  # the last day of the window
    assert season.closed(date(2018, 9, 16))
