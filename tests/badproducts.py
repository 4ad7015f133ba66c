"""Bad Theia snow products, built in code from a generated good season (everything seeded).

Each :class:`Case` writes one bad product into a folder and says how snowdays must reject it: the
:class:`~snowdays.errors.ProductRejected` subclass, a pattern the reason must match, and the stage that
catches it (``open``: :func:`snowdays.products.open_product`; ``read``: :meth:`Product.read`, i.e. the
product opens fine and only decoding or the grid check refuses it).

Bad products are dated on a day of the season with no good product, so that if one were used by
mistake it would add an observation and change the maps.
"""

from __future__ import annotations

import shutil
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.io import MemoryFile

from snowdays.errors import (
    CorruptProduct,
    ImplausibleDate,
    MetadataMismatch,
    ProductRejected,
    UnknownProduct,
    UnsafeArchive,
    WrongGrid,
    WrongRaster,
    WrongTile,
)
from snowdays.l2a import member_name
from snowdays.layouts import Pass, corner, crs_of, mtd_xml, write_l2a
from snowdays.names import parse_name, strip_suffix
from snowdays.sample import make_season
from snowdays.season import Season

TILE = "T31TCH"
SEASON = Season(start=date(2018, 1, 1), stop=date(2018, 1, 10), margin=15)
SIZE = 32
SEED = 7
START, STOP = f"{SEASON.start:%Y-%m-%d}", f"{SEASON.stop:%Y-%m-%d}"

Stage = Literal["open", "read"]
U8 = npt.NDArray[np.uint8]


def good_season(out: Path, family: Literal["muscate", "fsc", "hrsi"] = "muscate",
                as_zip: bool = False) -> list[Path]:
    """The good products every test starts from: small tile, short season, fixed seed."""
    return make_season(out, TILE, SEASON, SIZE, family, as_zip, SEED)


@dataclass(frozen=True)
class Good:
    """What bad products are made from: a good Sentinel-2 product and a free day."""

    product: Path
    """A good Sentinel-2 MUSCATE product directory."""
    codes: U8
    """Its snow raster's codes."""
    raster: bytes
    """Its snow raster's file, byte for byte."""
    free_day: date
    """A day of the season on which no good product was acquired."""


def good_of(products: list[Path]) -> Good:
    """Pick the material from a generated good MUSCATE season (directories)."""
    taken = {parse_name(p.name).acquired.date() for p in products}
    free = next(SEASON.start + timedelta(d) for d in range(SEASON.n_days)
                if SEASON.start + timedelta(d) not in taken)
    s2 = next(p for p in products if p.name.startswith("SENTINEL2") and p.is_dir())
    tif = s2 / f"{s2.name}_SNW_R2.tif"
    with rasterio.open(tif) as ds:
        codes = np.asarray(ds.read(1), dtype=np.uint8)
    assert (codes <= 100).any(), "the good raster must have valid pixels"
    return Good(s2, codes, tif.read_bytes(), free)


# --- names, rasters, metadata, layouts -----------------------------------------------------------

ORIGIN = corner(TILE)
"""Upper left corner of the sample's tile."""


def s2_name(when: datetime, platform: str = "SENTINEL2A", tile: str = TILE,
            version: str = "1-7") -> str:
    """A MUSCATE L2B-SNOW Sentinel-2 product name."""
    return (f"{platform}_{when:%Y%m%d-%H%M%S}-{when.microsecond // 1000:03d}_L2B-SNOW_"
            f"{tile}_C_V{version}")


def geotiff(codes: npt.NDArray[np.generic], origin: tuple[float, float] | None = None,
            pixel: float = 20.0, tile: str = TILE) -> bytes:
    """A GeoTIFF (bands x rows x cols, or rows x cols) as bytes, on a grid like the sample's (at the
    tile's corner unless ``origin`` is given)."""
    bands = codes if codes.ndim == 3 else codes[None]
    crs, origin = crs_of(tile), origin or corner(tile)
    with MemoryFile() as memory:
        with memory.open(driver="GTiff", width=bands.shape[2], height=bands.shape[1],
                         count=bands.shape[0], dtype=bands.dtype.name, crs=crs,
                         transform=Affine(pixel, 0, origin[0], 0, -pixel, origin[1]),
                         compress="DEFLATE") as ds:
            ds.write(bands)
        return bytes(memory.getbuffer())


