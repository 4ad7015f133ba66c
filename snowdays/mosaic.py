"""Regional mosaics of the published tile maps: SCD, SOD and SMOD of every tile of a region, across UTM
zones, in one COG per map (EPSG:3035 at 20 m by default), with a display variant of SCD; or, in the
same way, their anomalies (``snowdays.mosaic_kinds``: what each kind reads and writes).

The input is the tile maps as published (the COGs of the tiles' STAC items): a block reads only the
window of each tile it needs, from a folder or the bucket, and the items' checksums say when a tile
changed. The mosaic is made block by block on a lattice of its CRS (``mosaic_block`` pixels a side):
each block reprojects the tiles that meet it with nearest neighbour (these are day counts and days)
into a small GeoTIFF of its own; the blocks are then copied into the COGs through a VRT.

Where tiles overlap, each pixel takes the values of the tile with the most clear observations (NOBS)
there; on a tie, the first tile of the region. A pixel that no tile saw (NOBS 0 everywhere), or outside
a region's polygon, is no data (65535; NaN in an anomaly). The display variant leaves out, as no data,
pixels with fewer than ``display_min_days`` snow days.

Beside the COGs, ``manifest.json`` records each block's inputs (tiles and their maps' checksums, as-of
dates) and a signature; a run rebuilds only the blocks whose signature changed, so a tile update
rewrites the blocks that tile touches, then the COGs. A block file covers its whole cell, also past the
region's edge, so that blocks stay put when the region grows.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.features import geometry_mask
from rasterio.warp import reproject, transform_bounds, transform_geom
from rasterio.windows import Window
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from snowdays.errors import StorageError, UsageError
from snowdays.grid import Grid
from snowdays.mosaic_files import (
    NODATA,
    block_vrt,
    read_manifest,
    remove_others,
    write_cog,
    write_json,
    write_tif,
)
from snowdays.mosaic_kinds import MAPS as MAPS_KIND
from snowdays.mosaic_kinds import MosaicKind
from snowdays.regions import Region
from snowdays.settings import Settings
from snowdays.storage import filesystem, gdal_env, gdal_path, is_s3

U16 = npt.NDArray[np.uint16]
MAPS, FILES, INPUTS = MAPS_KIND.maps, MAPS_KIND.files, MAPS_KIND.inputs
"""The season maps' mosaic: its maps (asset keys, bands of a block file), their files, and the tile
maps a block reads (asset keys of the tile items)."""

Window4 = tuple[int, int, int, int]
Mapper = Callable[[Callable[[str], str], list[str]], Iterable[str]]
"""Runs one step over many blocks or maps (``map`` here; tasks on the Dask cluster in a flow)."""


@dataclass(frozen=True)
class TileInput:
    """One published tile map set: where its four COGs are, and what they hold."""

    tile: str
    as_of: str
    hrefs: tuple[str, ...]
    """The kind's inputs (SCD, SOD, SMOD and NOBS; or the anomaly's): absolute paths or ``s3://``
    URLs."""
    checksums: tuple[str, ...]
    grid: Grid


@dataclass(frozen=True)
class Block:
    id: str
    """``x{i}y{j}``: the cell of the CRS's block lattice."""
    bounds: tuple[float, float, float, float]
    """The whole cell (a block file covers it all, so that it stays put when the region changes)."""
    window: Window4
    """Column, row, width and height of the part of the cell in the mosaic's grid."""
    offset: tuple[int, int]
    """Column and row of that part in the block file."""
    tiles: tuple[str, ...]
    """The tiles it reads, in the region's order."""
    signature: str


@dataclass(frozen=True)
class Plan:
    region: Region
    season: str
    folder: str
    """Where the mosaic's COGs, manifest and blocks are: ``{catalog}/mosaics/{region}/{season}``."""
    grid: Grid
    inputs: dict[str, TileInput]
    missing: tuple[str, ...]
    """Tiles of the region with no published maps for the season."""
    blocks: dict[str, Block]
    stale: tuple[str, ...]
    """Blocks to (re)build: new, or whose inputs changed."""
    min_days: int
    outdated: bool = field(default=False)
    """The COGs must be made again even if no block is stale: one is missing, or the grid changed."""
    kind: MosaicKind = field(default=MAPS_KIND)


