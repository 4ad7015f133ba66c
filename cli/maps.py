"""The commands of regional maps: mosaics, the ski runs overlay, the resorts' ranking."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.terminal import api_report, mapped, mosaic_report, numbers

commands = typer.Typer()
pistes_app = typer.Typer(help="The ski runs overlay (OpenStreetMap pistes and ski areas).",
                         no_args_is_help=True)
commands.add_typer(pistes_app, name="pistes")


@commands.command()
def mosaic(
    region: Annotated[str, typer.Option(help="alps, pyrenees, or a file: a tile list or a GeoJSON "
                                        "polygon.")],
    season: Annotated[str, typer.Option(help="Season, e.g. 2017-2018.")],
    catalog: Annotated[str | None, typer.Option(help="Folder or s3:// prefix of the static STAC catalog "
                                                "(default from settings).")] = None,
) -> None:
    """Build a region's mosaic (EPSG:3035, 20 m) of the published tile maps, then publish its item;
    only the blocks whose tiles changed are built again."""
    from snowdays.regions import load_region
    from snowdays.settings import get_settings
    from stac.mosaics import build as build_mosaic
    from stac.mosaics import publish_mosaic

    settings = get_settings()
    settings.season(season)
    with mapped(f"mosaic {season}") as mapper:
        report = build_mosaic(load_region(region), season, settings, catalog, mapper)
    mosaic_report(report, "maps")
    api_report(publish_mosaic(report, settings, catalog))


@pistes_app.command("import")
def pistes_import(
    file: Annotated[Path, typer.Argument(help="OSM XML (.osm), PBF (.pbf) or GeoJSON (.geojson) of "
                                         "piste:type ways and landuse=winter_sports areas.")],
    out: Annotated[str | None, typer.Option(help="Where the overlay GeoJSON goes (default: "
                                            "{catalog}/pistes/pistes.geojson).")] = None,
) -> None:
    """Convert an OpenSnowMap / OSM extract into the viewer's ski runs overlay."""
    from snowdays.mosaic_files import write_json
    from snowdays.pistes import import_pistes, overlay_href
    from snowdays.settings import get_settings

    settings = get_settings()
    overlay = import_pistes(file)
    target = out or overlay_href(settings.stac_catalog)
    write_json(target, overlay, settings)
    kinds = [f["properties"]["kind"] for f in overlay["features"]]
    downhill = sum(f["properties"]["piste_type"] == "downhill" for f in overlay["features"])
    typer.echo(f"{kinds.count('piste')} pistes ({downhill} downhill), {kinds.count('ski_area')} ski "
               f"areas: {target}")


@pistes_app.command("sample")
def pistes_sample(
    out: Annotated[Path, typer.Argument(help="The OSM file to write: XML (.osm) or PBF (.pbf).")],
    bbox: Annotated[str, typer.Option(help="WEST,SOUTH,EAST,NORTH in degrees.")],
    count: Annotated[int, typer.Option(min=1, help="Ski areas.")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate synthetic ski areas with their pistes as an OSM file (for demos and tests; the osm
    extra writes it)."""
    from snowdays.errors import UsageError
    from snowdays.sample_pistes import random_areas, write_osm

    edges = numbers(bbox)
    if len(edges) != 4 or not (edges[0] < edges[2] and edges[1] < edges[3]):
        raise UsageError(f"{bbox!r} is not WEST,SOUTH,EAST,NORTH with WEST < EAST and SOUTH < NORTH")
    typer.echo(write_osm(out, random_areas((edges[0], edges[1], edges[2], edges[3]), count, seed)))


@commands.command()
def resorts(
    season: Annotated[str, typer.Option(help="Season, e.g. 2017-2018.")],
    region: Annotated[str | None, typer.Option(help="Region of a mosaic, as given to mosaic (alps, a "
                                               "file) or its name (default: every region with a "
                                               "mosaic of the season).")] = None,
    format_: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    catalog: Annotated[str | None, typer.Option(help="Folder or s3:// prefix of the static STAC catalog "
                                                "(default from settings).")] = None,
    pistes: Annotated[str | None, typer.Option(help="The ski runs overlay (default: the catalog's).")]
    = None,
) -> None:
    """Rank the ski areas by the snow cover duration on their downhill pistes (mean, 10th and 90th
    percentiles, share of pixels with >= resort_min_days days, median melt-out date); the ranking is
    also written to {catalog}/resorts/{region}-{season}.json."""
    from snowdays.errors import UsageError
    from snowdays.mosaic import mosaic_folder
    from snowdays.pistes import overlay_href
    from snowdays.regions import region_name
    from snowdays.resorts import mosaic_regions, ranking, read_overlay, write_ranking
    from snowdays.settings import get_settings
    from snowdays.storage import filesystem

    if format_ not in ("table", "csv", "json"):
        raise UsageError(f"format {format_!r} is not one of table, csv, json")
    settings = get_settings()
    root = catalog or settings.stac_catalog
    parsed = settings.season(season)
    overlay = read_overlay(pistes or overlay_href(root), settings)
    documents = []
    for name in [region_name(region)] if region else mosaic_regions(root, season, settings):
        folder = mosaic_folder(root, name, season)
        if not filesystem(f"{folder}/scd.tif", settings.s3).exists(f"{folder}/scd.tif"):
            raise UsageError(f"no mosaic of {name} for {season} in {root} (snowdays mosaic first)")
        documents.append(ranking(folder, overlay, name, parsed, season, settings))
        write_ranking(documents[-1], root, settings)
    _print_rankings(documents, format_)


def _print_rankings(documents: list[dict[str, Any]], format_: str) -> None:
    columns = ["rank", "ski_area", "pixels", "scd_mean", "scd_p10", "scd_p90", "share_120",
               "smod_median"]
    if format_ == "json":
        typer.echo(json.dumps(documents, indent=1))
    elif format_ == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["region", "season", *columns])
        for doc in documents:
            writer.writerows([doc["region"], doc["season"], *(r[c] for c in columns)]
                             for r in doc["resorts"])
        typer.echo(out.getvalue(), nl=False)
    else:
        for doc in documents:
            table = Table(*columns, title=f"{doc['region']} {doc['season']}")
            for r in doc["resorts"]:
                table.add_row(*("-" if r[c] is None else str(r[c]) for c in columns))
            Console(soft_wrap=True).print(table)
