"""The settings of a local stack (``snowdays up``) a test starts: its folders and settings, every port
free, and no Prefect API of the test run's own (each part must ask the stack's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from snowdays.settings import Settings, get_settings
from tests.conftest import _free_port


@contextmanager
def stack_settings(base: Path, **env: object) -> Iterator[Settings]:
    """Settings of a stack whose Prefect home is under ``base``, its four ports free; ``env`` names
    more settings (``ARCHIVE=...``, without the ``SNOWDAYS_`` prefix). The environment says them
    within the block (the stack's parts read it), and is as it was after."""
    ports = {"PREFECT_HOME": base / "prefect", "PREFECT_PORT": _free_port(), "DASK_PORT": _free_port(),
             "STAC_API_PORT": _free_port(), "FILES_PORT": _free_port()}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (ports | env).items():
            mp.setenv(f"SNOWDAYS_{name}", str(value))
        mp.delenv("PREFECT_API_URL", raising=False)
        yield get_settings()
