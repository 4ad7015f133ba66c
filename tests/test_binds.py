"""Everything local listens on the loopback only: every listening socket of the processes ``snowdays up``
starts (the whole process tree of each part, and the PostgreSQL server the STAC API starts), and of the
LocalCluster a run starts, is on 127.0.0.1 or ::1. Read from the sockets the kernel lists (psutil), the
parts real servers on free ports."""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # distributed's dependency
import pytest
from distributed import Client, LocalCluster

from flows.cluster import local_cluster
from infra.stack import Stack, urls
from snowdays.settings import Settings, get_settings
from tests.conftest import _free_port, starts
from tests.stackenv import stack_settings

WORKERS = 2
pytestmark = pytest.mark.timeout(600)

Listener = tuple[str, str, int]
"""A listening socket: the process's name, the address and the port it is bound to."""


def tree(root: int) -> list[psutil.Process]:
    """A process and all its descendants."""
    process = psutil.Process(root)
    return [process, *process.children(recursive=True)]


def listening(processes: Iterable[psutil.Process]) -> set[Listener]:
    """The TCP sockets the processes listen on."""
    found = set()
    for process in processes:
        try:  # a short-lived child (a helper command a part runs) may end while the tree is read
            name, conns = process.name(), process.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        found |= {(name, c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
    return found


def exposed(listeners: set[Listener]) -> set[Listener]:
    """The listeners reachable from another machine (bound to anything but the loopback)."""
    return {one for one in listeners if not ipaddress.ip_address(one[1]).is_loopback}


def postmaster(data: Path) -> psutil.Process:
    """The PostgreSQL server of a cluster folder (``pg_ctl`` detaches it from the process that starts it)."""
    return psutil.Process(int((data / "postmaster.pid").read_text().split()[0]))


@pytest.fixture(scope="module")
@starts("server")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Settings]]:
    """The whole of ``snowdays up``, its STAC API starting a PostgreSQL cluster of its own (in a folder
    the ``postgres`` system user may reach when the tests run as root)."""
    base = tmp_path_factory.mktemp("binds")
    pg = Path(tempfile.mkdtemp(prefix="snowdays-binds-pg-"))
    pg.chmod(0o755)
    env = {"ARCHIVE": base / "archive", "STORE": base / "stores", "STAC_CATALOG": base / "catalog",
           "STAC_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{_free_port()}/snowdays",
           "STAC_POSTGRES_DATA": pg / "data", "DASK_WORKERS": WORKERS}
    try:
        with stack_settings(base, **env) as settings, Stack(settings, base / "logs") as running:
            with Client(urls(settings.ports)["Dask scheduler"], timeout=60) as client:  # type: ignore[no-untyped-call]
                client.wait_for_workers(WORKERS, timeout=120)
            yield running, settings
    finally:
        shutil.rmtree(pg, ignore_errors=True)


def test_every_part_of_the_stack_listens_on_the_loopback_only(stack: tuple[Stack, Settings]) -> None:
    running, settings = stack
    processes = [p for _, child in running.running for p in tree(child.pid)]
    processes.append(postmaster(Path(settings.stac_postgres_data)))
    found = listening(processes)
    ports = {port for _, _, port in found}
    assert {settings.prefect_port, settings.dask_port, settings.stac_api_port, settings.files_port,
            int(settings.stac_database_url.rsplit(":", 1)[1].split("/")[0])} <= ports
    assert len(found) >= 6 + 3 * WORKERS  # a dashboard for the scheduler; worker, nanny, dashboard each
    assert exposed(found) == set()


@pytest.mark.server  # a Dask LocalCluster
def test_a_local_cluster_listens_on_the_loopback_only() -> None:
    """The LocalCluster of a run (``SNOWDAYS_DASK_CLUSTER=local``): scheduler, nannies and workers."""
    before = listening(tree(psutil.Process().pid))
    kwargs = local_cluster(get_settings(dask_workers=WORKERS))
    with (LocalCluster(**kwargs) as cluster,  # type: ignore[no-untyped-call]
          Client(cluster) as client):  # type: ignore[no-untyped-call]
        client.wait_for_workers(WORKERS, timeout=120)
        found = listening(tree(psutil.Process().pid)) - before
    assert len(found) >= 2 + 2 * WORKERS  # the scheduler and its dashboard; each worker and its nanny
    assert exposed(found) == set()
