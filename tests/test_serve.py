"""The pipeline of ``snowdays up`` started again after it was stopped in the midst of runs."""

from __future__ import annotations

from prefect import flow, get_client
from prefect.client.schemas.objects import State, StateType
from prefect.states import Completed, Pending, Running

from flows.serve import crash_leftovers
from infra.demo import runs_in_flight


@flow(name="left-over")
def left_over() -> None:
    """A flow whose runs are made by hand, in the states a stopped stack leaves them in."""


def test_runs_an_earlier_pipeline_left_unfinished_are_marked_crashed(prefect_api: str) -> None:
    """(The session's server may hold other tests' runs: counts are taken relative to them.)"""
    before = runs_in_flight(prefect_api)
    assert before is not None
    made: dict[str, State[None]] = {"pending": Pending(name="Submitting"), "running": Running(),
                                    "done": Completed()}
    with get_client(sync_client=True) as client:
        runs = {name: client.create_flow_run(left_over, name=f"left-{name}", state=state)
                for name, state in made.items()}
    assert runs_in_flight(prefect_api) == before + 2
    crashed = crash_leftovers()
    assert crashed >= 2
    with get_client(sync_client=True) as client:
        states = {name: client.read_flow_run(run.id).state for name, run in runs.items()}
    assert {name: s.type for name, s in states.items() if s} == {
        "pending": StateType.CRASHED, "running": StateType.CRASHED, "done": StateType.COMPLETED}
    assert runs_in_flight(prefect_api) == before + 2 - crashed, "the demo would wait for them for ever"
    assert crash_leftovers() == 0
