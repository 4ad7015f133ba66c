"""A local PostgreSQL cluster with PostGIS, kept in one folder and listening on 127.0.0.1 only.

It backs the STAC API on a machine with nothing else set up (``snowdays stac serve``), and the tests.
The cluster trusts connections from 127.0.0.1 (it is a local working database, reachable from this
machine only) and opens no Unix socket. PostgreSQL refuses to run as root: run as root, the server runs
as the ``postgres`` system user, which must own the folder and be able to reach it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)
SYSTEM_USER = "postgres"
"""The system user that runs the server when snowdays runs as root."""
_BIN_GLOB = "/usr/lib/postgresql/*/bin"


class PostgresError(RuntimeError):
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
        self._init()
        if self.running():
            return False
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
                                    "cluster in a folder whose parents every user may enter")
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
            tail = self.log_file.read_text()[-2000:] if self.log_file.is_file() else ""
            raise PostgresError(f"{tool} {args[0]} on {self.data} failed: "
                                f"{(done.stderr or done.stdout).strip()} {tail}".strip())
        return done


def _as_root() -> bool:
    return os.geteuid() == 0
