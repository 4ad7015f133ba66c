"""Every error that can reach the command line's ``main`` becomes an exit code and one line, never a
traceback: each kind of ``SnowdaysError`` (wherever it is defined), and the other errors it meets."""

from __future__ import annotations

import importlib
import pkgutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

import cli.app
from cli.terminal import EXIT_CODES
from snowdays import errors
from snowdays.errors import SnowdaysError
from snowdays.settings import get_settings
from tests.conftest import RunCli, console_script

PACKAGES = ("snowdays", "stac", "tasks", "flows", "infra", "cli")


def every_kind() -> list[type[SnowdaysError]]:
    """Every subclass of SnowdaysError in the project's packages, once they are all imported."""
    for package in PACKAGES:
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, f"{package}."):
            importlib.import_module(module.name)
    found, todo = [], [SnowdaysError]
    while todo:
        kind = todo.pop()
        found.append(kind)
        todo.extend(kind.__subclasses__())
    return [k for k in found if k.__module__.split(".")[0] in PACKAGES]


def example(kind: type[SnowdaysError]) -> SnowdaysError:
    """An error of ``kind`` with a message spread over two lines, as a server's log tail may be."""
    if issubclass(kind, errors.ProductRejected):
        return kind("SENTINEL2A_20180115-103629-617_L2B-SNOW_T31TCH_C_V1-9", "truncated\nraster")
    if issubclass(kind, errors.RejectedProducts):
        return kind([errors.CorruptProduct("A.zip", "truncated"), errors.WrongTile("B.zip", "T32TLR")])
    own = [c.__name__ for c in kind.__mro__ if issubclass(c, SnowdaysError) and "__init__" in vars(c)]
    assert not own, f"{kind.__name__} is made another way ({own}): give an example of it here"
    return kind(f"{kind.__name__} happened\nsee its log")


def run_main(error: BaseException, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """``main`` with a command that raises ``error``: the exit code, and the error console's lines."""

    def command() -> None:
        raise error

    monkeypatch.setattr(cli.app, "app", command)
    with pytest.raises(SystemExit) as ended:
        cli.app.main()
    assert isinstance(ended.value.code, int)
    return ended.value.code, capsys.readouterr().err.splitlines()


def test_the_walk_finds_the_kinds_defined_outside_the_errors_module() -> None:
    names = {k.__name__ for k in every_kind()}
    assert {"StackError", "PostgresError", "ProductRejected", "ImplausibleDate", "RejectedProducts"} <= names


@pytest.mark.parametrize("kind", every_kind(), ids=lambda k: k.__name__)
def test_every_snowdays_error_is_an_exit_code_and_one_line(kind: type[SnowdaysError],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    error = example(kind)
    code, lines = run_main(error, monkeypatch, capsys)
    bad_input = errors.ProductRejected | errors.RejectedProducts | errors.BadInput
    expected = 3 if isinstance(error, bad_input) else 2 if isinstance(error, errors.UsageError) else 1
    assert code == expected
    products = error.rejected if isinstance(error, errors.RejectedProducts) else [error]
    assert len(lines) == len(products), lines
    assert all(line.startswith("error: ") for line in lines)
    assert "Traceback" not in "\n".join(lines)
    for line, product in zip(lines, products, strict=True):
        assert line == "error: " + " ".join(str(product).split("\n"))


def test_a_setting_that_does_not_parse_names_its_variable(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SNOWDAYS_PREFECT_PORT", "forty-two")
    with pytest.raises(ValidationError) as raised:
        get_settings()
    code, lines = run_main(raised.value, monkeypatch, capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: SNOWDAYS_PREFECT_PORT='forty-two': ")
    assert "set it right or unset it" in lines[0]


def test_a_file_refused_is_an_exit_code_and_one_line(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    refused = PermissionError(13, "Permission denied", str(tmp_path / "catalog"))
    code, lines = run_main(refused, monkeypatch, capsys)
    assert code == 1
    assert lines == [f"error: [Errno 13] Permission denied: '{tmp_path / 'catalog'}'"]


def test_a_bug_is_one_line_with_its_traceback_in_a_file(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = run_main(ZeroDivisionError("division by zero"), monkeypatch, capsys)
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("error: unexpected ZeroDivisionError: division by zero")
    saved = Path(lines[0].split("its traceback is in ")[1].split(":")[0])
    try:
        assert "Traceback" in saved.read_text() and "ZeroDivisionError" in saved.read_text()
    finally:
        saved.unlink()


def test_every_kind_in_the_table_is_an_exception() -> None:
    """The table ends with Exception: nothing an ``except Exception`` catches lacks an exit code."""
    assert EXIT_CODES[-1] == (Exception, 1)
    assert all(code in (1, 2, 3) for _, code in EXIT_CODES)


def test_the_console_script_tells_a_bad_setting_in_one_line(tmp_path: Path, snowdays_cli: RunCli) -> None:
    done: subprocess.CompletedProcess[str] = snowdays_cli(["up"], {"SNOWDAYS_DASK_PORT": "0x"}, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: SNOWDAYS_DASK_PORT='0x': Input should be a valid integer, unable to parse string as an "
        "integer; set it right or unset it"]


def test_ctrl_c_while_the_command_loads_is_no_traceback(tmp_path: Path) -> None:
    """The command line's modules take seconds to load: a Ctrl-C then ends it as at any other time."""
    child = subprocess.Popen([str(console_script()), "status", "--store", str(tmp_path)],
                             stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr
