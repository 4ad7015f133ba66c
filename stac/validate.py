"""Offline validation of STAC objects against the JSON schemas vendored in ``stac/schemas``.

Each schema is kept under ``schemas/<host>/<path>`` of the URL it is published at; every ``$ref`` is
resolved among them (and the JSON Schema meta-schemas jsonschema ships), never over the network.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match
from jsonschema_specifications import REGISTRY as METASCHEMAS
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SCHEMAS = Path(__file__).with_name("schemas")
CORE = "https://schemas.stacspec.org/v1.1.0/{}-spec/json-schema/{}.json"
_KINDS = {"Feature": "item", "Collection": "collection", "Catalog": "catalog"}


class InvalidStac(ValueError):
    """A STAC object that fails one of its schemas (the message names the object, schema and field)."""


@cache
def registry() -> Registry[Any]:
    """The vendored schemas by URL, with the meta-schemas; any other URL is unresolvable (a registry
    retrieves nothing unless told how)."""
    resources = [(f"https://{path.relative_to(SCHEMAS).as_posix()}",
                  Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT7))
                 for path in sorted(SCHEMAS.rglob("*.json"))]
    return Registry().with_resources([*resources, *METASCHEMAS.items()])


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
            raise InvalidStac(f"{obj.get('id')!r} uses {uri}, whose schema is not vendored in {SCHEMAS}")
        error = best_match(Draft7Validator({"$ref": uri}, registry=registry()).iter_errors(obj))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(top)"
            raise InvalidStac(f"{obj.get('id')!r} fails {uri} at {where}: {error.message}")
    return uris
