"""The region benchmark's projection computes what its printed formulas say (a pure function, no
timing: the benchmark itself never runs in the tests)."""

from __future__ import annotations

import pytest

from bench.projection import FORMULAS, MAX_RUNS, project

MEASURED = {"products per tile-season": 100.0, "dask core s per tile-season": 200.0,
            "dask s per task": 0.01, "prefect s per task": 0.1, "full-size publish s": 5.0,
            "publish database s": 0.5,
            "mosaic blocks": 56.0, "mosaic slowest block s": 6.0, "mosaic assembly s (4 maps)": 120.0,
            "incremental stage s": 1.0,
            "outage checkpoint s": 4.0, "prefect flow run s": 2.0}


def test_the_seed_job_is_two_waves_of_its_tile_seasons_and_their_publishes_then_the_mosaics() -> None:
    task = 6798 / 104 * (200.0 / 100.0)  # 65.4 products a tile-season at 2 core-seconds each
    mosaics = 2 * (6.0 + 120.0 / 4)  # 56 blocks: one wave; the 4 maps assembled side by side
    publishes = 2 * (5.0 - 0.5) + 104 * 0.5  # files on the cluster, two waves; items into pgstac in turn
    expected = 2 * task + 104 * 0.11 + publishes + mosaics  # 104 tile-seasons on 64 cores: 2 waves
    got = project(MEASURED)
    assert got["seed: backfill waves"] == 2
    assert got["seed: publishes s"] == pytest.approx(publishes)
    assert got["seed: mosaics s"] == pytest.approx(mosaics)
    assert got["seed's job on 64 cores (min)"] == pytest.approx(expected / 60)


def test_the_outage_is_the_runs_of_52_tiles_max_runs_at_a_time_then_the_mosaics() -> None:
    run = 3 * 1.0 + 4.0 + 5.0 + 2.0 + 8 * 0.1
    waves = -(-52 // MAX_RUNS)
    got = project(MEASURED)
    assert got["outage: one run s"] == pytest.approx(run)
    assert got["two-day outage current again (min)"] == pytest.approx((waves * run + 36.0) / 60)
    assert any(f"max_runs {MAX_RUNS}" in line for line in FORMULAS)


def test_a_slower_product_makes_a_slower_projection() -> None:
    slower = project(MEASURED | {"dask core s per tile-season": 400.0})
    assert slower["seed's job on 64 cores (min)"] > project(MEASURED)["seed's job on 64 cores (min)"]