@dataclass(frozen=True)
class MosaicReport:
    plan: Plan
    rebuilt: list[str]
    """Ids of the blocks written by this run."""
    written: dict[str, str]
    """Map key -> the COG written (empty: the mosaic was up to date)."""


def mosaic_folder(catalog: str, region: str, season: str, kind: MosaicKind = MAPS_KIND) -> str:
    """``{catalog}/mosaics/{region}/{season}`` (an anomaly: its ``anomaly/`` folder), absolute."""
    root = catalog.rstrip("/") if is_s3(catalog) else str(Path(catalog).resolve())
    return posixpath.join(f"{root}/mosaics/{region}/{season}", kind.subfolder).rstrip("/")


def make_mosaic(region: Region, season: str, inputs: Sequence[TileInput], missing: Sequence[str],
                catalog: str, settings: Settings, mapper: Mapper = map,
                kind: MosaicKind = MAPS_KIND) -> MosaicReport:
    """Build (or bring up to date) the mosaic of ``region`` from the tiles' published maps."""
    plan = plan_mosaic(region, season, inputs, missing, catalog, settings, kind)
    rebuilt = list(mapper(partial(build_block, plan, settings), list(plan.stale)))
    if not rebuilt and not plan.outdated:
        return MosaicReport(plan, [], {})
    written = dict(zip(kind.maps, mapper(partial(assemble, plan, settings), list(kind.maps)), strict=True))
    finish(plan, settings)
    return MosaicReport(plan, rebuilt, written)


def plan_mosaic(region: Region, season: str, inputs: Sequence[TileInput], missing: Sequence[str],
                catalog: str, settings: Settings, kind: MosaicKind = MAPS_KIND) -> Plan:
    """The mosaic's grid, its blocks with their inputs, and those that must be built."""
    if not inputs:
        raise UsageError(f"no tile of the region {region.name} has maps published for {season} in "
                         f"{catalog} (publish them first: snowdays publish)")
    crs = settings.mosaic_crs
    outlines = {t.tile: outline(t.grid, crs) for t in inputs}
    area = shape(transform_geom("EPSG:4326", crs, region.polygon)) if region.polygon else None
    extent = area.bounds if area is not None else _union_bounds(list(outlines.values()))
    grid = mosaic_grid(extent, crs, settings.mosaic_pixel)
    common = {"rule": kind.rule, "crs": crs, "pixel": settings.mosaic_pixel,
              "min_days": settings.display_min_days, "area": area.wkt if area is not None else None}
    by_tile = inputs_by(inputs)
    blocks = {}
    for cell in lattice(grid, settings.mosaic_block):
        square = box(*cell.bounds)
        if area is not None and not area.intersects(square):
            continue
        tiles = tuple(t.tile for t in inputs if outlines[t.tile].intersects(square))
        if tiles:
            sources = [[t, by_tile[t].checksums] for t in tiles]
            blocks[cell.id] = replace(cell, tiles=tiles, signature=_digest(
                {**common, "bounds": cell.bounds, "inputs": sources}))  # not the window: it moves
    folder = mosaic_folder(catalog, region.name, season, kind)
    manifest = read_manifest(folder, settings)
    before = manifest.get("blocks", {})
    present = _present(folder, settings)
    stale = tuple(b.id for b in blocks.values()
                  if before.get(b.id, {}).get("signature") != b.signature
                  or f"{b.id}.tif" not in present["blocks"])
    moved = [manifest.get(k) for k in ("transform", "width", "height")] != [list(grid.transform),
                                                                           grid.width, grid.height]
    return Plan(region, season, folder, grid, by_tile, tuple(missing), blocks, stale,
                settings.display_min_days, moved or not set(kind.files.values()) <= present["maps"], kind)


def inputs_by(inputs: Sequence[TileInput]) -> dict[str, TileInput]:
    return {t.tile: t for t in inputs}


