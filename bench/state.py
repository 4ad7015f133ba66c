"""Benchmark of the incremental store (``snowdays ingest``) on a full-size tile and season, on one core.

In a child process pinned to one CPU with every thread pool set to one thread (as bench/annual.py),
the whole cached season is ingested into a new store in acquisition order, timing each product:

- in-order fold: the ingest time of the products later than every product of their seasons, after a
  warm-up: the median, and the mean, which spreads the folds of the pending products into the state
  arrays (one arrival in about ``pending_max``) over all; against the median time to merely decode
  the same products (``Product.read`` onto the tile grid);
- the maps: the time to read the season's maps at the end (the state plus the pending products);
  beside them, the maps with the quality layers (``season_layers``), and the daily cube of
  ``open_daily`` summed over the season (checked equal to SCD), against the maps alone;
- out-of-order fold: one early product is held back and ingested last, onto the store holding the
  rest of the season, which recomputes the season from the cube; against the batch ``annual`` run
  (``run_annual`` + ``write``, bench/annual.py's child) measured in the same run;
- the store: bytes of the tile's Icechunk repository on disk, per season, against the compressed
  size of the inputs of the season's window, as ``snowdays compact`` leaves it (history dropped),
  and with its whole history;
- peak RSS of the ingesting process.

The state the store ends with is checked against the batch maps. Results go to
bench/results/state-<UTC timestamp>.json and are printed as a table.

    uv run python bench/state.py [--size 5490] [--quick] [--store DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icechunk
import numpy as np
import rasterio
import zarr

from bench import annual
from bench.common import (
    SEASON,
    TILE,
    Result,
    bench_cpu,
    conditions,
    dataset,
    ensure_data,
    figure_lines,
    machine,
    pin,
    run_child,
    save,
    targets_met,
)
from snowdays.datasets import open_daily
from snowdays.duration import FoldState
from snowdays.export import season_layers, season_maps
from snowdays.grid import Grid, merge_day
from snowdays.ingest import ingest, seasons_of
from snowdays.names import parse_name
from snowdays.packing import pack, unpack
from snowdays.products import open_product
from snowdays.settings import Settings, get_settings
from snowdays.state import Outcome, folded_day
from snowdays.store import attr, compact, open_repo, read, subgroup

WARM_UP = 5
"""In-order folds left out of the medians (the store and the caches settle)."""
TARGETS = {"in-order fold (s)": ("<=", 1.5), "in-order fold / decode": ("<=", 5.0),
           "  mean / decode": ("<=", 5.0),
           "out-of-order / annual": ("<=", 1.0), "store per season / inputs": ("<=", 0.25)}


# --- the ingesting child --------------------------------------------------------------------------

def products(folder: Path) -> list[Path]:
    """The season's products, in acquisition order."""
    return sorted((p for p in folder.iterdir() if p.is_dir()),
                  key=lambda p: (parse_name(p.name).acquired, p.name))


def held_out(order: list[Path], settings: Settings) -> Path:
    """An early product that folds into this season only: the first Sentinel-2 one after the
    previous season's window."""
    season = settings.season(SEASON)
    for path in order:
        pid = parse_name(path.name)
        if pid.mission == "S2" and season.day(pid.acquired) > season.margin \
                and len(seasons_of(pid.acquired.date(), settings)) == 1:
            return path
    raise SystemExit("no early single-season Sentinel-2 product in the data")


def classify_fold(outcome: dict[str, str], days: dict[str, int], latest: dict[str, int]) -> str:
    """How a product was folded: after every product of its seasons, on the latest day of one, or
    before it."""
    if any(o == Outcome.RECOMPUTED.value for o in outcome.values()):
        return "out of order"
    if any(days[s] == latest.get(s) for s in outcome):
        return "same day"
    if all(o == Outcome.FOLDED.value for o in outcome.values()):
        return "in order"
    return "skipped"


def folded_days(root: str) -> dict[str, int]:
    """Per season, the last day folded into the state arrays (not timed)."""
    group = read(open_repo(root, TILE, get_settings()))
    if "seasons" not in group:
        return {}
    return {label: folded_day(sub) for label, sub in subgroup(group, "seasons").groups()}


