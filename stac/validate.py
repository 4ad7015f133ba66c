"""Offline validation of STAC objects against their JSON schemas.

The core STAC schemas and GeoJSON's are pystac's own copies (its local schema cache, of the STAC version
pystac writes); those it does not ship (the extensions', PROJJSON) are vendored in ``stac/schemas``,
each under ``schemas/<host>/<path>`` of the URL it is published at. Every ``$ref`` is resolved among
them (and the JSON Schema meta-schemas jsonschema ships), never over the network: a schema in neither
is an error naming it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match
from jsonschema_specifications import REGISTRY as METASCHEMAS
from pystac.validation.local_validator import get_local_schema_cache
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT7

SCHEMAS = Path(__file__).with_name("schemas")
CORE = "https://schemas.stacspec.org/v1.1.0/{}-spec/json-schema/{}.json"
_KINDS = {"Feature": "item", "Collection": "collection", "Catalog": "catalog"}


class InvalidStac(ValueError):
    """A STAC object that fails one of its schemas (the message names the object, schema and field)."""


@cache
def registry() -> Registry[Any]:
    """pystac's schemas and the vendored ones by URL, with the meta-schemas; any other URL is
    unresolvable (a registry retrieves nothing unless told how)."""
    schemas = get_local_schema_cache() | vendored()
    resources = [(uri, Resource.from_contents(schema, default_specification=DRAFT7))
                 for uri, schema in schemas.items()]
    return Registry().with_resources([*resources, *METASCHEMAS.items()])


def vendored() -> dict[str, dict[str, Any]]:
    """The schemas of ``stac/schemas`` by the URL they are published at."""
    return {f"https://{path.relative_to(SCHEMAS).as_posix()}": json.loads(path.read_text())
            for path in sorted(SCHEMAS.rglob("*.json"))}


def schema_uris(obj: dict[str, Any]) -> list[str]:
    """The core schema of the object's type, then its extensions' schemas."""
    kind = _KINDS.get(str(obj.get("type")))
    if kind is None:
        raise InvalidStac(f"{obj.get('id')!r} has type {obj.get('type')!r}: not an item, collection "
                          "or catalog")
    return [CORE.format(kind, kind), *obj.get("stac_extensions", [])]


def validate(obj: dict[str, Any]) -> list[str]:
    """Check ``obj`` against its core and extension schemas; the schema URLs it passed."""
    uris = schema_uris(obj)
    for uri in uris:
        if f"https://{uri.split('://', 1)[-1]}" not in registry():
            raise InvalidStac(f"{obj.get('id')!r} uses {uri}, whose schema is neither pystac's nor "
                              f"vendored in {SCHEMAS}")
        try:
            error = best_match(Draft7Validator({"$ref": uri}, registry=registry()).iter_errors(obj))
        except Unresolvable as e:
            raise InvalidStac(f"{obj.get('id')!r}: {uri} refers to {e.ref}, a schema neither pystac's nor "
                              f"vendored in {SCHEMAS}") from e
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(top)"
            raise InvalidStac(f"{obj.get('id')!r} fails {uri} at {where}: {error.message}")
    return uris
