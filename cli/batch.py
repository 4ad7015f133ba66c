"""The batch commands: a season's maps from a folder of products, samples, snow detection, the tile
stores (ingest, export, status, compact)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.terminal import err, parse_date, progress

if TYPE_CHECKING:
    from snowdays.ingest import Status
    from snowdays.settings import Settings

commands = typer.Typer()

Store = Annotated[str, typer.Option(help="Folder or s3:// prefix of the tile stores.")]
Tile = Annotated[str, typer.Option(help="Tile, e.g. T31TCH.")]
SeasonLabel = Annotated[str, typer.Option(help="Season, e.g. 2017-2018.")]


@commands.command()
def annual(
    products: Annotated[str, typer.Argument(help="Folder or s3:// prefix of products.")],
    tile: Tile,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")],
    stop: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option(help="Folder the four maps are written to.")],
    margin: Annotated[int | None, typer.Option(help="Days of margin (default from settings).")] = None,
    skip_bad: Annotated[bool, typer.Option(help="Leave rejected products out instead of stopping.")] = False,
) -> None:
    """Compute SCD, SOD, SMOD and NOBS of one tile over one season."""
    from snowdays.annual import run_annual, write
    from snowdays.names import normalise_tile
    from snowdays.season import Season
    from snowdays.settings import get_settings

    settings = get_settings()
    season = Season(start=parse_date(start), stop=parse_date(stop),
                    margin=settings.margin_days if margin is None else margin)
    with progress("folding products") as advance:
        result = run_annual(products, normalise_tile(tile), season, settings, strict=not skip_bad,
                            progress=advance)
    for rejected in result.rejected:
        err.print(f"[yellow]rejected[/] {escape(str(rejected))}")
    for path in write(result, out, settings):
        typer.echo(path)


@commands.command()
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
    from snowdays.errors import UsageError
    from snowdays.layouts import LAYOUTS
    from snowdays.names import normalise_tile
    from snowdays.sample import make_season, write_dem
    from snowdays.settings import get_settings

    if layout not in LAYOUTS:
        raise UsageError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    settings = get_settings()
    parsed = settings.season(season)
    with progress("writing products") as advance:
        paths = make_season(out, tile, parsed, size, layout, zip_, seed, advance)  # type: ignore[arg-type]
    typer.echo(f"{len(paths)} products in {out}")
    if dem is not None:
        typer.echo(write_dem(dem / f"{normalise_tile(tile)}.tif", tile, size, seed))


@commands.command()
def detect(
    product: Annotated[str, typer.Argument(help="An L2A product: dir or zip, local or s3://.")],
    out: Annotated[str, typer.Option(help="Folder or s3:// prefix the snow raster is written to.")],
    dem: Annotated[str | None, typer.Option(help="Folder or s3:// prefix of DEMs named <tile>.tif "
                                            "(default from settings).")] = None,
) -> None:
    """Detect the snow of an L2A product as LIS does; write it as a LIS-style snow raster."""
    from snowdays.errors import UsageError
    from snowdays.l2a import snow, snow_href
    from snowdays.products import open_product
    from snowdays.settings import get_settings

    settings = get_settings()
    settings = settings.model_copy(update={"snow_rasters": out, "dem": dem or settings.dem})
    opened = open_product(product, settings)
    if opened.layers is None:
        raise UsageError(f"{opened.id.name} is a snow product already, not an L2A product")
    found = snow(opened.id, opened.layers, opened.grid, settings)
    typer.echo(snow_href(opened.id, out))
    zs = "none" if found.snowline is None else f"{found.snowline} m"
    typer.echo(f"snowline {zs}, pass 2 {'run' if found.pass2 else 'not run'}")


@commands.command()
def ingest(
    products: Annotated[list[str], typer.Argument(help="Products: dirs, zips or tifs, local or s3://.")],
    store: Store,
) -> None:
    """Fold products into their tiles' seasons; bad ones are quarantined."""
    from snowdays.errors import StorageError
    from snowdays.ingest import Status
    from snowdays.settings import get_settings

    settings = get_settings()
    outcomes, left = [], []
    with progress("ingesting products") as advance:
        for done, href in enumerate(products, 1):
            status, fault = _ingest_one(store, href, settings)
            outcomes += [status] if status else []
            left += [f"{href}: {fault}"] if fault else []
            advance(done, len(products))
    if left:
        raise StorageError(f"{len(left)} of {len(products)} products left, run again: " + "; ".join(left))
    if Status.REJECTED in outcomes:
        raise typer.Exit(3)


