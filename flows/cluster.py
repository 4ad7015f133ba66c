"""The Dask cluster a flow's tasks run on, as the settings name it."""

from __future__ import annotations

from typing import Any

import dask
from prefect.settings import get_current_settings
from prefect_dask.task_runners import DaskTaskRunner

from snowdays.settings import Settings, get_settings

UNTRIMMED = {"DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON": "{'MALLOC_TRIM_THRESHOLD_': None}"}
"""For a Dask nanny: do not set ``MALLOC_TRIM_THRESHOLD_`` in its worker. Set (Dask's default, 65536),
it makes glibc map and zero every large array afresh: folding a tile's state chunks took 1.7-1.9
times as long on a worker as in one process (bench/checkpoint.py)."""


def untrimmed() -> None:
    """The same for the nannies of a LocalCluster started in this process."""
    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})


def worker_env() -> dict[str, str]:
    """What workers must inherit: the Prefect API (else each would start a server of its own), and
    glibc's own memory trimming (for nannies started elsewhere, as on Kubernetes)."""
    api = get_current_settings().api
    env = UNTRIMMED | ({"PREFECT_API_URL": api.url} if api.url else {})
    return env | ({"PREFECT_API_KEY": api.key.get_secret_value()} if api.key else {})


def task_runner(settings: Settings) -> DaskTaskRunner:
    """``local``: a LocalCluster of worker processes; an address: that scheduler; ``kubernetes``: an
    ephemeral cluster of the dask-kubernetes operator."""
    if settings.dask_cluster == "local":
        return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                              cluster_kwargs=local_cluster(settings))
    if settings.dask_cluster == "kubernetes":
        return DaskTaskRunner(cluster_class="dask_kubernetes.operator.KubeCluster",
                              cluster_kwargs={"name": "snowdays", "n_workers": settings.dask_workers,
                                              "env": worker_env()})
    return DaskTaskRunner(address=settings.dask_cluster)


def local_cluster(settings: Settings) -> dict[str, Any]:
    return {"n_workers": settings.dask_workers, "threads_per_worker": 1, "processes": True,
            "dashboard_address": None, "env": worker_env()}


class SettingsDaskRunner(DaskTaskRunner):
    """The Dask cluster the settings name, decided when a run starts (a flow is defined at import,
    before any setting is read, and a served run loads it anew)."""

    def __enter__(self) -> SettingsDaskRunner:
        untrimmed()
        if not (self.address or self.cluster_class):
            chosen = task_runner(get_settings())
            self.address, self.cluster_class = chosen.address, chosen.cluster_class
            self.cluster_kwargs = chosen.cluster_kwargs
        super().__enter__()  # type: ignore[no-untyped-call]  # prefect-dask leaves it untyped
        return self
