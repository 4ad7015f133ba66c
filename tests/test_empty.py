"""Commands run on nothing yet, as a newcomer does first: a store folder that is not there, one with no
tile in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunCli


@pytest.mark.parametrize("command", ["status", "compact"])
def test_a_store_that_is_not_there_is_named(command: str, tmp_path: Path, snowdays_cli: RunCli) -> None:
    done = snowdays_cli([command, "--store", "stores typo"], {}, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: no folder stores typo: give the --store the products were ingested into"]


@pytest.mark.parametrize("command", ["status", "compact"])
def test_a_store_with_no_tile_says_so(command: str, tmp_path: Path, snowdays_cli: RunCli) -> None:
    (tmp_path / "stores").mkdir()
    done = snowdays_cli([command, "--store", "stores"], {}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ("no tile store under stores yet: snowdays ingest PRODUCT --store stores "
                                   "makes one")
