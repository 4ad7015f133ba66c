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
from snowdays.state import Entry, ledger, state_at, window_state
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


@dataclass(frozen=True)
class StoredSeason:
    """A season as its store holds it, read at one commit, up to a day."""

    tile: str
    label: str
    season: Season
    group: zarr.Group
    grid: Grid
    until: int
    """The last day of the products taken (``latest``, or the day asked for)."""
    entries: list[Entry]

    @property
    def stop_day(self) -> int:
        """The day the maps close at: ``until``, at most the season's last day."""
        return max(min(self.until, self.season.n_days - 1), 0)

    @property
    def as_of(self) -> date:
        return self.season.start + timedelta(self.stop_day)


def stored_season(root: str, tile: str, label: str, settings: Settings,
                  as_of: date | None = None) -> StoredSeason:
    """A stored season, as of its latest product or of ``as_of``."""
    tile = normalise_tile(tile)
    season = settings.season(label)
    repo_group = _tile_group(root, tile, label, settings)
    group = subgroup(repo_group, f"seasons/{label}")
    until = int(attr(group, "latest")) if as_of is None else season.day(as_of)
    entries = [e for e in ledger(group) if e.day <= until]
    if not entries:
        raise UsageError(f"{tile} {label} has no product on or before {as_of}")
    return StoredSeason(tile, label, season, group, Grid.from_json(attr(repo_group, "grid")), until, entries)


def season_maps(root: str, tile: str, label: str, settings: Settings,
                as_of: date | None = None) -> SeasonMaps:
    """The four maps of a stored season, as of its latest product or of ``as_of``."""
    return _maps(stored_season(root, tile, label, settings, as_of))


def _maps(stored: StoredSeason) -> SeasonMaps:
    state = state_at(stored.group, stored.season.n_days, stored.until)
    return SeasonMaps(stored.tile, stored.season, stored.grid, state.maps(stored.stop_day + 1), stored.as_of,
                      any(e.landsat for e in stored.entries), len(stored.entries))


def window_maps(root: str, tile: str, label: str, first: date, last: date,
                settings: Settings) -> SeasonMaps:
    """The four maps of a window of a stored season (``first`` to ``last``, both inside it), from its
    cube alone: those of a season of that window over the stored products within the margin of it."""
    stored = stored_season(root, tile, label, settings)
    season = stored.season
    if not season.start <= first <= last <= season.stop:
        raise UsageError(f"the window {first} to {last} is not inside the season {label} "
                         f"({season.start} to {season.stop})")
    if last > stored.as_of:
        raise UsageError(f"{stored.tile} {label} holds products up to {stored.as_of}, before {last}")
    window = Season(start=first, stop=last, margin=season.margin)
    lo, hi = season.day(first) - season.margin, season.day(last) + season.margin
    entries = [e for e in stored.entries if lo <= e.day <= hi]
    state = window_state(stored.group, season.day(first), window.n_days, season.margin)
    return SeasonMaps(stored.tile, window, stored.grid, state.maps(), last, any(e.landsat for e in entries),
                      len(entries))


def season_layers(root: str, tile: str, label: str, settings: Settings,
                  as_of: date | None = None) -> tuple[SeasonMaps, Quality]:
    """The four maps of a stored season and its quality layers (:mod:`snowdays.quality`), closed at
    the same day."""
    stored = stored_season(root, tile, label, settings, as_of)
    result = _maps(stored)
    return result, quality(stored.group, result.maps, stored.stop_day + 1, stored.until, settings.cores)


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


def export_window(root: str, tile: str, label: str, first: date, last: date, out: Path,
                  settings: Settings) -> list[Path]:
    """Write the four maps of a window of a stored season (:func:`window_maps`), named by it."""
    result = window_maps(root, tile, label, first, last, settings)
    return write_maps(result.maps.items(), result.grid, out, tile=result.tile, start=first, stop=last,
                      landsat=result.landsat, settings=settings)


def _tile_group(root: str, tile: str, label: str, settings: Settings) -> zarr.Group:
    """The tile's root group at its latest commit, checked to hold the season."""
    if tile not in tiles(root, settings):
        raise UsageError(f"no store for tile {tile} under {root}")
    group = read(open_repo(root, tile, settings))
    if f"seasons/{label}" not in group:
        raise UsageError(f"tile {tile} has no season {label} under {root}")
    return group


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
