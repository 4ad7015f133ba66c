"""The catalog commands: publish a stored season, search the STAC API, serve it."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.terminal import api_report, numbers

commands = typer.Typer()
stac_commands = typer.Typer(help="The STAC API over the published maps.", no_args_is_help=True)


@commands.command()
def publish(
    store: Annotated[str, typer.Option(help="Folder or s3:// prefix of the tile stores.")],
    tile: Annotated[str, typer.Option(help="Tile, e.g. T31TCH.")],
    season: Annotated[str, typer.Option(help="Season, e.g. 2017-2018.")],
    out: Annotated[str | None, typer.Option(help="Folder or s3:// prefix of the static STAC catalog "
                                            "(default from settings).")] = None,
) -> None:
    """Publish a stored season: maps, quicklook and STAC item in the catalog, then the STAC API."""
    from snowdays.settings import get_settings
    from stac.publish import publish as publish_season

    api_report(publish_season(store, tile, season, get_settings(), out))


@commands.command()
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
    from snowdays.settings import get_settings
    from stac.search import api_url
    from stac.search import search as search_items

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


@stac_commands.command()
def serve(
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default from settings).")] = None,
) -> None:
    """Run the STAC API (stac-fastapi-pgstac) on SNOWDAYS_STAC_API_HOST (127.0.0.1), starting the local
    database if configured."""
    from infra.stac_api import serve as serve_api
    from snowdays.settings import get_settings

    settings = get_settings()
    serve_api(settings if port is None else settings.model_copy(update={"stac_api_port": port}))
