"""Shared fixtures: a real S3 server (moto, on 127.0.0.1), PostgreSQL, Prefect, the real ``snowdays``
console script, headless Chromium; and the markers a test gets from the fixtures it uses.

A fixture that starts a server or a process is marked with what it starts (``@starts("server")``); a
test that uses it, directly or through another fixture, gets that marker (``server``, ``browser``,
``slow``; registered in pyproject.toml). ``make test-fast`` runs the tests that have none of them: the
library alone.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: The markers a fixture can give the tests that use it.
MARKERS = ("server", "browser", "slow")
F = TypeVar("F", bound=Callable[..., Any])


def starts(*markers: str) -> Callable[[F], F]:
    """Mark a fixture's function (under ``@pytest.fixture``) with what it starts: the tests that use
    the fixture get these markers."""
    assert set(markers) <= set(MARKERS), markers

    def mark(function: F) -> F:
        function._snowdays_markers = markers  # type: ignore[attr-defined]
        return function

    return mark


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test gets the markers of every fixture it uses (directly or through other fixtures)."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        found: set[str] = set()
        for name in item.fixturenames:  # type: ignore[attr-defined]
            for definition in info.name2fixturedefs.get(name, ()):
                found.update(getattr(definition.func, "_snowdays_markers", ()))
        for marker in sorted(found - {m.name for m in item.iter_markers()}):
            item.add_marker(marker)

#: AWS variables that could point boto, s3fs or GDAL elsewhere than the test server.
_AWS_ISOLATE = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                "AWS_NO_SIGN_REQUEST", "AWS_S3_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")


@dataclass(frozen=True)
class S3Server:
    """A moto S3 server running in this process (the fixture sets dummy credentials)."""

    endpoint_url: str

    def client(self) -> Any:
        import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 - only S3 tests need it

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1")

    def upload(self, folder: Path, bucket: str, prefix: str) -> str:
        """Upload every file under ``folder`` to ``s3://bucket/prefix/``; return that URL."""
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets()["Buckets"]}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder)}")
        return f"s3://{bucket}/{prefix}"


_SESSION: list[pytest.TempPathFactory] = []


@pytest.fixture(scope="session", autouse=True)
def _session_folders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Where ``made_once`` keeps what it makes."""
    _SESSION.append(tmp_path_factory)
    yield
    _SESSION.clear()


def made_once(key: str, make: Callable[[Path], object]) -> Path:
    """The folder ``make`` fills for ``key``, made on the session's first call: test data that several
    modules use. Read it only; copy what a test changes."""
    assert _SESSION, "made_once runs in tests (the session's folders are set by a fixture)"
    root = _SESSION[0].getbasetemp() / "made-once"
    folder, done = root / key, root / f"{key}.done"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        root.mkdir(exist_ok=True)
        make(folder)
        done.touch()
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
@starts("server")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server on 127.0.0.1 for the whole session, stopped at the end."""
    # moto's request recorder (tests/test_s3.py counts the bytes a product is read) writes where this
    # says, read once when moto is first imported (here: no other module imports it)
    os.environ.setdefault("MOTO_RECORDER_FILEPATH", str(tmp_path_factory.mktemp("moto") / "requests"))
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - only S3 tests need it

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    nowhere = tmp_path_factory.mktemp("aws") / "none"
    with pytest.MonkeyPatch.context() as mp:
        for name in _AWS_ISOLATE:
            mp.delenv(name, raising=False)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "snowdays-test", "AWS_SECRET_ACCESS_KEY": "snowdays-test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(nowhere), "AWS_SHARED_CREDENTIALS_FILE": str(nowhere),
            "AWS_EC2_METADATA_DISABLED": "true",
        }.items():
            mp.setenv(name, value)
        server.start()
        try:
            yield S3Server(f"http://127.0.0.1:{port}")
        finally:
            server.stop()


#: Runs the console script: (arguments, environment changes, working directory) -> the outcome.
#: In the environment changes, None removes a variable.
RunCli = Callable[[list[str], Mapping[str, str | None], Path], subprocess.CompletedProcess[str]]


def console_script() -> Path:
    """The ``snowdays`` console script installed next to this interpreter."""
    script = Path(sys.executable).with_name("snowdays")
    assert script.is_file(), f"no snowdays console script next to {sys.executable}"
    return script


