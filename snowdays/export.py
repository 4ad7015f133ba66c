"""Maps out of a tile's store (annual or year to date), and what the stores hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import zarr

from snowdays.duration import Maps
from snowdays.errors import UsageError
from snowdays.grid import Grid
from snowdays.names import normalise_tile
from snowdays.outputs import write_maps
from snowdays.quality import Quality, quality
from snowdays.season import Season
from snowdays.settings import Settings
from snowdays.state import ledger, state_at
from snowdays.store import Commit, attr, last_commit, open_repo, read, subgroup, tiles


@dataclass(frozen=True)
class SeasonMaps:
    tile: str
    season: Season
    grid: Grid
    maps: Maps
    as_of: date
    """Stop date of the maps: the latest acquisition folded (at most the season's stop)."""
    landsat: bool
    products: int


def season_maps(root: str, tile: str, label: str, settings: Settings,
                as_of: date | None = None) -> SeasonMaps:
    """The four maps of a stored season, as of its latest product or of ``as_of``."""
    tile = normalise_tile(tile)
    season = settings.season(label)
    group = _season(root, tile, label, settings)
    entries = ledger(group)
    until = int(attr(group, "latest")) if as_of is None else season.day(as_of)
    entries = [e for e in entries if e.day <= until]
    if not entries:
        raise UsageError(f"{tile} {label} has no product on or before {as_of}")
    state = state_at(group, season.n_days, until)
    stop_day = min(until, season.n_days - 1)
    grid = Grid.from_json(attr(read(open_repo(root, tile, settings)), "grid"))
    maps = state.maps(max(stop_day, 0) + 1)
    return SeasonMaps(tile, season, grid, maps, season.start + timedelta(max(stop_day, 0)),
                      any(e.landsat for e in entries), len(entries))


def season_layers(root: str, tile: str, label: str, settings: Settings,
                  as_of: date | None = None) -> tuple[SeasonMaps, Quality]:
    """The four maps of a stored season and its quality layers (:mod:`snowdays.quality`), closed at
    the same day."""
    result = season_maps(root, tile, label, settings, as_of)
    season = result.season
    group = _season(root, result.tile, label, settings)
    until = int(attr(group, "latest")) if as_of is None else season.day(as_of)
    return result, quality(group, result.maps, (result.as_of - season.start).days + 1, until,
                           settings.cores)


def export(root: str, tile: str, label: str, out: Path, settings: Settings,
           as_of: date | None = None, annual: bool | None = None,
           today: date | None = None) -> list[Path]:
    """Write the maps and the quality layers; named as annual once the season's window is over (or
    when asked)."""
    result, layers = season_layers(root, tile, label, settings, as_of)
    s = result.season
    stop = s.stop if (annual if annual is not None else s.closed(today) and as_of is None) else result.as_of
    return write_maps(result.maps.items() + layers.items(), result.grid, out, tile=result.tile,
                      start=s.start, stop=stop, landsat=result.landsat, settings=settings)


def _season(root: str, tile: str, label: str, settings: Settings) -> zarr.Group:
    if tile not in tiles(root, settings):
        raise UsageError(f"no store for tile {tile} under {root}")
    group = read(open_repo(root, tile, settings))
    if f"seasons/{label}" not in group:
        raise UsageError(f"tile {tile} has no season {label} under {root}")
    return subgroup(group, f"seasons/{label}")


@dataclass(frozen=True)
class SeasonStatus:
    label: str
    as_of: date | None
    products: int


@dataclass(frozen=True)
class TileStatus:
    tile: str
    seasons: list[SeasonStatus]
    quarantined: list[dict[str, str]]
    last_commit: Commit


def status(root: str, settings: Settings, tile: str | None = None) -> list[TileStatus]:
    names = tiles(root, settings) if tile is None else [normalise_tile(tile)]
    found = []
    for name in names:
        repo = open_repo(root, name, settings)
        group = read(repo)
        seasons = []
        if "seasons" in group:
            for label, sub in sorted(subgroup(group, "seasons").groups()):
                start, latest = date.fromisoformat(attr(sub, "start")), attr(sub, "latest")
                stop = date.fromisoformat(attr(sub, "stop"))
                as_of = None if latest is None else min(start + timedelta(int(latest)), stop)
                seasons.append(SeasonStatus(label, as_of, len(ledger(sub))))
        quarantined: list[dict[str, str]] = attr(group, "quarantine", [])
        found.append(TileStatus(name, seasons, quarantined, last_commit(repo)))
    return found
