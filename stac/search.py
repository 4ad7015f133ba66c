"""Searching the STAC API for snow cover duration items, through pystac-client."""

from __future__ import annotations

from collections.abc import Sequence

import pystac
from pystac_client import Client, ConformanceClasses
from pystac_client.exceptions import APIError
from requests import RequestException

from snowdays.errors import StorageError, UsageError
from snowdays.names import normalise_tile
from snowdays.season import parse_season
from snowdays.settings import Settings
from stac.items import COLLECTION


def api_url(settings: Settings) -> str:
    """The STAC API to ask: from settings, else the local one ``snowdays stac serve`` runs."""
    return settings.stac_api_url or f"http://127.0.0.1:{settings.stac_api_port}"


def open_client(api: str) -> Client:
    """A pystac-client client of the API, knowing every search extension the API declares.

    pystac-client 0.9 recognises the conformance classes of STAC API 1.0 only, and would warn that a
    1.1 API (stac-fastapi-pgstac 6 and later) sorts or filters not, and ignore the sort.
    """
    client = Client.open(api)
    declared = client.get_conforms_to()
    for kind in (ConformanceClasses.SORT, ConformanceClasses.FILTER):
        if not client.conforms_to(kind) and any(uri.endswith(kind.value) for uri in declared):
            client.add_conforms_to(kind.name)
    return client


def cql2(tile: str | None = None, season: str | None = None, extra: str | None = None) -> str | None:
    """A CQL2 text filter: the tile (as its ``grid:code``), the season, and any filter given."""
    parts = []
    if tile:
        parts.append(f"\"grid:code\" = 'MGRS-{normalise_tile(tile).removeprefix('T')}'")
    if season:
        parse_season(season)  # a clear message for a badly written season
        parts.append(f"\"snowdays:season\" = '{season.strip()}'")
    if extra:
        parts.append(f"({extra})")
    return " AND ".join(parts) or None


def search(api: str, *, tile: str | None = None, season: str | None = None,
           bbox: Sequence[float] | None = None, datetime: str | None = None, filter: str | None = None,
           sortby: str = "-properties.snowdays:as_of", limit: int | None = None) -> list[pystac.Item]:
    """Items of the collection that match every criterion given, newest as-of date first.

    Asked with GET, where STAC APIs take CQL2 text (a POST search takes CQL2 JSON only).
    """
    if bbox is not None and len(bbox) != 4:
        raise UsageError(f"bbox {list(bbox)} is not four numbers: west, south, east, north")
    where = cql2(tile, season, filter)
    try:
        client = open_client(api)
        found = client.search(collections=[COLLECTION], bbox=list(bbox) if bbox else None,
                              datetime=datetime, filter=where, sortby=sortby, max_items=limit,
                              filter_lang="cql2-text" if where else None, method="GET")
        return list(found.items())
    except APIError as e:
        status = getattr(e, "status_code", None)  # None: no answer at all
        if status is None:
            raise StorageError(f"the STAC API at {api} cannot be reached: {e}") from e
        if 400 <= status < 500:
            raise UsageError(f"the STAC API at {api} refused the search: {e}") from e
        raise StorageError(f"the STAC API at {api} failed: {e}") from e
    except RequestException as e:
        raise StorageError(f"the STAC API at {api} cannot be reached: {e}") from e
