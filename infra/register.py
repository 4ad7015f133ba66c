"""Register the pipeline on a Prefect server from ``prefect.yaml``: the work pool, then each deployment
with its schedules and its triggers (as ``prefect deploy --all`` would; that command's trigger requests
are refused by this server version).

    python -m infra.register prefect.yaml --base-job-template base-job-template.json [--work-pool NAME]

A value ``{{ settings.NAME }}`` is the setting ``SNOWDAYS_NAME`` (the trigger's window, the sweep's
interval), so the chart's settings reach the triggers. Run again, it updates everything in place: the
pool's template, each deployment (by flow and name), and its triggers (the old ones are deleted first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolCreate, WorkPoolUpdate
from prefect.client.schemas.schedules import IntervalSchedule
from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from prefect.exceptions import ObjectNotFound
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema
from pydantic import TypeAdapter

from snowdays.errors import UsageError
from snowdays.settings import Settings, get_settings

log = logging.getLogger(__name__)
TRIGGERS: TypeAdapter[DeploymentTriggerTypes] = TypeAdapter(DeploymentTriggerTypes)
SETTING = re.compile(r"\{\{\s*settings\.(\w+)\s*\}\}")


@dataclass(frozen=True)
class Registered:
    deployment: UUID
    automations: list[UUID]


def load(path: Path, settings: Settings | None = None) -> dict[str, Any]:
    """``prefect.yaml``, checked for what registration needs (a named error otherwise), each value
    ``{{ settings.NAME }}`` replaced by that setting's value (default: from the environment)."""
    try:
        config = with_settings(yaml.safe_load(path.read_text()), settings or get_settings(), path)
    except (OSError, yaml.YAMLError) as e:
        raise UsageError(f"Could not read {path}: {e}") from e
    if not isinstance(config, dict) or not config.get("deployments"):
        raise UsageError(f"{path} lists no deployments")
    for d in config["deployments"]:
        missing = [k for k in ("name", "entrypoint") if not d.get(k)] + ([] if d.get("work_pool", {}).get(
            "name") else ["work_pool.name"])
        if missing:
            raise UsageError(f"{path}: deployment {d.get('name', '?')!r} has no {', '.join(missing)}")
    return config


def with_settings(value: Any, settings: Settings, path: Path) -> Any:
    """``value`` with every string ``{{ settings.NAME }}`` replaced by the setting (its own type)."""
    if isinstance(value, dict):
        return {k: with_settings(v, settings, path) for k, v in value.items()}
    if isinstance(value, list):
        return [with_settings(v, settings, path) for v in value]
    found = SETTING.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        return value
    if found[1] not in Settings.model_fields:
        raise UsageError(f"{path}: {value} names no setting of snowdays")
    return getattr(settings, found[1])


async def register(config: dict[str, Any], base_job_template: dict[str, Any],
                   pool_type: str = "kubernetes") -> dict[str, Registered]:
    """Create or update every work pool the deployments name, then the deployments and triggers."""
    done = {}
    async with get_client() as client:
        for pool in sorted({d["work_pool"]["name"] for d in config["deployments"]}):
            await ensure_pool(client, pool, pool_type, base_job_template)
        for deployment in config["deployments"]:
            done[deployment["name"]] = await deploy(client, deployment, config.get("pull"))
    return done


async def ensure_pool(client: PrefectClient, name: str, pool_type: str, template: dict[str, Any]) -> None:
    try:
        existing = await client.read_work_pool(name)
    except ObjectNotFound:
        await client.create_work_pool(WorkPoolCreate(name=name, type=pool_type, base_job_template=template))
        log.info("work pool %s (%s) created", name, pool_type)
        return
    if existing.type != pool_type:
        raise UsageError(f"work pool {name} exists with type {existing.type}, not {pool_type}: delete it "
                         "or name another pool in prefect.yaml")
    await client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))
    log.info("work pool %s updated", name)


async def deploy(client: PrefectClient, spec: dict[str, Any],
                 pull: list[dict[str, Any]] | None) -> Registered:
    """One deployment of ``prefect.yaml`` (its flow loaded from the entrypoint for its name and
    parameters), its schedules replaced, then its triggers."""
    flow: Flow[Any, Any] = load_flow_from_entrypoint(spec["entrypoint"])
    flow_id = await client.create_flow_from_name(flow.name)
    pool = spec["work_pool"]
    deployment_id = await client.create_deployment(
        flow_id=flow_id, name=spec["name"], entrypoint=spec["entrypoint"],
        description=spec.get("description"), tags=spec.get("tags", []), parameters=spec.get("parameters", {}),
        parameter_openapi_schema=parameter_schema(flow).model_dump_for_openapi(),
        work_pool_name=pool["name"], work_queue_name=pool.get("work_queue_name"),
        job_variables=pool.get("job_variables", {}), pull_steps=pull,
        concurrency_limit=spec.get("concurrency_limit"))
    await replace_schedules(client, deployment_id, spec.get("schedules", []))
    automations = await replace_triggers(client, deployment_id, spec)
    log.info("deployment %s/%s: %d schedules, %d triggers", flow.name, spec["name"],
             len(spec.get("schedules", [])), len(automations))
    return Registered(deployment_id, automations)


async def replace_schedules(client: PrefectClient, deployment_id: UUID,
                            schedules: list[dict[str, Any]]) -> None:
    for old in await client.read_deployment_schedules(deployment_id):
        await client.delete_deployment_schedule(deployment_id, old.id)
    if schedules:
        await client.create_deployment_schedules(deployment_id, [_interval(s) for s in schedules])


def _interval(schedule: dict[str, Any]) -> DeploymentScheduleCreate:
    if "interval" not in schedule:
        raise UsageError(f"only interval schedules are registered, not {schedule}")
    every = IntervalSchedule(interval=timedelta(seconds=float(schedule["interval"])))
    return DeploymentScheduleCreate(schedule=every, active=schedule.get("active", True))


async def replace_triggers(client: PrefectClient, deployment_id: UUID, spec: dict[str, Any]) -> list[UUID]:
    await client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
    made = []
    for i, raw in enumerate(spec.get("triggers", []), start=1):
        trigger = TRIGGERS.validate_python({"name": f"{spec['name']}__automation_{i}", **raw})
        trigger.set_deployment_id(deployment_id)
        made.append(await client.create_automation(trigger.as_automation()))
    return made


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path, help="prefect.yaml")
    parser.add_argument("--base-job-template", type=Path,
                        help="JSON base job template of the work pool (default: the Kubernetes worker's own)")
    parser.add_argument("--pool-type", default="kubernetes")
    parser.add_argument("--work-pool", help="the pool of every deployment (instead of prefect.yaml's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load(args.config)
    if args.work_pool:
        for deployment in config["deployments"]:
            deployment["work_pool"]["name"] = args.work_pool
    template = (json.loads(args.base_job_template.read_text()) if args.base_job_template
                else default_template())
    asyncio.run(register(config, template, args.pool_type))


def default_template() -> dict[str, Any]:
    from prefect_kubernetes.worker import KubernetesWorker  # noqa: PLC0415

    return dict(KubernetesWorker.get_default_base_job_template())


if __name__ == "__main__":
    main()
