"""Region benchmark: what one full-size tile-season costs, measured here, and what that gives for the
seed's regional job (52 tiles x 2 seasons, 6,798 products, two 934 Mpx mosaics) and for catching up
after a two-day outage, projected on 64 cores.

Measured, on the cached full-size season (``bench/common.py``; 182 products, 5490 x 5490 px):

- the decode floor, and one tile-season built in batch (``build_season``, one commit) into a fresh
  store on one core (a pinned child, ``SNOWDAYS_THREADS=1``) and on every core (threads 0, unpinned),
  then its full-size publish (the four COGs, quicklook, item; the static catalog part: the database's
  part comes from ``bench/publish.py``);
- the incremental path on one core: the first products ingested one by one (checkpoints every
  ``pending_max`` included), then the three products a tile gets in a two-day outage, staged, and
  their checkpoint;
- a backfill of several tile-seasons on a local Dask cluster of 2 workers x 1 thread: the same
  season's products built into as many separate store roots (identical work, one tile-season each),
  ``build_season`` through ``Client.map`` (no Prefect); the scheduler's overhead per task (trivial
  tasks through the same cluster), and Prefect's (trivial tasks through its ``DaskTaskRunner`` in a
  flow, and a trivial flow run, on Prefect's test server);
- publish time at 1 and 52 tiles in the catalog (``bench/publish.py``, run here); the mosaic's
  throughput from the latest ``bench/mosaic.py`` results (not run again: minutes).

The projections are computed from those figures by ``bench/projection.py``; their formulas are printed.
Never run by the tests.

    uv run python bench/region.py [--quick] [--repeats N]   # --quick: the 1098 px season, 2 tile-seasons
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS,
    ROOT,
    SEASON,
    TILE,
    Result,
    bench_cpu,
    dataset,
    ensure_data,
    figure_lines,
    machine,
    pin,
    run_child,
    save,
    targets_met,
)
from bench.projection import CORES, FORMULAS, MAX_RUNS, OUTAGE_PRODUCTS_PER_TILE, TARGETS, measured, project

INCREMENTAL = 40
"""Products ingested one by one from the start of the season (at full size the whole season would
take many minutes)."""
TRIVIAL_DASK, TRIVIAL_PREFECT = 500, 100


# --- measurements in children ----------------------------------------------------------------------

def hrefs(folder: Path) -> list[str]:
    from bench.state import products  # noqa: PLC0415 - the season's products in acquisition order
    return [str(p) for p in products(folder)]


def warm_kernels() -> None:
    """Compile (or load) the fold's kernels outside any timing."""
    import numpy as np  # noqa: PLC0415

    from snowdays.duration import FoldState  # noqa: PLC0415
    from snowdays.grid import merge_day  # noqa: PLC0415
    tiny = np.zeros((2, 2), np.uint8)
    FoldState.empty((2, 2), 3).advance(tiny, 0)
    merge_day([tiny, tiny])


def timed_build(store: str, products: list[str], threads: int) -> float:
    """One tile-season built in batch into ``store`` (fresh): the seconds."""
    from snowdays.backfill import build_season  # noqa: PLC0415
    from snowdays.settings import get_settings  # noqa: PLC0415
    started = time.perf_counter()
    report = build_season(store, TILE, SEASON, products, get_settings(threads=threads))
    seconds = time.perf_counter() - started
    if report.rejected or not report.products:
        raise SystemExit(f"build of {store} rejected products: {report.rejected}")
    return seconds


def timed_publish(store: str, catalog: str) -> float:
    """The full-size publish of the built season: maps out of the store, COGs, item, static catalog.
    The database is left unreachable (a closed port: refused at once, reported, not raised)."""
    from bench.publish import free_port  # noqa: PLC0415
    from snowdays.settings import get_settings  # noqa: PLC0415
    from stac.publish import publish  # noqa: PLC0415
    settings = get_settings(threads=1, stac_database_url=f"postgresql://x@127.0.0.1:{free_port()}/x")
    started = time.perf_counter()
    report = publish(store, TILE, SEASON, settings, catalog=catalog)
    seconds = time.perf_counter() - started
    if report.api_error is None:
        raise SystemExit("the publish reached a database it should not have")
    return seconds


