"""Latency of the pipeline on a full-size tile: from a product landing in the archive to the STAC API
serving the season's item with it.

The local stack (``snowdays up``: Prefect's server, a Dask scheduler and worker processes, the STAC API
on PostgreSQL, the pipeline watching a local archive folder every second) runs on this machine's cores.
The tile's store holds the first products of the cached full-size season (folded with the library
beforehand, then published once); then, one at a time, the next products are moved into the archive and
the clock runs until the API's item counts them. Each latency is split with the Prefect server's own
records: the arrival event (its ``occurred`` time), the run it woke (start, end), its tasks (read,
fold, publish), then the API.

    uv run python bench/pipeline.py [--products 7] [--warm 40] [--size 5490]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import Result, dataset, ensure_data, figure_lines, machine, save, targets_met
from bench.state import products
from infra.stack import Stack, urls
from snowdays.ingest import ingest
from snowdays.settings import Settings, get_settings
from stac.publish import publish

TILE, LABEL, ITEM = "T31TCH", "2017-2018", "scd-t31tch-2017-2018"
TARGETS = {"latency, median (s)": ("<=", 20.0), "  reading + folding (s)": ("<=", 2.0)}
PARTS = ("event delay", "queueing", "reading + folding", "outputs + publish", "the rest")


def _time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def item_products(settings: Settings) -> int:
    answer = httpx.get(f"{urls(settings.ports)['STAC API']}/collections/snow-cover-duration/items/{ITEM}",
                       timeout=10)
    return int(answer.json()["properties"]["snowdays:products"]) if answer.status_code == 200 else 0


def post(settings: Settings, path: str, body: dict[str, Any]) -> Any:
    api = f"{urls(settings.ports)['Prefect UI']}/api"
    return httpx.post(f"{api}{path}", json=body, timeout=30).raise_for_status().json()


def split(settings: Settings, name: str, put: float, seen: float) -> Result:
    """The latency of one product, in parts, from the Prefect server's records."""
    [event] = post(settings, "/events/filter", {"filter": {
        "event": {"name": ["snow.product.arrived"]},
        "resource": {"id": [f"snow.product.{name}"]}}, "limit": 1})["events"]
    runs = post(settings, "/flow_runs/filter", {"flow_runs": {"start_time": {"is_null_": False}},
                                                "sort": "START_TIME_DESC", "limit": 20})
    tasks = {}
    for run in runs:
        found = post(settings, "/task_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}},
                                                     "limit": 200})
        if any(t["name"] == f"fold {name}" for t in found):
            tasks = {t["name"]: t for t in found}
            break
    else:
        raise SystemExit(f"no run folded {name}")
    run_start = _time(run["start_time"])
    read = tasks[next(n for n in tasks if n.startswith("read ") and name in n)]
    publish_task = next(t for n, t in tasks.items() if n.startswith("publish "))
    occurred = _time(event["occurred"])
    folded = _time(tasks[f"fold {name}"]["end_time"])
    published = _time(publish_task["end_time"])
    return {"product": name, "total": seen - put, "event delay": occurred - put,
            "queueing": run_start - occurred,
            "reading + folding": folded - _time(read["start_time"]),
            "outputs + publish": published - _time(publish_task["start_time"]),
            "the rest": seen - put - (occurred - put) - (run_start - occurred)
            - (folded - _time(read["start_time"])) - (published - _time(publish_task["start_time"]))}


def measure(folder: Path, count: int, warm: int, base: Path) -> list[Result]:
    season = products(folder)
    env = {"ARCHIVE": base / "archive", "STORE": base / "stores", "STAC_CATALOG": base / "catalog",
           "PREFECT_HOME": base / "prefect", "STAC_POSTGRES_DATA": base / "postgres",
           "WATCH_POLL_SECONDS": "1", "TRIGGER_WINDOW_SECONDS": "1", "SWEEP_INTERVAL_SECONDS": "3600"}
    os.environ.update({f"SNOWDAYS_{k}": str(v) for k, v in env.items()})
    settings = get_settings()
    for path in season[:warm]:
        ingest(settings.store, str(path), settings)
    (base / "archive").mkdir(parents=True)
    for path in season[:warm]:  # the archive holds what the store holds
        shutil.copytree(path, base / "archive" / path.name)
    records = []
    with Stack(settings, base / "logs"):
        publish(settings.store, TILE, LABEL, settings)
        for path in season[warm:warm + count]:
            before = item_products(settings)
            staged = base / f".{path.name}"
            shutil.copytree(path, staged)
            put = time.time()
            staged.rename(base / "archive" / path.name)
            while item_products(settings) <= before:
                time.sleep(0.2)
            records.append(split(settings, path.name, put, time.time()))
            print(f"  {path.name}: {records[-1]['total']:.1f} s", file=sys.stderr)
            time.sleep(3)  # let the run finish its artifacts before the next product lands
    return records


def summarise(records: list[Result]) -> Result:
    figures = {"latency, median (s)": statistics.median(r["total"] for r in records)}
    figures |= {f"  {part} (s)": statistics.median(r[part] for r in records) for part in PARTS}
    figures["latency, worst (s)"] = max(r["total"] for r in records)
    return {"figures": figures, "targets_met": targets_met(figures, TARGETS), "products": len(records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=5490)
    parser.add_argument("--products", type=int, default=7, help="products timed (at least 5)")
    parser.add_argument("--warm", type=int, default=40, help="products in the store beforehand")
    args = parser.parse_args()
    folder = ensure_data(args.size)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="snowdays-bench-pipeline-") as tmp:
        Path(tmp).chmod(0o755)  # run as root, the local PostgreSQL runs as its own user, which must enter
        records = measure(folder, args.products, args.warm, Path(tmp))
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "size": args.size, "machine": machine(),
        "data": dataset(folder), "load_average": {"before": load_before, "after": os.getloadavg()},
        "raw": records, "summary": summarise(records)}
    lines = figure_lines(report["summary"], TARGETS, 32, ".2f")
    lines.append(f"medians over {len(records)} products, each put alone into an archive holding "
                 f"{args.warm}; every core of {report['machine']['cpu_count']}, load average before "
                 f"{load_before[0]:.2f}")
    save(report, "pipeline-", "\n".join(lines))


if __name__ == "__main__":
    main()
