"""Every kind of bad product is rejected, named, with its reason: by the library and by the CLI.

Strict mode stops the command with exit code 3 and writes nothing; ``--skip-bad`` leaves the bad
product out and gives exactly the maps of the folder without it.
"""

from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import rasterio

from snowdays.annual import run_annual, write
from snowdays.errors import ProductRejected
from snowdays.grid import Grid
from snowdays.products import open_product
from snowdays.settings import get_settings
from tests.badproducts import (
    CASE_IDS,
    CASES,
    SEASON,
    START,
    STOP,
    TILE,
    Good,
    build,
    case,
    copy_season,
    good_of,
    good_season,
    product_name,
)
from tests.conftest import RunCli

#: Cases also run alone with ``--skip-bad`` (all of them are in one more such run).
SKIP_BAD = ["zip-parent", "truncated-pixels"]


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return good_season(tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def good(season: list[Path]) -> Good:
    return good_of(season)


@pytest.fixture(scope="module")
def tile_grid(good: Good) -> Grid:
    return open_product(str(good.product), get_settings(), TILE).grid


# --- library ---------------------------------------------------------------------------------------

def check_rejection(error: ProductRejected, expected: type[ProductRejected], name: str,
                    reason: str) -> None:
    assert type(error) is expected, f"{type(error).__name__}: {error}"
    assert error.product == name
    assert re.search(reason, error.reason), error.reason
    assert str(error) == f"{name}: {error.reason}"


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_library_rejects(case_id: str, good: Good, tile_grid: Grid, tmp_path: Path) -> None:
    c = case(case_id)
    path = build(c, tmp_path, good)
    settings = get_settings(**c.settings)
    if c.stage == "read":
        product = open_product(str(path), settings, TILE)  # opens: only decoding can tell
        with pytest.raises(ProductRejected) as caught:
            product.read(tile_grid, settings)
    else:
        with pytest.raises(ProductRejected) as caught:
            open_product(str(path), settings, TILE)
    check_rejection(caught.value, c.error, product_name(path), c.reason)


@pytest.mark.parametrize("case_id", [c.id for c in CASES if c.settings])
def test_zip_limits_are_settings(case_id: str, good: Good, tile_grid: Grid,
                                 tmp_path: Path) -> None:
    """The archives rejected under small limits are fine under the default ones."""
    path = build(case(case_id), tmp_path, good)
    settings = get_settings()
    product = open_product(str(path), settings, TILE)
    assert np.array_equal(product.read(tile_grid, settings), good.codes)


def test_bad_products_would_change_the_maps(good: Good, season: list[Path],
                                            tmp_path: Path) -> None:
    """A bad product's day has no good product: used by mistake, it would add an observation."""
    folder = copy_season(season, tmp_path / "products")
    before = run_annual(str(folder), TILE, SEASON, get_settings()).maps.nobs
    settings = get_settings(zip_max_ratio=2.0)
    with pytest.raises(ProductRejected):
        open_product(str(build(case("zip-ratio"), folder, good)), settings, TILE)
    after = run_annual(str(folder), TILE, SEASON, get_settings()).maps.nobs  # default limits
    added = after.astype(np.int32) - before
    assert np.array_equal(added, (good.codes <= 100).astype(np.int32))


# --- CLI -------------------------------------------------------------------------------------------
# Each subprocess costs a second or two (imports), so the cases share runs: one strict run for every
# product rejected when opened (strict mode reports them all), one for those rejected by small zip
# limits, one for each product rejected only when decoded or put on the grid (strict mode stops at the
# first); with --skip-bad, one run with every bad product at once and a few runs with one each.

@dataclass(frozen=True)
class Plan:
    mode: str
    cases: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.mode}-{self.cases[0] if len(self.cases) == 1 else len(self.cases)}"

    def env(self) -> dict[str, str]:
        return {k: v for c in self.cases for k, v in case(c).env().items()}


def _plans() -> list[Plan]:
    opened = [c for c in CASES if c.stage == "open"]
    return [
        Plan("strict", tuple(c.id for c in opened if not c.settings)),
        Plan("strict", tuple(c.id for c in opened if c.settings)),
        *(Plan("strict", (c.id,)) for c in CASES if c.stage == "read"),
        Plan("skip-bad", tuple(CASE_IDS)),
        *(Plan("skip-bad", (case_id,)) for case_id in SKIP_BAD),
    ]


