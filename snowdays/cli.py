"""The ``snowdays`` command: a thin layer over the library.

Exit codes: 0 success, 1 storage fault (worth retrying), 2 bad usage, 3 bad input (a rejected product).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from snowdays import __version__
from snowdays.annual import run_annual, write
from snowdays.errors import ProductRejected, RejectedProducts, SnowdaysError, StorageError, UsageError
from snowdays.export import export as export_maps
from snowdays.export import status as tile_status
from snowdays.ingest import ingest as ingest_product
from snowdays.names import normalise_tile
from snowdays.sample import make_season
from snowdays.season import Season, parse_season
from snowdays.settings import get_settings
from snowdays.store import compact as compact_store
from snowdays.store import open_repo
from snowdays.store import tiles as store_tiles

app = typer.Typer(help="Snow cover duration maps from Theia snow products.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
err = Console(stderr=True, soft_wrap=True)

EXIT_CODES: list[tuple[type[SnowdaysError], int]] = [
    (UsageError, 2), (ProductRejected, 3), (RejectedProducts, 3), (StorageError, 1),
]


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


@app.command()
def annual(
    products: Annotated[str, typer.Argument(help="Folder or s3:// prefix of products.")],
    tile: Annotated[str, typer.Option(help="Tile, e.g. T31TCH.")],
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")],
    stop: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option(help="Folder the four maps are written to.")],
    margin: Annotated[int | None, typer.Option(help="Days of margin (default from settings).")] = None,
    skip_bad: Annotated[bool, typer.Option(help="Leave rejected products out instead of stopping.")] = False,
) -> None:
    """Compute SCD, SOD, SMOD and NOBS of one tile over one season."""
    settings = get_settings()
    season = Season(start=_date(start), stop=_date(stop),
                    margin=settings.margin_days if margin is None else margin)
    with _progress("folding products") as progress:
        result = run_annual(products, normalise_tile(tile), season, settings, strict=not skip_bad,
                            progress=progress)
    for rejected in result.rejected:
        err.print(f"[yellow]rejected[/] {escape(str(rejected))}")
    for path in write(result, out, settings):
        typer.echo(path)


@app.command()
def sample(
    out: Annotated[Path, typer.Argument(help="Folder the products are written to.")],
    tile: Annotated[str, typer.Option(help="Tile, e.g. T31TCH.")] = "T31TCH",
    season: Annotated[str, typer.Option(help="Season, e.g. 2017-2018.")] = "2017-2018",
    size: Annotated[int, typer.Option(min=16, help="Pixels per side at 20 m (5490: full tile).")] = 549,
    family: Annotated[str, typer.Option(help="muscate, fsc (LIS >= 1.7) or hrsi.")] = "muscate",
    zip_: Annotated[bool, typer.Option("--zip", help="Write directory products as zips.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate a realistic synthetic season of products."""
    if family not in ("muscate", "fsc", "hrsi"):
        raise UsageError(f"family {family!r} is not one of muscate, fsc, hrsi")
    settings = get_settings()
    parsed = parse_season(season, settings.season_start, settings.margin_days)
    with _progress("writing products") as progress:
        paths = make_season(out, tile, parsed, size, family, zip_, seed, progress)  # type: ignore[arg-type]
    typer.echo(f"{len(paths)} products in {out}")


@app.command()
def ingest(
    products: Annotated[list[str], typer.Argument(help="Products: dirs, zips or tifs, local or s3://.")],
    store: Annotated[str, typer.Option(help="Folder or s3:// prefix of the tile stores.")],
) -> None:
    """Fold products into their tiles' seasons; bad ones are quarantined."""
    settings = get_settings()
    outcomes = []
    for href in products:
        report = ingest_product(store, href, settings)
        outcomes.append(report.outcome.split(" ", 1)[0])
        seasons = ", ".join(f"{k}: {v}" for k, v in report.seasons.items())
        typer.echo(f"{report.product}: {report.outcome}" + (f" [{seasons}]" if seasons else ""))
    if "rejected" in outcomes:
        raise typer.Exit(3)
    if "deferred" in outcomes:
        raise typer.Exit(1)


@app.command()
def export(
    store: Annotated[str, typer.Option(help="Folder or s3:// prefix of the tile stores.")],
    tile: Annotated[str, typer.Option(help="Tile, e.g. T31TCH.")],
    season: Annotated[str, typer.Option(help="Season, e.g. 2017-2018.")],
    out: Annotated[Path, typer.Option(help="Folder the four maps are written to.")],
    as_of: Annotated[str | None, typer.Option(help="Maps as of this date, YYYY-MM-DD.")] = None,
    annual: Annotated[bool | None, typer.Option(help="Name the maps as annual (default: once the "
                                                 "season's window is over).")] = None,
) -> None:
    """Write a stored season's four maps (year to date, or annual)."""
    settings = get_settings()
    for path in export_maps(store, tile, season, out, settings,
                            _date(as_of) if as_of else None, annual):
        typer.echo(path)


@app.command()
def status(
    store: Annotated[str, typer.Option(help="Folder or s3:// prefix of the tile stores.")],
    tile: Annotated[str | None, typer.Option(help="Only this tile.")] = None,
) -> None:
    """Tiles, seasons, as-of dates, products folded, quarantined, last commit."""
    table = Table("tile", "season", "as of", "products", "quarantined", "last commit")
    found = tile_status(store, get_settings(), tile)
    for t in found:
        commit = f"{t.last_commit.written_at:%Y-%m-%d %H:%M:%S} {t.last_commit.id[:8]}"
        rows = [(s.label, str(s.as_of), str(s.products)) for s in t.seasons] or [("-", "-", "0")]
        for label, as_of, count in rows:
            table.add_row(t.tile, label, as_of, count, str(len(t.quarantined)), commit)
    out = Console(soft_wrap=True)
    out.print(table)
    for t in found:
        for q in t.quarantined:
            out.print(f"quarantined in {t.tile}: {escape(q['product'])}: {escape(q['reason'])} ({q['at']})")


@app.command()
def compact(
    store: Annotated[str, typer.Option(help="Folder or s3:// prefix of the tile stores.")],
    tile: Annotated[str | None, typer.Option(help="Only this tile.")] = None,
    keep_days: Annotated[float | None, typer.Option(min=0, help="Days of commits to keep (default: "
                                                    "the history_days setting).")] = None,
) -> None:
    """Drop the stores' history older than some days, and the data only it used."""
    settings = get_settings()
    keep = timedelta(days=settings.history_days if keep_days is None else keep_days)
    for name in [normalise_tile(tile)] if tile else store_tiles(store, settings):
        done = compact_store(open_repo(store, name, settings), keep)
        typer.echo(f"{name}: {done.snapshots_expired} commits expired, {done.chunks_deleted} chunks "
                   f"({done.bytes_deleted / 1e6:.1f} MB) deleted")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise UsageError(f"{text!r} is not a date written YYYY-MM-DD") from e


def main() -> None:
    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=err, show_path=False)],
                        format="%(message)s")
    try:
        app()
    except SnowdaysError as e:
        rejected = e.rejected if isinstance(e, RejectedProducts) else [e]
        for item in rejected:
            err.print(f"[red]error:[/] {escape(str(item))}")
        raise SystemExit(next(code for kind, code in EXIT_CODES if isinstance(e, kind))) from None
