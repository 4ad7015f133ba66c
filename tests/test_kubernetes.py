"""The Kubernetes Dask path: the DaskCluster snowdays makes for an ephemeral (backfill) cluster checked
against the dask-kubernetes operator's CRD, and the choice local / scheduler address / kubernetes made
by a real flow run on a real Prefect server, its tasks on real Dask workers.

Only the Kubernetes API is fake (no cluster runs here): ``tests/fakekube.py`` stands in for the API
server and the operator, and points the DaskCluster's scheduler Service at a real Dask scheduler on
127.0.0.1 with real workers, all started by this test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from distributed import get_worker
from prefect import flow, task
from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL, temporary_settings

from flows.cluster import (
    KUBE_CLUSTER,
    LABELS,
    BackfillDaskRunner,
    SettingsDaskRunner,
    cluster_spec,
    merged,
    task_runner,
)
from snowdays.errors import UsageError
from snowdays.settings import get_settings
from tests.fakekube import fake_kube
from tests.kube import errors

IMAGE = "registry.example/snowdays:0.1.0"
ROOT = Path(__file__).resolve().parents[1]


def kube_settings(**more: Any) -> Any:
    return get_settings(dask_cluster="kubernetes", dask_image=IMAGE, **more)


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for role in ("scheduler", "worker") for c in spec["spec"][role]["spec"]["containers"]]


def test_backfill_cluster_spec_is_a_valid_daskcluster() -> None:
    settings = kube_settings(dask_workers=5, dask_worker_cpu="2", dask_worker_memory="8Gi",
                             kubernetes_service_account="snowdays",
                             kubernetes_env_from=["configmap/snowdays-config", "secret/snowdays-s3"])
    api = {PREFECT_API_URL: "http://prefect-server.prefect:4200/api", PREFECT_API_KEY: "pnu_secret"}
    with temporary_settings(updates=api):
        spec = cluster_spec(settings, name="snowdays-backfill")
    assert errors(spec) == []
    assert spec["metadata"]["name"] == "snowdays-backfill"
    assert spec["metadata"]["labels"].items() >= LABELS.items()
    assert spec["spec"]["worker"]["replicas"] == 5
    [worker] = spec["spec"]["worker"]["spec"]["containers"]
    assert worker["args"][:4] == ["dask", "worker", "--nthreads", "1"]
    for role in ("scheduler", "worker"):
        pod = spec["spec"][role]["spec"]
        assert pod["automountServiceAccountToken"] is False  # no Kubernetes API token in a Dask pod
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert spec["spec"][role]["metadata"]["labels"] == LABELS
    scheduler, worker_pod = spec["spec"]["scheduler"]["spec"], spec["spec"]["worker"]["spec"]
    assert worker_pod["serviceAccountName"] == "snowdays"  # its S3 role
    assert "serviceAccountName" not in scheduler  # the scheduler reads no storage
    [scheduler_container] = scheduler["containers"]
    assert "envFrom" not in scheduler_container
    assert worker["envFrom"] == [{"configMapRef": {"name": "snowdays-config"}},
                                 {"secretRef": {"name": "snowdays-s3"}}]
    for container in containers(spec):
        assert container["image"] == IMAGE
        assert container["resources"] == {"requests": {"cpu": "2", "memory": "8Gi"},
                                          "limits": {"memory": "8Gi"}}
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["PREFECT_API_URL"] == "http://prefect-server.prefect:4200/api"
        assert env["DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON"] == "{'MALLOC_TRIM_THRESHOLD_': None}"
        assert "PREFECT_API_KEY" not in env  # never written into a resource: it comes from the Secret
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["volumeMounts"] == [{"name": "scratch", "mountPath": "/tmp"}]  # noqa: S108
    assert "pnu_secret" not in json.dumps(spec)


def test_overrides_merge_into_the_spec_and_are_validated_too() -> None:
    placed = {"spec": {"worker": {"spec": {"nodeSelector": {"pool": "dask"},
                                           "tolerations": [{"key": "dask", "operator": "Exists"}]}},
                       "idleTimeout": 600}}
    spec = cluster_spec(kube_settings(kubernetes_spec_overrides=placed), name="snowdays-x")
    assert errors(spec) == []
    worker = spec["spec"]["worker"]["spec"]
    assert worker["nodeSelector"] == {"pool": "dask"} and worker["containers"][0]["image"] == IMAGE
    assert spec["spec"]["idleTimeout"] == 600

    typo = {"spec": {"worker": {"spec": {"nodeSelecter": {"pool": "dask"}}}}}
    assert errors(cluster_spec(kube_settings(kubernetes_spec_overrides=typo), name="snowdays-y")) == [
        "spec.worker.spec: Additional properties are not allowed ('nodeSelecter' was unexpected)"]
    wrong = {"spec": {"worker": {"replicas": "three"}}}
    assert errors(cluster_spec(kube_settings(kubernetes_spec_overrides=wrong), name="snowdays-z")) == [
        "spec.worker.replicas: 'three' is not of type 'integer'"]


def test_merge_is_deep_for_objects_only() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert merged(base, {"a": {"c": [3]}, "e": {"f": 1}}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": {"f": 1}}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


def test_each_cluster_gets_a_name_of_its_own() -> None:
    names = {cluster_spec(kube_settings())["metadata"]["name"] for _ in range(5)}
    assert len(names) == 5 and all(n.startswith("snowdays-") for n in names)


def test_bad_kubernetes_settings_are_named() -> None:
    with pytest.raises(UsageError, match="SNOWDAYS_DASK_IMAGE"):
        cluster_spec(get_settings(dask_cluster="kubernetes"))
    with pytest.raises(UsageError, match=r"SNOWDAYS_KUBERNETES_ENV_FROM: 'snowdays-s3' is neither"):
        cluster_spec(kube_settings(kubernetes_env_from=["snowdays-s3"]))


def test_the_kubernetes_choice_resolves_to_the_operators_cluster_class() -> None:
    from dask_kubernetes.operator import KubeCluster  # noqa: PLC0415

    runner = task_runner(kube_settings())
    assert runner.cluster_class == KUBE_CLUSTER
    assert runner.resolved_cluster_class is KubeCluster
    assert errors(runner.cluster_kwargs["custom_cluster_spec"]) == []


def test_a_backfill_makes_its_own_cluster_beside_the_long_lived_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the chart sets them: updates on the long-lived scheduler, a backfill on an ephemeral cluster
    (no cluster is started here: only the choice is made)."""
    for name, value in {"DASK_CLUSTER": "tcp://scheduler:8786", "BACKFILL_DASK_CLUSTER": "kubernetes",
                        "DASK_IMAGE": IMAGE, "DASK_WORKERS": "6"}.items():
        monkeypatch.setenv(f"SNOWDAYS_{name}", value)
    assert SettingsDaskRunner().chosen().address == "tcp://scheduler:8786"
    backfill = BackfillDaskRunner().chosen()
    assert backfill.cluster_class == KUBE_CLUSTER and backfill.address is None
    assert backfill.cluster_kwargs["custom_cluster_spec"]["spec"]["worker"]["replicas"] == 6
    monkeypatch.setenv("SNOWDAYS_BACKFILL_DASK_CLUSTER", "")  # empty: the same cluster as the updates
    assert BackfillDaskRunner().chosen().address == "tcp://scheduler:8786"


