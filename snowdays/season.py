"""Seasons: a start and stop date (both included), a margin, and day indices."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, model_validator

from snowdays.errors import UsageError


class Season(BaseModel):
    """Days ``start`` .. ``stop``; observations count from ``start - margin`` to ``stop + margin``."""

    model_config = ConfigDict(frozen=True)

    start: date
    stop: date
    margin: int = 15

    @model_validator(mode="after")
    def _ordered(self) -> Season:
        if self.stop < self.start:
            raise ValueError(f"season stop {self.stop} is before its start {self.start}")
        return self

    @property
    def n_days(self) -> int:
        return (self.stop - self.start).days + 1

    @property
    def label(self) -> str:
        return f"{self.start:%Y%m%d}_{self.stop:%Y%m%d}"

    def day(self, when: datetime | date) -> int:
        """Day index of a UTC calendar date (0 is the start; negative in the first margin)."""
        calendar = when.date() if isinstance(when, datetime) else when
        return (calendar - self.start).days

    def in_window(self, when: datetime | date) -> bool:
        return -self.margin <= self.day(when) <= self.n_days - 1 + self.margin

    def closed(self, today: date | None = None) -> bool:
        """The window is over on ``today`` (default: the UTC date now): no product acquired later
        counts, so the maps are the annual ones."""
        return (today or datetime.now(UTC).date()) > self.stop + timedelta(self.margin)


def parse_season(text: str, season_start: str = "09-01", margin: int = 15) -> Season:
    """``2017-2018`` -> 1 September 2017 .. 31 August 2018 (start day from settings)."""
    m = re.fullmatch(r"(\d{4})-(\d{4})", text.strip())
    if not m or int(m[2]) != int(m[1]) + 1:
        raise UsageError(f"season {text!r} is not written YEAR-NEXTYEAR, e.g. 2017-2018")
    month, day = (int(x) for x in season_start.split("-"))
    start = date(int(m[1]), month, day)
    return Season(start=start, stop=start.replace(year=start.year + 1) - timedelta(days=1),
                  margin=margin)
