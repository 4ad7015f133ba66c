"""Two small generated tiles on either side of a UTM zone boundary (T31TGL in zone 31, T32TLR in zone
32), overlapping around 6.5 E 45.8 N as the real tiles do, ingested and published for real; and the
naive reference a mosaic is checked against: every mosaic pixel's centre, transformed into each tile's
CRS on its own, looked up in the tile's published COGs."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.warp import transform

from snowdays.ingest import ingest
from snowdays.names import parse_name
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.settings import Settings
from stac.publish import publish
from tests.conftest import _free_port, made_once
from tests.stacdata import ingest_until

LABEL = "2017-2018"
SIZE = 48
TILES = {"T31TGL": ((1078, 3569), 1), "T32TLR": ((1240, 270), 2)}
"""Tile -> (offset of the generated part in the tile, in pixels; seed). The parts meet near their
corners, so that the mosaic has pixels of one tile, of the other, and of both."""
UNTIL = date(2018, 1, 31)
IN_SEASON = date(2018, 2, 1)
NODATA = 65535
U16 = npt.NDArray[np.uint16]
MAPS = ("SCD", "SOD", "SMOD", "NOBS")
ANOMALY = ("SCD-ANOMALY", "SMOD-ANOMALY", "SCD-MEAN", "SEASONS", "NOBS")
"""The layers a mosaic of each kind takes from a tile: its values, then NOBS (the overlap rule)."""


@dataclass(frozen=True)
class Tiles:
    products: dict[str, list[Path]]
    store: Path
    catalog: Path


def make_tiles(base: Path, settings: Settings, until: date = UNTIL) -> Tiles:
    """Both tiles' products; the store folded up to ``until`` (by default the end of January); both
    seasons published. The part up to the end of January is made once a session and copied into
    ``base``; what ``until`` asks more is folded and published in the copy."""
    asked = {k: v for k, v in settings.model_dump(mode="json").items()
             if not any(word in k for word in ("stac", "port", "mosaic"))}
    key = "tiles-" + hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()[:12]

    def make(out: Path) -> None:
        season = parse_season(LABEL)
        products = {tile: make_season(out / tile, tile, season, SIZE, "muscate", True, seed=seed,
                                      offset=offset) for tile, (offset, seed) in TILES.items()}
        for tile, paths in products.items():
            assert ingest_until(out / "stores", paths, UNTIL, settings) > 20
            publish(str(out / "stores"), tile, LABEL, settings, str(out / "catalog"), today=IN_SEASON)
        names = {tile: [p.name for p in paths] for tile, paths in products.items()}
        out.with_name(f"{key}.json").write_text(json.dumps(names))

    made = made_once(key, make)
    shutil.copytree(made, base, dirs_exist_ok=True)
    names = json.loads(made.with_name(f"{key}.json").read_text())
    tiles = Tiles({tile: [base / tile / name for name in names[tile]] for tile in TILES},
                  base / "stores", base / "catalog")
    if until > UNTIL:
        for tile in TILES:
            update_tile(tiles, tile, until, settings)
    return tiles


def update_tile(tiles: Tiles, tile: str, until: date, settings: Settings) -> None:
    """Fold the tile's products after January up to ``until`` and publish the season again."""
    for path in tiles.products[tile]:
        if UNTIL < parse_name(path.name).acquired.date() <= until:
            ingest(str(tiles.store), str(path), settings)
    publish(str(tiles.store), tile, LABEL, settings, str(tiles.catalog), today=IN_SEASON)


def published_maps(catalog: Path, tile: str) -> dict[str, Path]:
    """The tile's published COGs by kind (SCD, SOD, SMOD, NOBS), as its item names them."""
    return _assets(catalog / "snow-cover-duration", f"scd-{tile.lower()}-{LABEL}", MAPS)


def published_anomaly(catalog: Path, tile: str) -> dict[str, Path]:
    """The tile's published anomaly COGs (SCD-ANOMALY, SMOD-ANOMALY, SCD-MEAN, SEASONS) and the
    season's NOBS as of its day, as its anomaly item names them."""
    return _assets(catalog / "snow-cover-duration-anomalies", f"scd-anomaly-{tile.lower()}-{LABEL}",
                   ANOMALY)


