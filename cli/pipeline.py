"""The pipeline's commands: the local stack (``up``), the watcher, the demo."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from cli.terminal import err, progress

if TYPE_CHECKING:
    from snowdays.regions import Region
    from snowdays.settings import Settings

commands = typer.Typer()


@commands.command()
def up() -> None:
    """Run the local stack on 127.0.0.1 until Ctrl-C: Prefect, Dask, the STAC API, a file server, and the
    pipeline watching the archive."""
    from infra.stack import Stack, urls
    from snowdays.settings import get_settings

    settings = get_settings()
    _interrupt_on_sigterm()
    with Stack(settings, Path(settings.prefect_home).parent / "logs"):
        _print_urls(urls(settings.ports), settings)
        _until_interrupted()


@commands.command()
def watch(
    heartbeat: Annotated[Path | None, typer.Option(help="File touched while the watcher runs (for a "
                                                   "liveness probe).")] = None,
) -> None:
    """Watch the archive until stopped, an event per arriving product: SQS notifications
    (SNOWDAYS_SQS_QUEUE_URL), else STAC API searches (SNOWDAYS_WATCH_TILES), else a look at the
    archive every few seconds."""
    import threading

    from flows.serve import watch as watch_archive
    from snowdays.settings import get_settings

    settings = get_settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        watch_archive(settings, stop, heartbeat.touch if heartbeat else lambda: None)
    except KeyboardInterrupt:
        typer.echo("stopping")


@commands.command()
def demo(
    minutes: Annotated[float, typer.Option(min=0, help="Time over which the season is dripped.")] = 2,
    size: Annotated[int, typer.Option(min=16, help="Pixels per side at 20 m.")] = 549,
    exit_when_done: Annotated[bool, typer.Option(help="Stop once every product is folded.")] = False,
) -> None:
    """``up``, then a generated season of T31TCH dripped into the archive: watch the runs fire; once
    every product is folded, the season's map with ski runs and their ranking in the viewer."""
    from infra.demo import drip, regional, season_products, settled
    from infra.stack import Stack, urls
    from snowdays.settings import get_settings

    settings = get_settings()
    _interrupt_on_sigterm()
    base = Path(settings.prefect_home).parent
    with progress("generating the season") as advance:
        advance(0, 1)
        products = season_products(base / "demo" / f"T31TCH-2017-2018-{size}", "T31TCH", "2017-2018",
                                   size, settings)
        advance(1, 1)
    with Stack(settings, base / "logs"):
        at = urls(settings.ports)
        _print_urls(at, settings)
        with progress("products into the archive") as advance:
            drip(products, Path(settings.archive), minutes * 60, lambda k, _: advance(k, len(products)))
        while not settled("T31TCH", settings, f"{at['Prefect UI']}/api"):
            time.sleep(2)
        typer.echo(f"every product is folded: {settings.store}")
        regional("T31TCH", "2017-2018", base / "demo", settings)
        typer.echo(f"{'map':<16}{at['viewer']}?season=2017-2018")
        if not exit_when_done:
            _until_interrupted()


@commands.command()
def backfill(
    region: Annotated[str, typer.Option(help="alps, pyrenees, or a file: a tile list or a GeoJSON "
                                        "polygon (the archive's tiles it meets).")],
    season: Annotated[list[str], typer.Option(help="Season, e.g. 2016-2017; repeat for more.")],
) -> None:
    """Build a region's tile-seasons in batch from the archive (a complete one is skipped: a killed
    backfill started again finishes the rest), publish their maps and items, then the region's
    mosaics. With a Prefect API (PREFECT_API_URL, as for the stack of ``snowdays up``) it starts a run
    of the ``backfill`` deployment, its tile-seasons on the Dask cluster, and follows it (exit 1 if the
    run fails); without one, it builds them here, one after another."""
    from infra.backfill import api_configured
    from snowdays.regions import SHIPPED, load_region
    from snowdays.settings import get_settings

    settings = get_settings()
    for label in season:
        settings.season(label)
    loaded = load_region(region)
    spec = region if region in SHIPPED else str(Path(region).resolve())
    if api_configured():
        _follow_backfill(spec, season)
    else:
        _backfill_here(loaded, season, settings)


def _follow_backfill(region: str, seasons: list[str]) -> None:
    from infra.backfill import follow, start

    run_id = start(region, seasons)
    typer.echo(f"backfill run {run_id}")
    with progress("tile-seasons (percent)") as advance:
        state = follow(run_id, lambda percent, _: advance(round(percent), 100))
    typer.echo(f"backfill run {run_id}: {state.name}")
    if not state.is_completed():
        raise typer.Exit(1)


def _backfill_here(loaded: Region, seasons: list[str], settings: Settings) -> None:
    from snowdays.backfill import backfill_season, region_tiles
    from stac.mosaics import build, publish_mosaic
    from stac.publish import publish

    jobs = [(t, label) for label in seasons for t in region_tiles(loaded, settings.archive, settings)]
    reports = []
    with progress("tile-seasons") as advance:
        advance(0, len(jobs))
        for tile, label in jobs:
            reports.append(backfill_season(settings.store, tile, label, settings))
            advance(len(reports), len(jobs))
    errors = [publish(settings.store, r.tile, r.label, settings).api_error for r in reports if r.held]
    errors += _publish_anomalies(loaded, [(r.tile, r.label) for r in reports if r.held], seasons, settings)
    errors += [publish_mosaic(build(loaded, label, settings), settings).api_error for label in seasons]
    built = [r for r in reports if r.changed]
    typer.echo(f"{len(built)} of {len(jobs)} tile-seasons built ({sum(r.products for r in built)} "
               f"products), {len(jobs) - len(built)} complete already")
    if failed := [e for e in errors if e]:
        err.print(f"[red]error:[/] the static catalog is written, the STAC API is not: {failed[0]}")
        raise typer.Exit(1)


def _publish_anomalies(loaded: Region, held: list[tuple[str, str]], seasons: list[str],
                       settings: Settings) -> list[str | None]:
    """Each tile-season's anomaly where its tile holds a past season, then the region's: the errors of
    their STAC API updates."""
    from snowdays.anomaly import NoPast
    from stac.anomalies import build_region, publish_anomaly, publish_region

    found = [publish_anomaly(settings.store, tile, label, settings) for tile, label in held]
    errors = [f.api_error for f in found if not isinstance(f, NoPast)]
    regional = [build_region(loaded, label, settings) for label in seasons]
    return errors + [publish_region(r, settings).api_error for r in regional if r is not None]


def _print_urls(found: dict[str, str], settings: Settings) -> None:
    for name, url in found.items():
        typer.echo(f"{name:<16}{url}")
    typer.echo(f"{'archive':<16}{settings.archive}\n{'stores':<16}{settings.store}\n"
               f"{'catalog':<16}{settings.stac_catalog}\nCtrl-C stops everything.")


def _interrupt_on_sigterm() -> None:
    """Stop on SIGTERM as on Ctrl-C: through the stack's exit, which stops every child."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _until_interrupted() -> None:
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        typer.echo("stopping")