def outline(grid: Grid, crs: str, per_side: int = 16) -> BaseGeometry:
    """A tile grid's outline in ``crs``, densified so that its curved sides stay close."""
    (x0, y0), (x1, y1) = grid.affine @ (0, 0), grid.affine @ (grid.width, grid.height)
    steps = [k / per_side for k in range(per_side)]
    ring = ([(x0 + (x1 - x0) * f, y0) for f in steps] + [(x1, y0 + (y1 - y0) * f) for f in steps]
            + [(x1 - (x1 - x0) * f, y1) for f in steps] + [(x0, y1 - (y1 - y0) * f) for f in steps])
    return shape(transform_geom(grid.crs, crs, {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}))


def _union_bounds(shapes: list[BaseGeometry]) -> tuple[float, float, float, float]:
    bounds = np.array([s.bounds for s in shapes])
    return (bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max())


def mosaic_grid(bounds: Sequence[float], crs: str, pixel: float) -> Grid:
    """The grid over ``bounds``, its corners on the CRS's lattice of ``pixel``."""
    x0, y0 = math.floor(bounds[0] / pixel), math.floor(bounds[1] / pixel)
    x1, y1 = math.ceil(bounds[2] / pixel), math.ceil(bounds[3] / pixel)
    return Grid(crs, (pixel, 0.0, x0 * pixel, 0.0, -pixel, y1 * pixel), x1 - x0, y1 - y0)


def lattice(grid: Grid, size: int) -> list[Block]:
    """The cells of the CRS's lattice of ``size`` pixels that meet the grid (no tiles yet)."""
    pixel = grid.transform[0]
    left, top = round(grid.transform[2] / pixel), round(grid.transform[5] / pixel)  # in pixels
    right, bottom = left + grid.width, top - grid.height
    cells = []
    for j in range(math.floor(bottom / size), math.ceil(top / size)):
        for i in range(math.floor(left / size), math.ceil(right / size)):
            x0, x1, y0, y1 = i * size, (i + 1) * size, j * size, (j + 1) * size  # y: northing
            c0, c1, r0, r1 = max(x0, left), min(x1, right), min(y1, top), max(y0, bottom)
            cells.append(Block(f"x{i}y{j}", (x0 * pixel, y0 * pixel, x1 * pixel, y1 * pixel),
                               (c0 - left, top - r0, c1 - c0, r0 - r1), (c0 - x0, y1 - r0), (), ""))
    return cells


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _present(folder: str, settings: Settings) -> dict[str, set[str]]:
    fs = filesystem(folder, settings.s3)

    def names(path: str) -> set[str]:
        return {posixpath.basename(p) for p in fs.ls(path, detail=False)} if fs.isdir(path) else set()

    return {"maps": names(folder), "blocks": names(f"{folder}/blocks")}


def build_block(plan: Plan, settings: Settings, block_id: str) -> str:
    """Reproject the tiles meeting the block into it and write its file; returns its id. Each tile's
    NOBS first (where it wins), then its value layers one at a time, there."""
    block, kind = plan.blocks[block_id], plan.kind
    pixel = plan.grid.transform[0]
    transform = Affine(pixel, 0.0, block.bounds[0], 0.0, -pixel, block.bounds[3])
    shape_ = (round((block.bounds[3] - block.bounds[1]) / pixel),
              round((block.bounds[2] - block.bounds[0]) / pixel))
    target = (transform, shape_, plan.grid.crs)
    maps = np.full((len(kind.values), *shape_), kind.nodata, kind.dtype)
    best = np.zeros(shape_, np.uint16)
    with rasterio.Env(**gdal_env(settings.s3)):
        for name in block.tiles:
            tile = plan.inputs[name]
            window = source_window(tile, *target)
            if window is None:
                continue
            nobs = warped(tile, tile.hrefs[-1], window, target, "uint16", NODATA)
            wins = (nobs != NODATA) & (nobs > best)  # strictly more: the first wins a tie
            best[wins] = nobs[wins]
            for band, href in enumerate(tile.hrefs[:-1] if wins.any() else ()):
                maps[band][wins] = warped(tile, href, window, target, kind.dtype, kind.nodata)[wins]
            del nobs, wins
    if plan.region.polygon is not None:
        outside = geometry_mask([transform_geom("EPSG:4326", plan.grid.crs, plan.region.polygon)],
                                shape_, transform)
        maps[:, outside] = kind.nodata
    bands = list(maps)
    if kind.display:
        bands.append(np.where(maps[0] >= plan.min_days, maps[0], kind.nodata))  # no data (65535) stays
    write_tif(f"{plan.folder}/blocks/{block_id}.tif", bands, transform, plan.grid.crs, settings,
              kind.nodata)
    return block_id


