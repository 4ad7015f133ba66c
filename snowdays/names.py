"""Theia product names: parsed once, at the edge, into a frozen :class:`ProductId`.

Families (see docs/SEMANTICS.md): MUSCATE L2B-SNOW (Sentinel-2 and Landsat-8; as Theia's download
names it, ``..._D_V1-9`` or ``..._D``, too), LIS >= 1.7 single rasters, Copernicus fractional snow cover
(HR-S&I ``FSC_...`` and HR-WSI ``CLMS_WSI_FSC_020m_...``, one family: HR-WSI's V200 is a later version of
the same acquisition's product), and MUSCATE L2A surface reflectances (MAJA), whose snow snowdays
derives itself: any snow product of the same acquisition counts instead.

Files that are no product at all (a checksum beside a download, GDAL's sidecars, a README, hidden
files) are told apart by :func:`not_a_product`, so that a batch notes and skips them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from snowdays.errors import UnknownProduct, WrongTile

Mission = Literal["S2", "L8"]
TILE_RE = r"T\d{2}[C-X][A-Z]{2}"


class Family(StrEnum):
    MUSCATE = "muscate"
    LIS = "lis"
    HRSI = "hrsi"
    L2A = "l2a"


class ProductId(BaseModel):
    """Who a product is: enough to order, merge, version and name it."""

    model_config = ConfigDict(frozen=True)

    name: str
    """The product name without ``.zip`` or ``.tif``."""
    family: Family
    tile: str
    platform: str
    """Spacecraft as the name gives it: ``SENTINEL2A``, ``LANDSAT8``, ``S2``, ``S2B``..."""
    mission: Mission
    acquired: datetime
    """Acquisition time, UTC."""
    version: tuple[int, ...]
    """Empty when the name carries none (Theia's download ``..._D``): the product's folder or its
    metadata then tell it (:func:`snowdays.products.open_product`)."""

    @property
    def key(self) -> tuple[str, str, str, datetime]:
        """Same key, same product: only the highest version counts."""
        return (self.family.value, self.tile, self.platform, self.acquired)

    @property
    def derived(self) -> bool:
        """Whether snowdays derives the observation itself (an L2A product's snow detection)."""
        return self.family == Family.L2A

    @property
    def acquisition(self) -> tuple[str, Mission, datetime]:
        """What was observed, whatever the family: an L2A product and the snow products made from it
        share it (to the second: LIS and HR-S&I names drop the milliseconds)."""
        return (self.tile, self.mission, self.acquired.replace(microsecond=0))

    @property
    def precedence(self) -> tuple[bool, tuple[int, ...]]:
        """Of two rivals the higher counts: a snow product above an L2A product whatever their
        versions, then the higher version (an L2A product is replaced as a re-published version is)."""
        return (not self.derived, self.version)

    @property
    def merge_order(self) -> tuple[int, datetime, str]:
        """Order within a day: Sentinel-2 first, by acquisition time, then Landsat."""
        return (0 if self.mission == "S2" else 1, self.acquired, self.name)


_MUSCATE = re.compile(
    r"^(?P<platform>SENTINEL2[A-D]|LANDSAT8-OLITIRS-XS)_(?P<date>\d{8}-\d{6}-\d{3})_(?P<level>L2B-SNOW|L2A)_"
    rf"(?P<tile>{TILE_RE})_(?:[CD]_V(?P<major>\d+)-(?P<minor>\d+)|D)$"
)
_LIS = re.compile(
    rf"^LIS_(?P<mission>S2|L8)-SNOW-(?:FSC|MSK)_(?P<tile>{TILE_RE})_(?P<date>\d{{8}}T\d{{6}})_"
    r"(?P<version>\d+(?:\.\d+)*)_(?P<counter>\d+)$"
)
_HRSI = re.compile(
    rf"^FSC_(?P<date>\d{{8}}T\d{{6}})_(?P<platform>S2[A-D]|L8)_(?P<tile>{TILE_RE})_"
    r"V(?P<version>\d+)_(?P<counter>\d+)$"
)
_HRWSI = re.compile(
    rf"^CLMS_WSI_FSC_020m_(?P<tile>{TILE_RE})_(?P<date>\d{{8}}T\d{{6}})_(?P<platform>S2[A-D]|L8|L9)_"
    r"V(?P<version>\d+)(?:_(?P<counter>\d+))?$"
)
_NOT_PRODUCT_SUFFIXES = (".md5", ".sha1", ".sha256", ".sha512", ".aux.xml", ".ovr", ".xml", ".json",
                         ".txt", ".md", ".rst", ".html", ".pdf", ".jpg", ".jpeg", ".png", ".log",
                         ".csv", ".yaml", ".yml", ".part", ".tmp")
_DOCUMENTS = ("README", "LICENSE", "LICENCE", "COPYING", "CHANGELOG", "MANIFEST", "NOTICE")


def strip_suffix(name: str) -> str:
    for suffix in (".zip", ".tif", ".TIF", ".ZIP"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _utc(text: str, fmt: str) -> datetime:
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def parse_name(name: str) -> ProductId:
    """Identify a product from its name alone (directory, zip or tif); raise UnknownProduct."""
    stem = strip_suffix(name.rstrip("/").rsplit("/", 1)[-1])
    try:
        return _parse(stem)
    except ValueError as e:  # a date that matches the pattern but does not exist
        raise UnknownProduct(stem, f"invalid date in the name ({e})") from e


def _parse(stem: str) -> ProductId:
    if m := _MUSCATE.match(stem):
        landsat = m["platform"].startswith("LANDSAT8")
        return ProductId(
            name=stem,
            family=Family.MUSCATE if m["level"] == "L2B-SNOW" else Family.L2A,
            tile=m["tile"],
            platform="LANDSAT8" if landsat else m["platform"],
            mission="L8" if landsat else "S2",
            acquired=_utc(m["date"] + "000", "%Y%m%d-%H%M%S-%f"),
            version=(int(m["major"]), int(m["minor"])) if m["major"] else (),
        )
    if m := _LIS.match(stem):
        return ProductId(
            name=stem,
            family=Family.LIS,
            tile=m["tile"],
            platform=m["mission"],
            mission="S2" if m["mission"] == "S2" else "L8",
            acquired=_utc(m["date"], "%Y%m%dT%H%M%S"),
            version=(*map(int, m["version"].split(".")), int(m["counter"])),
        )
    if m := _HRSI.match(stem):
        return ProductId(
            name=stem,
            family=Family.HRSI,
            tile=m["tile"],
            platform=m["platform"],
            mission="L8" if m["platform"] == "L8" else "S2",
            acquired=_utc(m["date"], "%Y%m%dT%H%M%S"),
            version=(int(m["version"]), int(m["counter"])),
        )
    if m := _HRWSI.match(stem):
        return ProductId(
            name=stem,
            family=Family.HRSI,
            tile=m["tile"],
            platform=m["platform"],
            mission="S2" if m["platform"].startswith("S2") else "L8",
            acquired=_utc(m["date"], "%Y%m%dT%H%M%S"),
            version=(int(m["version"]), int(m["counter"] or 0)),
        )
    raise UnknownProduct(stem, "the name matches no Theia snow or L2A product family")


def not_a_product(name: str) -> str | None:
    """Why an entry beside products is none (a batch skips it with a note), or None for what may be
    a product: a directory, ``.zip`` or ``.tif`` of any name is read, and rejected if it is broken."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    if base.startswith("."):
        return "a hidden file"
    lower = base.lower()
    if lower.endswith((".zip", ".tif", ".tiff")):
        return None
    if suffix := next((s for s in _NOT_PRODUCT_SUFFIXES if lower.endswith(s)), None):
        return f"a {suffix} file"
    if base.split(".", 1)[0].upper() in _DOCUMENTS:
        return "a document"
    return None


def rivals(a: ProductId, b: ProductId) -> bool:
    """Whether only one of two products counts: versions of one product (same key), or an L2A
    product and a snow product of its acquisition; :attr:`ProductId.precedence` tells which. Rivals
    always share their :attr:`ProductId.acquisition`."""
    return a.key == b.key or (a.derived != b.derived and a.acquisition == b.acquisition)


def check_tile(pid: ProductId, tile: str | None) -> None:
    """Reject a product of another tile than the one asked for."""
    if tile is not None and pid.tile != normalise_tile(tile):
        raise WrongTile(pid.name, f"tile {pid.tile}, expected {normalise_tile(tile)}")


def normalise_tile(tile: str) -> str:
    """``31TCH`` or ``t31tch`` -> ``T31TCH``."""
    tile = tile.strip().upper()
    return tile if tile.startswith("T") else f"T{tile}"