def batch_child(folder: Path, tmp: Path, every_core: bool) -> Result:
    """Build one tile-season (one core, pinned; or every core), then (one core) publish it."""
    warm_kernels()
    if every_core:
        store = str(tmp / "every-core")
        return {"build": timed_build(store, hrefs(folder), 0), "cores": len(os.sched_getaffinity(0))}
    pin()
    store = str(tmp / "one-core")
    return {"build": timed_build(store, hrefs(folder), 1),
            "publish": timed_publish(store, str(tmp / "catalog"))}


def incremental_child(folder: Path, tmp: Path) -> Result:
    """Ingest the first products one by one (checkpoints included); then an outage's three products
    staged without a checkpoint, and the checkpoint of those three alone."""
    from snowdays.ingest import checkpoint, ingest  # noqa: PLC0415
    from snowdays.settings import get_settings  # noqa: PLC0415
    pin()
    warm_kernels()
    store, order = str(tmp / "incremental"), hrefs(folder)
    settings, lazy = get_settings(threads=1), get_settings(threads=1, pending_max=10**6)
    each = [_timed(lambda h=href: ingest(store, h, settings)) for href in order[:INCREMENTAL]]
    checkpoint(store, TILE, get_settings(threads=1, pending_max=0))  # the outage starts from a fold
    outage = order[INCREMENTAL:INCREMENTAL + OUTAGE_PRODUCTS_PER_TILE]
    staged = [_timed(lambda h=href: ingest(store, h, lazy)) for href in outage]
    last = _timed(lambda: checkpoint(store, TILE, get_settings(threads=1, pending_max=0)))
    return {"ingest": each, "outage_stage": staged, "outage_checkpoint": last}


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def decode_child(folder: Path) -> Result:
    from bench.annual import decode_floor  # noqa: PLC0415
    pin()
    return {"seconds": decode_floor(folder)}


def _noop(x: int) -> int:
    return x


def prefect_child() -> Result:
    """Prefect's overhead on its test server: a trivial flow run, and trivial tasks through its
    ``DaskTaskRunner`` on a local cluster of 2 workers x 1 thread (per task, the cluster started)."""
    from prefect import flow, task  # noqa: PLC0415
    from prefect.testing.utilities import prefect_test_harness  # noqa: PLC0415
    from prefect_dask.task_runners import DaskTaskRunner  # noqa: PLC0415

    noop = task(_noop)

    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1,
                                            "dashboard_address": None})

    @flow(task_runner=runner)  # type: ignore[arg-type]  # a runner of Dask futures
    def many() -> float:
        noop.submit(-1).result()  # the workers up and the task known before timing
        started = time.perf_counter()
        futures = [noop.submit(k) for k in range(TRIVIAL_PREFECT)]
        [f.result() for f in futures]
        return (time.perf_counter() - started) / TRIVIAL_PREFECT

    @flow
    def nothing() -> None:
        return None

    with prefect_test_harness(server_startup_timeout=180):
        nothing()
        runs = [_timed(nothing) for _ in range(5)]
        return {"per_task": many(), "flow_run": statistics.median(runs)}


def child(kind: str, folder: Path, tmp: Path) -> None:
    """Entry point of a measuring child: measure, print one JSON line."""
    if kind == "prefect":
        result = prefect_child()
    elif kind == "decode":
        result = decode_child(folder)
    elif kind == "incremental":
        result = incremental_child(folder, tmp)
    else:
        result = batch_child(folder, tmp, every_core=kind == "every-core")
    result["maxrss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    print(json.dumps(result))


def spawn(kind: str, folder: Path, tmp: Path) -> Result:
    args = ["--child", kind, "--folder", str(folder), "--tmp", str(tmp)]
    result = run_child(Path(__file__).resolve(), args, bench_cpu())
    print(f"  {kind}: {json.dumps(result)[:200]}", file=sys.stderr)
    return result


# --- the backfill on Dask, here ----------------------------------------------------------------------

def dask_backfill(folder: Path, tmp: Path, seasons: int) -> Result:
    """``seasons`` tile-seasons (one store root each) built through ``Client.map`` on 2 workers x 1
    thread; and the scheduler's overhead per task, trivial tasks through the same cluster."""
    from distributed import Client, LocalCluster  # noqa: PLC0415

    from flows.cluster import untrimmed  # noqa: PLC0415
    untrimmed()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",  # type: ignore[no-untyped-call]
                           dashboard_address=None)
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        client.run(warm_kernels)
        overhead = [_trivial(client) for _ in range(3)]
        products = hrefs(folder)
        roots = [str(tmp / f"dask-{k}") for k in range(seasons)]
        started = time.perf_counter()
        tasks = client.gather(client.map(timed_build, roots, [products] * seasons, [1] * seasons,
                                         pure=False))
        wall = time.perf_counter() - started
    return {"workers": 2, "tile_seasons": seasons, "wall": wall, "tasks": tasks,
            "trivial_per_task": statistics.median(overhead)}