# --- the choice, made by a real flow run --------------------------------------------------------


@task
def where() -> str:
    """The address of the Dask worker the task runs on."""
    return str(get_worker().address)


@flow(task_runner=SettingsDaskRunner())  # type: ignore[arg-type]  # a runner of Dask futures
def probe() -> list[str]:
    return [f.result() for f in [where.submit() for _ in range(3)]]


@dataclass(frozen=True)
class Workers:
    """A real Dask scheduler and its workers, each a process of its own (the Kubernetes pods' stand-ins)."""

    address: str
    dashboard_port: int
    workers: set[str]


@pytest.fixture
def dask_processes(tmp_path: Path, prefect_api: str) -> Iterator[Workers]:
    file = tmp_path / "scheduler.json"
    env = os.environ | {"PREFECT_API_URL": prefect_api}
    py = [sys.executable, "-m"]
    scheduler = subprocess.Popen([*py, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(file)],
                                 env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = subprocess.Popen([*py, "distributed.cli.dask_worker", "--scheduler-file", str(file),
                                "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1"],
                               env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        info = _wait_for_workers(file, 2)
        yield Workers(info["address"], int(info["services"]["dashboard"]), set(info["workers"]))
    finally:
        for child in (workers, scheduler):
            child.terminate()
            child.wait(timeout=30)


def _wait_for_workers(file: Path, count: int) -> dict[str, Any]:
    from distributed import Client  # noqa: PLC0415

    deadline = time.monotonic() + 60
    while not file.exists():
        assert time.monotonic() < deadline, "the Dask scheduler did not start"
        time.sleep(0.2)
    with Client(scheduler_file=str(file), timeout=30) as client:  # type: ignore[no-untyped-call]
        client.wait_for_workers(count, timeout=60)
        info = client.scheduler_info()
    return {"address": info["address"], "services": info["services"], "workers": info["workers"]}


# the Kubernetes client leaves the kubeconfig it read open in a worker thread; when the collector
# happens to close it during this test, it is not this project's file handling
@pytest.mark.filterwarnings("ignore:unclosed file.*kubeconfig:ResourceWarning",
                            "ignore:Exception ignored in.*kubeconfig:pytest.PytestUnraisableExceptionWarning")
def test_local_address_and_kubernetes_choices_run_where_the_settings_say(
        dask_processes: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_kube(dask_processes.address, dask_processes.dashboard_port, tmp_path) as (kube, config):
        monkeypatch.setenv("KUBECONFIG", str(config))
        monkeypatch.setenv("SNOWDAYS_DASK_WORKERS", "2")

        monkeypatch.setenv("SNOWDAYS_DASK_CLUSTER", "local")
        ran = set(probe())
        assert ran and not ran & dask_processes.workers  # a LocalCluster of the run's own
        assert kube.requests == []

        monkeypatch.setenv("SNOWDAYS_DASK_CLUSTER", dask_processes.address)
        assert set(probe()) <= dask_processes.workers
        assert kube.requests == []

        monkeypatch.setenv("SNOWDAYS_DASK_CLUSTER", "kubernetes")
        monkeypatch.setenv("SNOWDAYS_DASK_IMAGE", IMAGE)
        assert set(probe()) <= dask_processes.workers  # through the DaskCluster's scheduler Service
        [made] = kube.created
        assert made["kind"] == "DaskCluster" and errors(made) == []
        assert made["spec"]["worker"]["spec"]["containers"][0]["image"] == IMAGE
        assert made["spec"]["worker"]["replicas"] == 2
        name = made["metadata"]["name"]
        clusters = "/apis/kubernetes.dask.org/v1/namespaces/snowdays/daskclusters"
        assert [p for m, p in kube.requests if m == "POST"] == [clusters]
        assert ("DELETE", f"{clusters}/{name}") in kube.requests
        assert not [key for key in kube.resources if key[2].startswith(name)]  # deleted after the run
        assert kube.unknown == []
