"""The ``snowdays`` command: a thin layer over the library.

Exit codes: 0 success, 1 storage fault (worth retrying), 2 bad usage, 3 bad input (a rejected product).
"""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from snowdays import __version__
from snowdays.annual import run_annual, write
from snowdays.errors import StorageError, UsageError
from snowdays.export import export as export_maps
from snowdays.export import status as tile_status
from snowdays.ingest import ingest as ingest_product
from snowdays.l2a import snow, snow_href
from snowdays.layouts import LAYOUTS
from snowdays.maps_cli import maps_app
from snowdays.names import normalise_tile, not_a_product
from snowdays.products import open_product
from snowdays.sample import make_season, write_dem
from snowdays.season import Season
from snowdays.settings import Settings, get_settings
from snowdays.storage import is_s3
from snowdays.store import compact as compact_store
from snowdays.store import open_repo
from snowdays.store import tiles as store_tiles
from snowdays.terminal import api_report, err, numbers, report
from stac.api import serve as serve_api
from stac.publish import publish as publish_season
from stac.search import api_url
from stac.search import search as search_items

app = typer.Typer(help="Snow cover duration maps from Theia snow products.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
stac_app = typer.Typer(help="The STAC API over the published maps.", no_args_is_help=True)
app.add_typer(stac_app, name="stac")
app.add_typer(maps_app)


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
    layout: Annotated[str, typer.Option(help="How the products are distributed: muscate, "
                                        "theia-download (Theia's _D_ zips), lis-seb (LIS_SEB.TIF), fsc "
                                        "(LIS >= 1.7), hrsi, hrwsi (Copernicus CLMS_WSI_FSC_020m) or l2a "
                                        "(MAJA L2A reflectances).")] = "muscate",
    zip_: Annotated[bool, typer.Option("--zip", help="Write directory products as zips.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    dem: Annotated[Path | None, typer.Option(help="Folder to write the tile's relief to, as "
                                             "<tile>.tif (a DEM for L2A products).")] = None,
) -> None:
    """Generate a realistic synthetic season of products."""
    if layout not in LAYOUTS:
        raise UsageError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    settings = get_settings()
    parsed = settings.season(season)
    with _progress("writing products") as progress:
        paths = make_season(out, tile, parsed, size, layout, zip_, seed, progress)  # type: ignore[arg-type]
    typer.echo(f"{len(paths)} products in {out}")
    if dem is not None:
        typer.echo(write_dem(dem / f"{normalise_tile(tile)}.tif", tile, size, seed))


@app.command()
def detect(
    product: Annotated[str, typer.Argument(help="An L2A product: dir or zip, local or s3://.")],
    out: Annotated[str, typer.Option(help="Folder or s3:// prefix the snow raster is written to.")],
    dem: Annotated[str | None, typer.Option(help="Folder or s3:// prefix of DEMs named <tile>.tif "
                                            "(default from settings).")] = None,
) -> None:
    """Detect the snow of an L2A product as LIS does; write it as a LIS-style snow raster."""
    settings = get_settings()
    settings = settings.model_copy(update={"snow_rasters": out, "dem": dem or settings.dem})
    opened = open_product(product, settings)
    if opened.layers is None:
        raise UsageError(f"{opened.id.name} is a snow product already, not an L2A product")
    found = snow(opened.id, opened.layers, opened.grid, settings)
    typer.echo(snow_href(opened.id, out))
    zs = "none" if found.snowline is None else f"{found.snowline} m"
    typer.echo(f"snowline {zs}, pass 2 {'run' if found.pass2 else 'not run'}")


@app.command()
def ingest(
    products: Annotated[list[str], typer.Argument(help="Products: dirs, zips or tifs, local or s3://.")],
    store: Annotated[str, typer.Option(help="Folder or s3:// prefix of the tile stores.")],
) -> None:
    """Fold products into their tiles' seasons; bad ones are quarantined."""
    settings = get_settings()
    outcomes, left = [], []
    for href in products:
        if (why := not_a_product(href)) is not None:
            typer.echo(f"{href}: ignored (not a product: {why})")
            continue
        try:
            report = ingest_product(store, href, settings)
        except StorageError as e:  # worth another try: the next product may well fold
            typer.echo(f"{href}: left (a storage fault, worth retrying)")
            left.append(f"{href}: {e}")
            continue
        outcomes.append(report.outcome.split(" ", 1)[0])
        seasons = ", ".join(f"{k}: {v}" for k, v in report.seasons.items())
        typer.echo(f"{report.product}: {report.outcome}" + (f" [{seasons}]" if seasons else ""))
    if left:
        raise StorageError(f"{len(left)} of {len(products)} products left, run again: " + "; ".join(left))
    if "rejected" in outcomes:
        raise typer.Exit(3)


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
    if not found:
        _no_stores(store)
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


def _no_stores(store: str) -> None:
    """A store folder that is not there is a mistake; one with no tile yet is said so, and not one."""
    if not is_s3(store) and not Path(store).is_dir():
        raise UsageError(f"no folder {store}: give the --store the products were ingested into")
    err.print(f"no tile store under {escape(store)} yet: snowdays ingest PRODUCT --store {escape(store)} "
              "makes one")


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
    names = [normalise_tile(tile)] if tile else store_tiles(store, settings)
    if not names:
        _no_stores(store)
    for name in names:
        done = compact_store(open_repo(store, name, settings), keep)
        typer.echo(f"{name}: {done.snapshots_expired} commits expired, {done.chunks_deleted} chunks "
                   f"({done.bytes_deleted / 1e6:.1f} MB) deleted")