def _trivial(client: Any) -> float:
    started = time.perf_counter()
    client.gather(client.map(_noop, range(TRIVIAL_DASK), pure=False))
    return (time.perf_counter() - started) / TRIVIAL_DASK


def publish_bench() -> Result:
    """Run ``bench/publish.py`` (1 and 52 tiles in the catalog and pgstac); its results."""
    before = set(RESULTS.glob("publish-*.json"))
    subprocess.run([sys.executable, str(ROOT / "bench" / "publish.py")], cwd=ROOT, check=True,
                   stdout=sys.stderr)
    (path,) = set(RESULTS.glob("publish-*.json")) - before
    figures: Result = json.loads(path.read_text())["figures"]
    return figures | {"file": path.name}


def mosaic_figures() -> Result:
    """The latest ``bench/mosaic.py`` results."""
    path = max(RESULTS.glob("mosaic-*.json"))
    figures: Result = json.loads(path.read_text())["figures"]
    return figures | {"file": path.name}


# --- the run -----------------------------------------------------------------------------------------

def measure(folder: Path, seasons: int, repeats: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="snowdays-bench-region-") as name:
        tmp = Path(name)
        spawn("decode", folder, tmp)  # warm the page cache, not recorded
        raw: Result = {kind.replace("-", "_"): [] for kind in ("decode", "one-core", "every-core")}
        for _ in range(repeats):  # interleaved, so that a slow spell of the machine slows each kind
            for kind in ("decode", "one-core", "every-core"):
                raw[kind.replace("-", "_")].append(spawn(kind, folder, tmp))
                _clear(tmp)
        raw["incremental"] = spawn("incremental", folder, tmp)
        _clear(tmp)
        raw["dask"] = dask_backfill(folder, tmp, seasons)
        print(f"  dask: {raw['dask']}", file=sys.stderr)
    raw["prefect"] = spawn("prefect", folder, Path(tempfile.gettempdir()))
    raw["publish"] = publish_bench()
    raw["mosaic"] = mosaic_figures()
    raw["products"] = len(hrefs(folder))
    return raw


def _clear(tmp: Path) -> None:
    for path in tmp.iterdir():
        shutil.rmtree(path)


def table(report: Result) -> str:
    lines = figure_lines(report["summary"], TARGETS, 44, ".3f")
    lines += ["projection on 64 cores:", *(f"  {f}" for f in FORMULAS)]
    load = report["load_average"]
    lines.append(f"load average before {load['before'][0]:.2f}, after {load['after'][0]:.2f}; "
                 f"{report['machine']['cpu_count']} cores; decode floor and builds: medians of "
                 f"{report['repeats']} runs, one run of the rest")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="the 1098 px season, 2 tile-seasons, 1 run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the floor and of each build")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.folder, args.tmp)
    size, seasons, repeats = (1098, 2, 1) if args.quick else (5490, 8, args.repeats)
    folder = ensure_data(size)
    load_before = os.getloadavg()
    raw = measure(folder, seasons, repeats)
    figures = measured(raw, size)
    figures |= project(figures)
    summary = {"figures": figures, "targets_met": targets_met(figures, TARGETS)}
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "size": size,
              "repeats": repeats, "machine": machine(), "data": dataset(folder), "max_runs": MAX_RUNS,
              "cores": CORES,
              "load_average": {"before": load_before, "after": os.getloadavg()}, "raw": raw,
              "summary": summary, "formulas": FORMULAS}
    save(report, "region-" + ("quick-" if args.quick else ""), table(report))


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    main()
