"""Runs of the ``snowdays`` console script, each a process of its own, without loading its modules again.

Loading the command line's modules takes seconds, and the tests run the console script a hundred times.
This script, started once a session by the ``snowdays_cli`` fixture, loads the console script's entry
point and the modules it loads (as the first seconds of every run would), then forks a process for each
run asked of it: that process takes the run's environment, working folder, arguments and standard
streams and calls the entry point as the console script does (``sys.exit(main())``, tracebacks,
``atexit`` and all), so its exit code and output are those of a run started from scratch. A run whose
environment differs from this server's in a variable read while modules load (``PYTHON*``, ``NUMBA_*``,
``COLUMNS``, colours, GDAL ...) is not asked here: the fixture starts the console script for it.

The protocol, over a Unix socket, one connection a run: the client sends one JSON line ``{"args",
"env", "cwd", "stdout", "stderr"}`` (the last two: files to write the streams to); the server answers
``{"pid": ...}`` once the run has started and ``{"returncode": ...}`` when it has ended (negative: the
signal that ended it, as ``subprocess`` has it).

    python tests/cliserver.py SOCKET    # ends when its standard input closes
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import json
import os
import selectors
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: Variables read while modules load (by Python, numba, rich's consoles, GDAL, PROJ, Prefect's
#: settings): a run whose value of one differs from the server's is not run from the server.
LOAD_TIME = ("PYTHON", "NUMBA_", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERM", "TTY_",
             "JUPYTER_", "GDAL_", "CPL_", "PROJ_", "PREFECT_", "LD_", "LANG", "LC_")


def load_time_differs(env: Mapping[str, str], server: Mapping[str, str]) -> bool:
    """Whether a run in ``env`` would have loaded modules differently from a server started in
    ``server``."""
    names = {k for k in (*env, *server) if k.startswith(LOAD_TIME)}
    return any(env.get(k) != server.get(k) for k in names)


def _entry_point() -> Callable[[], Any]:
    (found,) = importlib.metadata.entry_points(group="console_scripts", name="snowdays")
    main: Callable[[], Any] = found.load()
    return main


def _preload(main: Callable[[], Any]) -> None:
    """Import what a run would import: the entry point's own imports (``from x import main`` inside it),
    then the library and catalog modules the command line imports inside its commands (the pipeline's,
    which load Prefect, are left to the runs that need them)."""
    _import_from(sys.modules[main.__module__], lambda name: True)
    for name in [m for m in sys.modules if m == "cli" or m.startswith("cli.")]:
        _import_from(sys.modules[name], lambda name: name.split(".")[0] in ("snowdays", "stac"))


def _import_from(module: Any, wanted: Callable[[str], bool]) -> None:
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                 else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        for name in filter(wanted, names):
            importlib.import_module(name)


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise EOFError("the client went away")
        data += chunk
    return data


def _become_the_run(request: dict[str, Any]) -> None:
    """In the forked run: its folder, environment, streams and arguments, the signals as at start."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = [str(Path(sys.executable).with_name("snowdays")), *request["args"]]


def _monitor(conn: socket.socket) -> bool:
    """Start the run a connection asks for and report on it; True in the run itself."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    request = json.loads(_read_line(conn))
    pid = os.fork()
    if pid == 0:
        conn.close()
        _become_the_run(request)
        return True
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    conn.sendall(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
    conn.close()
    os._exit(0)


def serve(path: str) -> Callable[[], Any]:
    """Answer runs until standard input closes; returns (in a run only) the entry point to call."""
    main = _entry_point()
    _preload(main)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # monitors are reaped by the system
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    print("ready", flush=True)
    with selectors.DefaultSelector() as selector:
        selector.register(server, selectors.EVENT_READ)
        selector.register(sys.stdin, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is not server:
                    if not sys.stdin.readline():  # the session has ended
                        raise SystemExit(0)
                    continue
                conn, _ = server.accept()
                if os.fork() == 0:
                    selector.close()
                    server.close()
                    if _monitor(conn):
                        return main
                conn.close()


if __name__ == "__main__":
    sys.path[0] = str(Path(sys.executable).parent)  # as the console script has it, not tests/
    sys.exit(serve(sys.argv[1])())
