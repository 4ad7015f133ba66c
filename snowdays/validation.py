"""The maps against snow-depth stations (``snowdays validate``): each station's snow days, SOD and SMOD
against the stored season at its pixel, and RMSE, bias and median error by station and overall.

A station's record is a CSV of daily rows ``station_id, lon, lat, elevation, date, snow_depth``
(metres). A day is a snow day where the depth is at least ``station_snow_depth``; the station's days
are its observations, gap-filled and counted as the maps are (``docs/SEMANTICS.md``), over the same
days (the season's first day up to the map's as-of date). Errors are map minus station, in days.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from snowdays.codes import NO_SNOW, VALID_MAX
from snowdays.duration import MIN_SCD_FOR_DATES, annual_maps
from snowdays.errors import UsageError
from snowdays.point import point_season
from snowdays.settings import Settings

COLUMNS = ("station_id", "lon", "lat", "elevation", "date", "snow_depth")
MEASURES = ("scd", "sod", "smod")


@dataclass(frozen=True)
class Station:
    id: str
    lon: float
    lat: float
    elevation: float
    depths: dict[date, float]


@dataclass(frozen=True)
class Compared:
    """One station against the map at its pixel: (map, station) per measure; SOD and SMOD only where
    both have more than 10 snow days."""

    station: Station
    season: str
    tile: str
    days: int
    """Days of the station's record inside the compared days."""
    values: dict[str, tuple[int, int] | None]

    def error(self, measure: str) -> int | None:
        pair = self.values[measure]
        return None if pair is None else pair[0] - pair[1]


@dataclass(frozen=True)
class Scores:
    n: int
    rmse: float
    bias: float
    median: float

    @classmethod
    def of(cls, errors: Iterable[int | None]) -> Scores | None:
        known = [e for e in errors if e is not None]
        if not known:
            return None
        return cls(len(known), math.sqrt(statistics.fmean(e * e for e in known)), statistics.fmean(known),
                   float(statistics.median(known)))


@dataclass(frozen=True)
class Validation:
    compared: list[Compared]
    """One per station and season."""
    skipped: list[tuple[str, str, str]]
    """Stations and seasons left out, and why (off the stored tiles, no record in the season)."""

    def overall(self, measure: str) -> Scores | None:
        return Scores.of(c.error(measure) for c in self.compared)

    def to_json(self) -> dict[str, Any]:
        def pair(values: tuple[int, int] | None) -> dict[str, int] | None:
            return None if values is None else {"map": values[0], "station": values[1]}

        def scores(found: Scores | None) -> dict[str, float] | None:
            return None if found is None else asdict(found)

        return {
            "overall": {m: scores(self.overall(m)) for m in MEASURES},
            "by_station": {m: {k: scores(v) for k, v in self.by_station(m).items()} for m in MEASURES},
            "stations": [{"station_id": c.station.id, "season": c.season, "tile": c.tile, "days": c.days,
                          "lon": c.station.lon, "lat": c.station.lat, "elevation": c.station.elevation,
                          **{m: pair(c.values[m]) for m in MEASURES}} for c in self.compared],
            "skipped": [{"station_id": s, "season": label, "reason": why} for s, label, why in self.skipped],
        }

    def by_station(self, measure: str) -> dict[str, Scores | None]:
        """Each station's scores over its seasons."""
        names = dict.fromkeys(c.station.id for c in self.compared)
        return {name: Scores.of(c.error(measure) for c in self.compared if c.station.id == name)
                for name in names}


def read_stations(path: Path) -> list[Station]:
    """The stations of a CSV (one row per station and day), each with its depths by date."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UsageError(f"{path}: no column {', '.join(missing)} (wanted {', '.join(COLUMNS)})")
        rows: dict[str, list[dict[str, str]]] = {}
        for row in reader:
            rows.setdefault(row["station_id"], []).append(row)
    return [_station(path, name, found) for name, found in rows.items()]


def _station(path: Path, name: str, rows: list[dict[str, str]]) -> Station:
    try:
        first = rows[0]
        return Station(name, float(first["lon"]), float(first["lat"]), float(first["elevation"]),
                       {date.fromisoformat(r["date"]): float(r["snow_depth"]) for r in rows
                        if r["snow_depth"].strip()})
    except ValueError as e:
        raise UsageError(f"{path}: station {name}: {e}") from e


def validate(store: str, stations: list[Station], labels: list[str], settings: Settings,
             as_of: date | None = None) -> Validation:
    """Every station against every season (``as_of`` for a season not over)."""
    compared, skipped = [], []
    for station in stations:
        for label in labels:
            try:
                compared.append(_compare(store, station, label, settings, as_of))
            except UsageError as e:
                skipped.append((station.id, label, str(e)))
    return Validation(compared, skipped)


def _compare(store: str, station: Station, label: str, settings: Settings, as_of: date | None) -> Compared:
    point = point_season(store, station.lon, station.lat, label, settings, as_of=as_of)
    days = {(d - point.start).days: depth for d, depth in station.depths.items()
            if point.start <= d <= point.as_of}
    if not days:
        raise UsageError(f"no record from {point.start} to {point.as_of}")
    own = _station_maps(days, len(point.snow), settings.station_snow_depth)
    mapped = {"scd": point.scd, "sod": point.sod, "smod": point.smod}
    dated = point.scd > MIN_SCD_FOR_DATES and own["scd"] > MIN_SCD_FOR_DATES
    values = {m: (mapped[m], own[m]) if m == "scd" or dated else None for m in MEASURES}
    return Compared(station, label, point.tile, len(days), values)


def _station_maps(days: dict[int, float], n_days: int, threshold: float) -> dict[str, int]:
    """SCD, SOD and SMOD of a station's days, gap-filled and counted by the maps' own fold."""
    order = sorted(days)
    raw = np.array([VALID_MAX if days[d] >= threshold else NO_SNOW for d in order], np.uint8)
    maps = annual_maps(raw.reshape(len(order), 1, 1), order, n_days)
    return {"scd": int(maps.scd[0, 0]), "sod": int(maps.sod[0, 0]), "smod": int(maps.smod[0, 0])}
