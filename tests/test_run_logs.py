"""The library's log records reach the Prefect run that made them (its page in the UI), as ``snowdays
up``, the chart and prefect.yaml set it (``PREFECT_LOGGING_EXTRA_LOGGERS``); the command line's own
log level is ``-v``, ``-vv`` and ``--quiet``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from infra.stack import RUN_LOGS
from tests.conftest import RunCli

ROOT = Path(__file__).resolve().parents[1]
RUN = """
from flows.update_tile import update_tile
update_tile(tile="T31TCH", day="2018-01-01")
"""


def test_a_rejection_is_in_the_runs_logs(prefect_api: str, tmp_path: Path) -> None:
    """A run (in a process of its own, as a served run is) over an archive holding one broken product:
    the library's record of the rejection is among the run's logs on the server."""
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "SENTINEL2A_20180101-103629-617_L2B-SNOW_T31TCH_C_V1-7.zip").write_bytes(b"junk")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWDAYS_", "PREFECT_"))} | {
        "PREFECT_API_URL": prefect_api, **RUN_LOGS, "SNOWDAYS_ARCHIVE": str(tmp_path / "archive"),
        "SNOWDAYS_STORE": str(tmp_path / "stores"), "SNOWDAYS_STAC_CATALOG": str(tmp_path / "catalog"),
        "SNOWDAYS_DASK_WORKERS": "1", "SNOWDAYS_STAC_POSTGRES_DATA": ""}
    done = subprocess.run([sys.executable, "-c", RUN], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = httpx.post(f"{prefect_api}/flow_runs/filter", json={"flow_runs": {"name": {
        "like_": "update-T31TCH-2018-01-01"}}}, timeout=30).raise_for_status().json()
    assert runs, "the run is on the server"
    logs = httpx.post(f"{prefect_api}/logs/filter", json={"logs": {"flow_run_id": {
        "any_": [r["id"] for r in runs]}}}, timeout=30).raise_for_status().json()
    found = [(log["name"], log["message"]) for log in logs]
    assert ("snowdays.ingest", "rejected SENTINEL2A_20180101-103629-617_L2B-SNOW_T31TCH_C_V1-7 "
            "(unreadable): not a readable zip archive (File is not a zip file)") in found, found


def test_every_place_that_starts_runs_sets_the_extra_loggers() -> None:
    """prefect.yaml's deployments and the chart's settings (ConfigMap, tested in test_helm) say the same."""
    for deployment in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]:
        assert deployment["work_pool"]["job_variables"]["env"] == RUN_LOGS, deployment["name"]
    chart = (ROOT / "helm" / "snowdays" / "templates" / "configmap.yaml").read_text()
    assert f'PREFECT_LOGGING_EXTRA_LOGGERS: "{RUN_LOGS["PREFECT_LOGGING_EXTRA_LOGGERS"]}"' in chart


def test_the_command_lines_log_level(tmp_path: Path, snowdays_cli: RunCli) -> None:
    bad = tmp_path / "SENTINEL2A_20180101-103629-617_L2B-SNOW_T31TCH_C_V1-7.zip"
    bad.write_bytes(b"junk")

    def ingest(*flags: str) -> subprocess.CompletedProcess[str]:
        return snowdays_cli([*flags, "ingest", str(bad), "--store", "st"], {}, tmp_path)

    plain, verbose, quiet = ingest(), ingest("-v"), ingest("--quiet")
    for done in (plain, verbose, quiet):
        assert done.returncode == 3, (done.args, done.returncode, done.stderr[-3000:])
    assert "rejected SENTINEL2A" in verbose.stderr and "(unreadable)" in verbose.stderr
    assert "rejected SENTINEL2A" not in plain.stderr and "rejected SENTINEL2A" not in quiet.stderr
    version = snowdays_cli(["--version"], {}, tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("snowdays 0.")
