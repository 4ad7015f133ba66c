"""Where products live: a local path or ``s3://``, as a directory, a ``.zip`` or a ``.tif``.

fsspec lists and reads small members; GDAL reads rasters in place through ``/vsizip/`` and ``/vsis3/``.
Archives are checked before anything inside them is read (zip-slip paths, zip bombs). A product that
is folded (ingest, backfill) is first copied from ``s3://`` once, hashed as it streams
(:func:`download`), so that its checks, its checksum and its decode read it from storage once.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import stat
import zipfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import fsspec
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    NoCredentialsError,
    PartialCredentialsError,
)
from fsspec.implementations.local import LocalFileSystem
from rasterio.errors import RasterioError

from snowdays.errors import CorruptProduct, SnowdaysError, StorageError, UnsafeArchive, UsageError
from snowdays.names import strip_suffix
from snowdays.settings import S3Endpoint, Settings

Kind = Literal["dir", "zip", "tif"]
_MIB = 1024 * 1024


def is_s3(href: str) -> bool:
    return href.startswith("s3://")


def filesystem(href: str, s3: S3Endpoint) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem for a local path or an ``s3://`` URL at the endpoint ``s3``."""
    if not is_s3(href):
        return LocalFileSystem()
    client: dict[str, Any] = {"region_name": s3.region}
    if s3.url:
        client["endpoint_url"] = s3.url
    # fsspec keeps one instance per endpoint and process, so that products do not each pay for a new
    # S3 client; listings are never cached, so that products arriving later are seen
    return fsspec.filesystem("s3", client_kwargs=client, use_listings_cache=False)


def gdal_env(s3: S3Endpoint) -> dict[str, str]:
    """GDAL configuration for reading ``/vsis3/`` from the endpoint ``s3``."""
    env = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "AWS_REGION": s3.region}
    if s3.url:
        scheme, _, host = s3.url.partition("://")
        env |= {
            "AWS_S3_ENDPOINT": host.rstrip("/"),
            "AWS_HTTPS": "NO" if scheme == "http" else "YES",
            "AWS_VIRTUAL_HOSTING": "FALSE",
        }
    return env


def gdal_path(href: str) -> str:
    """A path GDAL opens: local paths as they are, ``s3://b/k`` as ``/vsis3/b/k``."""
    return "/vsis3/" + href.removeprefix("s3://") if is_s3(href) else href


def _local(href: str) -> str:
    return href.removeprefix("s3://") if is_s3(href) else href


@dataclass(frozen=True)
class Source:
    """One product's storage: its kind and its members (relative path -> uncompressed size)."""

    href: str
    kind: Kind
    members: dict[str, int]
    fs: fsspec.AbstractFileSystem = field(repr=False, compare=False)
    folder: str = ""
    """The folder of the product's files among the members (``NAME/``), or ``""``: see
    :func:`snowdays.products.open_product`."""

    @property
    def name(self) -> str:
        return posixpath.basename(self.href.rstrip("/"))

    @property
    def product(self) -> str:
        """The product's name, as rejections name it (no ``.zip`` or ``.tif``)."""
        return strip_suffix(self.name)

    @property
    def top(self) -> str | None:
        """The one folder every member lies under (a zip of a product's folder, or Theia's download
        ``..._D_V1-9`` holding ``..._C_V1-9/``), if there is one."""
        tops = {m.split("/", 1)[0] for m in self.members}
        return tops.pop() if len(tops) == 1 and all("/" in m for m in self.members) else None

    def find(self, relative: str) -> str | None:
        """The member at ``relative`` (``MASKS/x.tif`` too) in the product's folder, or at the root."""
        for candidate in (self.folder + relative, relative):
            if candidate in self.members:
                return candidate
        return None

    def matching(self, pattern: str) -> list[str]:
        """Members anywhere whose file name matches ``pattern`` (a regular expression, whole name,
        any case), as LIS 1.11's ``find_file`` looks for a product's rasters."""
        rule = re.compile(pattern, re.IGNORECASE)
        return sorted(m for m in self.members if rule.fullmatch(posixpath.basename(m)))

    def missing(self, what: str, expected: str) -> CorruptProduct:
        """The rejection for a member not found."""
        return CorruptProduct(self.product, f"no {what}: expected {expected} in {self.href}")

    def gdal(self, member: str) -> str:
        """GDAL path of a member (for a tif product, the member is its own name)."""
        if self.kind == "tif":
            return gdal_path(self.href)
        if self.kind == "zip":
            return f"/vsizip/{gdal_path(self.href)}/{member}"
        return f"{gdal_path(self.href.rstrip('/'))}/{member}"

    def read_bytes(self, member: str) -> bytes:
        try:
            if self.kind == "zip":
                with self.fs.open(_local(self.href), "rb") as f, zipfile.ZipFile(f) as z:
                    return z.read(member)
            return bytes(self.fs.cat_file(_local(self.href.rstrip("/")) + "/" + member))
        except _NOT_A_ZIP as e:
            raise CorruptProduct(self.product, f"cannot read {member}: {e}") from e
        except (OSError, BotoCoreError) as e:
            if self.kind != "zip" and isinstance(e, FileNotFoundError | IsADirectoryError):
                raise CorruptProduct(self.product, f"cannot read {member}: {e}") from e
            raise _storage_error(self.href, e) from e


