"""The annual maps by their obvious, slow definition: read products plainly, build every pixel's daily
series, count. The compiled kernels (``snowdays.duration``, ``snowdays.grid``, the annual batch and the
stores) are checked against it in the tests, and ``bench/annual.py`` measures how much faster they are.

Written from docs/SEMANTICS.md alone and importing nothing else of the ``snowdays`` package, so that
agreeing with it means something. Slow on purpose: pure Python, one pixel and one day at a time.
"""

from __future__ import annotations

import re
import zipfile
from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window

_T = TypeVar("_T")
Series = Sequence[tuple[int, int]]
"""One pixel's merged observations: (day index, raw value), sorted by day."""


def daily_snow(series: Series, n_days: int) -> list[bool]:
    """The gap-filled daily snow series of one pixel, days 0 .. n_days - 1."""
    valid = [(t, 1 if 1 <= v <= 100 else 0) for t, v in series if v <= 100]
    times = [t for t, _ in valid]
    days = []
    for d in range(n_days):
        i = bisect_right(times, d)  # observations on or before d
        if not valid:
            days.append(False)
        elif i > 0 and times[i - 1] == d:
            days.append(valid[i - 1][1] == 1)
        elif i == 0:
            days.append(valid[0][1] == 1)
        elif i == len(valid):
            days.append(valid[-1][1] == 1)
        else:
            (ta, sa), (tb, sb) = valid[i - 1], valid[i]
            days.append(2 * (sa * (tb - d) + sb * (d - ta)) >= tb - ta)
    return days


def pixel_maps(series: Series, n_days: int) -> tuple[int, int, int, int]:
    """(SCD, SOD, SMOD, NOBS) of one pixel."""
    days = daily_snow(series, n_days)
    scd = sum(days)
    best_start, best_len, start = 0, 0, None
    for d, snow in enumerate([*days, False]):
        if snow and start is None:
            start = d
        elif not snow and start is not None:
            if d - start > best_len:
                best_start, best_len = start, d - start
            start = None
    nobs = sum(1 for _, v in series if v <= 100)
    if scd > 10:
        return scd, best_start, best_start + best_len - 1, nobs
    return scd, 0, 0, nobs


def pixel_quality(series: Series, n_days: int) -> tuple[int, int, int, int]:
    """(NSP, QCOD, QCMD, QC) of one pixel, written as LIS 1.11 and HR-WSI compute them over the daily
    series (``compute_NSP.py``; ``lis_sps1s2_post_processing.py``, mean input QC taken as 0); QCOD and
    QCMD 65535 where SOD and SMOD are not given (SCD of 10 or less) or no day of the season saw snow."""
    days = daily_snow(series, n_days)
    nsp = int((np.diff(np.array(days, dtype=np.int64)) > 0).sum()) if n_days > 1 else 0
    scd, sod, smod, nobs = pixel_maps(series, n_days)
    snowy = [t for t, v in series if 1 <= v <= 100 and 0 <= t <= n_days - 1]
    qcod = min((abs(sod - t) for t in snowy), default=65535) if scd > 10 else 65535
    qcmd = min((abs(smod - t) for t in snowy), default=65535) if scd > 10 else 65535
    mean_qc = 0
    by_nobs = (nobs < 40) * (mean_qc + 2) + (40 <= nobs < 80) * (mean_qc + 1) + (nobs >= 80) * mean_qc
    qc = min(3, (scd < 60) * 3 + (scd >= 60) * by_nobs)
    return nsp, qcod, qcmd, qc


def cube_quality(cube: npt.NDArray[np.uint8], days: Sequence[int], n_days: int) -> dict[str, np.ndarray]:
    """Quality layers of a cube of merged observations (days x rows x cols)."""
    return _per_pixel(cube, days, n_days, ("NSP", "QCOD", "QCMD", "QC"), pixel_quality)


def cube_maps(cube: npt.NDArray[np.uint8], days: Sequence[int], n_days: int) -> dict[str, np.ndarray]:
    """Maps of a cube of merged observations (days x rows x cols)."""
    return _per_pixel(cube, days, n_days, ("SCD", "SOD", "SMOD", "NOBS"), pixel_maps)


