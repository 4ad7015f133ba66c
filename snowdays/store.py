"""One transactional store per tile: an Icechunk repository on a local folder or ``s3://``.

Everything a fold changes (state arrays, observation cube, ledger, quarantine) is written in one
session and becomes visible with one commit. A writer that loses a commit race re-reads the tile and
does its work again, so two writers never lose a product.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import icechunk
import zarr
from zarr.errors import GroupNotFoundError
from zarr.storage import MemoryStore

from snowdays.errors import StorageError
from snowdays.settings import S3Endpoint, Settings
from snowdays.storage import filesystem, is_s3

log = logging.getLogger(__name__)
T = TypeVar("T")
J = TypeVar("J")
BRANCH = "main"
CREATE_ATTEMPTS = 10
_CREATION_RACE = ("only be created in clean prefixes", "branch update conflict")
"""What Icechunk says to a writer that created a repository at the same time as another."""
UNIDENTIFIED = "_unidentified"
"""Repository that records rejected products whose name gives no tile."""


def storage(root: str, tile: str, s3: S3Endpoint) -> icechunk.Storage:
    """Icechunk storage of one tile under ``root`` (a folder or an ``s3://bucket/prefix``)."""
    if not is_s3(root):
        return icechunk.local_filesystem_storage(_local_folder(Path(root) / tile))
    bucket, _, prefix = root.removeprefix("s3://").partition("/")
    endpoint = s3.url
    return icechunk.s3_storage(
        bucket=bucket, prefix=f"{prefix.strip('/')}/{tile}".lstrip("/"), region=s3.region,
        endpoint_url=endpoint, allow_http=bool(endpoint and endpoint.startswith("http:")),
        force_path_style=bool(endpoint), from_env=True,
    )


def _local_folder(path: Path) -> str:
    """A tile's local folder, checked before the store library sees it (a symbolic link loop or a
    file in its place makes that library abort the process rather than raise)."""
    try:
        if not path.resolve(strict=True).is_dir():
            raise StorageError(f"Could not open the store at {path}: it is not a folder")
    except FileNotFoundError as e:
        if path.is_symlink():
            raise StorageError(f"Could not open the store at {path}: a link to nothing") from e
    except (OSError, RuntimeError) as e:  # RuntimeError: a symbolic link loop (Python 3.11)
        raise StorageError(f"Could not open the store at {path}: {e}") from e
    return str(path)


def open_repo(root: str, tile: str, settings: Settings, create: bool = False) -> icechunk.Repository:
    """The tile's repository; with ``create``, made (with an empty root group) if missing.

    A local folder is safe for one writer at a time; concurrent writers need an object store.
    """
    icechunk.set_logs_filter("error")  # its warning on local folders is the sentence above
    where = storage(root, tile, settings.s3)
    failed = f"Could not open the store of {tile} under {root}"
    if not create:
        try:
            return icechunk.Repository.open(where)
        except icechunk.IcechunkError as e:
            raise StorageError(f"{failed}: {e}") from e
    attempt = 1
    while True:
        try:
            repo = icechunk.Repository.open_or_create(where)
            break
        except icechunk.IcechunkError as e:
            # two writers may create a new tile at once: the loser finds the prefix taken, or its
            # branch made first (Icechunk tells either by its message alone), and opens the
            # repository once the winner has made it
            if not any(m in str(e) for m in _CREATION_RACE) or attempt == CREATE_ATTEMPTS:
                raise StorageError(f"{failed}: {e}") from e
            log.info("the store of %s is being created by another writer; opening it again", tile)
            time.sleep(0.05 * attempt)
            attempt += 1
    transact(repo, lambda root_group: (None, f"create the store of {tile}"))
    return repo


def tiles(root: str, settings: Settings) -> list[str]:
    """The tiles that have a store under ``root``."""
    fs = filesystem(root, settings.s3)
    base = root.removeprefix("s3://").rstrip("/")
    if not fs.exists(base):
        return []
    names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(base, detail=False)]
    return sorted(n for n in names if fs.exists(f"{base}/{n}/repo") or fs.exists(f"{base}/{n}/refs"))


BACK_OFF_SECONDS = 0.05
"""The first wait after a commit conflict; it doubles with each attempt, up to :data:`BACK_OFF_MAX`."""
BACK_OFF_MAX = 2.0


def back_off(attempt: int) -> float:
    """Wait a random time up to the attempt's bound ("full jitter"), so that writers that conflicted
    do not meet again at once; return it."""
    wait = random.uniform(0, min(BACK_OFF_MAX, BACK_OFF_SECONDS * 2 ** (attempt - 1)))  # noqa: S311
    time.sleep(wait)
    return wait


