"""What a tile's update leaves in the Prefect UI: a summary (each season published, its anomaly, the
products), the SCD quicklook, and every published tile season (out of the items the static catalog
holds, so a run opens no other tile's store)."""

from __future__ import annotations

import logging
from pathlib import Path

import pystac
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact

from snowdays.ingest import Report
from snowdays.settings import Settings
from snowdays.storage import is_s3
from stac.catalog import read_items
from stac.items import KINDS, QUALITY
from stac.publish import PublishReport
from stac.search import api_url

ELEVATION = ("elevation", "elevation-json", "elevation-plot")
"""The item's assets of the statistics by elevation band (where the tile has a DEM)."""
PLOTS = {"histogram": "Histogram of the snow cover duration",
         "elevation-plot": "Snow cover duration against elevation"}
"""The item's plots shown in the run's summary, with their titles."""
LIBRARY_LOGGERS = ("snowdays", "stac")
"""Loggers whose records Prefect sends to the run's page (``PREFECT_LOGGING_EXTRA_LOGGERS``, set by
``snowdays up``, the chart and prefect.yaml)."""


def show_library_logs(settings: Settings) -> None:
    """Let the library's records through at ``settings.log_level`` (Prefect's root logger passes
    warnings only)."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(settings.log_level)


def public(href: str, settings: Settings) -> str:
    """An href as a browser reaches it: under ``files_url`` when the catalog folder is served."""
    if settings.files_url and not is_s3(href) and "://" not in href:
        root = Path(settings.stac_catalog).resolve()
        path = Path(href).resolve()
        if path.is_relative_to(root):
            return f"{settings.files_url.rstrip('/')}/{path.relative_to(root).as_posix()}"
    return href


def asset_url(item: pystac.Item, key: str, settings: Settings) -> str:
    """Where a browser reaches an item's asset (its href made absolute against the item's file first:
    the catalog's hrefs are relative)."""
    asset = item.assets[key]
    return public(asset.get_absolute_href() or asset.href, settings)


def summary(tile: str, reports: list[Report], published: dict[str, PublishReport],
            settings: Settings, anomalies: dict[str, PublishReport | None]) -> str:
    """The run's markdown: seasons published (as-of date, products, mean SCD, anomaly, links, the plots
    as images), then products."""
    lines = [f"# {tile}", ""]
    for label, done in published.items():
        item = done.item
        scd = item.assets["SCD"]
        mean = scd.extra_fields["raster:bands"][0]["statistics"]["mean"]
        lines += [f"## Season {label}: as of {item.properties['snowdays:as_of']} "
                  f"({item.properties['snowdays:status']})", "",
                  f"- products folded in the season: {item.properties['snowdays:products']}",
                  f"- mean SCD: {mean:.1f} days",
                  "- maps: " + _links(item, KINDS, settings),
                  "- quality layers: " + _links(item, QUALITY, settings),
                  *([f"- by elevation: {_links(item, ELEVATION, settings)}"]
                    if ELEVATION[0] in item.assets else []),
                  f"- STAC item: {_item_links(done, settings)}",
                  f"- anomaly: {_anomaly(anomalies.get(label), settings)}", "",
                  *_images(item, settings)]
    lines += ["## Products", "", "| product | outcome |", "| --- | --- |"]
    lines += [f"| {r.product} | {r.outcome} |" for r in reports] or ["| - | nothing pending |"]
    return "\n".join(lines) + "\n"


def _item_links(done: PublishReport, settings: Settings) -> str:
    item = done.item
    api = f"{api_url(settings).rstrip('/')}/collections/{item.collection_id}/items/{item.id}"
    return (f"[{item.id}]({public(done.item_href, settings)}) (static), "
            + (f"[API]({api})" if done.api_error is None else f"not in the STAC API: {done.api_error}"))


def _anomaly(done: PublishReport | None, settings: Settings) -> str:
    """The line of a season's anomaly: against which seasons, the mean SCD anomaly, its item."""
    if done is None:
        return "none (the tile holds no past season from its start to that day)"
    props = done.item.properties
    mean = done.item.assets["SCD-ANOMALY"].extra_fields["raster:bands"][0]["statistics"]["mean"]
    return (f"SCD {mean:+.1f} days on average against {', '.join(props['snowdays:past_seasons'])} as of "
            f"the same day; {_item_links(done, settings)}")


def _images(item: pystac.Item, settings: Settings) -> list[str]:
    """The season's plots as images the UI's browser loads: its SCD histogram and, where the tile has
    a DEM, SCD against elevation."""
    return [f"![{title}]({asset_url(item, key, settings)})\n" for key, title in PLOTS.items()
            if key in item.assets]


def _links(item: pystac.Item, keys: tuple[str, ...], settings: Settings) -> str:
    return ", ".join(f"[{k}]({asset_url(item, k, settings)})" for k in keys if k in item.assets)


def leave_artifacts(tile: str, reports: list[Report], published: dict[str, PublishReport],
                    settings: Settings, anomalies: dict[str, PublishReport | None]) -> None:
    key = tile.lower()
    create_markdown_artifact(summary(tile, reports, published, settings, anomalies), key=f"update-{key}",
                             description=f"Update of {tile}")
    for label, done in published.items():
        href = asset_url(done.item, "quicklook", settings)
        create_image_artifact(href, key=f"scd-{key}", description=f"SCD of {tile} {label}")
        if "elevation-plot" in done.item.assets:
            create_image_artifact(asset_url(done.item, "elevation-plot", settings),
                                  key=f"elevation-{key}", description=f"SCD by elevation, {tile} {label}")
    create_table_artifact(tiles_table(settings), key="tiles", description="Every tile's seasons")


def tiles_table(settings: Settings) -> list[dict[str, str]]:
    """Every published tile season, as its item in the static catalog says (no store is opened)."""
    return [{"tile": str(item.properties["grid:code"]).replace("MGRS-", "T"),
             "season": str(item.properties["snowdays:season"]),
             "as of": str(item.properties["snowdays:as_of"]),
             "products": str(item.properties["snowdays:products"]),
             "status": str(item.properties["snowdays:status"]),
             "item": public(item.get_self_href() or item.id, settings)}
            for item in read_items(settings.stac_catalog, settings)]
