"""A product's metadata (``*_MTD_ALL.xml``) checked against its name: acquisition date, version,
platform and tile. Parsed with defusedxml (no entity expansion, no external entities)."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from snowdays.errors import MetadataMismatch
from snowdays.names import Family, ProductId, normalise_tile


def check_metadata(pid: ProductId, xml: bytes) -> ProductId:
    """Reject a product whose ``*_MTD_ALL.xml`` disagrees with its name; return its id with the
    metadata's version when the name has none."""
    try:
        root = ElementTree.fromstring(xml)
    except (ElementTree.ParseError, DefusedXmlException) as e:
        raise MetadataMismatch(pid.name, f"unreadable metadata XML ({e})") from e
    found = {tag: _text(root, tag) for tag in
             ("ACQUISITION_DATE", "PRODUCT_VERSION", "PLATFORM", "GEOGRAPHICAL_ZONE")}
    problems = []
    if (text := found["ACQUISITION_DATE"]) is not None and _xml_date(text) != pid.acquired:
        problems.append(f"ACQUISITION_DATE {text}")
    version = _xml_version(found["PRODUCT_VERSION"])
    if pid.version and version is not None and version not in _versions(pid):
        problems.append(f"PRODUCT_VERSION {found['PRODUCT_VERSION']}")
    if (text := found["PLATFORM"]) is not None and not _same_platform(text, pid.platform):
        problems.append(f"PLATFORM {text}")
    if (text := found["GEOGRAPHICAL_ZONE"]) is not None and normalise_tile(text) != pid.tile:
        problems.append(f"GEOGRAPHICAL_ZONE {text}")
    if problems:
        raise MetadataMismatch(pid.name, "metadata disagrees with the name: " + ", ".join(problems))
    if not pid.version and version is not None:
        return pid.model_copy(update={"version": version})
    return pid


def _xml_version(text: str | None) -> tuple[int, ...] | None:
    """``1.9`` (MUSCATE's form) or ``1-9``: the version (1, 9); None when absent or not numbers."""
    parts = (text or "").replace("-", ".").split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def _text(root: Element, tag: str) -> str | None:
    element = root.find(f".//{tag}")
    return element.text.strip() if element is not None and element.text else None


def _xml_date(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _versions(pid: ProductId) -> set[tuple[int, ...]]:
    """The metadata versions that agree with the name's (LIS and HR-S&I names add a counter)."""
    muscate = pid.family in (Family.MUSCATE, Family.L2A)
    return {pid.version} if muscate else {pid.version, pid.version[:-1]}


def _same_platform(text: str, platform: str) -> bool:
    return text.upper().replace("-", "").replace("_", "").startswith(platform)
