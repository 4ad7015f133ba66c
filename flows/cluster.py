"""The Dask cluster a flow's tasks run on, as the settings name it."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import dask
from prefect.settings import get_current_settings
from prefect_dask.task_runners import DaskTaskRunner

from snowdays.errors import UsageError
from snowdays.settings import Settings, get_settings

UNTRIMMED = {"DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON": "{'MALLOC_TRIM_THRESHOLD_': None}"}
"""For a Dask nanny: do not set ``MALLOC_TRIM_THRESHOLD_`` in its worker. Set (Dask's default, 65536),
it makes glibc map and zero every large array afresh: folding a tile's state chunks took 1.7-1.9
times as long on a worker as in one process (bench/checkpoint.py)."""
KUBE_CLUSTER = "dask_kubernetes.operator.KubeCluster"
LABELS = {"app.kubernetes.io/name": "snowdays", "app.kubernetes.io/component": "dask-backfill"}
"""Labels of an ephemeral Kubernetes Dask cluster and its pods (the chart's NetworkPolicy selects them)."""
SCRATCH = "/tmp"  # noqa: S108 - an emptyDir of the pod: the root filesystem is read-only
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                      "capabilities": {"drop": ["ALL"]}}
WORKER_PORTS = "--worker-port 8789 --nanny-port 8790"
"""A Kubernetes worker's and its nanny's ports: fixed, within the 8786-8790 the chart's egress policy
of Dask pods allows among them (the scheduler's 8786 and 8787, the workers' dashboards 8788)."""


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
    ephemeral cluster of the dask-kubernetes operator, made for the run and deleted after it."""
    if settings.dask_cluster == "local":
        return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                              cluster_kwargs=local_cluster(settings))
    if settings.dask_cluster == "kubernetes":
        return DaskTaskRunner(cluster_class=KUBE_CLUSTER, cluster_kwargs=kube_cluster(settings))
    return DaskTaskRunner(address=settings.dask_cluster)


def local_cluster(settings: Settings) -> dict[str, Any]:
    """On 127.0.0.1 only (scheduler, nannies and workers), the scheduler's dashboard on a free port
    (``None`` would mean Dask's 8787, which another cluster may hold), the workers' none."""
    return {"n_workers": settings.dask_workers, "threads_per_worker": 1, "processes": True,
            "host": "127.0.0.1", "dashboard_address": "127.0.0.1:0", "worker_dashboard_address": None,
            "env": worker_env()}


def kube_cluster(settings: Settings) -> dict[str, Any]:
    """The arguments of a ``KubeCluster`` that creates the ``DaskCluster`` of :func:`cluster_spec`."""
    return {"custom_cluster_spec": cluster_spec(settings), "namespace": settings.kubernetes_namespace,
            "shutdown_on_close": True, "quiet": True}


def cluster_spec(settings: Settings, name: str | None = None) -> dict[str, Any]:
    """The ``DaskCluster`` of an ephemeral cluster: ``make_cluster_spec`` from the settings (image,
    workers, resources, the workers' environment), made to run as the chart's pods do (labels,
    service account, settings and secrets, non-root on a read-only root filesystem), then the
    settings' overrides."""
    from dask_kubernetes.operator import make_cluster_spec  # noqa: PLC0415 - only on Kubernetes

    if not settings.dask_image:
        raise UsageError("SNOWDAYS_DASK_CLUSTER=kubernetes needs SNOWDAYS_DASK_IMAGE: the image of the "
                         "Dask scheduler and workers (the snowdays image)")
    name = name or f"snowdays-{uuid.uuid4().hex[:10]}"
    memory = settings.dask_worker_memory
    resources = {"requests": {"cpu": settings.dask_worker_cpu, "memory": memory},
                 "limits": {"memory": memory}}
    spec: dict[str, Any] = make_cluster_spec(
        name=name, image=settings.dask_image, n_workers=settings.dask_workers, resources=resources,
        env=_inline_env() | {"DASK_TEMPORARY_DIRECTORY": SCRATCH},
        worker_command=f"dask worker --nthreads 1 {WORKER_PORTS}")
    spec["metadata"]["labels"] = LABELS | {"dask.org/cluster-name": name}
    for role in ("scheduler", "worker"):
        spec["spec"][role]["metadata"] = {"labels": LABELS}
        _harden(spec["spec"][role]["spec"])
    _give_storage(spec["spec"]["worker"]["spec"], settings)
    return merged(spec, settings.kubernetes_spec_overrides)


def _inline_env() -> dict[str, str]:
    """:func:`worker_env` but a Prefect API key, which is no value to write in a resource: the pods
    get it from a Secret of ``kubernetes_env_from``."""
    return {k: v for k, v in worker_env().items() if k != "PREFECT_API_KEY"}


def _harden(pod: dict[str, Any]) -> None:
    """Run a pod as the chart's: no Kubernetes API token (a Dask pod never calls the API), non-root,
    read-only root, a scratch emptyDir."""
    pod["automountServiceAccountToken"] = False
    pod["securityContext"] = copy.deepcopy(POD_SECURITY)
    pod["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    for container in pod["containers"]:
        container["securityContext"] = copy.deepcopy(CONTAINER_SECURITY)
        container["volumeMounts"] = [{"name": "scratch", "mountPath": SCRATCH}]


def _give_storage(pod: dict[str, Any], settings: Settings) -> None:
    """What a worker reads products and writes stores with, and the scheduler does without: the
    service account (its S3 role), the environment from the ConfigMaps and Secrets of the settings."""
    if settings.kubernetes_service_account:
        pod["serviceAccountName"] = settings.kubernetes_service_account
    for container in pod["containers"]:
        container["envFrom"] = [_env_source(source) for source in settings.kubernetes_env_from]


def _env_source(source: str) -> dict[str, Any]:
    kind, _, name = source.partition("/")
    if kind not in ("configmap", "secret") or not name:
        raise UsageError(f"SNOWDAYS_KUBERNETES_ENV_FROM: {source!r} is neither configmap/NAME nor "
                         "secret/NAME")
    return {"configMapRef" if kind == "configmap" else "secretRef": {"name": name}}


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in: objects key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class SettingsDaskRunner(DaskTaskRunner):
    """The Dask cluster the settings name, decided when a run starts (a flow is defined at import,
    before any setting is read, and a served run loads it anew)."""

    def chosen(self) -> DaskTaskRunner:
        """The runner of the cluster the settings name."""
        return task_runner(get_settings())

    def __enter__(self) -> SettingsDaskRunner:
        untrimmed()
        if not (self.address or self.cluster_class):
            chosen = self.chosen()
            self.address, self.cluster_class = chosen.address, chosen.cluster_class
            # the class prefect-dask instantiates (a name left unresolved would make a LocalCluster)
            self.resolved_cluster_class = chosen.resolved_cluster_class
            self.cluster_kwargs = chosen.cluster_kwargs
        super().__enter__()  # type: ignore[no-untyped-call]  # prefect-dask leaves it untyped
        return self


class BackfillDaskRunner(SettingsDaskRunner):
    """The cluster ``backfill_dask_cluster`` names (empty: ``dask_cluster``): on Kubernetes, an
    ephemeral cluster made for the backfill, beside the long-lived one the updates use."""

    def chosen(self) -> DaskTaskRunner:
        settings = get_settings()
        if settings.backfill_dask_cluster:
            settings = settings.model_copy(update={"dask_cluster": settings.backfill_dask_cluster})
        return task_runner(settings)
