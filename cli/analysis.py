"""Commands that question a stored season: a point's series, stations, anomalies, elevation bands."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.batch import SeasonLabel, Store, Tile
from cli.terminal import api_report, mapped, mosaic_report, parse_date

if TYPE_CHECKING:
    from snowdays.point import PointSeason
    from snowdays.validation import Validation

commands = typer.Typer()


@commands.command()
def point(
    lon: Annotated[float, typer.Option(help="Longitude, degrees east.")],
    lat: Annotated[float, typer.Option(help="Latitude, degrees north.")],
    season: SeasonLabel,
    store: Store,
    tile: Annotated[str | None, typer.Option(help="Tile (default: the stored one holding it).")] = None,
    as_of: Annotated[str | None, typer.Option(help="As of this date, YYYY-MM-DD.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON.")] = False,
) -> None:
    """A point's season: each day's observation, the gap-filled series, SCD, SOD, SMOD and NOBS."""
    import json

    from snowdays.point import point_season
    from snowdays.settings import get_settings

    found = point_season(store, lon, lat, season, get_settings(), tile, parse_date(as_of) if as_of else None)
    if as_json:
        typer.echo(json.dumps(found.to_json()))
        return
    for line in _point_lines(found):
        typer.echo(line)


def _point_lines(found: PointSeason) -> list[str]:
    from snowdays.duration import MIN_SCD_FOR_DATES

    def dated(day: int) -> str:
        if found.scd <= MIN_SCD_FOR_DATES:
            return f"none ({MIN_SCD_FOR_DATES} snow days or fewer)"
        return f"{found.start + timedelta(day)} (day {day})"

    seen = {o.day: o.seen for o in found.observations}
    lines = [f"{found.tile} {found.season} at {found.lat:.5f} N, {found.lon:.5f} E: row {found.row}, "
             f"column {found.col}; as of {found.as_of}",
             f"SCD {found.scd} days  SOD {dated(found.sod)}  SMOD {dated(found.smod)}  NOBS {found.nobs}",
             "date        seen      snow (gap-filled)"]
    lines += [f"{o.date}  {o.seen:<8}  (margin)" for o in found.observations if o.day < 0]
    lines += [f"{found.start + timedelta(d)}  {seen.get(d, ''):<8}  {'snow' if s else '-'}"
              for d, s in enumerate(found.snow)]
    lines += [f"{o.date}  {o.seen:<8}  (margin)" for o in found.observations if o.day >= len(found.snow)]
    return lines


@commands.command()
def validate(
    stations: Annotated[Path, typer.Option(help="CSV: station_id,lon,lat,elevation,date,snow_depth (m).")],
    season: Annotated[list[str], typer.Option(help="Season, e.g. 2017-2018 (again for more).")],
    store: Store,
    as_of: Annotated[str | None, typer.Option(help="Maps as of this date, YYYY-MM-DD.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON.")] = False,
) -> None:
    """The maps against snow-depth stations: SCD, SOD and SMOD errors (map - station), RMSE, bias and
    median by station and overall."""
    import json

    from snowdays.settings import get_settings
    from snowdays.validation import read_stations
    from snowdays.validation import validate as compare

    day = parse_date(as_of) if as_of else None
    found = compare(store, read_stations(stations), season, get_settings(), day)
    if as_json:
        typer.echo(json.dumps(found.to_json()))
        return
    for line in _validation_lines(found):
        typer.echo(line)


def _validation_lines(found: Validation) -> list[str]:
    def cell(pair: tuple[int, int] | None) -> str:
        return "-" if pair is None else f"{pair[0]}/{pair[1]} ({pair[0] - pair[1]:+d})"

    lines = ["station  season  tile  days  SCD map/station (error)  SOD  SMOD"]
    lines += [f"{c.station.id}  {c.season}  {c.tile}  {c.days}  "
              + "  ".join(cell(c.values[m]) for m in ("scd", "sod", "smod")) for c in found.compared]
    for measure in ("scd", "sod", "smod"):
        s, name = found.overall(measure), measure.upper()
        lines.append(f"{name}  no station" if s is None else
                     f"{name}  n {s.n}  RMSE {s.rmse:.1f}  bias {s.bias:+.1f}  median {s.median:+.1f}")
    lines += [f"skipped {name} {label}: {why}" for name, label, why in found.skipped]
    return lines


@commands.command()
def anomaly(
    season: SeasonLabel,
    store: Annotated[str | None, typer.Option(help="Folder or s3:// prefix of the tile stores (a tile's "
                                              "anomaly).")] = None,
    tile: Annotated[str | None, typer.Option(help="Tile, e.g. T31TCH (a tile's anomaly).")] = None,
    region: Annotated[str | None, typer.Option(help="alps, pyrenees, or a file: the region's anomaly, "
                                               "mosaicked from its tiles' published ones.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder the tile's COGs are written to.")] = None,
    publish: Annotated[bool, typer.Option("--publish", help="Publish the tile's anomaly: COGs and STAC "
                                          "item in the catalog, then the STAC API.")] = False,
    catalog: Annotated[str | None, typer.Option(help="Folder or s3:// prefix of the static STAC catalog "
                                                "(default from settings).")] = None,
    as_of: Annotated[str | None, typer.Option(help="As of this date, YYYY-MM-DD (default: the latest "
                                              "product).")] = None,
) -> None:
    """A season as of a day against the tile's past seasons as of the same day: SCD and SMOD anomalies
    and their climatology, as COGs (--out) and a STAC item (--publish); or a region's, from its tiles'
    published anomalies (--region), as a mosaic and its item."""
    from snowdays.errors import UsageError

    if region is not None:
        if store or tile or out or publish or as_of:
            raise UsageError("--region mosaics the tiles' published anomalies: give it with --season "
                             "(and --catalog) alone")
        _region_anomaly(region, season, catalog)
        return
    if not (store and tile):
        raise UsageError("give --store and --tile (a tile's anomaly), or --region (a region's)")
    if out is None and not publish:
        raise UsageError("give --out DIR (the COGs), --publish (the STAC item), or both")
    _tile_anomaly(store, tile, season, out, publish, catalog, parse_date(as_of) if as_of else None)


def _tile_anomaly(store: str, tile: str, season: str, out: Path | None, publish: bool,
                  catalog: str | None, as_of: date | None) -> None:
    from snowdays.anomaly import anomaly as compute
    from snowdays.anomaly import write as write_anomaly
    from snowdays.settings import get_settings
    from stac.anomalies import publish_result

    settings = get_settings()
    found = compute(store, tile, season, settings, as_of)
    mean = float(found.scd_anomaly.mean())
    typer.echo(f"{found.tile} {season} as of {found.as_of} (day {found.day}) against "
               f"{', '.join(found.past)}: SCD {mean:+.1f} days on average")
    for path in write_anomaly(found, out, settings) if out else []:
        typer.echo(path)
    if publish:
        api_report(publish_result(found, settings, catalog))


def _region_anomaly(region: str, season: str, catalog: str | None) -> None:
    from snowdays.errors import UsageError
    from snowdays.regions import load_region
    from snowdays.settings import get_settings
    from stac.anomalies import build_region, publish_region

    settings = get_settings()
    settings.season(season)
    loaded = load_region(region)
    with mapped(f"anomaly {season}") as mapper:
        report = build_region(loaded, season, settings, catalog, mapper)
    if report is None:
        raise UsageError(f"no tile of the region {loaded.name} has an anomaly published for {season} in "
                         f"{catalog or settings.stac_catalog} (publish them first: snowdays anomaly "
                         "--store --tile --season --publish)")
    mosaic_report(report, "anomaly")
    api_report(publish_region(report, settings, catalog))


@commands.command()
def elevation(
    store: Store,
    tile: Tile,
    season: Annotated[list[str], typer.Option(help="Season, e.g. 2017-2018 (again for more).")],
    out: Annotated[Path, typer.Option(help="Folder the tables and plots are written to.")],
    polygons: Annotated[Path | None, typer.Option(help="GeoJSON of polygons (catchments, ski areas), "
                                                  "longitude and latitude.")] = None,
    band: Annotated[int, typer.Option(min=1, help="Height of an elevation band (metres).")] = 100,
) -> None:
    """SCD, SOD, SMOD and the snow-covered share by elevation band (the DEM of SNOWDAYS_DEM), over the
    tile and each polygon: CSV, JSON and a plot of SCD against elevation per zone."""
    import re

    from snowdays.elevation import elevation_stats, load_polygons, plot, write_tables
    from snowdays.names import normalise_tile
    from snowdays.settings import get_settings

    shapes = load_polygons(str(polygons) if polygons else None)
    name = normalise_tile(tile)
    rows = elevation_stats(store, name, season, get_settings(), shapes, band)
    paths = write_tables(rows, out, f"elevation-{name}")
    for zone in dict.fromkeys(r.zone for r in rows):
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", zone).strip(".-") or "zone"  # a polygon's name is not a path
        paths.append(plot([r for r in rows if r.zone == zone], out / f"elevation-{name}-{safe}.png", band,
                          f"SCD by {band} m band: {zone}"))
    for path in paths:
        typer.echo(path)
