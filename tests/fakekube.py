"""A fake Kubernetes API on 127.0.0.1 playing the dask-kubernetes operator: what cannot run here.

It keeps the resources it is sent in memory; a ``DaskCluster`` it is given comes with a running
scheduler pod and a scheduler Service of type LoadBalancer whose address is a real Dask scheduler on
127.0.0.1 (the test's), so that a ``KubeCluster`` connects to real workers through it. Every request
is recorded; an unknown one gets 404 and is recorded too, so a test can tell that nothing else was
asked.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

_PATH = re.compile(r"^/(?:api|apis/(?P<group>[^/]+))/v1/namespaces/(?P<ns>[^/]+)/(?P<plural>[a-z]+)"
                   r"(?:/(?P<name>[^/]+))?$")



def _kinds(*kinds: str) -> dict[str, Any]:
    return {"kind": "APIResourceList", "resources": [
        {"name": f"{k.lower()}s", "singularName": k.lower(), "namespaced": True, "kind": k,
         "verbs": ["create", "delete", "get", "list", "patch", "watch"]} for k in kinds]}


_DASK = "kubernetes.dask.org/v1"
_DISCOVERY: dict[str, dict[str, Any]] = {
    "/version": {"major": "1", "minor": "33", "gitVersion": "v1.33.0"},
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/api/v1": _kinds("Pod", "Service"),
    "/apis": {"kind": "APIGroupList", "groups": [{
        "name": "kubernetes.dask.org", "versions": [{"groupVersion": _DASK, "version": "v1"}],
        "preferredVersion": {"groupVersion": _DASK, "version": "v1"}}]},
    f"/apis/{_DASK}": _kinds("DaskCluster", "DaskWorkerGroup", "DaskAutoscaler", "DaskJob"),
}


@dataclass
class FakeKube:
    """The fake API's state: resources by (plural, namespace, name), and the requests it was sent."""

    scheduler: str
    """``tcp://127.0.0.1:PORT`` of the real Dask scheduler behind every DaskCluster."""
    dashboard_port: int
    resources: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    """Every resource created, as sent."""
    unknown: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, plural: str, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        stored: dict[str, Any] = json.loads(json.dumps(body))
        stored["metadata"] |= {"namespace": ns, "uid": f"uid-{name}", "resourceVersion": "1"}
        self.created.append(body)
        self.resources[(plural, ns, name)] = stored
        if plural == "daskclusters":
            stored["status"] = {"phase": "Running"}
            self._operator(ns, name, body["spec"]["scheduler"]["service"])
        return stored

    def _operator(self, ns: str, name: str, service: dict[str, Any]) -> None:
        """What the operator makes of a DaskCluster: its scheduler pod, the Service the cluster
        describes (but a LoadBalancer at the real scheduler's ports), and its worker group."""
        labels = {"dask.org/cluster-name": name, "dask.org/component": "scheduler"}
        ready = [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}]
        self.resources[("pods", ns, f"{name}-scheduler")] = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{name}-scheduler", "namespace": ns, "labels": labels},
            "status": {"phase": "Running", "conditions": ready}}
        real = {"tcp-comm": int(self.scheduler.rsplit(":", 1)[1]), "http-dashboard": self.dashboard_port}
        self.resources[("services", ns, f"{name}-scheduler")] = {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"{name}-scheduler", "namespace": ns, "labels": labels},
            "spec": service | {"type": "LoadBalancer",
                               "ports": [p | {"port": real[p["name"]]} for p in service["ports"]]},
            "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}}
        self.resources[("daskworkergroups", ns, f"{name}-default")] = {
            "apiVersion": "kubernetes.dask.org/v1", "kind": "DaskWorkerGroup",
            "metadata": {"name": f"{name}-default", "namespace": ns}, "spec": {"cluster": name}}

    def delete(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        found = self.resources.pop((plural, ns, name), None)
        if plural == "daskclusters" and found is not None:
            for kind, suffix in (("pods", "-scheduler"), ("services", "-scheduler"),
                                 ("daskworkergroups", "-default")):
                self.resources.pop((kind, ns, name + suffix), None)
        return found

    def listed(self, plural: str, ns: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """The resources a list request selects (labels, and ``metadata.name`` among fields)."""
        labels = _selector(query, "labelSelector")
        names = {v for k, v in _selector(query, "fieldSelector") if k == "metadata.name"}
        return [r for (p, n, name), r in self.resources.items() if p == plural and n == ns
                and set(labels) <= r["metadata"].get("labels", {}).items() and names <= {name}]


def _selector(query: dict[str, list[str]], key: str) -> list[tuple[str, str]]:
    terms = query.get(key, [""])[0].split(",")
    return [(k, v) for k, _, v in (term.partition("=") for term in terms if term)]


def _handler(kube: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _missing(self, what: str) -> None:
            self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                             "message": f"{what} not found", "code": 404})

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            path = url.path.rstrip("/")
            with kube.lock:
                kube.requests.append((method, self.path))
                if path in _DISCOVERY:
                    self._send(200, _DISCOVERY[path])
                    return
                match = _PATH.match(path)
                if match is None:
                    kube.unknown.append((method, self.path))
                    self._missing(path)
                    return
                self._resource(method, match, parse_qs(url.query))

        def _resource(self, method: str, match: re.Match[str], query: dict[str, list[str]]) -> None:
            plural, ns, name = match["plural"], match["ns"], match["name"]
            if method == "POST" and name is None:
                length = int(self.headers.get("Content-Length", 0))
                self._send(201, kube.create(plural, ns, json.loads(self.rfile.read(length))))
            elif method == "GET" and name is None:
                self._send(200, {"kind": "List", "apiVersion": "v1", "metadata": {},
                                 "items": kube.listed(plural, ns, query)})
            elif method == "GET" and (plural, ns, name) in kube.resources:
                self._send(200, kube.resources[(plural, ns, name)])
            elif method == "DELETE" and (found := kube.delete(plural, ns, name)) is not None:
                self._send(200, found)
            else:
                if method not in ("GET", "DELETE"):
                    kube.unknown.append((method, self.path))
                self._missing(f"{plural} {name}")

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

        def do_PATCH(self) -> None:
            self._route("PATCH")

    return Handler


@contextmanager
def fake_kube(scheduler: str, dashboard_port: int, folder: Path) -> Iterator[tuple[FakeKube, Path]]:
    """Serve a fake API on a free port of 127.0.0.1; yield it and a kubeconfig file naming it
    (namespace ``snowdays``)."""
    kube = FakeKube(scheduler, dashboard_port)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(kube))
    thread = threading.Thread(target=server.serve_forever, name="fake-kube", daemon=True)
    thread.start()
    config = folder / "kubeconfig"
    url = f"http://127.0.0.1:{server.server_address[1]}"
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "fake", "user": {"token": "fake-token"}}],
        "contexts": [{"name": "fake",
                      "context": {"cluster": "fake", "user": "fake", "namespace": "snowdays"}}],
    }))
    try:
        yield kube, config
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
