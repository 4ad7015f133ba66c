"""Benchmark of ``snowdays annual`` on a full-size tile and season, on one core and on every core.

Measures, each in a child process pinned to one CPU with every thread pool set to one thread:
the decode floor (decode every input once, in turn), the annual run end to end (discover, fold, write
the four COGs) with ``SNOWDAYS_THREADS=1``, its peak RSS, and the naive daily reference
(snowdays/reference.py) on a sub-block, extrapolated to the tile; then, in a child free to run on every
core, the annual run with ``SNOWDAYS_THREADS=0`` (products decoded in threads while the fold goes).
Both annual runs are given against the floor measured in the same run, beside the load average (the
machine's other work slows every-core runs most). Results go to bench/results/<UTC timestamp>.json and
are printed as a table.

    uv run python bench/annual.py [--size 5490] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

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
    rasters,
    run_child,
    save,
    targets_met,
)
from snowdays.annual import run_annual, write
from snowdays.duration import FoldState
from snowdays.grid import merge_day
from snowdays.reference import cube_maps, season_cube
from snowdays.season import parse_season
from snowdays.settings import get_settings

BLOCK = 64
"""Side of the sub-block the naive reference runs on."""
TARGETS = {"annual / decode floor": ("<=", 2.0), "every core: annual / decode floor": ("<=", 1.0),
           "peak RSS (GB)": ("<=", 3.0),
           "naive / annual": (">=", 20.0)}


# --- measurements, each run in a pinned child process --------------------------------------------

def decode_floor(folder: Path) -> float:
    """Open every snow raster and read band 1 at its native resolution, nothing else."""
    started = time.perf_counter()
    for path in rasters(folder):
        with rasterio.open(path) as ds:
            ds.read(1)
    return time.perf_counter() - started


def annual_run(folder: Path, out: Path) -> float:
    """``snowdays annual`` end to end: discover, fold, write the four COGs (compiled code warm)."""
    tiny = np.zeros((2, 2), np.uint8)
    FoldState.empty((2, 2), 3).advance(tiny, 0)  # load the compiled kernels outside the timing
    merge_day([tiny, tiny])
    settings = get_settings()
    started = time.perf_counter()
    write(run_annual(str(folder), TILE, settings.season(SEASON), settings), out, settings)
    return time.perf_counter() - started


def reference_block(folder: Path, size: int, annual_out: Path) -> Result:
    """The naive reference on a central sub-block (read only that window); checked against annual."""
    side = min(BLOCK, size)
    window = Window((size - side) // 2, (size - side) // 2, side, side)
    season = parse_season(SEASON)
    cube, days, n_days = season_cube(folder, season.start, season.stop, season.margin, window)
    started = time.perf_counter()
    maps = cube_maps(cube, days, n_days)
    seconds = time.perf_counter() - started
    agrees = True
    for kind, expected in maps.items():
        (written,) = annual_out.glob(f"*-SNOW-{kind}_*.tif")
        with rasterio.open(written) as ds:
            agrees &= bool(np.array_equal(ds.read(1, window=window), expected))
    return {"seconds": seconds, "block": [side, side], "days": len(days), "agrees": agrees}


def child(kind: str, folder: Path, size: int, out: Path) -> None:
    """Entry point of a measuring child: pin to one CPU (but for ``every-core``), measure, print one
    JSON line."""
    result: Result
    if kind == "every-core":
        os.environ["SNOWDAYS_THREADS"] = "0"
        result = {"seconds": annual_run(folder, out), "cores": len(os.sched_getaffinity(0))}
    elif kind == "annual":
        pin()
        os.environ["SNOWDAYS_THREADS"] = "1"
        result = {"seconds": annual_run(folder, out)}
    elif kind == "decode":
        pin()
        result = {"seconds": decode_floor(folder)}
    else:
        pin()
        result = reference_block(folder, size, out)
    result["maxrss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    print(json.dumps(result))


def spawn(kind: str, folder: Path, size: int, out: Path, cpu: int) -> Result:
    result = run_child(Path(__file__).resolve(), ["--child", kind, "--folder", str(folder), "--size",
                                                  str(size), "--out", str(out)], cpu)
    if kind == "every-core":
        print(f"  (on {result['cores']} cores)", file=sys.stderr)
    print(f"  {kind}: {result['seconds']:.2f} s, max RSS {result['maxrss_gb']:.2f} GB",
          file=sys.stderr)
    return result


# --- the run -------------------------------------------------------------------------------------

def measure(folder: Path, size: int, repeats: int) -> Result:
    cpu = bench_cpu()
    with tempfile.TemporaryDirectory(prefix="snowdays-bench-") as tmp:
        spawn("decode", folder, size, Path(tmp), cpu)  # warm the page cache, not recorded
        decode = [spawn("decode", folder, size, Path(tmp), cpu) for _ in range(repeats)]
        annual = [spawn("annual", folder, size, Path(tmp) / f"run{k}", cpu) for k in range(repeats)]
        every = [spawn("every-core", folder, size, Path(tmp) / f"every{k}", cpu)
                 for k in range(repeats)]
        reference = spawn("reference", folder, size, Path(tmp) / "run0", cpu)
    return {"cpu": cpu, "decode": decode, "annual": annual, "every_core": every,
            "reference": reference}


def summarise(raw: Result, size: int) -> Result:
    decode = statistics.median(r["seconds"] for r in raw["decode"])
    annual = statistics.median(r["seconds"] for r in raw["annual"])
    every = statistics.median(r["seconds"] for r in raw["every_core"])
    rss = max(r["maxrss_gb"] for r in raw["annual"] + raw["every_core"])
    ref = raw["reference"]
    compute = ref["seconds"] * size * size / (ref["block"][0] * ref["block"][1])
    naive = compute + decode
    figures = {"decode floor (s)": decode, "annual (s)": annual, "every core: annual (s)": every,
               "peak RSS (GB)": rss, "naive compute (s)": compute,
               "naive incl. decode floor (s)": naive, "annual / decode floor": annual / decode,
               "every core: annual / decode floor": every / decode, "naive / annual": naive / annual}
    return {"figures": figures, "targets_met": targets_met(figures, TARGETS),
            "reference_agrees": ref["agrees"],
            "naive_note": f"extrapolated from a {ref['block'][0]}x{ref['block'][1]} sub-block "
                          f"by pixel count, plus the decode floor as its reading cost"}


def table(report: Result) -> str:
    lines = figure_lines(report["summary"], TARGETS, 32, ".2f")
    lines.append(f"naive: {report['summary']['naive_note']}; "
                 f"agrees with annual on the block: {report['summary']['reference_agrees']}")
    cores = report["raw"]["every_core"][0]["cores"]
    lines.append(f"{conditions(report)}; every-core runs on {cores} cores, SNOWDAYS_THREADS=0")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=5490)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="size 1098, 1 repeat")
    parser.add_argument("--child", choices=["decode", "annual", "every-core", "reference"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.folder, args.size, args.out)
    size, repeats = (1098, 1) if args.quick else (args.size, args.repeats)
    folder = ensure_data(size)
    load_before = os.getloadavg()
    raw = measure(folder, size, repeats)
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "size": size,
              "repeats": repeats, "machine": machine(), "data": dataset(folder),
              "load_average": {"before": load_before, "after": os.getloadavg()}, "raw": raw,
              "summary": summarise(raw, size)}
    save(report, "", table(report))


if __name__ == "__main__":
    main()