def _assets(collection: Path, name: str, kinds: tuple[str, ...]) -> dict[str, Path]:
    item = collection / name / f"{name}.json"
    assets = json.loads(item.read_text())["assets"]
    return {kind: item.parent / assets[kind]["href"] for kind in kinds}


@dataclass(frozen=True)
class Expected:
    maps: npt.NDArray[Any]
    """SCD, SOD, SMOD (3 x rows x columns); or the anomaly's values."""
    source: npt.NDArray[np.int8]
    """Index in the order of the tile each pixel comes from (-1: none)."""
    inside: npt.NDArray[np.bool_]
    """Tiles x rows x columns: whether the pixel's centre falls in the tile (``margin`` pixels more)."""


def expected(mosaic: Path, catalog: Path, order: list[str], margin: int = 0,
             sources: Callable[[Path, str], dict[str, Path]] = published_maps) -> Expected:
    """SCD, SOD and SMOD (the values of ``sources``, the tile's COGs by kind: NOBS last) at every pixel
    of the mosaic ``mosaic`` (a COG: its grid), by the rule: the tile with the most clear observations
    there, the first in ``order`` on a tie, no data (65535; NaN for floats) where none saw it."""
    with rasterio.open(mosaic) as ds:
        rows, cols = np.mgrid[0:ds.height, 0:ds.width]
        xs, ys = ds.transform @ (cols.ravel() + 0.5, rows.ravel() + 0.5)
        crs, shape = ds.crs, (ds.height, ds.width)
    kinds = list(sources(catalog, order[0]))[:-1]
    with rasterio.open(sources(catalog, order[0])[kinds[0]]) as ds:
        floating = ds.dtypes[0] == "float32"
    out = np.full((len(kinds), *shape), np.nan if floating else NODATA, np.float32 if floating else np.uint16)
    best = np.zeros(shape, np.int64)
    source = np.full(shape, -1, np.int8)
    covered = np.zeros((len(order), *shape), bool)
    for k, tile in enumerate(order):
        maps = sources(catalog, tile)
        with rasterio.open(maps[kinds[0]]) as ds:
            tx, ty = transform(crs, ds.crs, list(xs), list(ys))
            inverse = ~ds.transform
            c, r = inverse @ (np.array(tx), np.array(ty))
            c, r = np.floor(c).astype(int).reshape(shape), np.floor(r).astype(int).reshape(shape)
            inside = (c >= 0) & (r >= 0) & (c < ds.width) & (r < ds.height)
            covered[k] = ((c >= -margin) & (r >= -margin) & (c < ds.width + margin)
                          & (r < ds.height + margin))
        values = {}
        for kind, path in maps.items():
            with rasterio.open(path) as ds:
                values[kind] = ds.read(1)[np.where(inside, r, 0), np.where(inside, c, 0)]
        wins = inside & (values["NOBS"] > best)
        for band, kind in enumerate(kinds):
            out[band][wins] = values[kind][wins]
        best[wins] = values["NOBS"][wins]
        source[wins] = k
    return Expected(out, source, covered)


def region_file(folder: Path, name: str = "boundary") -> Path:
    path = folder / f"{name}.txt"
    path.write_text("# either side of the zone 31/32 boundary\nT31TGL\nT32TLR\n")
    return path


def command_folder(tiles: Tiles, folder: Path) -> dict[str, str]:
    """``folder`` made ready for a mosaic command: the tiles' catalog without its mosaics, the region
    ``boundary.txt``; returns the command's environment (no STAC API: it reports the catalog written)."""
    shutil.copytree(tiles.catalog, folder / "catalog", ignore=shutil.ignore_patterns("mosaics"))
    region_file(folder)
    return {"SNOWDAYS_STAC_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{_free_port()}/none",
            "SNOWDAYS_STAC_CONNECT_TIMEOUT": "1", "SNOWDAYS_MOSAIC_BLOCK": "32"}