def _per_pixel(cube: npt.NDArray[np.uint8], days: Sequence[int], n_days: int, keys: tuple[str, ...],
               of_pixel: Callable[[Series, int], tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Each pixel's values (``of_pixel`` of its series, one per key) as uint16 layers."""
    order = np.argsort(days, kind="stable")
    _, rows, cols = cube.shape
    out = {k: np.zeros((rows, cols), np.uint16) for k in keys}
    for i in range(rows):
        for j in range(cols):
            series = [(int(days[k]), int(cube[k, i, j])) for k in order]
            for key, value in zip(keys, of_pixel(series, n_days), strict=True):
                out[key][i, j] = value
    return out


# --- reading products, plainly -------------------------------------------------------------------

_DATE = re.compile(r"(\d{8})[-T](\d{6})(?:-(\d{3}))?")


_RASTERS = re.compile(r".*(_SNW_R2|_SNW_XS|_FSCOG)\.tif|LIS_SEB\.TIF|LIS_(S2|L8)-SNOW-(FSC|MSK)_.*\.tif")
"""The snow rasters of every layout, by file name (docs/SEMANTICS.md)."""
_NOT_PRODUCTS = (".md5", ".aux.xml")
WATER = 210
"""Copernicus FSC water: a clear observation of no snow (docs/SEMANTICS.md)."""


def raster_of(path: Path) -> str:
    """The GDAL path of a product's one snow raster, found by walking it (a zip with zipfile)."""
    if path.suffix == ".tif":
        return str(path)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            found = [m for m in z.namelist() if _RASTERS.fullmatch(m.rsplit("/", 1)[-1])]
        return f"/vsizip/{path}/{_one(path, found)}"
    return str(_one(path, [p for p in path.rglob("*") if _RASTERS.fullmatch(p.name)]))


def _one(path: Path, found: list[_T]) -> _T:
    if len(found) != 1:
        raise ValueError(f"{path}: {len(found)} snow rasters, not one: {found}")
    return found[0]


def describe(path: Path) -> tuple[str, str, datetime, str]:
    """(raster path for GDAL, mission, acquisition time, name) of a product path."""
    name = path.name.removesuffix(".zip").removesuffix(".tif")
    m = _DATE.search(name)
    if not m:
        raise ValueError(f"{name}: no acquisition date in the name")
    when = datetime.strptime(m[1] + m[2] + (m[3] or "000"), "%Y%m%d%H%M%S%f")  # noqa: DTZ007 - naive UTC
    mission = "L8" if ("LANDSAT8" in name or "_L8-" in name or "_L8_" in name) else "S2"
    return raster_of(path), mission, when, name


def read_codes(path: str, window: Window | None = None) -> npt.NDArray[np.uint8]:
    """A snow raster's codes (``window`` of it if given), water as no snow."""
    with rasterio.open(path) as ds:
        data: npt.NDArray[np.uint8] = ds.read(1, window=window)
    data[data == WATER] = 0
    return data


def season_cube(
    folder: Path, start: date, stop: date, margin: int = 15, window: Window | None = None
) -> tuple[npt.NDArray[np.uint8], list[int], int]:
    """Merged observations of every product under ``folder`` in the season: (cube, days, n_days); only
    ``window`` of the tile's grid if given (only that part of the Sentinel-2 rasters is read)."""
    described = sorted((describe(p) for p in folder.iterdir() if not p.name.endswith(_NOT_PRODUCTS)),
                       key=lambda d: (d[2], d[1]))
    n_days = (stop - start).days + 1
    chosen = [d for d in described if -margin <= (d[2].date() - start).days <= n_days - 1 + margin]
    s2 = [d for d in chosen if d[1] == "S2"]
    with rasterio.open(s2[0][0]) as first:
        crs, transform, shape = first.crs, first.transform, first.shape
    if window is not None:
        transform = transform @ Affine.translation(window.col_off, window.row_off)
        shape = (int(window.height), int(window.width))
    by_day: dict[int, list[tuple[int, datetime, npt.NDArray[np.uint8]]]] = {}
    for path, mission, when, _ in chosen:
        if mission == "S2":
            data = read_codes(path, window)
        else:
            data = np.full(shape, 255, np.uint8)
            with rasterio.open(path) as ds:
                reproject(read_codes(path), data, src_transform=ds.transform, src_crs=ds.crs,
                          dst_transform=transform, dst_crs=crs, resampling=Resampling.nearest,
                          init_dest_nodata=False)  # uncovered pixels stay 255
        order = 0 if mission == "S2" else 1
        by_day.setdefault((when.date() - start).days, []).append((order, when, data))
    days = sorted(by_day)
    cube = np.zeros((len(days), *shape), np.uint8)
    for k, day in enumerate(days):
        merged = np.full(shape, 255, np.uint8)
        for _, _, data in sorted(by_day[day], key=lambda x: (x[0], x[1])):
            take = (merged > 100) & (data <= 100)
            merged[take] = data[take]
        cube[k] = merged
    return cube, days, n_days
