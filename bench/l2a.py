"""Benchmark of LIS snow detection on a full-size MAJA L2A product, on one core.

Generates once in bench/data/ a Sentinel-2 L2A product of a winter acquisition of the sample scene
(SWIR and masks 5490 x 5490 at 20 m, green and red 10980 x 10980 at 10 m) and the tile's DEM. Then, in
a child process pinned to one CPU with every thread pool set to one thread, reports medians of:
opening (every check), decoding the layers (green and red warped to 20 m, cubic), reading the DEM,
the detection kernels (pass 1 alone; pass 1, snowline and pass 2), the product read end to end, the
naive numpy reference of the detection (snowdays/lis_reference.py, once), and the peak RSS before it.
Results go to bench/results/l2a-<UTC timestamp>.json and are printed as a table.

    uv run python bench/l2a.py [--size 5490] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    DATA,
    TILE,
    Result,
    bench_cpu,
    conditions,
    figure_lines,
    machine,
    pin,
    run_child,
    save,
    targets_met,
)
from snowdays import lis_reference as lis
from snowdays.detection import Reflectances, detect
from snowdays.l2a import read, read_dem
from snowdays.layouts import Pass, encode, product_name, write_product
from snowdays.products import open_product
from snowdays.sample import Scene, write_dem
from snowdays.season import parse_season
from snowdays.settings import Settings, get_settings

SEASON = parse_season("2017-2018")
WHEN = datetime(2018, 1, 15, 10, 36, 29, 617000, tzinfo=UTC)
TARGETS = {"detection, both passes (s)": ("<=", 1.0), "peak RSS (GB)": ("<=", 2.5)}


def ensure_product(size: int) -> tuple[Path, Path]:
    """The cached L2A product and DEM folder at ``size``; generated unless the marker is there."""
    folder, dem = DATA / f"l2a-{TILE}-{size}", DATA / f"dem-{TILE}-{size}"
    marker = DATA / f"{folder.name}.complete"
    p = Pass(WHEN, "SENTINEL2A", "full")
    name = product_name(p, TILE, "l2a")
    assert name is not None
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        print(f"generating {folder.name}", file=sys.stderr)
        scene = Scene(size, seed=0)
        fsc = scene.observe(p, SEASON, scene.ground(20.0), 20.0)
        write_product(folder, "l2a", name, p, TILE, encode(fsc, "l2a", name), 20.0, False)
        write_dem(dem / f"{TILE}.tif", TILE, size, seed=0)
        marker.write_text(f"generated in {time.perf_counter() - started:.0f} s\n")
    return folder / name, dem


def timed(work: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def child(product_path: Path, dem_folder: Path, repeats: int) -> None:
    """Entry point of the measuring child: pin to one CPU, measure, print one JSON line."""
    cpu = pin()
    settings = get_settings(dem=str(dem_folder))
    opened, product = timed(lambda: open_product(str(product_path), settings), repeats)
    grid, layers = product.grid, product.layers
    decoded, r = timed(lambda: read(product.id.name, layers, grid, settings), repeats)
    dem_read, dem = timed(lambda: read_dem(TILE, grid, settings), repeats)
    warm(settings)
    pass1, _ = timed(lambda: detect(r, None, settings.lis), repeats)
    both, found = timed(lambda: detect(r, dem, settings.lis), repeats)
    whole, codes = timed(lambda: product.read(grid, settings), repeats)
    maxrss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # before the naive one
    started = time.perf_counter()
    naive = lis.detect(r.green, r.red, r.swir, r.clouds, r.edges, r.quantification, dem, settings.lis)
    naive_seconds = time.perf_counter() - started
    counts = {int(k): int(v) for k, v in zip(*np.unique(found.codes, return_counts=True), strict=True)}
    print(json.dumps({
        "cpu": cpu, "open": opened, "decode": decoded, "dem": dem_read, "pass1": pass1,
        "detection": both, "product_read": whole, "naive": naive_seconds,
        "snowline": found.snowline, "pass2": found.pass2, "codes": counts,
        "agrees": bool(np.array_equal(naive.codes, found.codes) and naive.zs == found.snowline
                       and np.array_equal(codes, found.codes)),
        "maxrss_gb": maxrss_gb,
        "naive_maxrss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9}))


def warm(settings: Settings) -> None:
    """Load the compiled kernels outside the timing (detection of a 2 x 2 acquisition)."""
    tiny, mask = np.zeros((2, 2), np.int16), np.zeros((2, 2), np.uint8)
    detect(Reflectances(tiny, tiny, tiny, mask, mask, 10000.0), tiny, settings.lis)


def summarise(raw: Result) -> Result:
    def median(key: str) -> float:
        return float(statistics.median(raw[key]))

    figures = {"open (s)": median("open"), "decode layers (s)": median("decode"),
               "read DEM (s)": median("dem"), "detection, pass 1 (s)": median("pass1"),
               "detection, both passes (s)": median("detection"),
               "product read end to end (s)": median("product_read"),
               "naive numpy detection (s)": raw["naive"],
               "naive / detection": raw["naive"] / median("detection"),
               "peak RSS (GB)": raw["maxrss_gb"]}
    return {"figures": figures, "targets_met": targets_met(figures, TARGETS),
            "snowline": raw["snowline"], "pass2": raw["pass2"], "codes": raw["codes"],
            "agrees_with_naive": raw["agrees"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=5490)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--product", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dem", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.product, args.dem, args.repeats)
    product, dem = ensure_product(args.size)
    load_before = os.getloadavg()
    raw = run_child(Path(__file__).resolve(), ["--child", "--product", str(product), "--dem", str(dem),
                                               "--repeats", str(args.repeats)], bench_cpu())
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "size": args.size,
              "repeats": args.repeats, "machine": machine(), "product": product.name,
              "bytes": sum(f.stat().st_size for f in product.rglob("*") if f.is_file()),
              "load_average": {"before": load_before, "after": os.getloadavg()}, "raw": raw,
              "summary": summarise(raw)}
    lines = figure_lines(report["summary"], TARGETS, 32, ".2f")
    lines.append(f"snowline {raw['snowline']} m, pass 2 {raw['pass2']}, codes {raw['codes']}, "
                 f"agrees with the naive reference: {raw['agrees']}")
    lines.append(conditions(report))
    save(report, "l2a-", "\n".join(lines))


if __name__ == "__main__":
    main()
