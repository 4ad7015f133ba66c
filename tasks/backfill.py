"""The tasks of a backfill: one tile-season built on a worker, holding its tile; the run's progress in
the Prefect UI."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast
from uuid import UUID

from prefect import task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact

from snowdays.backfill import BuildReport, backfill_season
from snowdays.settings import Settings
from tasks.report import show_library_logs
from tasks.tile import RETRYING, tile_lock


@task(name="build tile-season", task_run_name="build {tile} {label}", **RETRYING)
def build_tile_season(tile: str, label: str, settings: Settings) -> BuildReport:
    """Build one tile-season in batch (skipped when complete), while no update of the tile writes."""
    show_library_logs(settings)  # on a Dask worker: its own process, its own loggers
    with tile_lock(tile, settings):
        return backfill_season(settings.store, tile, label, settings)


def progress_key(region: str) -> str:
    """The key of a backfill's progress artifact (the command line follows it)."""
    return f"backfill-{region}"


@dataclass
class Progress:
    """A backfill's progress in the UI: a progress artifact (percent of tile-seasons done) and a table
    (done of total, products, rate, estimated end), both updated as tile-seasons finish."""

    region: str
    total: int
    artifact: UUID
    started: float = field(default_factory=time.monotonic)
    reports: list[BuildReport] = field(default_factory=list)

    @classmethod
    def start(cls, region: str, total: int) -> Progress:
        made = create_progress_artifact(0.0, key=progress_key(region),
                                        description=f"0 of {total} tile-seasons")
        return cls(region, total, cast("UUID", made))  # called in a flow: the id, not a coroutine

    def done(self, report: BuildReport) -> None:
        self.reports.append(report)
        update_progress_artifact(self.artifact, 100.0 * len(self.reports) / max(self.total, 1),
                                 description=self.line())
        create_table_artifact([self.row()], key=f"{progress_key(self.region)}-status",
                              description=f"Backfill of {self.region}")

    def row(self) -> dict[str, str]:
        elapsed = time.monotonic() - self.started
        done = len(self.reports)
        rate = done / elapsed * 60 if elapsed > 0 else 0.0
        left = (self.total - done) / (done / elapsed) if done else None
        end = "-" if left is None else f"{datetime.now(UTC) + timedelta(seconds=left):%H:%M:%S} UTC"
        return {"tile-seasons": f"{done} of {self.total}",
                "built": str(sum(r.changed for r in self.reports)),
                "products": str(sum(r.products for r in self.reports)),
                "rejected": str(sum(len(r.rejected) for r in self.reports)),
                "rate": f"{rate:.2f} tile-seasons/min", "estimated end": end}

    def line(self) -> str:
        """One line of the table: ``3 of 8 tile-seasons; 240 products; 2.1 tile-seasons/min; ...``."""
        row = self.row()
        return (f"{row['tile-seasons']} tile-seasons; {row['products']} products; {row['rate']}; "
                f"estimated end {row['estimated end']}")