_NOT_A_ZIP = (zipfile.BadZipFile, ValueError)
"""What zipfile raises on a file that is no zip: on S3, a file shorter than a zip's end record makes
s3fs refuse zipfile's seek from the end with ValueError, where a local file gives BadZipFile."""


def open_source(href: str, settings: Settings) -> Source:
    """List a product's members; reject unsafe or unreadable archives."""
    fs = filesystem(href, settings.s3)
    # fsspec lists local folders with absolute paths
    path = _local(href).rstrip("/") if is_s3(href) else str(Path(href).absolute())
    try:
        if href.lower().endswith(".tif"):
            return Source(href, "tif", {posixpath.basename(path): int(fs.size(path))}, fs)
        if href.lower().endswith(".zip"):
            return Source(href, "zip", _zip_members(fs, path, href, settings), fs)
        if not is_s3(href):
            _check_readable(Path(path))
        found = fs.find(path, detail=True)
    except FileNotFoundError as e:
        raise CorruptProduct(strip_suffix(posixpath.basename(path)), f"not found at {href}") from e
    except (UnsafeArchive, CorruptProduct):
        raise
    except (OSError, BotoCoreError) as e:
        raise _storage_error(href, e) from e
    members = {k[len(path) + 1 :]: int(v["size"]) for k, v in found.items()}
    if links := sorted(m for m, v in zip(members, found.values(), strict=True) if v.get("islink")):
        raise UnsafeArchive(strip_suffix(posixpath.basename(path)),
                            f"member {links[0]!r} is a symbolic link")
    return Source(href, "dir", members, fs)


def download(href: str, settings: Settings, spool: Path) -> tuple[str, str]:
    """Copy the ``s3://`` product ``href`` (an object, or a folder's objects) into ``spool`` under
    its own name, reading each byte once and hashing it on the way: (the copy's path, the SHA-256 of
    the product's bytes, a folder's in the order of its members' names). A product larger than
    ``zip_max_total_bytes`` is rejected before anything is copied."""
    fs = filesystem(href, settings.s3)
    path = _local(href).rstrip("/")
    name = posixpath.basename(path)
    try:
        found = fs.find(path, detail=True)  # an object finds itself; a folder, its objects
        if not found:
            raise FileNotFoundError(errno.ENOENT, "No such object or prefix", href)
        size = sum(int(v["size"]) for v in found.values())
        if size > settings.zip_max_total_bytes:
            raise UnsafeArchive(strip_suffix(name), f"{size} bytes stored, over the "
                                                    f"{settings.zip_max_total_bytes} limit")
        digest = hashlib.sha256()
        for key in sorted(found):
            target = spool / name / key[len(path) + 1:] if key != path else spool / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with fs.open(key, "rb") as f, target.open("wb") as out:
                for block in iter(partial(f.read, _MIB), b""):
                    digest.update(block)
                    out.write(block)
    except FileNotFoundError as e:
        raise CorruptProduct(strip_suffix(name), f"not found at {href}") from e
    except (OSError, BotoCoreError) as e:
        raise _storage_error(href, e) from e
    return str(spool / name), digest.hexdigest()


def checksum(source: Source) -> str:
    """The SHA-256 of a product's bytes as stored (a folder's: of its members in name order)."""
    digest = hashlib.sha256()
    for member in sorted(source.members) if source.kind == "dir" else [""]:
        path = source.href.rstrip("/") + (f"/{member}" if member else "")
        with source.fs.open(_local(path), "rb") as f:
            for block in iter(partial(f.read, _MIB), b""):
                digest.update(block)
    return digest.hexdigest()


