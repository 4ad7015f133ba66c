"""The region benchmark's projection: from the figures ``bench/region.py`` measures on this machine, the
seed's regional job (52 tiles x 2 seasons, 6,798 products, two 934 Mpx mosaics) and the catch-up after
a two-day outage, on 64 cores. Arithmetic only (its formulas are :data:`FORMULAS`), so that it is
tested without timing anything."""

from __future__ import annotations

import math
import statistics

from bench.common import Result

OUTAGE_PRODUCTS_PER_TILE = 3
"""A two-day outage of 52 tiles: about 150 products, about three a tile."""
TRIVIAL_DASK, TRIVIAL_PREFECT = 500, 100
SEED = {"tile-seasons": 104, "products": 6_205 + 593, "mosaics": 2, "tiles": 52}
CORES = 64
MAX_RUNS = 16
"""``max_runs`` assumed on 64 cores (a setting, ``SNOWDAYS_MAX_RUNS``; its default is 4)."""
TASKS_PER_RUN = 2 * OUTAGE_PRODUCTS_PER_TILE + 2
"""Prefect tasks of one outage run: read and stage each product, the checkpoint, the publish."""
TARGETS = {"seed's job on 64 cores (min)": ("<=", 10.0),
           "two-day outage current again (min)": ("<=", 15.0),
           "publish new season: 52 tiles / 1 tile": ("<=", 1.5),
           "republish: 52 tiles / 1 tile": ("<=", 1.5),
           "batch one core / decode floor": ("<=", 2.0),
           "batch every core / decode floor": ("<=", 1.0)}


def project(m: dict[str, float]) -> dict[str, float]:
    """The seed's job and the outage catch-up on ``CORES`` cores, from the measured figures ``m``
    (seconds): the formulas are :data:`FORMULAS`, in the same order."""
    per_product = m["dask core s per tile-season"] / m["products per tile-season"]
    task = SEED["products"] / SEED["tile-seasons"] * per_product
    waves = math.ceil(SEED["tile-seasons"] / CORES)
    overhead = SEED["tile-seasons"] * (m["dask s per task"] + m["prefect s per task"])
    publishes = (waves * (m["full-size publish s"] - m["publish database s"])
                 + SEED["tile-seasons"] * m["publish database s"])
    mosaic = (math.ceil(m["mosaic blocks"] / CORES) * m["mosaic slowest block s"]
              + m["mosaic assembly s (4 maps)"] / 4)
    mosaics = SEED["mosaics"] * mosaic
    seed = waves * task + overhead + publishes + mosaics
    run = (OUTAGE_PRODUCTS_PER_TILE * m["incremental stage s"] + m["outage checkpoint s"]
           + m["full-size publish s"] + m["prefect flow run s"] + TASKS_PER_RUN * m["prefect s per task"])
    outage = math.ceil(SEED["tiles"] / MAX_RUNS) * run + mosaic
    return {"seed: per product core s": per_product, "seed: task s (one tile-season)": task,
            "seed: backfill waves": waves, "seed: scheduling s": overhead,
            "seed: publishes s": publishes, "seed: mosaics s": mosaics,
            "seed's job on 64 cores (min)": seed / 60,
            "outage: one run s": run,
            "two-day outage current again (min)": outage / 60}


FORMULAS = [
    "per product = dask core s per tile-season / products per tile-season",
    "task = 6798 products / 104 tile-seasons * per product",
    "waves = ceil(104 tile-seasons / 64 cores)",
    "scheduling = 104 * (dask s per task + prefect s per task)",
    "publishes = waves * (full-size publish - its database part) + 104 * database part (the files and"
    " items written as tasks on the cluster, each item then put in pgstac by the flow, in turn)",
    "mosaic = ceil(blocks / 64) * slowest block + assembly of 4 maps / 4 (the maps are tasks)",
    "mosaics = 2 * mosaic (one per season, the backfill flow makes them one after another)",
    "seed = waves * task + scheduling + publishes + mosaics",
    f"run = {OUTAGE_PRODUCTS_PER_TILE} * stage + checkpoint + publish + flow run + "
    f"{TASKS_PER_RUN} * prefect s per task",
    f"outage = ceil(52 tiles / max_runs {MAX_RUNS}) * run + mosaic (one season; every tile changed)",
]


def measured(raw: Result, size: int) -> dict[str, float]:
    """The figures the projection takes, and those reported beside them (of the decode floor and the
    builds, the medians of their runs)."""
    inc, dask, publish, mosaic, products = (raw["incremental"], raw["dask"], raw["publish"], raw["mosaic"],
                                            raw["products"])
    floor = statistics.median(r["seconds"] for r in raw["decode"])
    one = {key: statistics.median(r[key] for r in raw["one_core"]) for key in ("build", "publish")}
    every = {"build": statistics.median(r["build"] for r in raw["every_core"])}
    core_s = dask["wall"] * dask["workers"] / dask["tile_seasons"]
    scale = 5490 * 5490 / (size * size)  # the mosaic figures are full size; --quick scales them down
    return {
        "products per tile-season": products,
        "decode floor s": floor,
        "batch one core s": one["build"], "batch every core s": every["build"],
        "batch one core / decode floor": one["build"] / floor,
        "batch every core / decode floor": every["build"] / floor,
        "batch one core s per product": one["build"] / products,
        "incremental s per product": statistics.mean(inc["ingest"]),
        "incremental / batch per product": statistics.mean(inc["ingest"]) / (one["build"] / products),
        "incremental stage s": statistics.median(inc["outage_stage"]),
        "outage checkpoint s": inc["outage_checkpoint"],
        "full-size publish s": one["publish"] + publish["new season database 52 s"],
        "publish database s": publish["new season database 52 s"],
        "dask wall s": dask["wall"], "dask core s per tile-season": core_s,
        "tile-seasons per core-minute": 60 / core_s,
        "dask s per task": dask["trivial_per_task"],
        "prefect s per task": raw["prefect"]["per_task"], "prefect flow run s": raw["prefect"]["flow_run"],
        "mosaic blocks": mosaic["934 Mpx: blocks (4096 px)"] / scale,
        "mosaic slowest block s": mosaic["slowest block seconds"],
        "mosaic assembly s (4 maps)": mosaic["934 Mpx: assembly minutes (4 maps)"] * 60 / scale,
        "publish new season: 52 tiles / 1 tile": publish["new season: 52 tiles / 1 tile"],
        "republish: 52 tiles / 1 tile": publish["republish: 52 tiles / 1 tile"],
        "peak RSS GB": max(r["maxrss_gb"] for r in [*raw["one_core"], *raw["every_core"], inc]),
    }