@app.command()
def publish(
    store: Annotated[str, typer.Option(help="Folder or s3:// prefix of the tile stores.")],
    tile: Annotated[str, typer.Option(help="Tile, e.g. T31TCH.")],
    season: Annotated[str, typer.Option(help="Season, e.g. 2017-2018.")],
    out: Annotated[str | None, typer.Option(help="Folder or s3:// prefix of the static STAC catalog "
                                            "(default from settings).")] = None,
) -> None:
    """Publish a stored season: maps, quicklook and STAC item in the catalog, then the STAC API."""
    api_report(publish_season(store, tile, season, get_settings(), out))


@app.command()
def search(
    tile: Annotated[str | None, typer.Option(help="Tile, e.g. T31TCH.")] = None,
    season: Annotated[str | None, typer.Option(help="Season, e.g. 2017-2018.")] = None,
    bbox: Annotated[str | None, typer.Option(help="WEST,SOUTH,EAST,NORTH in degrees.")] = None,
    datetime: Annotated[str | None, typer.Option(help="Date or interval, e.g. 2018-01-01/2018-03-31.")]
    = None,
    filter_: Annotated[str | None, typer.Option("--filter", help="CQL2 text filter.")] = None,
    api: Annotated[str | None, typer.Option(help="STAC API URL (default: the local one).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the items as a GeoJSON collection.")]
    = False,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many items.")] = None,
) -> None:
    """Search the STAC API for published seasons, newest as-of date first."""
    items = search_items(api or api_url(get_settings()), tile=tile, season=season,
                         bbox=numbers(bbox) if bbox else None, datetime=datetime, filter=filter_,
                         limit=limit)
    if json_:
        features = [i.to_dict(transform_hrefs=False) for i in items]
        typer.echo(json.dumps({"type": "FeatureCollection", "features": features}, indent=1))
        return
    table = Table("item", "tile", "season", "as of", "status", "products", "SCD")
    for i in items:
        p = i.properties
        table.add_row(i.id, p.get("grid:code", ""), p.get("snowdays:season", ""),
                      p.get("snowdays:as_of", ""), p.get("snowdays:status", ""),
                      str(p.get("snowdays:products", "")), i.assets["SCD"].href if "SCD" in i.assets else "")
    Console(soft_wrap=True).print(table)


@stac_app.command()
def serve(
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default from settings).")] = None,
) -> None:
    """Run the STAC API (stac-fastapi-pgstac) on SNOWDAYS_STAC_API_HOST (127.0.0.1), starting the local
    database if configured."""
    settings = get_settings()
    serve_api(settings if port is None else settings.model_copy(update={"stac_api_port": port}))


@app.command()
def up() -> None:
    """Run the local stack on 127.0.0.1 until Ctrl-C: Prefect, Dask, the STAC API, a file server, and the
    pipeline watching the archive."""
    from infra.stack import Stack, urls  # noqa: PLC0415 - the pipeline is imported by its commands only

    settings = get_settings()
    _interrupt_on_sigterm()
    with Stack(settings, Path(settings.prefect_home).parent / "logs"):
        _print_urls(urls(settings), settings)
        _until_interrupted()


@app.command()
def watch(
    heartbeat: Annotated[Path | None, typer.Option(help="File touched while the watcher runs (for a "
                                                   "liveness probe).")] = None,
) -> None:
    """Watch the archive until stopped, an event per arriving product: SQS notifications
    (SNOWDAYS_SQS_QUEUE_URL), else STAC API searches (SNOWDAYS_WATCH_TILES), else a look at the
    archive every few seconds."""
    import threading  # noqa: PLC0415

    from flows.serve import watch as watch_archive  # noqa: PLC0415 - the pipeline's own command

    settings = get_settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        watch_archive(settings, stop, heartbeat.touch if heartbeat else lambda: None)
    except KeyboardInterrupt:
        typer.echo("stopping")


@app.command()
def demo(
    minutes: Annotated[float, typer.Option(min=0, help="Time over which the season is dripped.")] = 2,
    size: Annotated[int, typer.Option(min=16, help="Pixels per side at 20 m.")] = 549,
    exit_when_done: Annotated[bool, typer.Option(help="Stop once every product is folded.")] = False,
) -> None:
    """``up``, then a generated season of T31TCH dripped into the archive: watch the runs fire; once
    every product is folded, the season's map with ski runs and their ranking in the viewer."""
    from infra.demo import drip, regional, season_products, settled  # noqa: PLC0415
    from infra.stack import Stack, urls  # noqa: PLC0415

    settings = get_settings()
    _interrupt_on_sigterm()
    base = Path(settings.prefect_home).parent
    with _progress("generating the season") as progress:
        progress(0, 1)
        products = season_products(base / "demo" / f"T31TCH-2017-2018-{size}", "T31TCH", "2017-2018",
                                   size, settings)
        progress(1, 1)
    with Stack(settings, base / "logs"):
        at = urls(settings)
        _print_urls(at, settings)
        with _progress("products into the archive") as progress:
            drip(products, Path(settings.archive), minutes * 60, lambda k, _: progress(k, len(products)))
        while not settled("T31TCH", settings, f"{at['Prefect UI']}/api"):
            time.sleep(2)
        typer.echo(f"every product is folded: {settings.store}")
        regional("T31TCH", "2017-2018", base / "demo", settings)
        typer.echo(f"{'map':<16}{at['viewer']}?season=2017-2018")
        if not exit_when_done:
            _until_interrupted()


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
    except Exception as e:  # noqa: BLE001 - every error ends here as an exit code and one line
        raise SystemExit(report(e)) from None
