"""What the commands share: the error console and what an error that reaches it becomes (an exit code and
one line), the report of a publication, parsed options."""

from __future__ import annotations

import tempfile
import traceback

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from snowdays.errors import (
    BadInput,
    ProductRejected,
    RejectedProducts,
    SnowdaysError,
    StorageError,
    UsageError,
)
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


def numbers(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError as e:
        raise UsageError(f"{text!r} is not numbers separated by commas") from e
