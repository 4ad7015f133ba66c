"""What the commands share: the error console, the report of a publication, parsed options."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from snowdays.errors import UsageError
from stac.publish import PublishReport

err = Console(stderr=True, soft_wrap=True)


def api_report(report: PublishReport) -> None:
    typer.echo(report.item_href)
    if report.api_error:
        err.print(f"[red]error:[/] the static catalog is written, the STAC API is not: "
                  f"{escape(report.api_error)}; publish again once the database is up")
        raise typer.Exit(1)
    typer.echo(f"STAC API up to date ({report.api_items} items)")


def numbers(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError as e:
        raise UsageError(f"{text!r} is not numbers separated by commas") from e