def source_window(tile: TileInput, transform: Affine, shape_: tuple[int, int], crs: str) -> Window | None:
    """The window of the tile's grid that the block's grid needs (a pixel more around); None: the
    tile misses the block."""
    height, width = shape_
    corners = (*(transform @ (0, height)), *(transform @ (width, 0)))
    left, bottom, right, top = transform_bounds(crs, tile.grid.crs, *corners, densify_pts=21)
    (x0, y0), (x1, y1) = ~tile.grid.affine @ (left, top), ~tile.grid.affine @ (right, bottom)
    c0, r0 = max(math.floor(min(x0, x1)) - 1, 0), max(math.floor(min(y0, y1)) - 1, 0)  # a pixel more
    c1 = min(math.ceil(max(x0, x1)) + 1, tile.grid.width)
    r1 = min(math.ceil(max(y0, y1)) + 1, tile.grid.height)
    if c0 >= c1 or r0 >= r1:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def warped(tile: TileInput, href: str, window: Window, target: tuple[Affine, tuple[int, int], str],
           dtype: str, nodata: float) -> npt.NDArray[Any]:
    """One of the tile's layers (its window) on the block's grid (``target``: transform, shape and
    CRS), as ``dtype`` (nearest neighbour, GDAL's exact transformer); ``nodata`` where the tile does
    not reach."""
    transform, shape_, crs = target
    source = _read(tile.tile, href, window, dtype)
    out = np.full(shape_, nodata, dtype)
    origin = Affine.translation(window.col_off, window.row_off)
    reproject(source, out, src_transform=tile.grid.affine @ origin, src_crs=tile.grid.crs,
              dst_transform=transform, dst_crs=crs, resampling=Resampling.nearest, init_dest_nodata=False,
              tolerance=0)
    return out


def _read(tile: str, href: str, window: Window, dtype: str) -> npt.NDArray[Any]:
    try:
        with rasterio.open(gdal_path(href)) as ds:
            return np.asarray(ds.read(1, window=window), dtype=dtype)
    except RasterioIOError as e:  # missing, cut short, or the bucket did not answer: try again later
        raise StorageError(f"tile {tile}: could not read its published map {href}: {e}") from e


def assemble(plan: Plan, settings: Settings, key: str) -> str:
    """Copy band ``key`` of every block into the map's COG (with overviews); returns where."""
    kind = plan.kind
    target = f"{plan.folder}/{kind.files[key]}"
    with tempfile.TemporaryDirectory(prefix="snowdays-mosaic-") as tmp:
        vrt = Path(tmp) / f"{key}.vrt"
        sources = [(f"{plan.folder}/blocks/{b.id}.tif", b.offset, b.window) for b in plan.blocks.values()]
        vrt.write_text(block_vrt(plan.grid, sources, kind.maps.index(key) + 1, key, kind.dtype, kind.nodata))
        write_cog(vrt, key, target, settings)
    return target


def finish(plan: Plan, settings: Settings) -> None:
    """Write the manifest (the provenance of every block) and drop block files of no block."""
    write_json(f"{plan.folder}/manifest.json", manifest(plan), settings)
    remove_others(f"{plan.folder}/blocks", {f"{b}.tif" for b in plan.blocks}, settings)


def manifest(plan: Plan) -> dict[str, Any]:
    g = plan.grid
    return {
        "region": plan.region.name, "season": plan.season, "rule": plan.kind.rule, "crs": g.crs,
        "transform": list(g.transform), "width": g.width, "height": g.height,
        "min_days": plan.min_days, "missing": list(plan.missing),
        "tiles": {t.tile: {"as_of": t.as_of, "maps": dict(zip(plan.kind.inputs, t.checksums, strict=True))}
                  for t in plan.inputs.values()},
        "blocks": {b.id: {"window": list(b.window), "signature": b.signature,
                          "tiles": {t: plan.inputs[t].as_of for t in b.tiles}}
                   for b in plan.blocks.values()},
    }
