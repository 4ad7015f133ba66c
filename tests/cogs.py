"""What makes a file a Cloud-Optimized GeoTIFF, checked with GDAL on the written file (the rules of
GDAL's ``validate_cloud_optimized_geotiff.py``), and the colours its colour table gives."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, Resampling

from snowdays.colours import BLOCK

VIEWER_COLOURS = Path(__file__).resolve().parent.parent / "web" / "src" / "colours.js"


def assert_cog(path: Path | str) -> None:
    """Written in GDAL's COG layout, tiled, with overviews where larger than a tile; the IFDs of the
    image and its overviews first, in that order; the overviews' tiles before the image's, the
    smallest first."""
    with rasterio.open(path) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG", path
        count = len(ds.overviews(1))
        assert ds.block_shapes[0] == (BLOCK, BLOCK), f"{path}: not in tiles of {BLOCK}"
        assert count or max(ds.width, ds.height) <= BLOCK, f"{path}: no overviews"
        levels = [None, *range(count)]  # the image, then its overviews
        ifds = [int(ds.get_tag_item("IFD_OFFSET", "TIFF", bidx=1, ovr=k)) for k in levels]
        data = [int(ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1, ovr=k)) for k in levels]
    assert ifds == sorted(ifds), f"{path}: the IFDs are not in order ({ifds})"
    assert max(ifds) < min(data), f"{path}: data before the last IFD"
    assert data == sorted(data, reverse=True), f"{path}: the overviews' data is not smallest first ({data})"
    with Path(path).open("rb") as f:
        assert b"LAYOUT=IFDS_BEFORE_DATA" in f.read(400), f"{path}: no COG ghost header"


def viewer_stops(name: str = "SCD_STOPS") -> list[tuple[float, str]]:
    """A scale as the viewer's ``colours.js`` writes it."""
    text = VIEWER_COLOURS.read_text()
    body = re.search(rf"export const {name} = \[(.*?)\];", text, re.S)
    assert body, f"no {name} in {VIEWER_COLOURS}"
    return [(float(v), c) for v, c in re.findall(r"\[(-?[\d.]+), '(#[0-9a-f]{6})'\]", body.group(1))]


def on_scale(stops: list[tuple[float, str]], value: float) -> tuple[float, float, float]:
    """The colour of ``value``, linear between the stops and clamped at the ends, one value at a time."""
    if value <= stops[0][0]:
        return _rgb(stops[0][1])
    for (v0, c0), (v1, c1) in itertools.pairwise(stops):
        if value <= v1:
            t = (value - v0) / (v1 - v0)
            a, b = _rgb(c0), _rgb(c1)
            return a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), a[2] + t * (b[2] - a[2])
    return _rgb(stops[-1][1])


def _rgb(colour: str) -> tuple[float, float, float]:
    n = int(colour[1:], 16)
    return float(n >> 16 & 255), float(n >> 8 & 255), float(n & 255)


def assert_colour_table(path: Path | str, stops: list[tuple[float, str]], values: Any) -> None:
    """The file's band is paletted, its table gives ``values`` their colour on ``stops`` (within
    rounding), and its nodata value, if any, is transparent."""
    with rasterio.open(path) as ds:
        assert ds.colorinterp == (ColorInterp.palette,), path
        table, nodata = ds.colormap(1), ds.nodata
    assert len(table) == 1 << 16
    for value in np.unique(np.asarray(values)).tolist():
        if value == nodata:
            continue
        got, want = table[int(value)], on_scale(stops, value)
        assert got[3] == 255 and np.abs(np.subtract(got[:3], want)).max() <= 0.5 + 1e-9, (path, value, got)
    if nodata is not None:
        assert table[int(nodata)][3] == 0, f"{path}: nodata {nodata} is drawn"


def half_overview(path: Path | str) -> Any:
    """The first overview of a COG, as stored."""
    with rasterio.open(path, overview_level=0) as ds:
        return ds.read(1)


def plain_overview(full: Any, nodata: float | None, factors: list[int]) -> Any:
    """The first overview GDAL averages from ``full`` with no colour table (the values themselves)."""
    height, width = full.shape
    with rasterio.open("plain", "w+", driver="MEM", width=width, height=height, count=1,
                       dtype=full.dtype, nodata=nodata, crs="EPSG:3035",
                       transform=Affine(20.0, 0.0, 0.0, 0.0, -20.0, 0.0)) as ds:
        ds.write(full, 1)
        ds.build_overviews(factors, Resampling.average)
        return ds.read(1, out_shape=(-(-height // 2), -(-width // 2)))
