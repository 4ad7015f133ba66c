"""A point's season out of a tile's store: what each product saw there (snow, no snow, cloud), the
daily gap-filled series the duration counts, and its SCD, SOD, SMOD and NOBS, read from the stored cube
alone (one byte of each product's slot), without the season's maps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import mgrs  # type: ignore[import-untyped]
import numpy as np
from rasterio.warp import transform

from snowdays.codes import INVALID, NO_SNOW, VALID_MAX
from snowdays.daily import gap_filled
from snowdays.duration import annual_maps
from snowdays.errors import UsageError
from snowdays.export import StoredSeason, stored_season
from snowdays.grid import Grid
from snowdays.packing import INVALID_CLASS, PER_BYTE, day_byte
from snowdays.settings import Settings
from snowdays.state import Slots
from snowdays.store import array, attr, open_repo, read, tiles

SEEN = {0: "no snow", 1: "snow", INVALID_CLASS: "cloud"}
"""What a day's products saw at the point (cloud: any code that is not a clear observation)."""
_RAW = {0: NO_SNOW, 1: VALID_MAX, INVALID_CLASS: INVALID}


@dataclass(frozen=True)
class Observation:
    day: int
    """Day of the season (negative, or past its last day, in the margins)."""
    date: date
    seen: str


@dataclass(frozen=True)
class PointSeason:
    tile: str
    season: str
    lon: float
    lat: float
    row: int
    col: int
    start: date
    as_of: date
    observations: list[Observation]
    snow: list[int]
    """The gap-filled series, days 0 .. as of: 1 snow, 0 no snow."""
    scd: int
    sod: int
    smod: int
    nobs: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(start=self.start.isoformat(), as_of=self.as_of.isoformat(),
                    observations=[{"day": o.day, "date": o.date.isoformat(), "seen": o.seen}
                                  for o in self.observations])
        return data


def point_season(store: str, lon: float, lat: float, label: str, settings: Settings,
                 tile: str | None = None, as_of: date | None = None) -> PointSeason:
    """The season at a point of a stored tile (``tile``, else the first stored tile whose grid holds
    the point, its own MGRS square's first)."""
    for name in [tile] if tile else _candidates(store, lon, lat, settings):
        pixel = _pixel(store, name, lon, lat, settings)
        if pixel is not None:
            return _at(stored_season(store, name, label, settings, as_of), lon, lat, *pixel)
    where = f"tile {tile}" if tile else f"any tile stored under {store}"
    raise UsageError(f"{lon:.5f}, {lat:.5f} is not on {where}")


def _candidates(store: str, lon: float, lat: float, settings: Settings) -> list[str]:
    stored = tiles(store, settings)
    own = "T" + str(mgrs.MGRS().toMGRS(lat, lon, MGRSPrecision=0))
    return sorted(stored, key=lambda name: name != own)


def _pixel(store: str, tile: str, lon: float, lat: float, settings: Settings) -> tuple[int, int] | None:
    """Row and column of the point on the tile's stored grid, or None outside it."""
    group = read(open_repo(store, tile, settings))
    if attr(group, "grid") is None:
        return None
    grid = Grid.from_json(attr(group, "grid"))
    (x,), (y,) = transform("EPSG:4326", grid.crs, [lon], [lat])
    col, row = (int(np.floor(v)) for v in ~grid.affine @ (x, y))
    return (row, col) if 0 <= row < grid.height and 0 <= col < grid.width else None


def _at(stored: StoredSeason, lon: float, lat: float, row: int, col: int) -> PointSeason:
    slots, cube = Slots.of(stored.group, stored.until), array(stored.group, "cube")
    first = col - col % PER_BYTE
    cols = (first, min(first + PER_BYTE, stored.grid.width))
    packed = slots.read(cube, (row, row + 1), cols)
    at, starts, days = slots.kernel_args()
    classes = [int(day_byte(packed, at, starts[k], starts[k + 1], 0, 0) >> (2 * (col - first))) & 3
               for k in range(len(days))]
    n = stored.stop_day + 1
    snow = gap_filled(packed, slots, n, cols[1] - first)[:, 0, col - first]
    raw = np.array([_RAW[c] for c in classes], np.uint8).reshape(len(classes), 1, 1)
    maps = annual_maps(raw, [int(d) for d in days], n)
    start = stored.season.start
    observations = [Observation(int(d), start + timedelta(int(d)), SEEN[c]) for d, c in zip(days, classes,
                                                                                             strict=True)]
    return PointSeason(stored.tile, stored.label, lon, lat, row, col, start, stored.as_of,
                       observations, [int(v) for v in snow],
                       *(int(a[0, 0]) for a in (maps.scd, maps.sod, maps.smod, maps.nobs)))