def transact(repo: icechunk.Repository, work: Callable[[zarr.Group], tuple[T, str | None]],
             attempts: int = 8) -> T:
    """Run ``work`` on a fresh writable view of the tile and commit what it changed.

    ``work`` returns its result and the commit message (None: nothing to commit). On a commit
    conflict the work runs again on the newer state.
    """
    for attempt in range(1, attempts + 1):
        session = repo.writable_session(BRANCH)
        result, message = work(zarr.open_group(session.store, mode="a"))
        if message is None or not session.has_uncommitted_changes:
            return result
        try:
            session.commit(message)
            return result
        except icechunk.ConflictError:
            log.info("commit conflict on attempt %d, folding again on the newer state", attempt)
            back_off(attempt)
    raise StorageError(f"gave up after {attempts} commit conflicts (another writer keeps committing)")


Mapper = Callable[[Callable[[icechunk.ForkSession, J], icechunk.ForkSession],
                   list[icechunk.ForkSession], list[J]], Iterable[icechunk.ForkSession]]
"""Runs a job on each fork, like the builtin ``map`` (which runs them here, one after another)."""


def fan_out(repo: icechunk.Repository, plan: Callable[[zarr.Group], tuple[list[J], str | None]],
            job: Callable[[zarr.Group, J], None], finish: Callable[[zarr.Group, list[J]], None],
            mapper: Mapper[J] = map, attempts: int = 8) -> list[J]:
    """Plan jobs on the latest commit, run each on a fork of the session (anywhere ``mapper`` sends
    it: Dask workers write their chunks straight to the store), merge the forks, ``finish`` and
    commit once. A crash before the commit leaves the tile as it was; a conflict plans again."""
    for attempt in range(1, attempts + 1):
        session = repo.writable_session(BRANCH)
        jobs, message = plan(zarr.open_group(session.store, mode="r"))
        if not jobs or message is None:
            return []
        forks = [session.fork() for _ in jobs]
        session.merge(*mapper(partial(_in_fork, job), forks, jobs))
        finish(zarr.open_group(session.store, mode="a"), jobs)
        try:
            session.commit(message)
            return jobs
        except icechunk.ConflictError:
            log.info("commit conflict on attempt %d, planning again on the newer state", attempt)
            back_off(attempt)
    raise StorageError(f"gave up after {attempts} commit conflicts (another writer keeps committing)")


def _in_fork(job: Callable[[zarr.Group, J], None], fork: icechunk.ForkSession,
             item: J) -> icechunk.ForkSession:
    job(zarr.open_group(fork.store, mode="a"), item)
    return fork


def read(repo: icechunk.Repository) -> zarr.Group:
    """A read-only view of the latest commit; a store made but not yet given its root group (its
    creator is in its first commit, or was killed there) reads as an empty tile."""
    try:
        return zarr.open_group(repo.readonly_session(branch=BRANCH).store, mode="r")
    except GroupNotFoundError:
        return zarr.group(store=MemoryStore())


@dataclass(frozen=True)
class Commit:
    id: str
    message: str
    written_at: datetime


def last_commit(repo: icechunk.Repository) -> Commit:
    info = next(iter(repo.ancestry(branch=BRANCH)))
    return Commit(info.id, info.message, info.written_at)


GRACE = timedelta(hours=1)
"""Objects younger than this are never collected: a writer may be about to commit them."""


@dataclass(frozen=True)
class Compaction:
    snapshots_expired: int
    chunks_deleted: int
    bytes_deleted: int


def compact(repo: icechunk.Repository, keep: timedelta, grace: timedelta = GRACE) -> Compaction:
    """Drop the history older than ``keep`` (its snapshots, and the objects only they used).

    The latest commit always stays; objects younger than ``grace`` stay too, so that a concurrent
    writer's uncommitted chunks are never lost.
    """
    now = datetime.now(UTC)
    expired = repo.expire_snapshots(now - keep)
    summary = repo.garbage_collect(min(now - keep, now - grace))
    return Compaction(len(expired), summary.chunks_deleted, summary.bytes_deleted)


def attr(group: zarr.Group, name: str, default: Any = None) -> Any:
    """A JSON attribute, untyped (its shape is the caller's to know)."""
    return group.attrs.get(name, default)


def subgroup(group: zarr.Group, path: str) -> zarr.Group:
    found = group[path]
    if not isinstance(found, zarr.Group):
        raise StorageError(f"{path} in the store is not a group")
    return found


def array(group: zarr.Group, name: str) -> zarr.Array[Any]:
    found = group[name]
    if not isinstance(found, zarr.Array):
        raise StorageError(f"{name} in the store is not an array")
    return found