def _check_readable(folder: Path) -> None:
    """Raise PermissionError for a local product folder, or anything in it, that cannot be read: a
    listing would skip it quietly, and the product would look incomplete rather than unreadable."""
    def fail(error: OSError) -> None:
        raise error

    for top, dirs, files in os.walk(folder, onerror=fail):
        for entry in [*dirs, *files]:
            path = Path(top) / entry
            if not path.is_symlink() and not os.access(path, os.R_OK):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))


def _zip_members(
    fs: fsspec.AbstractFileSystem, path: str, href: str, settings: Settings
) -> dict[str, int]:
    name = strip_suffix(posixpath.basename(path))
    try:
        with fs.open(path, "rb") as f, zipfile.ZipFile(f) as z:
            infos = z.infolist()
    except _NOT_A_ZIP as e:
        raise CorruptProduct(name, f"not a readable zip archive ({e})") from e
    check_archive(name, infos, settings)
    files = [i for i in infos if not i.is_dir()]
    seen: set[str] = set()
    for info in files:
        if info.filename in seen:
            raise UnsafeArchive(name, f"member {info.filename!r} is in the archive twice")
        seen.add(info.filename)
    return {i.filename: i.file_size for i in files}


def check_archive(name: str, infos: list[zipfile.ZipInfo], settings: Settings) -> None:
    """Reject absolute or parent-relative members, links, and bombs (size and ratio limits)."""
    for info in infos:
        if not info.filename or any(ord(c) < 32 for c in info.orig_filename):
            raise UnsafeArchive(name, f"member {info.orig_filename!r} has an empty name or control "
                                      "characters in it")
        member = info.filename.replace("\\", "/")
        if member.startswith("/") or (len(member) > 1 and member[1] == ":"):
            raise UnsafeArchive(name, f"member {info.filename!r} has an absolute path")
        if ".." in member.split("/"):
            raise UnsafeArchive(name, f"member {info.filename!r} escapes the archive (..)")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeArchive(name, f"member {info.filename!r} is a symbolic link")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _MIB and ratio > settings.zip_max_ratio:
            raise UnsafeArchive(
                name, f"member {info.filename!r} expands {ratio:.0f} times (zip bomb?)"
            )
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > settings.zip_max_total_bytes:
        raise UnsafeArchive(
            name, f"expands to {total} bytes, over the {settings.zip_max_total_bytes} limit"
        )
    if total > _MIB and total / max(packed, 1) > settings.zip_max_ratio:
        raise UnsafeArchive(name, f"expands {total / max(packed, 1):.0f} times (zip bomb?)")


def list_products(prefix: str, settings: Settings) -> list[str]:
    """Hrefs of the entries directly under a folder or ``s3://`` prefix, sorted."""
    fs = filesystem(prefix, settings.s3)
    root = _local(prefix).rstrip("/")
    try:
        entries = fs.ls(root, detail=False)
    except FileNotFoundError as e:
        raise UsageError(f"Could not list {prefix}: no such folder or prefix") from e
    except (OSError, BotoCoreError) as e:
        raise _storage_error(prefix, e) from e
    scheme = "s3://" if is_s3(prefix) else ""
    return sorted(scheme + str(e).rstrip("/") for e in entries if str(e).rstrip("/") != root)


def _storage_error(href: str, error: OSError | BotoCoreError) -> SnowdaysError:
    """A storage failure as snowdays reports it: missing S3 credentials are final, the rest may pass.

    s3fs turns S3 responses into OSError, but botocore's own errors (no credentials, no connection)
    reach here as they are.
    """
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return UsageError(f"Could not read {href}: no usable S3 credentials ({error})")
    return StorageError(f"Could not read {href}: {error}")


_TRANSIENT_GDAL = re.compile(
    r"HTTP response code: (?:5\d\d|429|408)|timed? ?out|Connection (?:refused|reset)|"
    r"Could not resolve host|SSL|curl error", re.IGNORECASE)


def is_transient_gdal(message: str) -> bool:
    """Whether a GDAL error on a remote file reads like a network fault rather than a bad file."""
    return bool(_TRANSIENT_GDAL.search(message))


def raster_error(product: str, path: str, what: str, error: RasterioError) -> SnowdaysError:
    """A GDAL failure: a network fault on a remote raster, or a local one this process may not read,
    is retried; anything else rejects."""
    remote = "/vsis3/" in path and is_transient_gdal(str(error))
    if remote or "Permission denied" in str(error):
        return StorageError(f"Could not read {path} of {product}: {error}")
    return CorruptProduct(product, f"{what}: {error}")
