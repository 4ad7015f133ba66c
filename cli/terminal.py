"""What the commands share: the error console and what an error that reaches it becomes (an exit code and
one line), progress bars, the report of a publication, parsed options. Light to import: every command
loads it."""

from __future__ import annotations

import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from snowdays.errors import (
    BadInput,
    ProductRejected,
    RejectedProducts,
    SnowdaysError,
    StorageError,
    UsageError,
)

if TYPE_CHECKING:
    from snowdays.mosaic import MosaicReport
    from stac.publish import PublishReport

err = Console(stderr=True, soft_wrap=True)

#: The exit code of an error that reaches the command line: the first kind it is. 2 bad usage (settings
#: included), 3 bad input, 1 what may pass or needs the machine seen to (storage, a server that did not
#: start, a file or a port refused), and 1 for anything else, which is a bug in snowdays.
EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (UsageError, 2), (ValidationError, 2), (ProductRejected, 3), (RejectedProducts, 3), (BadInput, 3),
    (StorageError, 1), (SnowdaysError, 1), (OSError, 1), (Exception, 1),
)
#: What the command line expects to meet; any other error is a bug, reported with its traceback in a file.
EXPECTED: tuple[type[Exception], ...] = (SnowdaysError, ValidationError, OSError)


def exit_code(error: Exception) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


def messages(error: Exception) -> list[str]:
    """The lines telling the user what went wrong: one per error (a rejected batch: one per product)."""
    if isinstance(error, RejectedProducts):
        return [one_line(str(r)) for r in error.rejected]
    if isinstance(error, ValidationError) and error.title == "Settings":
        return [one_line(f"SNOWDAYS_{'_'.join(map(str, e['loc'])).upper()}={e['input']!r}: {e['msg']}; "
                         "set it right or unset it") for e in error.errors()]
    if isinstance(error, EXPECTED):
        return [one_line(str(error) or type(error).__name__)]
    return [one_line(f"unexpected {type(error).__name__}: {error} (a bug in snowdays; its traceback is "
                     f"in {_traceback_file(error)}: please report it)")]


def one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def report(error: Exception) -> int:
    """Print what went wrong on the error console, one line each; return the exit code."""
    for line in messages(error):
        err.print(f"[red]error:[/] {escape(line)}")
    return exit_code(error)


def _traceback_file(error: Exception) -> str:
    with tempfile.NamedTemporaryFile("w", prefix="snowdays-traceback-", suffix=".txt",
                                     delete=False) as out:
        out.write("".join(traceback.format_exception(error)))
    return out.name


def api_report(report: PublishReport) -> None:
    typer.echo(report.item_href)
    if report.api_error:
        err.print(f"[red]error:[/] the static catalog is written, the STAC API is not: "
                  f"{escape(one_line(report.api_error))}; publish again once the database is up")
        raise typer.Exit(1)
    typer.echo(f"STAC API up to date ({report.api_items} items)")


def mosaic_report(report: MosaicReport, what: str) -> None:
    """A mosaic's blocks built, its tiles without ``what`` published, and the files it wrote."""
    plan = report.plan
    if plan.missing:
        err.print(f"[yellow]no published {what} for {plan.season}:[/] {', '.join(plan.missing)}")
    typer.echo(f"{len(report.rebuilt)} of {len(plan.blocks)} blocks built "
               f"({plan.grid.width} x {plan.grid.height} pixels, {len(plan.inputs)} tiles)")
    for path in report.written.values():
        typer.echo(path)


def numbers(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError as e:
        raise UsageError(f"{text!r} is not numbers separated by commas") from e


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise UsageError(f"{text!r} is not a date written YYYY-MM-DD") from e


@contextmanager
def progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on the error console; the caller says (done, total) as it goes."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


@contextmanager
def mapped(label: str) -> Iterator[Callable[[Callable[[str], str], list[str]], list[str]]]:
    """A mapper of a step over items, one after the other, with a bar for each step it maps (named
    after the step's function: ``build block``, ``assemble``)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as bar:

        def mapper(work: Callable[[str], str], items: list[str]) -> list[str]:
            name = getattr(work, "func", work).__name__.replace("_", " ")
            task = bar.add_task(f"{label}: {name}", total=len(items))
            done = []
            for item in items:
                done.append(work(item))
                bar.advance(task)
            return done

        yield mapper
