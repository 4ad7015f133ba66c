"""A small region for the backfill tests: three generated tiles (each at its real place, two UTM
zones), their autumn in the archive, and the checks a backfilled region must pass: every tile-season
equal to ``snowdays annual`` on its products, each product once, the items and the mosaic published."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from snowdays.annual import run_annual
from snowdays.archive import pending
from snowdays.export import season_maps
from snowdays.names import parse_name
from snowdays.regions import load_region
from snowdays.season import Season
from snowdays.settings import Settings
from snowdays.state import ledger
from snowdays.store import open_repo, read, subgroup
from stac.mosaics import tile_inputs
from tests.stacdata import sample

LABEL = "2017-2018"
TILES = {"T31TCH": 5, "T31TGL": 6, "T32TLR": 7}
"""Tile -> seed of its generated season (small tiles, each at its real place)."""
COUNT = 60
"""Products of each tile in the archive: its season's first (the autumn)."""


def region_archive(folder: Path, settings: Settings) -> Path:
    """Every tile's first products of the season in the archive; the region's tile list, its file."""
    archive = Path(settings.archive)
    archive.mkdir(exist_ok=True)
    for tile, seed in TILES.items():
        for p in sample(folder / "made" / tile, tile, LABEL, seed)[:COUNT]:
            shutil.copy2(p, archive / p.name)
    region = folder / "three.txt"
    region.write_text("\n".join(TILES) + "\n")
    return region


def next_season(folder: Path, settings: Settings, tile: str) -> str:
    """The season after ``LABEL``: ``tile``'s first products of it past ``LABEL``'s window (which stays
    complete) in the archive; its label."""
    label, before = "2018-2019", settings.season(LABEL)
    made = sample(folder / "made" / f"{tile}-next", tile, label, TILES[tile])
    for p in [p for p in made if not before.in_window(parse_name(p.name).acquired)][:COUNT // 4]:
        shutil.copy2(p, Path(settings.archive) / p.name)
    return label


def backfills(tile: str, settings: Settings) -> list[str]:
    """The messages of the tile's backfill commits."""
    repo = open_repo(settings.store, tile, settings)
    return [c.message for c in repo.ancestry(branch="main") if c.message.startswith("backfill")]


def assert_like_annual(folder: Path, settings: Settings) -> None:
    """Every tile-season's maps are the batch's over the archive's products of the tile, each product
    once in its ledger."""
    for tile in TILES:
        maps = season_maps(settings.store, tile, LABEL, settings)
        batch_folder = folder / f"batch-{tile}"
        batch_folder.mkdir()
        for p in Path(settings.archive).glob(f"*_{tile}_*"):
            shutil.copy2(p, batch_folder / p.name)
        season = settings.season(LABEL)
        batch = run_annual(str(batch_folder), tile, Season(start=season.start, stop=maps.as_of), settings)
        for name in ("scd", "sod", "smod", "nobs"):
            np.testing.assert_array_equal(getattr(maps.maps, name), getattr(batch.maps, name),
                                          err_msg=f"{tile} {name}")
        group = subgroup(read(open_repo(settings.store, tile, settings)), f"seasons/{LABEL}")
        names = [e.name for e in ledger(group)]
        assert len(names) == len(set(names)) and set(names) >= {p.id.name for p in batch.used}
        assert pending(settings.archive, settings.store, tile, settings, LABEL) == []


def assert_published(region: Path, settings: Settings) -> None:
    found, missing = tile_inputs(load_region(str(region)), LABEL, settings.stac_catalog, settings)
    assert missing == [] and sorted(t.tile for t in found) == sorted(TILES)
    mosaic = Path(settings.stac_catalog) / "mosaics" / "three" / LABEL
    assert (mosaic / "scd.tif").is_file() and (mosaic / "manifest.json").is_file()
