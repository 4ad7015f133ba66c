"""The files of a mosaic, in a folder or under ``s3://``: block GeoTIFFs, the COGs, the manifest.

Each is written to a local temporary file first, then moved (a local folder: renamed, so that a reader
never sees half a file) or uploaded (one PUT) to its place.
"""

from __future__ import annotations

import json
import posixpath
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]
from rasterio.crs import CRS

from snowdays import __version__
from snowdays.colours import DATES, DAYS
from snowdays.colours import write_cog as write_coloured
from snowdays.errors import StorageError
from snowdays.grid import Grid
from snowdays.settings import Settings
from snowdays.storage import filesystem, gdal_env, gdal_path, is_s3

NODATA = 65535
"""No data in every map of a mosaic (never a day count nor a day of the season)."""
RESAMPLING = {"scd": "AVERAGE", "sod": "NEAREST", "smod": "NEAREST", "scd_display": "AVERAGE",
              "scd_anomaly": "AVERAGE", "smod_anomaly": "NEAREST", "scd_mean": "AVERAGE",
              "seasons": "NEAREST"}
"""How each map's overviews are made (as the tile COGs: days averaged, dates picked)."""
SCALES = {"scd": DAYS, "sod": DATES, "smod": DATES, "scd_display": DAYS}
"""The colour table of each map, as the tile COGs' (an anomaly's float32 maps have none)."""
T = TypeVar("T")


def _storage(href: str, work: Callable[[], T]) -> T:
    try:
        return work()
    except (OSError, BotoCoreError) as e:
        raise StorageError(f"Could not read or write {href}: {e}") from e


@contextmanager
def staged(target: str, settings: Settings) -> Iterator[Path]:
    """A local path to write; once written, it is moved or uploaded to ``target``."""
    local = not is_s3(target)
    folder = posixpath.dirname(target)
    if local:
        Path(folder).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".snowdays-", dir=folder if local else None) as tmp:
        path = Path(tmp) / posixpath.basename(target)
        yield path
        if local:
            _storage(target, lambda: path.replace(target))
        else:
            fs = filesystem(target, settings.s3)
            _storage(target, lambda: fs.put_file(str(path), target))


def write_tif(target: str, bands: Sequence[npt.NDArray[Any]], transform: Affine, crs: str,
              settings: Settings, nodata: float = NODATA) -> None:
    """A block file: bands of one type (uint16, or float32), tiled, compressed, no data ``nodata``."""
    height, width = bands[0].shape
    floating = bands[0].dtype == np.float32
    profile = {"driver": "GTiff", "dtype": bands[0].dtype.name, "count": len(bands), "width": width,
               "height": height, "crs": crs, "transform": transform, "nodata": nodata,
               "compress": settings.cog_compress, "predictor": 3 if floating else 2, "tiled": True,
               "blockxsize": 256, "blockysize": 256}
    with staged(target, settings) as path, rasterio.open(path, "w", **profile) as ds:
        ds.write(np.stack(bands))


def write_cog(source: Path, key: str, target: str, settings: Settings) -> None:
    """Copy the VRT of the blocks into a COG with overviews, 512 x 512 tiles and the map's colour
    table (the overviews first go beside the VRT, compressed)."""
    with (staged(target, settings) as path,
          rasterio.Env(GDAL_CACHEMAX=settings.mosaic_cache_mb, COMPRESS_OVERVIEW=settings.cog_compress,  # MB
                       BIGTIFF_OVERVIEW="IF_SAFER", **gdal_env(settings.s3)),
          rasterio.open(source, "r+") as ds):
        write_coloured(ds, path, SCALES.get(key), RESAMPLING[key], **settings.cog_options,
                       BIGTIFF="IF_SAFER")


Source = tuple[str, tuple[int, int], tuple[int, int, int, int]]
"""A block file, the column and row of its part in the mosaic, and that part's window there."""


def block_vrt(grid: Grid, sources: Sequence[Source], band: int, description: str, dtype: str = "uint16",
              nodata: float = NODATA) -> str:
    """A VRT of the mosaic's grid made of band ``band`` of the block files (``nodata`` elsewhere)."""
    crs = CRS.from_user_input(grid.crs).to_wkt()
    t = grid.transform
    parts = "".join(
        f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(gdal_path(path))}</SourceFilename>'
        f"<SourceBand>{band}</SourceBand>"
        f'<SrcRect xOff="{x}" yOff="{y}" xSize="{w[2]}" ySize="{w[3]}"/>'
        f'<DstRect xOff="{w[0]}" yOff="{w[1]}" xSize="{w[2]}" ySize="{w[3]}"/></SimpleSource>'
        for path, (x, y), w in sources)
    return (f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">'
            f"<SRS>{escape(crs)}</SRS>"
            f"<GeoTransform>{t[2]!r}, {t[0]!r}, 0.0, {t[5]!r}, 0.0, {t[4]!r}</GeoTransform>"
            f'<Metadata><MDI key="SOFTWARE">snowdays {__version__}</MDI></Metadata>'
            f'<VRTRasterBand dataType="{_VRT_TYPES[dtype]}" band="1">'
            f"<Description>{escape(description)}</Description>"
            f"<NoDataValue>{nodata!r}</NoDataValue>{parts}</VRTRasterBand></VRTDataset>")


_VRT_TYPES = {"uint16": "UInt16", "float32": "Float32"}


def read_manifest(folder: str, settings: Settings) -> dict[str, Any]:
    """The mosaic's manifest, or an empty one."""
    href = f"{folder}/manifest.json"
    fs = filesystem(href, settings.s3)
    if not _storage(href, lambda: fs.exists(href)):
        return {}
    return dict(json.loads(_storage(href, lambda: fs.cat_file(href))))


def write_json(target: str, data: Any, settings: Settings) -> None:
    with staged(target, settings) as path:
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def remove_others(folder: str, keep: set[str], settings: Settings) -> list[str]:
    """Delete the files of ``folder`` not named in ``keep``; their names."""
    fs = filesystem(folder, settings.s3)
    if not _storage(folder, lambda: fs.isdir(folder)):
        return []
    found = _storage(folder, lambda: fs.ls(folder, detail=False))
    others = [p for p in found if posixpath.basename(p) not in keep]
    for path in others:
        _storage(folder, lambda p=path: fs.rm_file(p))  # type: ignore[misc]
    return [posixpath.basename(p) for p in others]
