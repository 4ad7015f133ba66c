"""A local PostgreSQL cluster with PostGIS, kept in one folder and listening on 127.0.0.1 only.

It backs the STAC API on a machine with nothing else set up (``snowdays stac serve``), and the tests.
The cluster trusts connections from 127.0.0.1 (it is a local working database, reachable from this
machine only) and opens no Unix socket. PostgreSQL refuses to run as root: run as root, the server runs
as the ``postgres`` system user, which must own the folder and be able to reach it; where it cannot (a
project in a folder only root may enter, as ``mktemp -d`` makes), the cluster lives in a folder of its own
in that user's home instead, and the configured folder is a link to it (:func:`server_folder`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from infra.ports import check_free
from snowdays.errors import SnowdaysError

log = logging.getLogger(__name__)
SYSTEM_USER = "postgres"
"""The system user that runs the server when snowdays runs as root."""
_BIN_GLOB = "/usr/lib/postgresql/*/bin"


class PostgresError(SnowdaysError):
    """The local cluster could not be made, started or stopped (the message says why and how to fix)."""


def bindir() -> Path:
    """Folder of ``initdb`` and ``pg_ctl``: ``$PG_BINDIR``, then ``PATH``, then Debian's newest."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/").glob(_BIN_GLOB.lstrip("/")), key=lambda p: int(p.parent.name))
    if not versions:
        raise PostgresError("no PostgreSQL server found: install postgresql-15-postgis-3 (Debian) "
                            "or set PG_BINDIR to the folder holding pg_ctl")
    return versions[-1]


def server_folder(data: Path) -> Path:
    """The folder the cluster configured in ``data`` lives in: ``data`` itself, unless snowdays runs as
    root and the ``postgres`` system user cannot enter the folder holding it; then a folder of the
    cluster's own in that user's home (``~postgres/snowdays/<digest of data>``), and ``data`` becomes a
    link to it, so that the same project finds its cluster again, wherever it is moved.

    Nothing of the user's folders is opened to anyone: the cluster moves instead."""
    if not _as_root() or data.is_symlink():
        return data.resolve()
    data = data.resolve()
    data.parent.mkdir(parents=True, exist_ok=True)
    if _system_user_enters(data.parent):
        return data
    own = _home_folder() / hashlib.sha256(str(data).encode()).hexdigest()[:16]
    if data.is_dir() and not any(data.iterdir()):
        data.rmdir()  # left empty by an earlier attempt
    if data.exists():
        raise PostgresError(f"the {SYSTEM_USER} system user cannot enter {data.parent}, and {data} is "
                            f"not empty: move it to {own}, then link {data} to it")
    data.symlink_to(own, target_is_directory=True)
    log.info("the %s system user cannot enter %s: the cluster is in %s", SYSTEM_USER, data.parent, own)
    return own


def _system_user_enters(folder: Path) -> bool:
    done = subprocess.run(["runuser", "-u", SYSTEM_USER, "--", "test", "-x", str(folder)],
                          check=False, timeout=30)
    return done.returncode == 0


def _home_folder() -> Path:
    """``~postgres/snowdays``, made (owned by the system user, private to it) if missing."""
    try:
        home = Path(pwd.getpwnam(SYSTEM_USER).pw_dir)
    except KeyError as e:
        raise PostgresError(f"no {SYSTEM_USER} system user: install postgresql-15-postgis-3 (Debian), "
                            "which makes it") from e
    folder = home / "snowdays"
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True)
        shutil.chown(folder, SYSTEM_USER, SYSTEM_USER)
    if not _system_user_enters(folder):
        raise PostgresError(f"the {SYSTEM_USER} system user cannot enter {folder}, in its own home: "
                            f"give it {folder} (chown {SYSTEM_USER} {folder})")
    return folder


@dataclass(frozen=True)
class LocalPostgres:
    """A cluster in ``data`` on ``127.0.0.1:port`` with the database ``database`` and PostGIS."""

    data: Path
    port: int
    database: str = "snowdays"
    user: str = "postgres"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def log_file(self) -> Path:
        return self.data / "server.log"

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.data), check=False).returncode == 0

    def start(self) -> bool:
        """Make the cluster if needed and start it; False if it was already running."""
        if self.running():
            return False
        check_free(self.port, "127.0.0.1", "the STAC database", "SNOWDAYS_STAC_DATABASE_URL")
        self._init()
        options = f"-c listen_addresses=127.0.0.1 -c unix_socket_directories='' -p {self.port}"
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log_file), "-w", "-t", "60",
                  "-o", options)
        self.create_database()
        return True

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")

    def _init(self) -> None:
        if (self.data / "PG_VERSION").is_file():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        if _as_root():
            shutil.chown(self.data, SYSTEM_USER, SYSTEM_USER)
            reach = subprocess.run(["runuser", "-u", SYSTEM_USER, "--", "test", "-w", str(self.data)],
                                   check=False, timeout=30)
            if reach.returncode != 0:
                raise PostgresError(f"the {SYSTEM_USER} system user cannot write to {self.data}: put the "
                                    "cluster (SNOWDAYS_STAC_POSTGRES_DATA) in a folder it may enter")
        log.info("creating a PostgreSQL cluster in %s", self.data)
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                  "--no-instructions")

    def create_database(self) -> None:
        """Create the database (with PostGIS) in the running cluster, if missing."""
        admin = f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  [self.database]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(bindir() / tool), *args]
        if _as_root():
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            logged = self.log_file.read_text().splitlines() if self.log_file.is_file() else []
            fatal = [line for line in logged if "FATAL:" in line or "ERROR:" in line] or logged
            why = "; ".join(line.strip() for line in [*said[-1:], *fatal[-1:]])
            raise PostgresError(f"{tool} {args[0]} on {self.data} failed: {why or 'no message'}"
                                + (f"; see {self.log_file}" if logged else ""))
        return done


def _as_root() -> bool:
    return os.geteuid() == 0
