"""Benchmark of the checkpoint (pending products folded into the state, chunk by chunk) on a full-size
tile: here in one process, and on a Dask LocalCluster of one and of two worker processes.

Two stores are made once from the cached full-size season (every product pending):

- recompute: the whole season pending, as a late product leaves it (the state made anew from the cube);
- in order: the state folded up to the first products, then ``pending_max`` + 1 more pending, as the
  checkpoint of a normal arrival finds it.

Each checkpoint runs on a fresh copy of its store, ``--repeats`` times per way; medians, and each way's
ratio to the one-process run measured in the same run. The chunks are sent to the workers as the
flow's task runner sends them (forks of the session, pickled), with a plain Dask client here.
Results go to bench/results/checkpoint-<UTC timestamp>.json.

    uv run python bench/checkpoint.py [--size 5490] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from distributed import Client, LocalCluster

from bench.common import Result, dataset, ensure_data, figure_lines, machine, save
from bench.state import products
from flows.cluster import untrimmed
from snowdays.duration import FoldState
from snowdays.grid import merge_day
from snowdays.ingest import checkpoint, ingest
from snowdays.packing import pack, unpack
from snowdays.settings import get_settings
from snowdays.store import Mapper

TILE = "T31TCH"
FIRST = 60
"""Products folded into the state of the in-order store before the pending ones."""


def make_stores(folder: Path, into: Path) -> dict[str, Path]:
    """The two stores: every product pending, and a state with pending_max + 1 products pending."""
    settings, lazy = get_settings(), get_settings(pending_max=10_000)
    order = products(folder)
    pending = into / "recompute"
    for path in order:
        ingest(str(pending), str(path), lazy)
    in_order = into / "in-order"
    for path in order[:FIRST]:
        ingest(str(in_order), str(path), lazy)
    checkpoint(str(in_order), TILE, get_settings(pending_max=0))
    for path in order[FIRST:FIRST + settings.pending_max + 2]:
        ingest(str(in_order), str(path), lazy)
    return {"recompute": pending, "in order": in_order}


@contextmanager
def ways() -> Iterator[dict[str, Mapper[Any]]]:
    """Here, one process; Dask with one worker process; with two (set up as the pipeline's)."""
    untrimmed()
    one = LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None)  # type: ignore[no-untyped-call]
    two = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)  # type: ignore[no-untyped-call]
    with one, two, Client(one) as c1, Client(two) as c2:  # type: ignore[no-untyped-call]
        warm()
        c1.run(warm)
        c2.run(warm)
        yield {"here": map, "dask, 1 worker": on(c1), "dask, 2 workers": on(c2)}


def warm() -> None:
    """Load the compiled kernels (untimed)."""
    tiny = np.zeros((2, 2), np.uint8)
    FoldState.empty((2, 2), 3).advance(merge_day([unpack(pack(tiny), 2), tiny]), 0)


def on(client: Client) -> Mapper[Any]:
    def mapper(fn: Callable[..., Any], forks: list[Any], jobs: list[Any]) -> list[Any]:
        return list(client.gather(client.map(fn, forks, jobs, pure=False)))  # type: ignore[no-untyped-call]
    return mapper


def timed(store: Path, scratch: Path, mapper: Mapper[Any], pending_max: int) -> float:
    copy = scratch / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(store, copy)
    started = time.perf_counter()
    done = checkpoint(str(copy), TILE, get_settings(pending_max=pending_max), mapper)
    seconds = time.perf_counter() - started
    assert done, "nothing was due"
    return seconds


def measure(folder: Path, repeats: int) -> Result:
    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="snowdays-bench-") as tmp:
        started = time.perf_counter()
        stores = make_stores(folder, Path(tmp))
        print(f"  stores made in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        raw: Result = {}
        with ways() as mappers:
            for kind, store in stores.items():
                limit = 0 if kind == "recompute" else settings.pending_max
                for way, mapper in mappers.items():
                    runs = [timed(store, Path(tmp), mapper, limit) for _ in range(repeats)]
                    raw[f"{kind}, {way}"] = runs
                    print(f"  {kind}, {way}: {[round(r, 2) for r in runs]}", file=sys.stderr)
    return raw


def summarise(raw: Result) -> Result:
    figures = {}
    for kind in ("recompute", "in order"):
        base = statistics.median(raw[f"{kind}, here"])
        for way in ("here", "dask, 1 worker", "dask, 2 workers"):
            median = statistics.median(raw[f"{kind}, {way}"])
            figures[f"{kind}, {way} (s)"] = median
            if way != "here":
                figures[f"  {kind}, {way} / here"] = median / base
    return {"figures": figures, "targets_met": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=5490)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = ensure_data(args.size)
    load_before = os.getloadavg()
    raw = measure(folder, args.repeats)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "size": args.size, "machine": machine(),
        "data": dataset(folder), "load_average": {"before": load_before, "after": os.getloadavg()},
        "raw": raw, "summary": summarise(raw)}
    lines = figure_lines(report["summary"], {}, 36, ".3g")
    lines.append(f"medians of {args.repeats}; chunks of the state: 1098 x 1100 (25 on a full tile)")
    save(report, "checkpoint-", "\n".join(lines))


if __name__ == "__main__":
    main()
