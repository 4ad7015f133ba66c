"""Publish benchmark: one publish into a catalog already holding 1 tile's item, and one holding the 52
tiles' of the Alps and the Pyrenees (synthetic small items: what is measured is the catalog's and the
database's bookkeeping, which the maps' size does not change).

Two publishes are timed at each end, each the median of several runs (the ends alternating): a tile
publishing again (its item newer, the collection already linking it) and a tile's new season (the
collection gains a link).
Each goes to the static catalog (a local folder) and to pgstac (a PostgreSQL started here, on
127.0.0.1). The target: the time at 52 tiles at most 1.5 times the time at 1 (flat, within noise).

    python bench/publish.py
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import ROOT, Result, figure_lines, machine, save, targets_met
from infra.postgres import LocalPostgres
from snowdays.regions import load_region
from snowdays.settings import Settings, get_settings
from stac.catalog import item_folder, write_catalog
from stac.database import migrate
from stac.publish import update_api
from stac.sample import synthetic_item

RUNS = 15
SEASON, NEW_SEASON = "2017-2018", "2018-2019"
TARGETS = {"republish: 52 tiles / 1 tile": ("<=", 1.5), "new season: 52 tiles / 1 tile": ("<=", 1.5)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tiles() -> list[str]:
    alps, pyrenees = load_region("alps").tiles or (), load_region("pyrenees").tiles or ()
    return sorted({*alps, *pyrenees})


def publish_one(tile: str, label: str, version: int, root: str, settings: Settings) -> tuple[float, float]:
    """Publish a synthetic item; the seconds of its static catalog part and of its database part."""
    item = synthetic_item(tile, label, version, settings)
    started = time.perf_counter()
    collection = write_catalog(root, item, settings)
    written = time.perf_counter()
    report = update_api(collection, item, item_folder(root, item.id), settings)
    if report.api_error:
        raise SystemExit(report.api_error)
    return written - started, time.perf_counter() - written


def median(parts: list[tuple[float, float]]) -> dict[str, float]:
    """Median seconds of the catalog part, the database part and both."""
    return {"catalog": statistics.median(p[0] for p in parts),
            "database": statistics.median(p[1] for p in parts),
            "publish": statistics.median(p[0] + p[1] for p in parts)}


def filled(held: list[str], folder: Path, cluster: LocalPostgres) -> tuple[str, Settings]:
    """A catalog and a database holding ``held``'s items."""
    database = dataclasses.replace(cluster, database=f"bench{len(held)}")
    database.create_database()
    migrate(database.url)
    settings = get_settings(stac_database_url=database.url)
    root = str(folder / f"catalog-{len(held)}")
    for tile in held:
        publish_one(tile, SEASON, 1, root, settings)
    return root, settings


def measure(every: list[str], folder: Path, cluster: LocalPostgres) -> dict[str, Result]:
    """Both publishes at both ends, the ends alternating run by run (the machine's load then weighs
    on both alike)."""
    ends = {"1": filled(every[:1], folder, cluster), "52": filled(every, folder, cluster)}
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for run in range(RUNS):
        for end, (root, settings) in ends.items():
            runs.setdefault(("republish", end), []).append(
                publish_one(every[0], SEASON, run + 2, root, settings))
            runs.setdefault(("new season", end), []).append(
                publish_one(every[0], f"{2020 + run}-{2021 + run}", 1, root, settings))
    return {end: {case: median(runs[case, end]) for case in ("republish", "new season")}
            for end in ends}


def main() -> None:
    started_at = datetime.now(UTC)
    folder = Path(tempfile.mkdtemp(prefix="snowdays-bench-publish-"))
    folder.chmod(0o755)
    cluster = LocalPostgres(folder / "postgres", free_port())
    cluster.start()
    load_before = os.getloadavg()
    try:
        measured = measure(tiles(), folder, cluster)
        one, all_ = measured["1"], measured["52"]
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    figures = {f"{case} {part} {n} s": result[case][part] for case in ("republish", "new season")
               for part in ("catalog", "database", "publish") for n, result in (("1", one), ("52", all_))}
    for case in ("republish", "new season"):
        figures[f"{case}: 52 tiles / 1 tile"] = all_[case]["publish"] / one[case]["publish"]
    summary = {"figures": figures, "targets_met": targets_met(figures, TARGETS)}
    report = {"when": started_at.isoformat(timespec="seconds"), "machine": machine(), "runs": RUNS,
              "load_average": {"before": load_before, "after": os.getloadavg()},
              "raw": {"one": one, "all": all_}} | summary
    save(report, "publish-", "\n".join(figure_lines(summary, TARGETS, 34, ".3f")))


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    main()
