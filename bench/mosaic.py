"""Mosaic benchmark: the peak memory and time of one block task and of one map's COG assembly, on four
full-size tiles across the zone 31/32 boundary (T31TGK, T31TGL, T32TLQ, T32TLR; synthetic maps,
5490 x 5490 pixels each), and what they give for a 934-million-pixel region.

A block task's memory does not grow with the region (it holds one block and the windows of the tiles
meeting it), nor does the assembly's (GDAL's cache, ``mosaic_cache_mb``, and one block at a time): the
region only brings more blocks, so the time grows with it and the memory does not.

    python bench/mosaic.py            # the parent: data once in bench/data/, then the children
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.common import DATA, ROOT, Result, bench_cpu, machine, run_child, save
from snowdays.duration import Maps
from snowdays.mosaic import (
    INPUTS,
    Plan,
    TileInput,
    assemble,
    build_block,
    plan_mosaic,
)
from snowdays.outputs import write_cog
from snowdays.regions import Region
from snowdays.settings import Settings, get_settings
from snowdays.tiling import tile_grid

TILES = ("T31TGK", "T31TGL", "T32TLQ", "T32TLR")
REGION_PIXELS = 934_343_100
TILE_DATA = DATA / "mosaic-tiles"
CATALOG = DATA / "mosaic-catalog"


def settings() -> Settings:
    return get_settings(mosaic_block=4096)


def ensure_tiles() -> list[TileInput]:
    """Four tiles' SCD, SOD, SMOD and NOBS as COGs (made once): smooth fields with noise."""
    inputs = []
    for k, tile in enumerate(TILES):
        grid = tile_grid(tile)
        folder = TILE_DATA / tile
        if not (folder / ".complete").exists():
            folder.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng(k)
            coarse = rng.random((12, 12)) * 250
            rows = np.interp(np.linspace(0, 11, grid.height), np.arange(12), np.arange(12))
            field = np.array([np.interp(rows, np.arange(12), coarse[:, j]) for j in range(12)]).T
            smooth = np.array([np.interp(np.linspace(0, 11, grid.width), np.arange(12), row)
                               for row in field])
            scd = np.clip(smooth + rng.normal(0, 8, grid.shape), 0, 365).astype(np.uint16)
            sod = np.where(scd > 10, 60 + rng.integers(0, 30, grid.shape), 0).astype(np.uint16)
            maps = Maps(scd, sod, (sod + scd).astype(np.uint16),
                        rng.integers(20, 90, grid.shape).astype(np.uint16))
            for kind, array in maps.items():
                write_cog(array, grid, folder / f"{kind}.tif", kind, settings())
            (folder / ".complete").touch()
        hrefs = tuple(str(folder / f"{kind}.tif") for kind in INPUTS)
        sums = tuple(hashlib.sha256(Path(h).read_bytes()).hexdigest() for h in hrefs)
        inputs.append(TileInput(tile, "2018-08-31", hrefs, sums, grid))
    return inputs


def plan() -> Plan:
    return plan_mosaic(Region("bench", TILES), "2017-2018", ensure_tiles(), [], str(CATALOG), settings())


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(step: str, item: str) -> Result:
    """Run one block (``block ID``) or one map's assembly (``assemble KEY``) here; peak memory before
    and after it (the process's high-water mark: imports and plan, then the step)."""
    chosen = plan()
    before = peak_mb()
    started = time.perf_counter()
    if step == "block":
        build_block(chosen, settings(), item)
    else:
        assemble(chosen, settings(), item)
    return {"seconds": time.perf_counter() - started, "peak_mb": peak_mb(), "baseline_mb": before}


def summary(blocks: dict[str, Result], assembly: dict[str, Result], mosaic_pixels: int) -> Result:
    """The figures, extrapolated from the slowest block (the one with the most tiles to read: a
    region's inner blocks are like it) and the slowest map's assembly."""
    block = 4096 * 4096
    slowest = max(b["seconds"] for b in blocks.values())
    assembly_peak = max(a["peak_mb"] for a in assembly.values())
    assemble_per_pixel = max(a["seconds"] for a in assembly.values()) / mosaic_pixels
    block_peak = max(b["peak_mb"] for b in blocks.values())
    return {
        "block peak MB (4096 x 4096 px)": block_peak,
        "block peak above baseline MB": max(b["peak_mb"] - b["baseline_mb"] for b in blocks.values()),
        "assembly peak MB (one map)": assembly_peak,
        "slowest block seconds": slowest,
        "assembly seconds per Mpx (one map)": assemble_per_pixel * 1e6,
        "934 Mpx: blocks (4096 px)": REGION_PIXELS / block,
        "934 Mpx: block CPU minutes": REGION_PIXELS / block * slowest / 60,
        "934 Mpx: assembly minutes (4 maps)": 4 * REGION_PIXELS * assemble_per_pixel / 60,
        "934 Mpx: peak MB per worker": max(block_peak, assembly_peak),
    }


def main() -> None:
    started_at = datetime.now(UTC)
    chosen = plan()
    cpu = bench_cpu()
    load_before = os.getloadavg()
    script = Path(__file__)
    blocks = {}
    for block in chosen.blocks.values():
        blocks[block.id] = run_child(script, ["block", block.id], cpu) | {
            "tiles": list(block.tiles), "pixels": 4096 * 4096}  # a block file covers its whole cell
        print(f"block {block.id}: {blocks[block.id]}", file=sys.stderr)
    assembly = {key: run_child(script, ["assemble", key], cpu) for key in ("scd", "smod")}
    figures = summary(blocks, assembly, chosen.grid.width * chosen.grid.height)
    report = {"when": started_at.isoformat(timespec="seconds"), "machine": machine(),
              "tiles": list(TILES), "mosaic": {"width": chosen.grid.width, "height": chosen.grid.height,
                                               "blocks": len(chosen.blocks)},
              "load_average": {"before": load_before, "after": os.getloadavg()},
              "raw": {"cpu": cpu, "blocks": blocks, "assembly": assembly}, "figures": figures}
    table = "\n".join([f"mosaic of {', '.join(TILES)}: {chosen.grid.width} x {chosen.grid.height} px, "
                       f"{len(chosen.blocks)} blocks; one core ({cpu})",
                       *(f"{name:<40}{value:>10.1f}" for name, value in figures.items())])
    save(report, "mosaic-", table)


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(json.dumps(child(sys.argv[1], sys.argv[2])))
    else:
        os.chdir(ROOT)
        main()
