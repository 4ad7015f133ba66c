"""The closed-form engine against the naive daily reference, and against hand-counted cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from snowdays.duration import FoldState, annual_maps
from snowdays.reference import pixel_maps

CODES = [0, 1, 37, 100, 101, 205, 254, 255]


def engine(series: list[tuple[int, int]], n_days: int) -> tuple[int, int, int, int]:
    days = [t for t, _ in series]
    cube = np.array([v for _, v in series] or [255], np.uint8).reshape(-1, 1, 1)
    maps = annual_maps(cube, days or [0], n_days)
    return int(maps.scd[0, 0]), int(maps.sod[0, 0]), int(maps.smod[0, 0]), int(maps.nobs[0, 0])


@st.composite
def seasons(draw: st.DrawFn) -> tuple[list[tuple[int, int]], int]:
    """A short season and one pixel's observations, margins on both sides included."""
    n_days = draw(st.integers(1, 80))
    margin = draw(st.integers(0, 20))
    days = draw(st.lists(st.integers(-margin, n_days - 1 + margin), unique=True, max_size=40))
    values = draw(st.lists(st.sampled_from(CODES), min_size=len(days), max_size=len(days)))
    return sorted(zip(days, values, strict=True)), n_days


@settings(max_examples=600, deadline=None)
@given(seasons())
@example(([], 30))  # no observation at all
@example(([(5, 205), (9, 255)], 30))  # only invalid ones
@example(([(12, 100)], 30))  # one single observation
@example(([(-5, 100), (34, 100)], 30))  # both margins
@example(([(0, 100), (10, 0)], 30))  # half-way day, snow to no snow
@example(([(0, 0), (10, 100), (20, 0)], 30))  # half-way days both ways
@example(([(0, 100), (9, 100), (10, 0)], 30))  # SCD exactly 10
@example(([(0, 100), (10, 100), (11, 0)], 30))  # SCD exactly 11
@example(([(0, 100), (5, 100), (6, 0), (9, 0), (10, 100), (15, 100), (16, 0)], 30))  # tie
def test_engine_matches_naive_reference(case: tuple[list[tuple[int, int]], int]) -> None:
    series, n_days = case
    assert engine(series, n_days) == pixel_maps(series, n_days)


@pytest.mark.parametrize(
    ("series", "n_days", "expected"),
    [
        ([], 30, (0, 0, 0, 0)),
        ([(5, 205), (9, 254), (11, 255)], 30, (0, 0, 0, 0)),
        ([(12, 100)], 30, (30, 0, 29, 1)),
        ([(12, 0)], 30, (0, 0, 0, 1)),
        ([(-5, 100), (34, 100)], 30, (30, 0, 29, 2)),
        ([(-20, 100), (-10, 0), (40, 0)], 30, (0, 0, 0, 3)),
        ([(0, 100), (10, 0)], 30, (6, 0, 0, 2)),  # days 0..5: SCD 6, under 11 so no dates
        ([(0, 0), (10, 100)], 30, (25, 5, 29, 2)),  # days 5..29
        ([(0, 100), (9, 100), (10, 0)], 30, (10, 0, 0, 3)),
        ([(0, 100), (10, 100), (11, 0)], 30, (11, 0, 10, 3)),
        ([(0, 100), (5, 100), (6, 0), (9, 0), (10, 100), (15, 100), (16, 0)], 30, (12, 0, 5, 7)),
        ([(0, 0), (4, 1), (30, 1)], 30, (28, 2, 29, 3)),  # fractional 1 % is snow
    ],
)
def test_hand_counted_cases(
    series: list[tuple[int, int]], n_days: int, expected: tuple[int, int, int, int]
) -> None:
    assert engine(series, n_days) == expected


@settings(max_examples=200, deadline=None)
@given(seasons(), st.data())
def test_year_to_date_is_the_season_stopped_at_the_latest_day(
    case: tuple[list[tuple[int, int]], int], data: st.DataObject
) -> None:
    series, n_days = case
    inside = [(t, v) for t, v in series if 0 <= t < n_days]
    if not inside:
        return
    cut = data.draw(st.integers(0, len(inside) - 1))
    as_of = inside[cut][0]
    folded = [(t, v) for t, v in series if t <= as_of]
    state = FoldState.empty((1, 1), n_days)
    for t, v in folded:
        state.advance(np.array([[v]], np.uint8), t)
    maps = state.maps(as_of + 1)
    got = (int(maps.scd[0, 0]), int(maps.sod[0, 0]), int(maps.smod[0, 0]), int(maps.nobs[0, 0]))
    assert got == pixel_maps(folded, as_of + 1)


def test_many_pixels_at_once_match_pixel_by_pixel() -> None:
    rng = np.random.default_rng(7)
    days = sorted(rng.choice(np.arange(-15, 380), 90, replace=False).tolist())
    cube = rng.choice(np.array(CODES, np.uint8), (len(days), 9, 11))
    maps = annual_maps(cube, days, 365)
    for i in range(9):
        for j in range(11):
            series = [(t, int(cube[k, i, j])) for k, t in enumerate(days)]
            got = (maps.scd[i, j], maps.sod[i, j], maps.smod[i, j], maps.nobs[i, j])
            assert tuple(int(x) for x in got) == pixel_maps(series, 365)


@pytest.mark.parametrize("threads", [2, 3, 20])
def test_the_maps_closed_in_bands_of_rows_at_once_are_the_same(threads: int) -> None:
    rng = np.random.default_rng(threads)
    state = FoldState.empty((13, 8), 365)
    for day in sorted(rng.choice(np.arange(-15, 380), 60, replace=False).tolist()):
        state.advance(rng.choice(np.array(CODES, np.uint8), (13, 8)), day)
    for (kind, one), (_, banded) in zip(state.maps().items(), state.maps(threads=threads).items(),
                                        strict=True):
        np.testing.assert_array_equal(one, banded, err_msg=kind)


def test_folds_must_come_in_day_order() -> None:
    state = FoldState.empty((1, 1), 10)
    state.advance(np.array([[0]], np.uint8), 3)
    with pytest.raises(ValueError, match="day order"):
        state.advance(np.array([[0]], np.uint8), 3)


@pytest.mark.parametrize("seed", range(3))
def test_days_folded_at_once_are_days_folded_one_by_one(seed: int) -> None:
    """``advance_days`` (each row takes every day at once) against ``advance`` one day after another,
    with batches of every size from one to nine days."""
    rng = np.random.default_rng(seed)
    days = sorted(rng.choice(np.arange(-15, 380), 45, replace=False).tolist())
    raws = [rng.choice(np.array(CODES, np.uint8), (11, 9)) for _ in days]
    one, many = FoldState.empty((11, 9), 365), FoldState.empty((11, 9), 365)
    for raw, day in zip(raws, days, strict=True):
        one.advance(raw, day)
    start = 0
    for size in itertools.cycle(range(1, 10)):
        if start >= len(days):
            break
        many.advance_days(raws[start:start + size], days[start:start + size])
        start += size
    for name in ("last_day", "last_snow", "scd", "run_start", "best_start", "best_len", "nobs"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name), err_msg=name)
    assert many.latest == one.latest == days[-1]


def test_days_folded_at_once_must_come_in_day_order() -> None:
    state = FoldState.empty((1, 1), 10)
    raw = np.array([[0]], np.uint8)
    with pytest.raises(ValueError, match="day order"):
        state.advance_days([raw, raw], [4, 4])
    state.advance_days([raw, raw], [2, 5])
    with pytest.raises(ValueError, match="day order"):
        state.advance_days([raw], [5])
