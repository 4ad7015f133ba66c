"""The ``snowdays`` command: a thin layer over the library, its commands grouped by what they work on.

Exit codes: 0 success, 1 storage fault (worth retrying), 2 bad usage, 3 bad input (a rejected product).
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.logging import RichHandler

from cli import analysis, batch, catalog, maps, pipeline
from cli.terminal import err, report
from snowdays import __version__

app = typer.Typer(help="Snow cover duration maps from Theia snow products.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
about = typer.Typer()
for group in (batch.commands, analysis.commands, catalog.commands, pipeline.commands, maps.commands, about):
    app.add_typer(group)
app.add_typer(catalog.stac_commands, name="stac")


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"snowdays {__version__}")
        raise typer.Exit


@app.callback()
def options(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="More log records: -v information, -vv debugging.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Errors only.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Snow cover duration maps from Theia snow products."""
    levels = (logging.WARNING, logging.INFO, logging.DEBUG)
    logging.getLogger().setLevel(logging.ERROR if quiet else levels[min(verbose, 2)])


@about.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=err, show_path=False)],
                        format="%(message)s")
    try:
        app()
    except Exception as e:  # noqa: BLE001 - every error ends here as an exit code and one line
        raise SystemExit(report(e)) from None