def _ingest_one(store: str, href: str, settings: Settings) -> tuple[Status | None, str | None]:
    """Ingest one product, saying its outcome; returns its status, or the storage fault that left it."""
    from snowdays.errors import StorageError
    from snowdays.ingest import ingest as ingest_product
    from snowdays.names import not_a_product

    if (why := not_a_product(href)) is not None:
        typer.echo(f"{href}: ignored (not a product: {why})")
        return None, None
    try:
        report = ingest_product(store, href, settings)
    except StorageError as e:  # worth another try: the next product may well fold
        typer.echo(f"{href}: left (a storage fault, worth retrying)")
        return None, str(e)
    seasons = ", ".join(f"{k}: {v}" for k, v in report.seasons.items())
    typer.echo(f"{report.product}: {report.outcome}" + (f" [{seasons}]" if seasons else ""))
    return report.status, None


@commands.command()
def export(
    store: Store,
    tile: Tile,
    season: SeasonLabel,
    out: Annotated[Path, typer.Option(help="Folder the four maps are written to.")],
    as_of: Annotated[str | None, typer.Option(help="Maps as of this date, YYYY-MM-DD.")] = None,
    annual: Annotated[bool | None, typer.Option(help="Name the maps as annual (default: once the "
                                                 "season's window is over).")] = None,
    window_start: Annotated[str | None, typer.Option(help="The maps of a window of the season from "
                                                     "this date (with --window-stop), YYYY-MM-DD.")] = None,
    window_stop: Annotated[str | None, typer.Option(help="The window's last day, YYYY-MM-DD.")] = None,
) -> None:
    """Write a stored season's four maps and quality layers (year to date, or annual), or the four
    maps of a window of it."""
    from snowdays.errors import UsageError
    from snowdays.export import export as export_maps
    from snowdays.export import export_window
    from snowdays.settings import get_settings

    if (window_start is None) != (window_stop is None):
        raise UsageError("a window needs both --window-start and --window-stop")
    if window_start and window_stop:
        paths = export_window(store, tile, season, parse_date(window_start), parse_date(window_stop), out,
                              get_settings())
    else:
        paths = export_maps(store, tile, season, out, get_settings(), parse_date(as_of) if as_of else None,
                            annual)
    for path in paths:
        typer.echo(path)


@commands.command()
def status(
    store: Store,
    tile: Annotated[str | None, typer.Option(help="Only this tile.")] = None,
) -> None:
    """Tiles, seasons, as-of dates, products folded, quarantined, last commit."""
    from snowdays.export import status as tile_status
    from snowdays.settings import get_settings

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
    from snowdays.errors import UsageError
    from snowdays.storage import is_s3

    if not is_s3(store) and not Path(store).is_dir():
        raise UsageError(f"no folder {store}: give the --store the products were ingested into")
    err.print(f"no tile store under {escape(store)} yet: snowdays ingest PRODUCT --store {escape(store)} "
              "makes one")


@commands.command()
def compact(
    store: Store,
    tile: Annotated[str | None, typer.Option(help="Only this tile.")] = None,
    keep_days: Annotated[float | None, typer.Option(min=0, help="Days of commits to keep (default: "
                                                    "the history_days setting).")] = None,
) -> None:
    """Drop the stores' history older than some days, and the data only it used."""
    from snowdays.names import normalise_tile
    from snowdays.settings import get_settings
    from snowdays.store import compact as compact_store
    from snowdays.store import open_repo
    from snowdays.store import tiles as store_tiles

    settings = get_settings()
    keep = timedelta(days=settings.history_days if keep_days is None else keep_days)
    names = [normalise_tile(tile)] if tile else store_tiles(store, settings)
    if not names:
        _no_stores(store)
    for name in names:
        done = compact_store(open_repo(store, name, settings), keep)
        typer.echo(f"{name}: {done.snapshots_expired} commits expired, {done.chunks_deleted} chunks "
                   f"({done.bytes_deleted / 1e6:.1f} MB) deleted")
