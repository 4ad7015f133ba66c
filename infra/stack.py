"""The local stack ``snowdays up`` runs on 127.0.0.1, each part a child process with its own log.

Prefect's server (SQLite), a Dask scheduler and its workers (they stay up between runs), the STAC API
(with its local PostgreSQL), a file server for the catalog folder and the viewer, and the pipeline
(deployments served, the archive watched). Every port is a setting; stopping stops everything started.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flows.cluster import UNTRIMMED
from infra.ports import check_free
from snowdays.errors import SnowdaysError
from snowdays.settings import Settings, StackPorts
from snowdays.storage import is_s3

LOCAL = "127.0.0.1"
RUN_LOGS = {"PREFECT_LOGGING_EXTRA_LOGGERS": "snowdays,stac"}
"""The library's and the STAC layer's log records go to the Prefect run that made them (its UI page)."""


class StackError(SnowdaysError):
    """A part of the stack did not start (the message names it and its log)."""


@dataclass(frozen=True)
class Part:
    name: str
    command: list[str]
    ready: str | None
    """URL that answers once the part is up (None: up once started)."""
    env: dict[str, str] = field(default_factory=dict)
    port: str | None = None
    """The setting of the port it listens on, which must be free before it starts."""


def urls(ports: StackPorts) -> dict[str, str]:
    """Where each part of the stack answers."""
    return {"Prefect UI": f"http://{LOCAL}:{ports.prefect}",
            "STAC API": f"http://{LOCAL}:{ports.stac_api}",
            "files": f"http://{LOCAL}:{ports.files}",
            "viewer": f"http://{LOCAL}:{ports.files}/viewer/",
            "Dask scheduler": f"tcp://{LOCAL}:{ports.dask}"}


def parts(settings: Settings) -> list[Part]:
    """The children, in starting order (each needs those before it)."""
    py, at = sys.executable, urls(settings.ports)
    api = f"{at['Prefect UI']}/api"
    pipeline = {"PREFECT_API_URL": api, "SNOWDAYS_DASK_CLUSTER": at["Dask scheduler"], **RUN_LOGS,
                "SNOWDAYS_FILES_URL": at["files"],
                "PREFECT_RUNNER_POLL_FREQUENCY": "1"}  # a triggered run starts within a second, not ten
    for folder in (settings.stac_catalog, settings.archive):
        if not is_s3(folder):  # an s3:// one is never a folder "s3:" here
            Path(folder).mkdir(parents=True, exist_ok=True)
    return [
        Part("prefect", [py, "-m", "prefect", "server", "start", "--host", LOCAL, "--port",
                         str(settings.prefect_port)], f"{api}/health",
             {"PREFECT_HOME": str(Path(settings.prefect_home).resolve()),
              "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
              "PREFECT_UI_API_URL": api,  # else the UI asks port 4200, whatever the server's
              **prefect_database(settings)},
             port="prefect_port"),
        Part("dask-scheduler", [py, "-m", "distributed.cli.dask_scheduler", "--host", LOCAL, "--port",
                                str(settings.dask_port), "--dashboard-address", f"{LOCAL}:0"], None,
             port="dask_port"),
        Part("dask-workers", [py, "-m", "distributed.cli.dask_worker", at["Dask scheduler"], "--nworkers",
                              str(settings.dask_workers), "--nthreads", "1", "--host", LOCAL,
                              "--dashboard-address", f"{LOCAL}:0"], None,
             {"PREFECT_API_URL": api, **RUN_LOGS, **UNTRIMMED}),
        Part("stac-api", [str(Path(py).with_name("snowdays")), "stac", "serve"],
             f"{at['STAC API']}/_mgmt/ping", port="stac_api_port"),
        Part("files", [py, "-m", "infra.files"], f"{at['viewer']}config.json",
             {"SNOWDAYS_STAC_CATALOG": settings.stac_catalog, "SNOWDAYS_FILES_PORT": str(settings.files_port),
              "SNOWDAYS_STAC_API_URL": at["STAC API"], "SNOWDAYS_SEASON_START": settings.season_start},
             port="files_port"),
        Part("pipeline", [py, "-m", "flows.serve"],
             f"{api}/deployments/name/update-tile/update-tile", pipeline),
    ]


def prefect_database(settings: Settings) -> dict[str, str]:
    """The Prefect server's database setting: PostgreSQL through asyncpg when one is given."""
    url = settings.prefect_database_url
    if not url:
        return {}
    driver = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+asyncpg://", url)
    return {"PREFECT_API_DATABASE_CONNECTION_URL": driver}


class Stack:
    """Start the parts one by one, each once the one before answers; stop them in reverse order."""

    def __init__(self, settings: Settings, logs: Path, timeout: float = 120,
                 only: set[str] | None = None) -> None:
        """``only``: the names of the parts to start (default: all)."""
        self.settings, self.logs, self.timeout, self.only = settings, logs, timeout, only
        self.running: list[tuple[Part, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Stack:
        self.logs.mkdir(parents=True, exist_ok=True)
        chosen = [p for p in parts(self.settings) if self.only is None or p.name in self.only]
        for part in chosen:
            _free(part, self.settings)
        try:
            for part in chosen:
                self._start(part)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _start(self, part: Part) -> None:
        log = self.logs / f"{part.name}.log"
        with log.open("wb") as out:
            child = subprocess.Popen(part.command, env=os.environ | part.env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.running.append((part, child))
        if part.ready is not None:
            self._wait(part, child, part.ready, log)

    def _wait(self, part: Part, child: subprocess.Popen[bytes], url: str, log: Path) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if child.poll() is not None:
                said = _last_error(log)
                raise StackError(f"{part.name} exited with {child.returncode}{f': {said}' if said else ''}; "
                                 f"see {log}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own URL
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise StackError(f"{part.name} did not answer at {url} within {self.timeout:.0f} s; see {log}")

    def stop(self) -> None:
        """Stop every child; a second Ctrl-C or SIGTERM meanwhile does not cut it short."""
        with _uninterrupted():
            self._stop()

    def _stop(self) -> None:
        for _, child in reversed(self.running):
            if child.poll() is None:
                child.terminate()
        for _, child in reversed(self.running):
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.running = []


def _free(part: Part, settings: Settings) -> None:
    if part.port is not None:
        check_free(getattr(settings, part.port), LOCAL, part.name, f"SNOWDAYS_{part.port.upper()}")


def _last_error(log: Path) -> str:
    """The last line of a child's log that tells an error (snowdays' own ``error:`` lines), if any."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    said = [line.removeprefix("error:").strip() for line in lines if line.startswith("error:")]
    return said[-1] if said else ""


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM for a while (in the main thread, where signals are handled)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
