"""Kubernetes resources checked offline: the dask-kubernetes operator's CRDs (shipped in its wheel) as
strict JSON schemas, and YAML streams read into resources."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
import yaml

CRDS = files("dask_kubernetes.operator") / "deployment" / "helm" / "dask-kubernetes-operator" / "crds"
"""The CRDs the operator's own Helm chart installs."""


def strict(schema: Any) -> Any:
    """An OpenAPI v3 schema of a CRD that also rejects unknown fields, as ``kubectl apply`` does
    with server-side field validation (the API server would prune them silently otherwise)."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    open_ended = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and not open_ended:
        out["additionalProperties"] = False
    return out


@cache
def crd_validator(kind: str) -> jsonschema.Draft4Validator:
    """A validator of a ``kubernetes.dask.org/v1`` resource of ``kind`` (``DaskCluster``...)."""
    for path in CRDS.iterdir():
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
            schema = strict(version["schema"]["openAPIV3Schema"])
            schema["properties"] |= {"apiVersion": {"enum": [f"{crd['spec']['group']}/v1"]},
                                     "kind": {"enum": [kind]},
                                     "metadata": {"type": "object", "required": ["name"]}}
            schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
            return jsonschema.Draft4Validator(schema)
    raise LookupError(f"no CRD of kind {kind} in {CRDS}")


def errors(resource: dict[str, Any]) -> list[str]:
    """What the operator's CRD finds wrong with a resource (an empty list: valid)."""
    found = crd_validator(resource["kind"]).iter_errors(resource)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in found]
