"""Is this season ahead or behind, as of today? A season's SCD and SMOD as of a day against the tile's
past seasons as of the same day of their season (a fair year-to-date comparison: each past season's
maps are computed from its stored cube, over its products up to that day, closed there).

A past season counts when the store holds it from its start (a product no later than ``margin_days``
into it) up to that day (a product on that day or after); seasons held for their margins only do not.
The climatology is the per-pixel mean and median of those seasons' SCD, and of their SMOD where they
have more than 10 snow days (SMOD is not given otherwise); the anomaly is this season minus the mean.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import zarr

from snowdays.duration import MIN_SCD_FOR_DATES, U16
from snowdays.errors import UsageError
from snowdays.export import SeasonMaps, season_maps, stored_season
from snowdays.outputs import Layer, write_maps
from snowdays.settings import Settings
from snowdays.state import ledger
from snowdays.store import open_repo, read, subgroup

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Anomaly:
    tile: str
    season: str
    as_of: date
    day: int
    """The day of the season compared (``as_of`` is day ``day`` of this season)."""
    past: list[str]
    """The past seasons of the climatology, oldest first."""
    maps: SeasonMaps
    scd_mean: F32
    scd_median: F32
    smod_mean: F32
    smod_median: F32
    smod_seasons: U16

    @property
    def annual(self) -> bool:
        """Whether the season is over: its annual maps against the past seasons' annual maps."""
        return self.day == self.maps.season.n_days - 1

    @property
    def scd_anomaly(self) -> F32:
        return (self.maps.maps.scd - self.scd_mean).astype(np.float32)

    @property
    def smod_anomaly(self) -> F32:
        """NaN where this season has no melt-out date or no past season has one."""
        dated = self.maps.maps.scd > MIN_SCD_FOR_DATES
        return np.where(dated, self.maps.maps.smod - self.smod_mean, np.nan).astype(np.float32)

    def items(self) -> list[tuple[str, Layer]]:
        seasons = np.full(self.smod_seasons.shape, len(self.past), np.uint16)
        return [("SCD-ANOMALY", self.scd_anomaly), ("SMOD-ANOMALY", self.smod_anomaly),
                ("SCD-MEAN", self.scd_mean), ("SCD-MEDIAN", self.scd_median), ("SMOD-MEAN", self.smod_mean),
                ("SMOD-MEDIAN", self.smod_median), ("SEASONS", seasons), ("SMOD-SEASONS", self.smod_seasons)]


def anomaly(store: str, tile: str, label: str, settings: Settings, as_of: date | None = None) -> Anomaly:
    """This season as of ``as_of`` (default: its latest product) against every past season held, each
    as of the same day of its season; once this season is over (as of its last day), its annual maps
    against theirs. A tile that holds no past season so is a :class:`UsageError`."""
    found = compare(store, tile, label, settings, as_of)
    if isinstance(found, NoPast):
        raise UsageError(f"{found.tile} holds no season before {label} from its start to day {found.day}")
    return found


@dataclass(frozen=True)
class NoPast:
    """The tile holds no past season from its start to ``day`` of it: there is nothing to compare."""

    tile: str
    day: int


def compare(store: str, tile: str, label: str, settings: Settings,
            as_of: date | None = None) -> Anomaly | NoPast:
    """:func:`anomaly`, or :class:`NoPast` when the tile holds no past season to compare with."""
    current = stored_season(store, tile, label, settings, as_of)
    day, closed = current.stop_day, current.stop_day == current.season.n_days - 1
    seasons = subgroup(read(open_repo(store, current.tile, settings)), "seasons")
    past = [p for p, group in sorted(seasons.groups()) if p < label and _covers(group, p, day, settings)]
    if not past:
        return NoPast(current.tile, day)
    maps = [season_maps(store, current.tile, p, settings, None if closed else _same_day(settings, p, day))
            .maps for p in past]
    scd = np.stack([m.scd for m in maps]).astype(np.float32)
    smod = np.stack([np.where(m.scd > MIN_SCD_FOR_DATES, m.smod, np.nan) for m in maps]).astype(np.float32)
    with warnings.catch_warnings():  # all-NaN pixels (no past melt-out date) are NaN, said or not
        warnings.simplefilter("ignore", RuntimeWarning)
        smod_mean, smod_median = np.nanmean(smod, axis=0), np.nanmedian(smod, axis=0)
    this = season_maps(store, current.tile, label, settings, None if closed else current.as_of)
    return Anomaly(current.tile, label, current.as_of, day, past, this, scd.mean(axis=0),
                   np.median(scd, axis=0).astype(np.float32), smod_mean.astype(np.float32),
                   smod_median.astype(np.float32), np.isfinite(smod).sum(axis=0).astype(np.uint16))


def _same_day(settings: Settings, label: str, day: int) -> date:
    """Day ``day`` of a season, at most its last (a leap season's day 365 is the next one's first)."""
    season = settings.season(label)
    return min(season.start + timedelta(day), season.stop)


def _covers(group: zarr.Group, label: str, day: int, settings: Settings) -> bool:
    """The season (its group) is held from its start up to ``day`` (at most its last)."""
    days = [e.day for e in ledger(group)]
    last = settings.season(label).n_days - 1
    return bool(days) and min(days) <= settings.margin_days and max(days) >= min(day, last)


def write(result: Anomaly, out: Path, settings: Settings) -> list[Path]:
    m = result.maps
    return write_maps(result.items(), m.grid, out, tile=result.tile, start=m.season.start, stop=result.as_of,
                      landsat=m.landsat, settings=settings)
