"""``snowdays backfill`` with a Prefect API: a run of the served ``backfill`` deployment, followed to
its end through its progress artifact."""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.settings import get_current_settings

from snowdays.errors import UsageError

DEPLOYMENT = "backfill/backfill"
Shown = Callable[[float, str], None]
"""Called with (percent done, the progress artifact's line) as the run goes."""


def api_configured() -> bool:
    """Whether a Prefect API is set (``PREFECT_API_URL``, as for a stack ``snowdays up`` runs)."""
    return bool(get_current_settings().api.url)


def start(region: str, seasons: list[str]) -> UUID:
    """A run of the backfill deployment, started and not waited for; its id."""
    try:
        run = run_deployment(DEPLOYMENT, parameters={"region": region, "seasons": seasons}, timeout=0)
    except ObjectNotFound as e:
        raise UsageError(f"no deployment {DEPLOYMENT} on the Prefect API at {get_current_settings().api.url}"
                         " (is snowdays up running, and done starting?)") from e
    return run.id  # type: ignore[union-attr]  # called here, out of any run: the run itself


def follow(run_id: UUID, shown: Shown, every: float = 1.0) -> State:
    """Show the run's progress until it ends; its final state."""
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            if (latest := progress(run_id)) is not None:
                shown(*latest)
            if run.state is not None and run.state.is_final():
                return run.state
            time.sleep(every)


def progress(run_id: UUID) -> tuple[float, str] | None:
    """The run's latest progress artifact: (percent, its line); None before the run makes it. Read as
    the UI reads it (the server refuses the client's explicit nulls in an artifact filter)."""
    api = get_current_settings().api
    headers = {"Authorization": f"Bearer {api.key.get_secret_value()}"} if api.key else {}
    body = {"artifacts": {"flow_run_id": {"any_": [str(run_id)]}, "type": {"any_": ["progress"]}},
            "sort": "UPDATED_DESC", "limit": 1}
    answer = httpx.post(f"{api.url}/artifacts/filter", json=body, headers=headers, timeout=30)
    found = answer.raise_for_status().json()
    return (float(found[0]["data"]), str(found[0]["description"] or "")) if found else None
