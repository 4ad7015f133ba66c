"""The Helm chart and the image, checked offline: ``helm lint``; ``helm template`` with the defaults and
with the production values; every built-in kind through ``kubernetes-validate --strict``; every
DaskCluster and DaskAutoscaler against the operator's CRDs; the flow runs' Job as the Prefect worker
makes it from the pool's base job template; ``values.schema.json`` refusing bad values; the chart's
appVersion; hadolint on the Dockerfile. A real cluster is not needed (nor available) here.

helm comes from ``.tools/bin`` (``make setup``); without it these tests fail, in CI as here.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import starts
from tests.kube import errors

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "snowdays"
HELM = ROOT / ".tools" / "bin" / "helm"
PRODUCTION = ROOT / "infra" / "values-production.yaml"
KUBERNETES = "1.33.0"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
@starts("slow")  # the chart rendered by the helm binary of make setup: not the library
def helm(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., subprocess.CompletedProcess[str]]:
    if not HELM.is_file():
        pytest.fail(f"no helm at {HELM}: make setup (infra/tools.sh) installs it")
    home = tmp_path_factory.mktemp("helm")
    env = os.environ | {"HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
                        "HELM_DATA_HOME": str(home / "data")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120, check=False,
                              env=env)

    return run


def render(helm: Callable[..., subprocess.CompletedProcess[str]], *values: Path) -> list[dict[str, Any]]:
    args = [a for v in values for a in ("-f", str(v))]
    done = helm("template", "snowdays", str(CHART), "--namespace", "snowdays", *args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


VALUES = {"defaults": (), "production": (PRODUCTION,)}


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_chart_lints(helm: Callable[..., subprocess.CompletedProcess[str]], values: tuple[Path, ...]) -> None:
    done = helm("lint", "--strict", str(CHART), *[a for v in values for a in ("-f", str(v))])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_built_in_kinds_validate_strictly(helm: Callable[..., subprocess.CompletedProcess[str]],
                                          values: tuple[Path, ...], tmp_path: Path) -> None:
    resources = [r for r in render(helm, *values) if "kubernetes.dask.org" not in r["apiVersion"]]
    kinds = {r["kind"] for r in resources}
    assert {"Deployment", "Job", "ConfigMap", "ServiceAccount", "Role", "RoleBinding",
            "NetworkPolicy"} <= kinds
    files = []
    for i, resource in enumerate(resources):
        files.append(tmp_path / f"{i}.yaml")
        files[-1].write_text(yaml.safe_dump(resource))
    done = validate(*files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" passed for resource ") == len(resources), done.stdout


def validate(*files: Path) -> subprocess.CompletedProcess[str]:
    """``kubernetes-validate --strict`` on the files (unknown fields refused)."""
    return subprocess.run([str(BIN / "kubernetes-validate"), "--strict", "-k", KUBERNETES, *map(str, files)],
                          capture_output=True, text=True, timeout=300, check=False)


def test_kubernetes_validate_catches_a_typo(tmp_path: Path) -> None:
    """The check above can fail: an unknown field in a Deployment is refused."""
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
               "metadata": {"labels": {"a": "b"}},
               "spec": {"containers": [{"name": "x", "image": "x", "securityContex": {}}]}}}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    done = validate(tmp_path / "bad.yaml")
    assert done.returncode != 0 and "securityContex" in done.stdout + done.stderr


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_dask_resources_validate_against_the_operators_crds(
        helm: Callable[..., subprocess.CompletedProcess[str]], values: tuple[Path, ...]) -> None:
    dask = [r for r in render(helm, *values) if r["apiVersion"] == "kubernetes.dask.org/v1"]
    assert sorted(r["kind"] for r in dask) == ["DaskAutoscaler", "DaskCluster"]
    for resource in dask:
        assert errors(resource) == [], resource["kind"]
    cluster = next(r for r in dask if r["kind"] == "DaskCluster")
    autoscaler = next(r for r in dask if r["kind"] == "DaskAutoscaler")
    assert autoscaler["spec"]["cluster"] == cluster["metadata"]["name"]
    [worker] = cluster["spec"]["worker"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in worker["env"]}
    assert env["DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON"] == "{'MALLOC_TRIM_THRESHOLD_': None}"


def by_kind(resources: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    [found] = [r for r in resources if r["kind"] == kind and r["metadata"]["name"].endswith(suffix)]
    return found


def test_settings_reach_every_pipeline_pod(helm: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    resources = render(helm, PRODUCTION)
    config = by_kind(resources, "ConfigMap", "-config")["data"]
    from snowdays.settings import Settings  # noqa: PLC0415

    env = {k.removeprefix("SNOWDAYS_").lower(): v for k, v in config.items() if k.startswith("SNOWDAYS_")}
    settings = Settings.model_validate(  # the settings a pod reads from this ConfigMap
        {k: json.loads(v) if v.startswith(("[", "{")) else v for k, v in env.items()})
    assert settings.archive == "s3://snowdays-archive/products" and settings.cog_compress == "ZSTD"
    assert settings.dask_cluster == "tcp://snowdays-dask-scheduler.snowdays.svc:8786"
    assert settings.backfill_dask_cluster == "kubernetes"  # a backfill's own, ephemeral cluster
    assert settings.kubernetes_env_from == ["configmap/snowdays-config"]  # Dask pods: no database
    assert settings.dask_image == "123456789012.dkr.ecr.eu-west-3.amazonaws.com/snowdays:0.1.0"
    for name in ("-watcher", "-stac-api"):
        pod = by_kind(resources, "Deployment", name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["limits"]["memory"]
            assert "livenessProbe" in container
    sa = by_kind(resources, "ServiceAccount", "snowdays")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith("role/snowdays-pipeline")


def test_without_the_long_lived_cluster_runs_make_their_own(
        helm: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"dask": {"cluster": {"enabled": False}}, "stacApi": {"enabled": True},
                                      "stacDatabase": {"existingSecret": "db"},
                                      "s3": {"existingSecret": "s3"}}))
    resources = render(helm, values)
    assert not [r for r in resources if r["apiVersion"] == "kubernetes.dask.org/v1"]
    config = by_kind(resources, "ConfigMap", "-config")["data"]
    assert config["SNOWDAYS_DASK_CLUSTER"] == "kubernetes"
    assert json.loads(config["SNOWDAYS_KUBERNETES_ENV_FROM"]) == ["configmap/snowdays-config", "secret/s3"]


# --- the Dask pods get only what they use ------------------------------------------------------

SECRETS: dict[str, Any] = {
    "s3": {"existingSecret": "s3"}, "prefect": {"apiKeySecret": "prefect-key"},
    "stacDatabase": {"existingSecret": "db"}, "extraEnvFromSecrets": ["geodes"],
    "dask": {"extraEnvFromSecrets": ["dask-extra"]}, "stacApi": {"enabled": True},
    "settings": {"s3_endpoint_url": "http://minio.storage:9000"}}
"""Every Secret the chart knows of, and an S3 endpoint off port 443."""


def with_secrets(helm: Callable[..., subprocess.CompletedProcess[str]],
                 tmp_path: Path) -> list[dict[str, Any]]:
    """The production values with :data:`SECRETS` (helm merges the files' objects key by key)."""
    values = tmp_path / "secrets.yaml"
    values.write_text(yaml.safe_dump(SECRETS))
    return render(helm, PRODUCTION, values)


def env_from(pod: dict[str, Any]) -> list[str]:
    return [next(iter(ref.values()))["name"] for c in pod["containers"] for ref in c.get("envFrom", [])]


def test_dask_pods_get_no_token_and_only_their_secrets(helm: Callable[..., subprocess.CompletedProcess[str]],
                                                       tmp_path: Path) -> None:
    """The scheduler: no service account of the release, no token, no environment from a Secret; a
    worker: its service account (S3 role) without a token, S3's and the Prefect API key's Secrets
    only. The pipeline's own pods keep the database's."""
    resources = with_secrets(helm, tmp_path)
    cluster = by_kind(resources, "DaskCluster")["spec"]
    scheduler, worker = cluster["scheduler"]["spec"], cluster["worker"]["spec"]
    assert scheduler["automountServiceAccountToken"] is False and "serviceAccountName" not in scheduler
    assert env_from(scheduler) == []
    assert worker["automountServiceAccountToken"] is False and worker["serviceAccountName"] == "snowdays"
    assert env_from(worker) == ["snowdays-config", "s3", "prefect-key", "dask-extra"]
    config = by_kind(resources, "ConfigMap", "-config")["data"]  # the ephemeral clusters' workers
    assert json.loads(config["SNOWDAYS_KUBERNETES_ENV_FROM"]) == [
        "configmap/snowdays-config", "secret/s3", "secret/prefect-key", "secret/dask-extra"]
    watcher = by_kind(resources, "Deployment", "-watcher")["spec"]["template"]["spec"]
    assert env_from(watcher) == ["snowdays-config", "s3", "prefect-key", "db", "geodes"]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions with In) selects the labels."""
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    wanted: dict[str, str] = selector.get("matchLabels", {})
    return wanted.items() <= labels.items()


def test_dask_pods_reach_dns_one_another_https_and_prefect_only(
        helm: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    """One egress policy for the long-lived cluster's pods and the ephemeral ones' (as
    flows/cluster.py labels them): DNS, one another on the ports their scheduler, workers and nannies
    listen on, HTTPS, the Prefect API's and the S3 endpoint's ports; no rule else."""
    from flows.cluster import cluster_spec  # noqa: PLC0415
    from snowdays.settings import get_settings  # noqa: PLC0415

    resources = with_secrets(helm, tmp_path)
    policy = by_kind(resources, "NetworkPolicy", "-dask-egress")["spec"]
    assert policy["policyTypes"] == ["Egress"]
    cluster = by_kind(resources, "DaskCluster")
    ephemeral = cluster_spec(get_settings(dask_cluster="kubernetes", dask_image="snowdays:0.1.0"), "x")
    for spec in (cluster["spec"], ephemeral["spec"]):
        for role in ("scheduler", "worker"):
            assert selects(policy["podSelector"], spec[role]["metadata"]["labels"]), role
    watcher = by_kind(resources, "Deployment", "-watcher")["spec"]["template"]["metadata"]["labels"]
    assert not selects(policy["podSelector"], watcher)
    rules = sorted((json.dumps(rule.get("to", "anywhere"), sort_keys=True),
                    sorted((p["protocol"], p["port"], p.get("endPort", p["port"])) for p in rule["ports"]))
                   for rule in policy["egress"])
    peers = json.dumps([{"podSelector": policy["podSelector"]}], sort_keys=True)
    dns = json.dumps(yaml.safe_load((CHART / "values.yaml").read_text())["networkPolicy"]["dnsTo"],
                     sort_keys=True)
    anywhere = '"anywhere"'
    assert rules == sorted([(dns, [("TCP", 53, 53), ("UDP", 53, 53)]), (peers, [("TCP", 8786, 8790)]),
                            (anywhere, [("TCP", 443, 443)]), (anywhere, [("TCP", 4200, 4200)]),
                            (anywhere, [("TCP", 9000, 9000)])])
    for spec in (cluster["spec"], ephemeral["spec"]):
        [worker] = spec["worker"]["spec"]["containers"]
        args = worker["args"]
        ports = [int(args[args.index(flag) + 1]) for flag in ("--worker-port", "--nanny-port")]
        assert all(8786 <= port <= 8790 for port in ports), args


def test_stac_api_without_a_database_is_refused(helm: Callable[..., subprocess.CompletedProcess[str]],
                                                 tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"stacApi": {"enabled": True}}))
    done = helm("template", "snowdays", str(CHART), "-f", str(values))
    assert done.returncode != 0 and "stacDatabase.existingSecret" in done.stderr


BAD_VALUES = {
    "unknown setting": ({"settings": {"archive": "a", "store": "s", "stac_catalog": "c", "archiv": "x"}},
                        "additional properties 'archiv' not allowed"),
    "setting the chart owns": ({"settings": {"archive": "a", "store": "s", "stac_catalog": "c",
                                             "dask_cluster": "local"}}, "'dask_cluster' not allowed"),
    "bad setting value": ({"settings": {"archive": "a", "store": "s", "stac_catalog": "c",
                                        "cog_compress": "LZW"}}, "/settings/cog_compress"),
    "bad quantity": ({"dask": {"backfill": {"memory": "lots"}}}, "/dask/backfill/memory"),
    "bad pull policy": ({"image": {"repository": "r", "pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    "bad Prefect URL": ({"prefect": {"apiUrl": "prefect:4200", "workPool": "p"}}, "/prefect/apiUrl"),
}


@pytest.mark.parametrize(("values", "message"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_values_schema_refuses_bad_values(helm: Callable[..., subprocess.CompletedProcess[str]],
                                          tmp_path: Path, values: dict[str, Any], message: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(values))
    done = helm("template", "snowdays", str(CHART), "-f", str(file))
    assert done.returncode != 0 and message in done.stderr, done.stderr


def test_values_schema_knows_only_real_settings() -> None:
    from snowdays.settings import Settings  # noqa: PLC0415

    schema = json.loads((CHART / "values.schema.json").read_text())
    assert set(schema["properties"]["settings"]["properties"]) <= set(Settings.model_fields)


def test_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]


def test_flow_run_job_is_valid_as_the_worker_makes_it(helm: Callable[..., subprocess.CompletedProcess[str]],
                                                       prefect_api: str, tmp_path: Path) -> None:
    """The pool's base job template (as the registration Job sets it), filled by prefect-kubernetes
    itself with each deployment's job variables from prefect.yaml for a flow run."""
    template = json.loads(by_kind(render(helm, PRODUCTION), "ConfigMap", "-base-job-template")["data"][
        "base-job-template.json"])
    for deployment in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]:
        job = asyncio.run(flow_run_job(template, deployment["work_pool"]["job_variables"]))
        pod = job["spec"]["template"]["spec"]
        # required there by prefect-kubernetes (its default template's), dropped by the API server
        assert (pod.pop("completions"), pod.pop("parallelism")) == (1, 1)
        job["metadata"]["name"] = job["metadata"].pop("generateName") + "abcde"  # as the API server names it
        (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
        done = validate(tmp_path / "job.yaml")
        assert done.returncode == 0, done.stdout + done.stderr
        [container] = job["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "123456789012.dkr.ecr.eu-west-3.amazonaws.com/snowdays:0.1.0"
        assert container["resources"]["requests"]["memory"] == deployment["work_pool"]["job_variables"][
            "memory_request"]
        assert {"configMapRef": {"name": "snowdays-config"}} in container["envFrom"]
        assert job["spec"]["template"]["spec"]["serviceAccountName"] == "snowdays"
        assert job["metadata"]["namespace"] == "snowdays"


async def flow_run_job(template: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    from prefect.client.schemas.objects import FlowRun  # noqa: PLC0415
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration  # noqa: PLC0415

    config = await KubernetesWorkerJobConfiguration.from_template_and_values(template, variables)
    config.prepare_for_flow_run(FlowRun(id=uuid.uuid4(), name="quiet-fox", flow_id=uuid.uuid4()))
    return dict(config.job_manifest)


def test_dockerfile_passes_hadolint() -> None:
    dockerfile = ROOT / "infra" / "docker" / "Dockerfile"
    done = subprocess.run([str(BIN / "hadolint"), str(dockerfile)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = "FROM python:latest\nRUN apt-get update && apt-get install -y curl\n"
    done = subprocess.run([str(BIN / "hadolint"), "-"], input=bad, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode != 0 and "DL3007" in done.stdout  # the check can fail: an unpinned base image