@pytest.fixture(scope="session")
@starts("server")
def snowdays_cli(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunCli]:
    """Run the real ``snowdays`` console script in a process of its own, as a user would.

    The child gets this process's environment at the time of the call, without any ``SNOWDAYS_``
    setting (plus the changes given), and a wide terminal so that rich does not wrap messages. Where
    the environment forbids writing bytecode (``PYTHONDONTWRITEBYTECODE``), the child gets a bytecode
    cache of its own, kept in pytest's cache folder, so that each run does not compile again every
    module it imports.

    The runs are forked from a process that has loaded the console script's modules once
    (tests/cliserver.py), unless a run's environment differs from that process's in a variable read
    while modules load: that run starts the console script itself.
    """
    from tests.cliserver import load_time_differs  # noqa: PLC0415

    pycache: dict[str, str] = {}
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
        folder = (cache.mkdir("snowdays-pycache") if cache is not None
                  else tmp_path_factory.mktemp("pycache"))
        pycache["PYTHONPYCACHEPREFIX"] = str(folder)

    def environment(changes: Mapping[str, str | None]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWDAYS_")}
        if pycache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        env |= {"COLUMNS": "1000", **pycache}
        for name, value in changes.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    streams = tmp_path_factory.mktemp("cli-runs")
    server = CliServer(streams / "socket", environment({}))

    def run(args: list[str], changes: Mapping[str, str | None],
            cwd: Path) -> subprocess.CompletedProcess[str]:
        env = environment(changes)
        if load_time_differs(env, server.env):
            return subprocess.run([str(console_script()), *args], env=env, cwd=cwd,
                                  capture_output=True, text=True, timeout=120, check=False)
        return server.run(args, env, cwd, timeout=120)

    try:
        yield run
    finally:
        server.stop()


class CliServer:
    """The process that forks runs of the console script (tests/cliserver.py), started at its first
    run."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path, self.env = path, env
        self.process: subprocess.Popen[str] | None = None
        self.runs = 0

    def _start(self) -> None:
        script = Path(__file__).with_name("cliserver.py")
        self.process = subprocess.Popen([sys.executable, str(script), str(self.path)], env=self.env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        ready = self.process.stdout.readline()
        assert ready == "ready\n", f"the console script's server did not start ({self.process.poll()})"

    def run(self, args: list[str], env: dict[str, str], cwd: Path,
            timeout: float) -> subprocess.CompletedProcess[str]:
        import json  # noqa: PLC0415

        if self.process is None:
            self._start()
        self.runs += 1
        out, err = self.path.with_name(f"{self.runs}.out"), self.path.with_name(f"{self.runs}.err")
        command = [str(console_script()), *args]
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(self.path))
            conn.sendall(json.dumps({"args": args, "env": env, "cwd": str(cwd), "stdout": str(out),
                                     "stderr": str(err)}).encode() + b"\n")
            answers = conn.makefile("r", encoding="utf-8")
            pid = json.loads(answers.readline())["pid"]
            try:
                returncode = json.loads(answers.readline())["returncode"]
            except TimeoutError:
                os.kill(pid, 9)
                raise subprocess.TimeoutExpired(command, timeout) from None
        done = subprocess.CompletedProcess(command, returncode, out.read_text(), err.read_text())
        out.unlink()
        err.unlink()
        return done

    def stop(self) -> None:
        if self.process is not None:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.close()
            self.process.wait(timeout=30)
            self.process.stdout.close()


@pytest.fixture(scope="session")
def zipped_season(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Zipped products of T31TCH (20 px), in acquisition order; shared: never write in them."""
    from snowdays.sample import make_season  # noqa: PLC0415 - the library is loaded by the tests only
    from snowdays.season import parse_season  # noqa: PLC0415

    return make_season(tmp_path_factory.mktemp("zipped-season"), "T31TCH", parse_season("2017-2018"), 20,
                       "muscate", True, seed=7)


@pytest.fixture(scope="session")
def other_tile_zips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two zipped products of T32TLR (20 px); shared: never write in them."""
    from snowdays.sample import make_season  # noqa: PLC0415 - the library is loaded by the tests only
    from snowdays.season import parse_season  # noqa: PLC0415

    return make_season(tmp_path_factory.mktemp("other-tile"), "T32TLR", parse_season("2017-2018"), 20,
                       "muscate", True, seed=3)[:2]


@pytest.fixture(scope="session")
@starts("server")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL cluster with PostGIS on 127.0.0.1 for the whole session, stopped at the end.

    Its folder is made outside pytest's own (which only its owner may enter), so that the ``postgres``
    system user can run the server when the tests run as root.
    """
    import shutil  # noqa: PLC0415 - only database tests need these
    import tempfile  # noqa: PLC0415

    from infra.postgres import LocalPostgres  # noqa: PLC0415

    folder = Path(tempfile.mkdtemp(prefix="snowdays-pg-"))
    folder.chmod(0o755)
    cluster = LocalPostgres(folder / "data", _free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
@starts("server")
def prefect_api() -> Iterator[str]:
    """A Prefect API on 127.0.0.1 for the whole session (Prefect's test harness: a server on a free
    port with a temporary SQLite database, telemetry off); yields its URL."""
    from prefect.settings import (  # noqa: PLC0415 - only pipeline tests need Prefect
        PREFECT_API_URL,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness  # noqa: PLC0415

    with (temporary_settings(updates={PREFECT_SERVER_ANALYTICS_ENABLED: False}),
          prefect_test_harness(server_startup_timeout=120)):
        yield str(PREFECT_API_URL.value())


@pytest.fixture
def prefect_events(prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], list[Any]]]:
    """Record the events this process emits, as Prefect's own tests do: every ``emit_event`` goes to
    an ``AssertingEventsClient``. Yields a function that waits for the queued events and returns
    those recorded so far."""
    from prefect.events.clients import AssertingEventsClient  # noqa: PLC0415
    from prefect.events.worker import EventsWorker  # noqa: PLC0415

    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)

    def recorded() -> list[Any]:
        worker.wait_until_empty()
        client = getattr(worker, "_client", None)  # made when the first event is handled
        return list(getattr(client, "events", []))

    try:
        yield recorded
    finally:
        worker.drain()


#: Opens the system's headless Chromium on a URL: a context manager of its Playwright page.
Chromium = Callable[[str], AbstractContextManager["Page"]]


@pytest.fixture
@starts("browser")
def chromium() -> Chromium:
    """Opens the system's headless Chromium on a URL, through Playwright (tests/browser.py's ``page``)."""
    from tests.browser import page  # noqa: PLC0415

    return page


@pytest.fixture(scope="module")
def season_store() -> str:
    """The store of tests/seasondata.py's generated season (made once per session; read it only)."""
    from tests.seasondata import stored  # noqa: PLC0415 - it builds on made_once, above

    return stored()[1]


@pytest.fixture(scope="module")
def season_truth() -> Any:
    """The naive truth of tests/seasondata.py's season: (cube, days, n_days) of its merged observations."""
    from tests.seasondata import stored, truth  # noqa: PLC0415 - it builds on made_once, above

    return truth(stored()[0])