PLANS = _plans()


def plan_of(mode: str, case_id: str) -> Plan:
    """The smallest run of ``mode`` that holds the case."""
    return min((p for p in PLANS if p.mode == mode and case_id in p.cases),
               key=lambda p: len(p.cases))


@dataclass(frozen=True)
class Run:
    products: dict[str, str]
    """Case id -> the name of its bad product in the folder."""
    out: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def cli_runs(
    tmp_path_factory: pytest.TempPathFactory, season: list[Path], good: Good,
    snowdays_cli: RunCli,
) -> dict[str, Run]:
    """Every CLI run of this module, run in parallel."""
    def run(plan: Plan) -> Run:
        root = tmp_path_factory.mktemp(plan.key)
        folder = copy_season(season, root / "products")
        products = {c: product_name(build(case(c), folder, good)) for c in plan.cases}
        out = root / "out"
        out.mkdir()
        args = ["annual", str(folder), "--tile", TILE, "--start", START, "--stop", STOP,
                "--out", str(out)] + (["--skip-bad"] if plan.mode == "skip-bad" else [])
        return Run(products, out, snowdays_cli(args, plan.env(), root))

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        first = run(PLANS[0])  # alone: the others then find the imported modules compiled
        rest = pool.map(run, PLANS[1:])
        return {p.key: r for p, r in zip(PLANS, [first, *rest], strict=True)}


def reasons(run: Run, prefix: str) -> dict[str, str]:
    """Product -> reason, of the lines ``<prefix> <product>: <reason>`` of standard error."""
    lines = run.result.stderr.splitlines()
    found = {m[1]: m[2] for line in lines if (m := re.match(rf"{prefix} (\S+): (.*)$", line))}
    assert set(found) == set(run.products.values()), run.result.stderr
    return found


def check_clean_stderr(run: Run) -> None:
    assert "Traceback" not in run.result.stderr, run.result.stderr
    assert "Warning:" not in run.result.stderr, run.result.stderr  # no raw Python warning


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_cli_strict_rejects(case_id: str, cli_runs: dict[str, Run]) -> None:
    """Exit code 3, the product named with its reason, no traceback, nothing written."""
    c = case(case_id)
    run = cli_runs[plan_of("strict", case_id).key]
    assert run.result.returncode == 3, run.result.stderr
    reason = reasons(run, "error:")[run.products[case_id]]
    assert re.search(c.reason, reason), reason
    check_clean_stderr(run)
    assert list(run.out.iterdir()) == []
    assert run.result.stdout == ""


@pytest.fixture(scope="module")
def reference(season: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The maps of the good season alone, written as the CLI writes them."""
    settings = get_settings()
    out = tmp_path_factory.mktemp("reference")
    write(run_annual(str(season[0].parent), TILE, SEASON, settings), out, settings)
    return out


def read_maps(folder: Path) -> dict[str, npt.NDArray[np.uint16]]:
    maps = {}
    for path in sorted(folder.iterdir()):
        with rasterio.open(path) as ds:
            maps[path.name] = np.asarray(ds.read(1))
    return maps


@pytest.mark.parametrize("key", [p.key for p in PLANS if p.mode == "skip-bad"])
def test_cli_skip_bad(key: str, cli_runs: dict[str, Run], reference: Path) -> None:
    """Exit code 0, every bad product named with its reason, the maps of the good products alone."""
    run = cli_runs[key]
    assert run.result.returncode == 0, run.result.stderr
    found = reasons(run, "rejected")
    for case_id, name in run.products.items():
        assert re.search(case(case_id).reason, found[name]), found[name]
    check_clean_stderr(run)
    got, expected = read_maps(run.out), read_maps(reference)
    assert sorted(got) == sorted(expected)
    assert sorted(run.result.stdout.split()) == sorted(str(run.out / n) for n in expected)
    for name, array in expected.items():
        assert array.dtype == np.uint16 and got[name].dtype == np.uint16
        np.testing.assert_array_equal(got[name], array, err_msg=name)
    assert all(a.any() for n, a in expected.items() if "-SCD_" in n or "-NOBS_" in n)
