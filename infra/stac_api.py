"""The STAC API: stac-fastapi-pgstac served by uvicorn (127.0.0.1 unless set), over the configured database.

When the database is on this machine and a cluster folder is configured, the local cluster is started
first (and made, the first time), and stopped again when the server stops if it was started here.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from types import FrameType

import uvicorn

from infra.ports import check_free
from infra.postgres import LocalPostgres, server_folder
from snowdays.errors import UsageError
from snowdays.settings import Settings
from stac.database import migrate, parse_url

log = logging.getLogger(__name__)
APP = "stac_fastapi.pgstac.app:create_app"
_LOCAL_HOSTS = ("127.0.0.1", "localhost")


def local_cluster(settings: Settings) -> LocalPostgres | None:
    """The local cluster behind ``stac_database_url``, if snowdays is to start one (its folder where the
    server may reach it: :func:`server_folder`)."""
    info = parse_url(settings.stac_database_url)
    if not settings.stac_postgres_data or info.get("host") not in _LOCAL_HOSTS:
        return None
    return LocalPostgres(server_folder(Path(settings.stac_postgres_data)), int(info.get("port") or 5432),
                         database=str(info.get("dbname") or "postgres"),
                         user=str(info.get("user") or "postgres"))


def postgres_env(url: str) -> dict[str, str]:
    """The variables stac-fastapi-pgstac reads its database from (``PGHOST``...)."""
    info = parse_url(url)
    missing = [k for k in ("host", "dbname", "user") if not info.get(k)]
    if missing:
        raise UsageError(f"the STAC database URL gives no {', '.join(missing)}: write it "
                         "postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE")
    return {"PGHOST": str(info["host"]), "PGPORT": str(info.get("port") or 5432),
            "PGUSER": str(info["user"]), "PGPASSWORD": str(info.get("password") or ""),
            "PGDATABASE": str(info["dbname"])}


def serve(settings: Settings) -> None:
    """Run the STAC API in the foreground until interrupted."""
    env = postgres_env(settings.stac_database_url)
    # uvicorn stops gracefully on SIGTERM, then raises it again: exit through ``finally`` then too
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    check_free(settings.stac_api_port, settings.stac_api_host, "the STAC API", "SNOWDAYS_STAC_API_PORT")
    cluster = local_cluster(settings)
    started = cluster.start() if cluster else False
    try:
        log.info("pgstac %s in %s", migrate(settings.stac_database_url, settings.stac_connect_timeout),
                 env["PGDATABASE"])
        os.environ.update(env)  # this process becomes the server, which reads its database from them
        uvicorn.run(APP, factory=True, host=settings.stac_api_host, port=settings.stac_api_port,
                    log_level="info")
    finally:
        if cluster and started:
            cluster.stop()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
