"""Registration of the pipeline from ``prefect.yaml`` (``infra/register.py``, the chart's registration
Job) against a real Prefect server on 127.0.0.1 (Prefect's test harness): the work pool, the
deployments, their schedules and triggers, once and again; and an arrival event really starting a run
of ``update-tile``."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.events.worker import EventsWorker

from flows.update_tile import arrival_trigger
from infra.register import default_template, load, register
from snowdays.errors import UsageError
from snowdays.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "prefect.yaml"
WINDOW = Settings.model_fields["trigger_window_seconds"].default
SWEEP = Settings.model_fields["sweep_interval_seconds"].default


def deployments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in config["deployments"]}


def test_prefect_yaml_keeps_the_pipelines_trigger_and_sweep() -> None:
    """The trigger and the sweep of prefect.yaml are those ``snowdays up`` serves by default."""
    config = deployments(load(PREFECT_YAML))
    [raw] = config["update-tile"]["triggers"]
    served = arrival_trigger(timedelta(seconds=WINDOW))
    registered = type(served).model_validate({k: v for k, v in raw.items() if k != "type"})
    assert registered.model_dump() == served.model_dump()
    assert config["sweep-archive"]["schedules"] == [{"interval": SWEEP}]
    assert config["update-tile"]["entrypoint"] == "flows.update_tile.update_tile"
    assert config["sweep-archive"]["entrypoint"] == "flows.watch.sweep"


def test_prefect_yaml_takes_the_window_and_interval_from_the_settings(tmp_path: Path) -> None:
    """As the chart's settings reach the registration Job: ``{{ settings.NAME }}`` is that setting."""
    settings = get_settings(trigger_window_seconds=WINDOW + 20, sweep_interval_seconds=SWEEP * 2)
    config = deployments(load(PREFECT_YAML, settings))
    assert config["update-tile"]["triggers"][0]["within"] == WINDOW + 20
    assert config["sweep-archive"]["schedules"] == [{"interval": SWEEP * 2}]
    assert config["update-tile"]["triggers"][0]["parameters"]["tile"] == "{{ event.resource.tile }}"
    wrong = tmp_path / "prefect.yaml"
    wrong.write_text(PREFECT_YAML.read_text().replace("settings.trigger_window_seconds", "settings.nope"))
    with pytest.raises(UsageError, match=r"prefect.yaml: \{\{ settings.nope \}\} names no setting"):
        load(wrong, settings)


def test_registration_makes_the_pool_deployments_schedules_and_triggers(prefect_api: str) -> None:
    config = load(PREFECT_YAML)
    template = default_template()
    template["variables"]["properties"]["image"]["default"] = "registry.example/snowdays:0.1.0"
    first = asyncio.run(register(config, template))
    again = asyncio.run(register(config, template))  # in place: nothing doubled
    assert {k: v.deployment for k, v in first.items()} == {k: v.deployment for k, v in again.items()}
    asyncio.run(check_registered(config, again, template))


async def check_registered(config: dict[str, Any], done: dict[str, Any], template: dict[str, Any]) -> None:
    specs = deployments(config)
    async with get_client() as client:
        pool = await client.read_work_pool("snowdays")
        assert pool.type == "kubernetes" and pool.base_job_template == template
        for name, registered in done.items():
            deployment = await client.read_deployment(registered.deployment)
            assert deployment.name == name and deployment.work_pool_name == "snowdays"
            assert deployment.entrypoint == specs[name]["entrypoint"]
            assert deployment.job_variables == specs[name]["work_pool"]["job_variables"]
            assert deployment.pull_steps == config["pull"]
            schema = deployment.parameter_openapi_schema or {}
            assert "tile" in schema["properties"] or name != "update-tile"
            intervals = [s.schedule.interval.total_seconds() for s in deployment.schedules]  # type: ignore[union-attr]
            assert intervals == [s["interval"] for s in specs[name].get("schedules", [])]
            owner = f"prefect.deployment.{registered.deployment}"
            owned = await client.read_resource_related_automations(owner)
            assert sorted(a.id for a in owned) == sorted(registered.automations)
        [automation] = await client.read_resource_related_automations(
            f"prefect.deployment.{done['update-tile'].deployment}")
        trigger = automation.trigger
        assert trigger.expect == {"snow.product.arrived"}  # type: ignore[union-attr]
        assert trigger.for_each == {"tile"}  # type: ignore[union-attr]
        assert trigger.within == timedelta(seconds=10)  # type: ignore[union-attr]
        [action] = automation.actions
        assert action.parameters == {"tile": "{{ event.resource.tile }}",  # type: ignore[union-attr]
                                     "day": "{{ event.resource.acquired }}"}