def mtd(name: str, when: datetime, platform: str = "SENTINEL2A", tile: str = TILE,
        change: tuple[str, str] | None = None) -> bytes:
    """The ``*_MTD_ALL.xml`` of a product, agreeing with its name unless one element is changed."""
    xml = mtd_xml(name, Pass(when, platform, "full"), tile)
    if change is not None:
        tag, text = change
        start = xml.index(f"<{tag}")
        start = xml.index(">", start) + 1
        stop = xml.index(f"</{tag}>", start)
        assert xml[start:stop] != text, f"{tag} already reads {text}"
        xml = xml[:start] + text + xml[stop:]
    return xml.encode()


def write_dir(out: Path, name: str, members: dict[str, bytes]) -> Path:
    """A product directory ``out/name`` holding ``members`` (suffix after the name -> bytes)."""
    folder = out / name
    folder.mkdir(parents=True)
    for suffix, data in members.items():
        (folder / f"{name}{suffix}").write_bytes(data)
    return folder


def write_zip(path: Path, members: list[tuple[str, bytes]], level: int = 6) -> Path:
    """A zip holding ``members`` (arcname -> bytes) with arcnames exactly as given (no cleaning)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for arcname, data in members:
            z.writestr(zipfile.ZipInfo(arcname, date_time=(2018, 1, 1, 0, 0, 0)), data,
                       compress_type=zipfile.ZIP_DEFLATED)
    return path


def zip_of_zeros(path: Path, name: str, good: Good, when: datetime, zeros: int) -> Path:
    """A product zip with a good raster and a member of ``zeros`` zero bytes, streamed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr(f"{name}/{name}_SNW_R2.tif", good.raster)
        z.writestr(f"{name}/{name}_MTD_ALL.xml", mtd(name, when))
        with z.open(f"{name}/{name}_SNW_R2.tif.aux.xml", "w") as member:
            chunk = bytes(1024 * 1024)
            for _ in range(zeros // len(chunk)):
                member.write(chunk)
    return path


def product_members(name: str, when: datetime, raster: bytes) -> list[tuple[str, bytes]]:
    """Members of a good product zip: ``name/`` with its raster and metadata."""
    return [(f"{name}/{name}_SNW_R2.tif", raster), (f"{name}/{name}_MTD_ALL.xml", mtd(name, when))]


# --- the cases -----------------------------------------------------------------------------------

Build = Callable[[Path, Good, datetime], Path]


@dataclass(frozen=True)
class Case:
    id: str
    build: Build
    """Write the bad product into a folder; return its path."""
    error: type[ProductRejected]
    reason: str
    """Regular expression the rejection's reason must match."""
    stage: Stage = "open"
    settings: dict[str, int | float] = field(default_factory=dict)
    """Settings the rejection depends on (small zip limits), as get_settings overrides."""

    def env(self) -> dict[str, str]:
        """The same settings as environment variables for the CLI."""
        return {f"SNOWDAYS_{k.upper()}": str(v) for k, v in self.settings.items()}


def product_name(path: Path) -> str:
    return strip_suffix(path.name)


def _unknown(out: Path, good: Good, when: datetime) -> Path:
    # a Sentinel-2 L1C top-of-atmosphere product dropped among the snow products
    name = f"SENTINEL2A_{when:%Y%m%d-%H%M%S}-000_L1C_{TILE}_C_V1-0"
    return write_dir(out, name, {"_SNW_R2.tif": good.raster})


def _wrong_tile(out: Path, good: Good, when: datetime) -> Path:
    name = s2_name(when, tile="T32TLR")
    return write_dir(out, name, {"_SNW_R2.tif": geotiff(good.codes, tile="T32TLR"),
                                 "_MTD_ALL.xml": mtd(name, when, tile="T32TLR")})


def _raster_product(make: Callable[[Good], bytes]) -> Build:
    def build(out: Path, good: Good, when: datetime) -> Path:
        name = s2_name(when)
        return write_dir(out, name, {"_SNW_R2.tif": make(good), "_MTD_ALL.xml": mtd(name, when)})
    return build


def _garbage(good: Good) -> bytes:
    return np.random.default_rng(SEED).integers(0, 256, len(good.raster), np.uint8).tobytes()


def _garbage_lis(out: Path, good: Good, when: datetime) -> Path:
    path = out / f"LIS_S2-SNOW-FSC_{TILE}_{when:%Y%m%dT%H%M%S}_1.7.0_01.tif"
    path.write_bytes(_garbage(good))
    return path


def _half(good: Good) -> bytes:
    return good.raster[: len(good.raster) // 2]


def _cut_pixels(good: Good) -> bytes:
    # the header and every tag stay whole, the compressed pixels lose their last bytes
    return good.raster[:-16]


def _mtd_mismatch(tag: str, text: Callable[[datetime], str]) -> Build:
    def build(out: Path, good: Good, when: datetime) -> Path:
        name = s2_name(when)
        return write_dir(out, name, {"_SNW_R2.tif": good.raster,
                                     "_MTD_ALL.xml": mtd(name, when, change=(tag, text(when)))})
    return build


def _zip_with(extra: Callable[[str], tuple[str, bytes]]) -> Build:
    def build(out: Path, good: Good, when: datetime) -> Path:
        name = s2_name(when)
        return write_zip(out / f"{name}.zip",
                         [*product_members(name, when, good.raster), extra(name)])
    return build


def _absolute(name: str) -> tuple[str, bytes]:
    return ("/tmp/snowdays-zip-slip/evil.sh", b"echo pwned\n")  # noqa: S108 - a member name


def _parent(name: str) -> tuple[str, bytes]:
    return (f"{name}/../../../snowdays-zip-slip/evil.sh", b"echo pwned\n")


def _compressible(name: str) -> tuple[str, bytes]:
    # 1.5 MiB of two-bit symbols: deflate packs it about 4 times, under the default ratio limit
    data = np.random.default_rng(SEED).integers(0, 4, 3 * 512 * 1024, np.uint8).tobytes()
    return (f"{name}/{name}_QLT_R2.tif", data)


def _incompressible(name: str) -> tuple[str, bytes]:
    return (f"{name}/{name}_QLT_R2.tif",
            np.random.default_rng(SEED).integers(0, 256, 64 * 1024, np.uint8).tobytes())


def _bomb(out: Path, good: Good, when: datetime) -> Path:
    name = s2_name(when)
    return zip_of_zeros(out / f"{name}.zip", name, good, when, 50 * 1024 * 1024)


def _misnamed_zip(out: Path, good: Good, when: datetime) -> Path:
    # X.zip holding the folder Y/ of another (good) product
    inner = good.product.name
    members = [(f"{inner}/{f.name}", f.read_bytes()) for f in sorted(good.product.iterdir())]
    return write_zip(out / f"{s2_name(when)}.zip", members)


def _download_other_version(out: Path, good: Good, when: datetime) -> Path:
    # Theia's download ..._D_V1-9.zip holding the product folder of another version, ..._C_V1-8/
    name, inner = s2_name(when, version="1-9"), s2_name(when, version="1-8")
    download = name.replace("_C_V1-9", "_D_V1-9")
    return write_zip(out / f"{download}.zip", product_members(inner, when, good.raster))


def _download_without_version(out: Path, good: Good, when: datetime) -> Path:
    # ..._D with its files at the root and no metadata: nothing tells the version
    name = s2_name(when).replace("_C_V1-7", "_D")
    return write_dir(out, name, {"_SNW_R2.tif": good.raster})


def _two_seb(out: Path, good: Good, when: datetime) -> Path:
    # the oldest LIS layout, LIS_PRODUCTS/LIS_SEB.TIF, with a second LIS_SEB.TIF elsewhere
    folder = out / s2_name(when, version="1-0").replace("_C_", "_D_")
    for sub in ("LIS_PRODUCTS", "OLD"):
        (folder / sub).mkdir(parents=True)
        (folder / sub / "LIS_SEB.TIF").write_bytes(good.raster)
    return folder


def _zip_twice(out: Path, good: Good, when: datetime) -> Path:
    # two members of one name: the checks would read one copy and GDAL the other
    name = s2_name(when)
    members = [*product_members(name, when, good.raster), (f"{name}/{name}_SNW_R2.tif", bytes(64))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile's "Duplicate name"
        return write_zip(out / f"{name}.zip", members)


def _nul_member(out: Path, good: Good, when: datetime) -> Path:
    # a member whose name starts with NUL (zipfile cuts the name there: it reads as empty)
    name = s2_name(when)
    return write_zip(out / f"{name}.zip", [*product_members(name, when, good.raster), ("\x00evil", b"x")])


def _link_to_folder(out: Path, good: Good, when: datetime) -> Path:
    # a product folder holding a symbolic link to a folder elsewhere
    name = s2_name(when)
    folder = write_dir(out, name, {"_SNW_R2.tif": good.raster, "_MTD_ALL.xml": mtd(name, when)})
    (folder / "elsewhere").symlink_to(out.parent, target_is_directory=True)
    return folder


def _acquired(when: datetime) -> Build:
    # a good product renamed to another acquisition time (its metadata following)
    def build(out: Path, good: Good, _: datetime) -> Path:
        name = f"SENTINEL2A_{when.year:04d}{when:%m%d-%H%M%S}-000_L2B-SNOW_{TILE}_C_V1-7"  # %Y: 1, not 0001
        return write_dir(out, name, {"_SNW_R2.tif": good.raster, "_MTD_ALL.xml": mtd(name, when)})
    return build


def _no_raster(out: Path, good: Good, when: datetime) -> Path:
    name = s2_name(when)
    return write_dir(out, name, {"_MTD_ALL.xml": mtd(name, when),
                                 "_QKL_ALL.jpg": b"\xff\xd8\xff\xe0 not much of a quicklook"})


# --- L2A products: a good one made of the good snow raster's codes, then broken ----------------------

def l2a_name(when: datetime, platform: str = "SENTINEL2A") -> str:
    prefix = "LANDSAT8-OLITIRS-XS" if platform == "LANDSAT8" else platform
    return f"{prefix}_{when:%Y%m%d-%H%M%S}-{when.microsecond // 1000:03d}_L2A_{TILE}_C_V2-2"


def good_l2a(out: Path, good: Good, when: datetime, platform: str = "SENTINEL2A") -> Path:
    """An L2A product directory whose snow is the good raster's codes."""
    name = l2a_name(when, platform)
    write_l2a(out / name, name, Pass(when, platform, "full"), TILE, good.codes,
              30.0 if platform == "LANDSAT8" else 20.0)
    return out / name


def _l2a_without(layer: str, platform: str = "SENTINEL2A") -> Build:
    def build(out: Path, good: Good, when: datetime) -> Path:
        folder = good_l2a(out, good, when, platform)
        mission = "L8" if platform == "LANDSAT8" else "S2"
        (folder / member_name(folder.name, layer, mission)).unlink()
        return folder
    return build


def _l2a_no_metadata(out: Path, good: Good, when: datetime) -> Path:
    folder = good_l2a(out, good, when)
    (folder / f"{folder.name}_MTD_ALL.xml").unlink()
    return folder


def _l2a_no_quantification(out: Path, good: Good, when: datetime) -> Path:
    folder = good_l2a(out, good, when)
    name = folder.name
    (folder / f"{name}_MTD_ALL.xml").write_text(mtd_xml(name, Pass(when, "SENTINEL2A", "full"), TILE))
    return folder


def _l2a_platform(out: Path, good: Good, when: datetime) -> Path:
    folder = good_l2a(out, good, when)
    xml = folder / f"{folder.name}_MTD_ALL.xml"
    xml.write_text(xml.read_text().replace("<PLATFORM>SENTINEL2A<", "<PLATFORM>SENTINEL2B<"))
    return folder


def _l2a_layer(layer: str, values: Callable[[Good], npt.NDArray[np.generic]], pixel: float = 20.0) -> Build:
    def build(out: Path, good: Good, when: datetime) -> Path:
        folder = good_l2a(out, good, when)
        (folder / member_name(folder.name, layer, "S2")).write_bytes(geotiff(values(good), pixel=pixel))
        return folder
    return build


def _l2a_cut_swir(out: Path, good: Good, when: datetime) -> Path:
    folder = good_l2a(out, good, when)
    swir = folder / member_name(folder.name, "swir", "S2")
    swir.write_bytes(swir.read_bytes()[:-16])
    return folder


def _l2a_zip_without_edges(out: Path, good: Good, when: datetime) -> Path:
    folder = _l2a_without("edges")(out, good, when)
    members = [(f"{folder.name}/{f.relative_to(folder).as_posix()}", f.read_bytes())
               for f in sorted(folder.rglob("*")) if f.is_file()]
    shutil.rmtree(folder)
    return write_zip(out / f"{folder.name}.zip", members)


L2A_CASES = [
    Case("l2a-no-metadata", _l2a_no_metadata, CorruptProduct,
         r"no metadata: expected \S+_L2A_\S+_MTD_ALL.xml \(its reflectance quantification\)"),
    Case("l2a-no-quantification", _l2a_no_quantification, CorruptProduct,
         r"the metadata has no usable REFLECTANCE_QUANTIFICATION_VALUE \(none\)"),
    Case("l2a-mtd-platform", _l2a_platform, MetadataMismatch,
         r"disagrees with the name: PLATFORM SENTINEL2B"),
    Case("l2a-no-swir", _l2a_without("swir"), CorruptProduct, r"no SWIR band: expected \S+_FRE_B11.tif"),
    Case("l2a-no-clouds", _l2a_without("clouds"), CorruptProduct,
         r"no cloud mask: expected MASKS/\S+_CLM_R2.tif"),
    Case("l2a-landsat-no-swir", _l2a_without("swir", "LANDSAT8"), CorruptProduct,
         r"no SWIR band: expected LANDSAT8-OLITIRS-XS_\S+_FRE_B6.tif"),
    Case("l2a-zip-no-edges", _l2a_zip_without_edges, CorruptProduct,
         r"no edge mask: expected MASKS/\S+_EDG_R2.tif in \S+\.zip"),
    Case("l2a-green-at-20m", _l2a_layer("green", lambda g: g.codes.astype(np.int16)), WrongGrid,
         r"the green band is on grid \S+ 32x32 .* pixel 20 m, the SWIR band on \S+ 32x32 .* pixel 20 m"),
    Case("l2a-red-uint8", _l2a_layer("red", lambda g: np.repeat(np.repeat(g.codes, 2, 0), 2, 1), 10.0),
         WrongRaster, r"data type uint8 in the red band, expected int16"),
    Case("l2a-truncated-swir", _l2a_cut_swir, CorruptProduct, r"cannot decode the SWIR band", stage="read"),
]


CASES: list[Case] = [
    Case("unknown-name", _unknown, UnknownProduct, r"matches no Theia snow or L2A product family"),
    Case("wrong-tile", _wrong_tile, WrongTile, r"tile T32TLR, expected T31TCH"),
    Case("garbage-tif", _raster_product(_garbage), CorruptProduct,
         r"cannot open the snow raster"),
    Case("garbage-lis-tif", _garbage_lis, CorruptProduct, r"cannot open the snow raster"),
    Case("truncated-half", _raster_product(_half), WrongRaster, r"not georeferenced"),
    Case("truncated-pixels", _raster_product(_cut_pixels), CorruptProduct,
         r"cannot decode the snow raster", stage="read"),
    Case("two-bands", _raster_product(lambda g: geotiff(np.stack([g.codes, g.codes]))),
         WrongRaster, r"2 bands, expected 1"),
    Case("uint16", _raster_product(lambda g: geotiff(g.codes.astype(np.uint16))), WrongRaster,
         r"data type uint16, expected uint8"),
    Case("shifted-origin",
         _raster_product(lambda g: geotiff(g.codes, origin=(ORIGIN[0] + 20, ORIGIN[1]))),
         WrongGrid, r"grid .* origin \(300020, 4800000\).*tile has .* origin \(300000, 4800000\)",
         stage="read"),
    Case("other-size", _raster_product(lambda g: geotiff(g.codes[:16, :24])), WrongGrid,
         r"grid .* 24x16 .*tile has .* 32x32", stage="read"),
    Case("zip-absolute", _zip_with(_absolute), UnsafeArchive,
         r"member '/tmp/snowdays-zip-slip/evil.sh' has an absolute path"),
    Case("zip-parent", _zip_with(_parent), UnsafeArchive,
         r"member '.*/\.\./\.\./\.\./snowdays-zip-slip/evil.sh' escapes the archive"),
    Case("zip-ratio", _zip_with(_compressible), UnsafeArchive,
         r"member '.*_QLT_R2.tif' expands [3-5] times \(zip bomb\?\)",
         settings={"zip_max_ratio": 2.0}),
    Case("zip-total", _zip_with(_incompressible), UnsafeArchive,
         r"expands to \d+ bytes, over the 40000 limit",
         settings={"zip_max_total_bytes": 40_000}),
    Case("zip-bomb", _bomb, UnsafeArchive,
         r"member '.*_SNW_R2.tif.aux.xml' expands \d{3,} times \(zip bomb\?\)"),
    Case("mtd-date",
         _mtd_mismatch("ACQUISITION_DATE", lambda w: f"{w + timedelta(1):%Y-%m-%dT%H:%M:%S}.000Z"),
         MetadataMismatch, r"disagrees with the name: ACQUISITION_DATE 2018-01-\d\dT11:\d\d:00.000Z"),
    Case("mtd-version", _mtd_mismatch("PRODUCT_VERSION", lambda w: "1.8"), MetadataMismatch,
         r"disagrees with the name: PRODUCT_VERSION 1.8"),
    Case("mtd-platform", _mtd_mismatch("PLATFORM", lambda w: "SENTINEL2B"), MetadataMismatch,
         r"disagrees with the name: PLATFORM SENTINEL2B"),
    Case("mtd-tile", _mtd_mismatch("GEOGRAPHICAL_ZONE", lambda w: "T31TCJ"), MetadataMismatch,
         r"disagrees with the name: GEOGRAPHICAL_ZONE T31TCJ"),
    Case("misnamed-zip", _misnamed_zip, CorruptProduct,
         r"the archive holds SENTINEL2[AB]_\d{8}-\d{6}-\d{3}_L2B-SNOW_T31TCH_C_V1-7/, not "
         r"SENTINEL2A_\d{8}-\d{6}-000_L2B-SNOW_T31TCH_C_V1-7/$"),
    Case("download-other-version", _download_other_version, MetadataMismatch,
         r"the archive holds SENTINEL2A_\S+_C_V1-8/, another version$"),
    Case("download-no-version", _download_without_version, MetadataMismatch,
         r"no version in the name, its folder or its metadata"),
    Case("two-seb", _two_seb, CorruptProduct, r"2 snow rasters \(\S+/LIS_SEB.TIF, \S+/LIS_SEB.TIF\)"),
    Case("zip-twice", _zip_twice, UnsafeArchive, r"member '\S+_SNW_R2.tif' is in the archive twice"),
    Case("nul-member", _nul_member, UnsafeArchive,
         r"member '' has an empty name or control characters in it"),
    Case("link-to-folder", _link_to_folder, UnsafeArchive, r"member 'elsewhere' is a symbolic link"),
    Case("year-0001", _acquired(datetime(1, 1, 15, 11, tzinfo=UTC)), ImplausibleDate,
         r"acquired 0001-01-15, not between 2013-02-11 and \d{4}-\d\d-\d\d"),
    Case("year-9999", _acquired(datetime(9999, 1, 15, 11, tzinfo=UTC)), ImplausibleDate,
         r"acquired 9999-01-15, not between"),
    Case("future", _acquired(datetime.now(UTC).replace(microsecond=0) + timedelta(30)), ImplausibleDate,
         r"acquired \d{4}-\d\d-\d\d, not between"),
    Case("no-snow-raster", _no_raster, CorruptProduct, r"no snow raster: expected \S+_SNW_R2.tif"),
    *L2A_CASES,
]
CASE_IDS = [c.id for c in CASES]


def case(case_id: str) -> Case:
    return next(c for c in CASES if c.id == case_id)


def when_of(good: Good, index: int) -> datetime:
    """Acquisition time of a bad product: the free day, a distinct minute per case."""
    return datetime.combine(good.free_day, time(11, index % 60), UTC)


def build(c: Case, out: Path, good: Good) -> Path:
    """Write the bad product of case ``c`` into ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    path = c.build(out, good, when_of(good, CASES.index(c)))
    assert path.exists()
    return path


def garble_pixels(product: Path) -> None:
    """Overwrite the start of a product's compressed pixels: it opens, and fails to decode."""
    (tif,) = product.glob("*_SNW_*.tif")
    with rasterio.open(tif) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
    with tif.open("r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * 8)


def copy_season(products: list[Path], out: Path) -> Path:
    """A copy of a folder of good products."""
    out.mkdir(parents=True)
    for p in products:
        if p.is_dir():
            shutil.copytree(p, out / p.name)
        else:
            shutil.copy2(p, out / p.name)
    return out

