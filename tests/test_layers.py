"""The layers of docs/ARCHITECTURE.md are a rule: ``make lint`` (lint-imports, configured in
pyproject.toml) fails on an import that crosses them, and the command line loads a layer only in the
command that runs it."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("snowdays", "stac", "tasks", "flows", "infra", "cli")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def copy_of_the_project(to: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, to / package, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")
    return to


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the copy (first on the path, so that its modules are the ones analysed)."""
    env = os.environ | {"PYTHONPATH": str(project)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("snowdays/season.py", "import stac.items", "snowdays.season -> stac.items"),
    ("snowdays/season.py", "import prefect", "snowdays.season -> prefect"),
    ("stac/items.py", "import tasks.report", "stac.items -> tasks.report"),
    ("flows/mosaic.py", "import stac.mosaics", "flows.mosaic -> stac.mosaics"),
    ("tasks/report.py", "import cli.terminal", "tasks.report -> cli.terminal"),
])
def test_a_forbidden_import_breaks_the_lint(tmp_path: Path, module: str, line: str, broken: str) -> None:
    project = copy_of_the_project(tmp_path)
    kept = lint_imports(project)
    assert kept.returncode == 0, kept.stdout[-2000:]
    with (project / module).open("a") as f:
        f.write(f"\n{line}  # noqa: E402, F401\n")
    done = lint_imports(project)
    assert done.returncode != 0 and broken in done.stdout, done.stdout[-3000:]


def test_the_command_line_loads_no_layer_to_show_its_help() -> None:
    """``snowdays --help`` loads neither the library's engine nor the catalog nor the pipeline."""
    script = ("import sys\nfrom cli.app import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
              "print('loaded:', *sorted({m.split('.')[0] for m in sys.modules}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          check=True, env=os.environ | {"COLUMNS": "200"})
    loaded = set(done.stdout.rpartition("loaded:")[2].split())
    assert "cli" in loaded and "typer" in loaded
    assert not loaded & {"numpy", "numba", "rasterio", "stac", "flows", "tasks", "infra", "prefect",
                         "pystac", "icechunk", "boto3"}, loaded


def test_the_benchmarks_import_only_the_project() -> None:
    """``bench/`` measures the project as users get it: nothing of the test suite."""
    found = []
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "tests"]
    assert found == []