def ingest_all(root: str, order: list[Path], settings: Settings) -> list[Result]:
    """Ingest in order, timing each."""
    latest: dict[str, int] = {}
    records: list[Result] = []

    def one(path: Path) -> Result:
        pid = parse_name(path.name)
        days = {label: s.day(pid.acquired) for label, s in seasons_of(pid.acquired.date(), settings)}
        before = folded_days(root) if Path(root, TILE).exists() else {}
        started, cpu = time.perf_counter(), time.process_time()
        report = ingest(root, str(path), settings)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        wrote_state = folded_days(root) != before if Path(root, TILE).exists() else False
        kind = classify_fold(report.seasons, days, latest) if report.seasons else str(report.status)
        for label, day in days.items():
            if label in report.seasons:
                latest[label] = max(latest.get(label, day), day)
        record = {"product": path.name, "seconds": seconds, "cpu_seconds": cpu, "outcome": report.outcome,
                  "seasons": report.seasons, "kind": kind,
                  "state_written": wrote_state}
        records.append(record)
        print(f"\r  ingest {len(records)}/{len(order)}: {seconds:.2f} s {kind:<16}", end="",
              file=sys.stderr, flush=True)
        return record

    for path in order:
        one(path)
    print(file=sys.stderr)
    return records


def decode_times(root: str, paths: list[Path], settings: Settings) -> list[float]:
    """Seconds to decode each product onto the tile grid (identifying it is not timed)."""
    grid = Grid.from_json(attr(read(open_repo(root, TILE, settings)), "grid"))
    seconds = []
    for path in paths:
        product = open_product(str(path), settings)
        started = time.perf_counter()
        product.read(grid, settings)
        seconds.append(time.perf_counter() - started)
    return seconds


def tree_bytes(folder: Path) -> dict[str, int]:
    """Files, their bytes, and the bytes of the disk blocks they take."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    stats = [p.stat() for p in files]
    return {"files": len(files), "bytes": sum(s.st_size for s in stats),
            "disk_bytes": sum(s.st_blocks * 512 for s in stats)}


def store_sizes(root: str, settings: Settings, scratch: Path) -> Result:
    """The repository on disk, what its latest snapshot references per season, and what stays on
    disk once the history is expired and collected (on a copy)."""
    repo_dir = Path(root) / TILE
    group = read(open_repo(root, TILE, settings))
    seasons: dict[str, Result] = {}
    for label, sub in sorted(group["seasons"].groups()):  # type: ignore[union-attr]
        arrays = {name: a.nbytes_stored() for name, a in sub.arrays()}
        seasons[label] = {"slots": int(sub["cube"].shape[0]), "live_bytes": sum(arrays.values()),
                          "arrays": arrays}
    commits = sum(1 for _ in open_repo(root, TILE, settings).ancestry(branch="main"))
    copy = scratch / "expired"
    shutil.copytree(repo_dir, copy)
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(copy)))
    started = time.perf_counter()
    done = compact(repo, keep=timedelta(0), grace=timedelta(0))
    compaction = time.perf_counter() - started
    return {"repository": tree_bytes(repo_dir), "commits": commits, "seasons": seasons,
            "expired": {**tree_bytes(copy), "snapshots_expired": done.snapshots_expired,
                        "chunks_deleted": done.chunks_deleted, "seconds": compaction}}


def input_bytes(folder: Path, settings: Settings) -> int:
    """Compressed size of the inputs of the season's window: every file of its products."""
    season = settings.season(SEASON)
    return sum(f.stat().st_size for p in products(folder) if season.in_window(parse_name(p.name).acquired)
               for f in p.iterdir() if f.is_file())


def agrees_with_annual(root: str, annual_out: Path, settings: Settings) -> bool:
    """The stored season's maps are the batch's, pixel for pixel."""
    maps = season_maps(root, TILE, SEASON, settings).maps
    same = True
    for kind, values in maps.items():
        (written,) = annual_out.glob(f"*-SNOW-{kind}_*.tif")
        with rasterio.open(written) as ds:
            same &= bool(np.array_equal(ds.read(1), values))
    return same


def _timed(work: Callable[[], object], times: int = 3) -> list[float]:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return seconds


def daily_scd(root: str, settings: Settings) -> np.ndarray:
    """The season's daily snow cube (``open_daily``) summed over its days, chunk by chunk."""
    return np.asarray(open_daily(root, TILE, SEASON, settings=settings).sum("time").values)


def ingest_child(folder: Path, store: Path, annual_out: Path) -> Result:
    settings = get_settings()
    tiny = np.zeros((2, 2), np.uint8)
    FoldState.empty((2, 2), 3).advance(unpack(pack(tiny), 2), 0)  # compiled kernels loaded untimed
    merge_day([tiny, tiny])
    root = str(store)
    order = products(folder)
    late = held_out(order, settings)
    records = ingest_all(root, [p for p in order if p != late], settings)
    in_order = [r for r in records if r["kind"] == "in order"][WARM_UP:]
    decode = decode_times(root, [folder / r["product"] for r in in_order], settings)
    for record, seconds in zip(in_order, decode, strict=True):
        record["decode_seconds"] = seconds
    started, cpu = time.perf_counter(), time.process_time()
    report = ingest(root, str(late), settings)
    out_of_order = {"product": late.name, "seconds": time.perf_counter() - started,
                    "cpu_seconds": time.process_time() - cpu,
                    "outcome": report.outcome, "seasons": report.seasons,
                    "maxrss_gb_before": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9}
    maps = _timed(lambda: season_maps(root, TILE, SEASON, settings))
    layers = _timed(lambda: season_layers(root, TILE, SEASON, settings))
    daily = _timed(lambda: daily_scd(root, settings), 1)
    with tempfile.TemporaryDirectory(prefix="snowdays-bench-", dir=store.parent) as scratch:
        sizes = store_sizes(root, settings, Path(scratch))
    return {"records": records, "out_of_order": out_of_order, "sizes": sizes, "maps_seconds": maps,
            "layers_seconds": layers, "daily_seconds": daily,
            "daily_equals_scd": bool(np.array_equal(daily_scd(root, settings),
                                                    season_maps(root, TILE, SEASON, settings).maps.scd)),
            "pending_max": settings.pending_max,
            "input_bytes": input_bytes(folder, settings),
            "agrees_with_annual": agrees_with_annual(root, annual_out, settings),
            "maxrss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9}


# --- the run --------------------------------------------------------------------------------------

def measure(folder: Path, size: int, keep: Path | None) -> Result:
    cpu = bench_cpu()
    with tempfile.TemporaryDirectory(prefix="snowdays-bench-") as tmp:
        annual.spawn("decode", folder, size, Path(tmp), cpu)  # warm the page cache, not recorded
        batch = annual.spawn("annual", folder, size, Path(tmp) / "annual", cpu)
        store = keep if keep is not None else Path(tmp) / "store"
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
        result = run_child(Path(__file__).resolve(), ["--child", "--folder", str(folder), "--store",
                                                      str(store), "--out", str(Path(tmp) / "annual")],
                           cpu)
    print(f"  ingest: {sum(r['seconds'] for r in result['records']):.0f} s for "
          f"{len(result['records'])} products, max RSS {result['maxrss_gb']:.2f} GB", file=sys.stderr)
    return {"cpu": cpu, "annual": batch, "ingest": result}


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(raw: Result) -> Result:
    ing = raw["ingest"]
    records: list[Result] = ing["records"]
    timed = [r for r in records if "decode_seconds" in r]
    one = [r["seconds"] for r in timed if len(r["seasons"]) == 1]
    two = [r["seconds"] for r in timed if len(r["seasons"]) == 2]
    fold = _median([r["seconds"] for r in timed])
    mean = statistics.fmean([r["seconds"] for r in timed])
    decode = _median([r["decode_seconds"] for r in timed])
    same_day = [r["seconds"] for r in records if r["kind"] == "same day"]
    into_state = [r["seconds"] for r in timed if r["state_written"]]
    sizes = ing["sizes"]
    seasons = sizes["seasons"]
    full = seasons[SEASON]["slots"]
    equivalents = sum(s["slots"] for s in seasons.values()) / full
    repo = sizes["expired"]["bytes"]
    per_season = repo / equivalents
    inputs = ing["input_bytes"]
    figures = {
        "in-order fold (s)": fold,
        "  its CPU time (s)": _median([r["cpu_seconds"] for r in timed]),
        "  one season (s)": _median(one),
        "  two seasons, margins (s)": _median(two),
        "decode, same products (s)": decode,
        "in-order fold / decode": fold / decode,
        "  mean, pending folded in (s)": mean,
        "  mean / decode": mean / decode,
        "  folds writing the state (s)": _median(into_state),
        "  share writing the state": len(into_state) / len(timed),
        "same-day fold (s)": _median(same_day),
        "out-of-order fold (s)": ing["out_of_order"]["seconds"],
        "annual, batch (s)": raw["annual"]["seconds"],
        "out-of-order / annual": ing["out_of_order"]["seconds"] / raw["annual"]["seconds"],
        "whole season ingested (s)": sum(r["seconds"] for r in records),
        "maps, state + pending (s)": _median(ing["maps_seconds"]),
        "maps and quality layers (s)": _median(ing["layers_seconds"]),
        "  layers / maps": _median(ing["layers_seconds"]) / _median(ing["maps_seconds"]),
        "daily cube, summed (s)": _median(ing["daily_seconds"]),
        "  daily / maps": _median(ing["daily_seconds"]) / _median(ing["maps_seconds"]),
        "inputs of the window (MB)": inputs / 1e6,
        "repository, compacted (MB)": repo / 1e6,
        "  seasons held": len(seasons),
        "  repository / seasons held (MB)": repo / len(seasons) / 1e6,
        "  full seasons' worth (slots)": equivalents,
        "store per season (MB)": per_season / 1e6,
        "store per season / inputs": per_season / inputs,
        "  latest snapshot's arrays (MB)": sum(s["live_bytes"] for s in seasons.values()) / 1e6,
        "  with the whole history (MB)": sizes["repository"]["bytes"] / 1e6,
        "peak RSS, ingesting (GB)": ing["maxrss_gb"],
    }
    met = targets_met(figures, TARGETS)
    counts: dict[str, int] = {}
    for r in records:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    held = ", ".join(f"{label} ({s['slots']} products)" for label, s in seasons.items())
    return {"figures": figures, "targets_met": met, "folds": counts, "medians_over": len(timed),
            "agrees_with_annual": ing["agrees_with_annual"],
            "size_note": f"seasons held: {held}; "
                         f"products within {get_settings().margin_days} days of a season boundary "
                         "fold into both seasons, so the repository holds "
                         f"{equivalents:.2f} full seasons' worth of products: the store per season is "
                         "the compacted repository divided by that; "
                         f"pending_max {ing['pending_max']}"}


def table(report: Result) -> str:
    summary = report["summary"]
    lines = figure_lines(summary, TARGETS, 36, ".3g")
    lines.append(f"folds: {summary['folds']}; medians over {summary['medians_over']} in-order products "
                 f"after a warm-up of {WARM_UP}; out-of-order product "
                 f"{report['raw']['ingest']['out_of_order']['product']}")
    lines.append(summary["size_note"])
    lines.append(f"stored maps agree with annual: {summary['agrees_with_annual']}; "
                 f"the daily cube summed equals SCD: {report['raw']['ingest']['daily_equals_scd']}")
    lines.append(conditions(report))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=5490)
    parser.add_argument("--quick", action="store_true", help="size 1098")
    parser.add_argument("--store", type=Path, help="keep the store there (replaced if it exists)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        pin()
        print(json.dumps(ingest_child(args.folder, args.store, args.out)))
        return
    size = 1098 if args.quick else args.size
    folder = ensure_data(size)
    load_before = os.getloadavg()
    raw = measure(folder, size, args.store.resolve() if args.store else None)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "size": size, "machine": machine(),
        "data": dataset(folder), "zarr": zarr.__version__, "icechunk": icechunk.__version__,
        "load_average": {"before": load_before, "after": os.getloadavg()}, "raw": raw}
    report["summary"] = summarise(raw)
    save(report, "state-", table(report))


if __name__ == "__main__":
    main()