def test_an_arrival_event_starts_a_run_of_update_tile(prefect_api: str) -> None:
    """The registered trigger, evaluated by the real server: an event for a product of T31TCH makes a
    flow run of update-tile for T31TCH (scheduled in the pool; no worker runs it here)."""
    done = asyncio.run(register(load(PREFECT_YAML), default_template()))
    deployment = done["update-tile"].deployment
    time.sleep(2)  # the server's triggers service loads the new automation
    emit_event(event="snow.product.arrived", resource={
        "prefect.resource.id": "snow.product.SENTINEL2A_20180115-103630-000_L2B-SNOW_T31TCH_C_V1-7",
        "tile": "T31TCH", "acquired": "2018-01-15", "platform": "S2A", "href": "s3://archive/x.zip"})
    EventsWorker.instance().wait_until_empty()
    runs = asyncio.run(wait_for_runs(deployment, 60))
    assert [r.parameters for r in runs] == [{"tile": "T31TCH", "day": "2018-01-15"}]


async def wait_for_runs(deployment: Any, seconds: float) -> list[Any]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId  # noqa: PLC0415
    from prefect.client.schemas.sorting import FlowRunSort  # noqa: PLC0415

    deadline = time.monotonic() + seconds
    async with get_client() as client:
        while time.monotonic() < deadline:
            runs = await client.read_flow_runs(  # limit and sort given: the server refuses nulls
                flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment])),
                limit=10, sort=FlowRunSort.START_TIME_DESC)
            if runs:
                return list(runs)
            await asyncio.sleep(0.5)
    return []


def test_a_bad_prefect_yaml_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "prefect.yaml"
    bad.write_text("deployments: [")
    with pytest.raises(UsageError, match=rf"Could not read {bad}"):
        load(bad)
    bad.write_text(yaml.safe_dump({"deployments": [{"name": "update-tile", "work_pool": {"name": "p"}}]}))
    with pytest.raises(UsageError, match="deployment 'update-tile' has no entrypoint"):
        load(bad)
    bad.write_text("name: x\n")
    with pytest.raises(UsageError, match="lists no deployments"):
        load(bad)


def test_a_pool_of_another_type_is_not_taken_over(prefect_api: str) -> None:
    config = {"deployments": [{"name": "sweep-archive", "entrypoint": "flows.watch.sweep",
                               "work_pool": {"name": "snowdays-process"}}]}
    asyncio.run(register(config, {}, "process"))
    with pytest.raises(UsageError, match="snowdays-process exists with type process, not kubernetes"):
        asyncio.run(register(config, default_template()))


def test_the_watcher_command_announces_beats_and_stops_on_sigterm(prefect_api: str, tmp_path: Path) -> None:
    """``snowdays watch``, the watcher's Deployment command, on a local archive: the product already
    there is announced to the real server, the heartbeat file is kept fresh, SIGTERM stops it."""
    import os  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    from tests.conftest import console_script  # noqa: PLC0415
    from tests.stacdata import sample  # noqa: PLC0415

    archive = tmp_path / "archive"
    archive.mkdir()
    [product] = sample(tmp_path / "made", "T31TCH", "2017-2018", 5)[:1]
    product.rename(archive / product.name)
    heartbeat = tmp_path / "heartbeat"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWDAYS_")} | {
        "PREFECT_API_URL": prefect_api, "SNOWDAYS_ARCHIVE": str(archive),
        "SNOWDAYS_STORE": str(tmp_path / "stores"), "SNOWDAYS_WATCH_POLL_SECONDS": "0.5"}
    watcher = subprocess.Popen([str(console_script()), "watch", "--heartbeat", str(heartbeat)], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = {"filter": {"event": {"name": ["snow.product.arrived"]},
                           "resource": {"id": [f"snow.product.{product.stem}"]}}, "limit": 10}
        deadline = time.monotonic() + 60
        events: list[Any] = []
        while not events and time.monotonic() < deadline:
            assert watcher.poll() is None, watcher.communicate()[0]
            time.sleep(0.5)
            found = httpx.post(f"{prefect_api}/events/filter", json=body, timeout=30)
            events = found.raise_for_status().json()["events"]
        [event] = events
        assert event["resource"]["tile"] == "T31TCH"
        assert event["resource"]["href"] == str(archive / product.name)
        beat = heartbeat.stat().st_mtime
        time.sleep(1.5)
        assert heartbeat.stat().st_mtime > beat  # still looking
    finally:
        watcher.send_signal(signal.SIGTERM)
        output = watcher.communicate(timeout=30)[0]
    assert watcher.returncode == 0, output
