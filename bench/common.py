"""What the benchmarks share: the cached full-size season, pinned one-core children, the machine."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numba
import numpy as np
import rasterio

from snowdays.sample import make_season
from snowdays.season import parse_season

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
TILE, SEASON = "T31TCH", "2017-2018"
ONE_THREAD = dict.fromkeys(("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                            "MKL_NUM_THREADS", "GDAL_NUM_THREADS"), "1")
"""Set in the children's environment, so before any import there."""
Result = dict[str, Any]


def ensure_data(size: int) -> Path:
    """The cached season at ``size``; (re)generated unless its completion marker is there."""
    folder = DATA / f"{TILE}-{SEASON}-{size}"
    marker = DATA / f"{folder.name}.complete"  # beside, not in: every entry in the folder is a product
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    DATA.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"\rgenerating {folder.name}: {done}/{total} products, "
              f"{time.perf_counter() - started:.0f} s", end="", file=sys.stderr, flush=True)

    make_season(folder, TILE, parse_season(SEASON), size=size, layout="muscate", as_zip=False,
                seed=0, progress=progress)
    print(file=sys.stderr)
    marker.write_text(f"generated in {time.perf_counter() - started:.0f} s\n")
    return folder


def rasters(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*_SNW_*.tif"))


def pin() -> int:
    """Pin this (child) process to the CPU its parent chose; returns it."""
    cpu = int(os.environ["BENCH_CPU"])
    os.sched_setaffinity(0, {cpu})
    return cpu


def bench_cpu() -> int:
    """The CPU the children run on (the last one this process may use)."""
    return max(os.sched_getaffinity(0))


def run_child(script: Path, args: list[str], cpu: int) -> Result:
    """Run ``script`` as a measuring child on ``cpu``, one thread per pool; its last stdout line.

    The child's stderr (progress, errors) goes straight to ours."""
    env = os.environ | ONE_THREAD | {"BENCH_CPU": str(cpu)}
    command = [sys.executable, str(script), *args]
    done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{script.name} {' '.join(args)} failed (its error is above)")
    result: Result = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def machine() -> Result:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu_count": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "rasterio": rasterio.__version__,
            "gdal": rasterio.__gdal_version__, "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def dataset(folder: Path) -> Result:
    paths = rasters(folder)
    return {"folder": str(folder.relative_to(ROOT)), "products": len(paths),
            "landsat": sum("_SNW_XS" in p.name for p in paths),
            "bytes": sum(p.stat().st_size for p in paths)}


Targets = dict[str, tuple[str, float]]


def targets_met(figures: dict[str, float], targets: Targets) -> dict[str, bool]:
    return {name: (figures[name] <= bound if op == "<=" else figures[name] >= bound)
            for name, (op, bound) in targets.items()}


def figure_lines(summary: Result, targets: Targets, width: int, digits: str) -> list[str]:
    """The figures, one a line, each with its target and whether it was met."""
    figures, met = summary["figures"], summary["targets_met"]
    lines = [f"{'figure':<{width}}{'value':>10}   target"]
    for name, value in figures.items():
        op, bound = targets.get(name, ("", None))
        verdict = f"{op} {bound:g}  {'met' if met[name] else 'MISSED'}" if bound else ""
        lines.append(f"{name:<{width}}{value:>10{digits}}   {verdict}")
    return lines


def conditions(report: Result) -> str:
    load = report["load_average"]
    return (f"one core ({report['raw']['cpu']}) of {report['machine']['cpu_count']}; load average "
            f"before {load['before'][0]:.2f}, after {load['after'][0]:.2f}")


def save(report: Result, prefix: str, table: str) -> None:
    """Write the report to bench/results/<prefix><UTC timestamp>.json; print its table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{prefix}{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(table)
    print(f"results: {path.relative_to(ROOT)}")
