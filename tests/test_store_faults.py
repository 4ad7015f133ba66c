"""The tile store under faults, with real processes: two writers on one tile, writers killed mid-fold.

Concurrency: two processes fold the two halves of a season into one tile on a real (moto) S3 server at
the same time; the loser of each commit race re-reads the tile and folds again, so no product is lost or
counted twice. Crash safety: a process that kills itself (SIGKILL) at a point of the fold leaves the
previous commit readable and unchanged, and the product folds on the next attempt. The children are
small programs written here; they wrap library functions to meet or to die at a point, and the library
carries no test hook.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import icechunk
import numpy as np
import pytest
import rasterio
import zarr

from snowdays.annual import run_annual
from snowdays.duration import Maps
from snowdays.errors import StorageError
from snowdays.export import season_maps, status
from snowdays.ingest import ingest, seasons_of
from snowdays.names import parse_name
from snowdays.sample import make_season
from snowdays.season import Season, parse_season
from snowdays.settings import Settings, get_settings
from snowdays.state import STATE, Entry, ledger, recompute
from snowdays.store import BACK_OFF_SECONDS, BRANCH, array, open_repo, read, storage, subgroup, transact
from tests.conftest import S3Server, starts

TILE = "T31TCH"
LABEL = "2017-2018"
SEASON = parse_season(LABEL)
SIZE = 16
PRODUCTS = 16
SETTINGS = get_settings(pending_max=0)
"""Every arrival folds the days before its own into the state arrays: the fold writes all it can."""
EAGER = {"SNOWDAYS_PENDING_MAX": "0"}
CONFLICT = "snowdays.store:INFO:commit conflict"

#: Two writers: meet at the start, fold their products, and meet again before the commit of their
#: first fold, so that both commits race from the same parent (one conflict at least, whatever the
#: timing); every other commit races as it comes. Logs at INFO on stderr; prints one JSON line per
#: product on stdout.
WRITER = """
import json, logging, os, sys, time
from pathlib import Path

import icechunk

from snowdays.ingest import ingest
from snowdays.settings import get_settings

logging.basicConfig(level=logging.INFO, format="%(name)s:%(levelname)s:%(message)s")
meeting, root, *hrefs = sys.argv[1:]


def meet(stage):
    Path(meeting, f"{stage}.{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while len(list(Path(meeting).glob(f"{stage}.*"))) < 2:
        if time.monotonic() > deadline:
            sys.exit(f"the other writer never reached {stage}")
        time.sleep(0.001)


commit, first = icechunk.Session.commit, [True]


def commit_together(self, message, *args, **kwargs):
    if first[0] and message.startswith("fold "):
        first[0] = False
        meet("fold")
    return commit(self, message, *args, **kwargs)


icechunk.Session.commit = commit_together
settings = get_settings()
meet("start")
for href in hrefs:
    report = ingest(root, href, settings)
    print(json.dumps([report.product, report.outcome]), flush=True)
"""

#: Ingests one product and SIGKILLs itself at the named point of the fold. Points within the fold are
#: told apart by the store keys written so far (zarr v3: ``seasons/<season>/<array>/zarr.json``, the
#: array's chunks under ``.../<array>/c/``, the season group's attributes, its ledger, in
#: ``seasons/<season>/zarr.json``); before dying, it prints the keys written so far on stderr.
CRASHER = """
import json, os, signal, sys

import icechunk
from icechunk.store import IcechunkStore

from snowdays.ingest import ingest
from snowdays.settings import get_settings
from snowdays.state import STATE

point, root, href = sys.argv[1:]
written = []


def array_of(key):
    parts = key.split("/")
    return parts[2] if parts[0] == "seasons" and len(parts) > 3 else None


def die():
    done = {"written": written, "commits": len(commits), "since": written[len(written_then):]}
    print(json.dumps(done), file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def dies_before(key):
    name, states = array_of(key), {array_of(k) for k in written} & set(STATE)
    season = key.count("/") == 2 and key.endswith("/zarr.json")  # its attributes: ledger, folded
    return {
        "before any write": True,
        "cube grown, its slot not written": name == "cube" and "/c/" in key,
        "cube written, ledger not": season,
        "between state writes": name in STATE and bool(states) and name not in states,
        "state written, folded not": season and bool(states),
    }.get(point, False)


def watch(method):
    original = getattr(IcechunkStore, method)

    async def write(self, key, *args, **kwargs):
        if dies_before(key):
            die()
        written.append(key)
        return await original(self, key, *args, **kwargs)

    setattr(IcechunkStore, method, write)


for method in ("set", "set_if_not_exists", "delete", "delete_dir"):
    watch(method)
commit, commits, written_then = icechunk.Session.commit, [], []


def commit_and_die(self, *args, **kwargs):
    if point == ("before the fold's commit", "before the checkpoint's commit")[len(commits)]:
        die()
    commits.append(commit(self, *args, **kwargs))
    written_then[:] = written  # what the next commit will have written: written[len(written_then):]
    if point == "after the commits" and len(commits) == 2:
        die()


icechunk.Session.commit = commit_and_die
print(ingest(root, href, get_settings()).outcome, flush=True)
"""


def array_of(key: str) -> str | None:
    parts = key.split("/")
    return parts[2] if parts[0] == "seasons" and len(parts) > 3 else None


def states(written: list[str]) -> set[str | None]:
    return {array_of(k) for k in written} & set(STATE)


LEDGER = f"seasons/{LABEL}/zarr.json"
#: Each point, and what the store should have been sent when the process died there. An ingest
#: commits twice: the fold (cube and ledger), then the checkpoint (state chunks, then ``folded``, both
#: in the season's attributes).
POINTS: dict[str, Callable[[list[str], int, list[str]], bool]] = {
    "before any write": lambda w, commits, since: w == [],
    "cube grown, its slot not written": lambda w, commits, since: bool(w)
    and {array_of(k) for k in w} == {"cube"} and not any("/c/" in k for k in w),
    "cube written, ledger not": lambda w, commits, since: commits == 0
    and any(k.startswith(f"seasons/{LABEL}/cube/c/") for k in w) and LEDGER not in w,
    "before the fold's commit": lambda w, commits, since: commits == 0 and LEDGER in w and not states(w),
    "between state writes": lambda w, commits, since: commits == 1 and len(states(since)) == 1,
    "state written, folded not": lambda w, commits, since: commits == 1
    and len(states(since)) == len(STATE) and LEDGER not in since,
    "before the checkpoint's commit": lambda w, commits, since: commits == 1
    and len(states(since)) == len(STATE) and LEDGER in since,
}
FOLD = list(POINTS)[:4]
"""Points before the fold's commit: the tile is left as it was. After it, the product is folded
(pending) and the next ingest, a duplicate, does the checkpoint."""
#: (point, whether the product comes late): the fold writes the same keys either way, but a late one
#: makes the checkpoint recompute the whole state from the cube.
CASES = [("before any write", False), ("cube grown, its slot not written", True),
         *((point, late) for point in list(POINTS)[2:] for late in (False, True))]


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A short run of a season's products in acquisition order, all in that season's window only
    (Sentinel-2 and Landsat, some on the same day)."""
    made = tmp_path_factory.mktemp("made")
    paths = make_season(made, TILE, SEASON, SIZE, "muscate", False, seed=5)
    only_one = [p for p in paths
                if [label for label, _ in seasons_of(parse_name(p.name).acquired.date(), SETTINGS)]
                == [LABEL]]
    folder = tmp_path_factory.mktemp("archive")
    chosen = [Path(shutil.move(p, folder / p.name)) for p in only_one[:PRODUCTS]]
    assert len(chosen) == PRODUCTS
    assert any("LANDSAT8" in p.name for p in chosen)
    days = [parse_name(p.name).acquired.date() for p in chosen]
    assert len(set(days)) < len(days), "some products should share a day"
    return chosen


@pytest.fixture(scope="session")
@starts("slow")  # each child loads the library again
def child_env(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Callable[[Mapping[str, str]], dict[str, str]]:
    """The environment of a child: this process's (without ``SNOWDAYS_`` settings), plus changes.

    Where bytecode may not be written, children share a bytecode cache of their own so that each does
    not compile again every module it imports.
    """
    pycache: dict[str, str] = {}
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        cache = getattr(request.config, "cache", None)
        folder = (cache.mkdir("snowdays-pycache") if cache is not None
                  else tmp_path_factory.mktemp("pycache"))
        pycache["PYTHONPYCACHEPREFIX"] = str(folder)

    def env(changes: Mapping[str, str]) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("SNOWDAYS_")}
        if pycache:
            base.pop("PYTHONDONTWRITEBYTECODE", None)
        return base | pycache | dict(changes)

    return env


def python(program: str, tmp_path: Path, name: str) -> list[str]:
    script = tmp_path / f"{name}.py"
    script.write_text(program)
    return [sys.executable, str(script)]


def batch(products: list[Path], into: Path) -> Maps:
    """The maps of one batch over ``products``, year to date (stop: the latest acquisition)."""
    into.mkdir()
    for p in products:
        shutil.copytree(p, into / p.name)
    latest = max(parse_name(p.name).acquired.date() for p in products)
    season = Season(start=SEASON.start, stop=latest, margin=SEASON.margin)
    return run_annual(str(into), TILE, season, SETTINGS).maps


def assert_same(got: Maps, expected: Maps) -> None:
    for (kind, a), (_, b) in zip(got.items(), expected.items(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=kind)


@dataclass
class Seen:
    """What a reader sees of the tile's latest commit."""

    commit: str
    commits: int
    entries: list[Entry]
    slots: int
    maps: Maps


def look(root: str, settings: Settings) -> Seen:
    """Read the tile as a reader would; check the state agrees with the cube and the ledger."""
    [tile] = status(root, settings)
    assert tile.tile == TILE and [s.label for s in tile.seasons] == [LABEL]
    repo = open_repo(root, TILE, settings)
    group = subgroup(read(repo), f"seasons/{LABEL}")
    entries = ledger(group)
    assert tile.seasons[0].products == len(entries)
    slots = array(group, "cube").shape[0]
    assert sorted(e.slot for e in entries) == list(range(slots)), "a cube slot outside the ledger"
    stored = season_maps(root, TILE, LABEL, settings)
    assert stored.products == len(entries)
    recomputed = recompute(group, SEASON.n_days, entries, max(e.day for e in entries))  # cube alone
    assert_same(stored.maps, recomputed.maps(SEASON.day(stored.as_of) + 1))
    commits = len(list(repo.ancestry(branch=BRANCH)))
    return Seen(tile.last_commit.id, commits, entries, slots, stored.maps)


# --- two writers -------------------------------------------------------------------------------------

def test_two_writers_on_one_tile_lose_no_product(products: list[Path], s3_server: S3Server, tmp_path: Path,
                                                 child_env: Callable[[Mapping[str, str]],
                                                                     dict[str, str]]) -> None:
    s3_server.client().create_bucket(Bucket="snow-writers")
    root = "s3://snow-writers/stores"
    settings = get_settings(s3_endpoint_url=s3_server.endpoint_url)
    # each begins with a Sentinel-2 product (the tile's grid), then they interleave: out of order
    heads = [p for p in products if "SENTINEL2" in p.name][:2]
    rest = [p for p in products if p not in heads]
    halves = [[heads[0], *rest[0::2]], [heads[1], *rest[1::2]]]
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    env = child_env({"SNOWDAYS_S3_ENDPOINT_URL": s3_server.endpoint_url})
    writer = python(WRITER, tmp_path, "writer")
    children = [subprocess.Popen([*writer, str(meeting), root, *map(str, half)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for half in halves]
    outputs = []
    try:
        for child in children:
            outputs.append(child.communicate(timeout=120))
    finally:
        for child in children:
            child.kill()
    assert [child.returncode for child in children] == [0, 0], "\n".join(err for _, err in outputs)

    for half, (out, _) in zip(halves, outputs, strict=True):
        reports = [json.loads(line) for line in out.splitlines()]
        assert [name for name, _ in reports] == [p.name for p in half]
        assert {outcome for _, outcome in reports} <= {"folded", "folded (season recomputed)"}, reports
    conflicts = [err.count(CONFLICT) for _, err in outputs]
    worst = max((int(n) for _, err in outputs for n in re.findall(rf"{CONFLICT} on attempt (\d+)", err)),
                default=0)
    raced = sum(err.count("being created by another writer") for _, err in outputs)
    print(f"commit conflicts per writer: {conflicts}, most for one product: {worst}, "
          f"waits for the other's creation of the tile: {raced}")
    assert sum(conflicts) >= 1, "the writers never raced"

    seen = look(root, settings)
    names = [e.name for e in seen.entries]
    assert sorted(names) == sorted(p.name for p in products)  # each exactly once
    repo = open_repo(root, TILE, settings)
    messages = [c.message for c in repo.ancestry(branch=BRANCH)]
    assert seen.commits == len(messages)
    assert messages[-2:] == [f"create the store of {TILE}", "Repository initialized"]  # once
    folds = [m for m in messages[:-2] if not m.startswith("checkpoint ")]  # if any was due
    assert sorted(folds) == sorted(f"fold {p.name} into {LABEL}" for p in products)
    expected = batch(products, tmp_path / "batch")
    assert_same(seen.maps, expected)


# --- a writer killed mid-fold ------------------------------------------------------------------------

BASE = slice(0, 8)
LATE = 3
"""The products of the store a writer dies in: the first ones but the one at LATE, to come late."""


def base_of(products: list[Path]) -> list[Path]:
    return [p for i, p in enumerate(products[BASE]) if i != LATE]


def next_of(products: list[Path], late: bool) -> Path:
    """The product folded when the writer dies: late (out of order), or later than every folded day,
    with a valid pixel so that it changes the state (a cloudy one may change none)."""
    return products[LATE] if late else next(p for p in products[BASE.stop:] if seen_some(p))


def seen_some(product: Path) -> bool:
    with rasterio.open(next(product.glob("*_SNW_*.tif"))) as ds:
        return bool((ds.read(1) <= 100).any())


@pytest.fixture(scope="module")
def folded(products: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("folded") / "stores"
    for p in base_of(products):
        assert ingest(str(root), str(p), SETTINGS).outcome.startswith("folded")
    return root


@dataclass(frozen=True)
class Crash:
    root: Path
    before: Seen
    product: Path
    returncode: int | None
    stdout: str
    stderr: str


def crash(point: str, root: str, product: Path, script: list[str],
          env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*script, point, root, str(product)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
@starts("slow")
def crashes(products: list[Path], folded: Path, tmp_path_factory: pytest.TempPathFactory,
            child_env: Callable[[Mapping[str, str]], dict[str, str]]) -> dict[tuple[str, bool], Crash]:
    """A writer that dies at each case's point, each on a copy of the ``folded`` store, all at once
    (they share nothing)."""
    base = tmp_path_factory.mktemp("crashes")
    script = python(CRASHER, base, "crasher")
    started: dict[tuple[str, bool], tuple[Path, Seen, Path, subprocess.Popen[str]]] = {}
    try:
        for point, late in [*CASES, ("after the commits", True)]:
            root = base / f"{point.replace(' ', '-').replace(',', '')}-{late}" / "stores"
            shutil.copytree(folded, root)
            product = next_of(products, late)
            started[point, late] = (root, look(str(root), SETTINGS), product,
                                    crash(point, str(root), product, script, child_env(EAGER)))
        done = {}
        for key, (root, before, product, child) in started.items():
            out, err = child.communicate(timeout=120)
            done[key] = Crash(root, before, product, child.returncode, out, err)
        return done
    finally:
        for *_, child in started.values():
            child.kill()


@pytest.mark.parametrize(("point", "late"), CASES,
                         ids=[f"{p}-{'out-of-order' if late else 'in-order'}" for p, late in CASES])
def test_a_writer_killed_mid_fold_leaves_the_tile_as_it_was(
        point: str, late: bool, products: list[Path], crashes: dict[tuple[str, bool], Crash],
        tmp_path: Path) -> None:
    died = crashes[point, late]
    root, before, product = str(died.root), died.before, died.product
    assert died.returncode == -signal.SIGKILL, (died.stdout, died.stderr)
    assert died.stdout == ""
    done = json.loads(died.stderr.splitlines()[-1])
    assert POINTS[point](done["written"], done["commits"], done["since"]), done  # died where meant to

    after = look(root, SETTINGS)
    names = sorted(e.name for e in before.entries)
    with_it = batch([*base_of(products), product], tmp_path / "batch")
    if point in FOLD:
        assert (after.commit, after.commits, after.entries, after.slots) == (
            before.commit, before.commits, before.entries, before.slots)
        assert_same(after.maps, before.maps)
        again = ingest(root, str(product), SETTINGS)
        assert again.outcome == ("folded (season recomputed)" if late else "folded")
    else:  # the fold was committed, the checkpoint not: the product is pending, the maps have it
        assert after.commits == before.commits + 1
        assert sorted(e.name for e in after.entries) == sorted([*names, product.name])
        assert_same(after.maps, with_it)
        assert ingest(root, str(product), SETTINGS).outcome == "skipped (duplicate)"
    now = look(root, SETTINGS)
    assert now.commits == before.commits + 2
    assert [m.split(" ", 1)[0] for m in messages(root)[:2]] == ["checkpoint", "fold"]
    assert sorted(e.name for e in now.entries) == sorted([*names, product.name])
    assert_same(now.maps, with_it)


def messages(root: str) -> list[str]:
    return [c.message for c in open_repo(root, TILE, SETTINGS).ancestry(branch=BRANCH)]


def test_a_writer_killed_after_its_commit_folded_the_product_once(
        products: list[Path], crashes: dict[tuple[str, bool], Crash], tmp_path: Path) -> None:
    died = crashes["after the commits", True]
    root, before, product = str(died.root), died.before, died.product
    assert died.returncode == -signal.SIGKILL, (died.stdout, died.stderr)
    assert died.stdout == ""

    after = look(root, SETTINGS)
    assert after.commits == before.commits + 2
    assert sorted(e.name for e in after.entries) == sorted([*(e.name for e in before.entries),
                                                            product.name])
    assert ingest(root, str(product), SETTINGS).outcome == "skipped (duplicate)"
    assert look(root, SETTINGS).commit == after.commit
    assert_same(after.maps, batch([*base_of(products), product], tmp_path / "batch"))


def test_a_writer_killed_before_its_commit_on_s3(
        products: list[Path], s3_server: S3Server, tmp_path: Path,
        child_env: Callable[[Mapping[str, str]], dict[str, str]]) -> None:
    s3_server.client().create_bucket(Bucket="snow-crash")
    root = "s3://snow-crash/stores"
    settings = get_settings(s3_endpoint_url=s3_server.endpoint_url, pending_max=0)
    for p in products[:3]:
        assert ingest(root, str(p), settings).outcome.startswith("folded")
    before = look(root, settings)
    product = products[3]
    env = child_env({"SNOWDAYS_S3_ENDPOINT_URL": s3_server.endpoint_url, **EAGER})

    child = crash("before the fold's commit", root, product, python(CRASHER, tmp_path, "crasher"), env)
    out, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, (out, err)
    assert LEDGER in json.loads(err.splitlines()[-1])["written"]
    after = look(root, settings)
    assert (after.commit, after.entries) == (before.commit, before.entries)
    assert_same(after.maps, before.maps)

    assert ingest(root, str(product), settings).outcome == "folded"
    assert_same(look(root, settings).maps, batch(products[:4], tmp_path / "batch"))


def test_a_store_whose_creator_died_before_its_root_group_reads_empty_and_takes_products(
        products: list[Path], tmp_path: Path) -> None:
    """Making a tile's store is two steps (the repository, then the commit of its root group): a
    writer killed between them leaves a repository with no group, which reads as an empty tile and
    takes its first product as a new one would."""
    root = str(tmp_path / "stores")
    icechunk.Repository.create(storage(root, TILE, SETTINGS.s3))
    assert dict(read(open_repo(root, TILE, SETTINGS)).members()) == {}
    assert ingest(root, str(products[0]), SETTINGS).outcome == "folded"
    assert_same(look(root, SETTINGS).maps, batch(products[:1], tmp_path / "batch"))


@pytest.mark.parametrize("kind", ["loop", "dangling", "file"])
def test_a_broken_store_folder_is_a_storage_error(products: list[Path], tmp_path: Path,
                                                  kind: str) -> None:
    """A tile folder that is a symbolic link loop, a link to nothing or a file: a storage error naming
    it (retried by the pipeline, reported by the command line), never an abort of the process."""
    folder = tmp_path / "stores" / parse_name(products[0].name).tile
    folder.parent.mkdir()
    if kind == "loop":
        (tmp_path / "stores" / "other").symlink_to(folder)
        folder.symlink_to(tmp_path / "stores" / "other")
    elif kind == "dangling":
        folder.symlink_to(tmp_path / "nowhere")
    else:
        folder.write_text("not a store")
    with pytest.raises(StorageError, match=rf"Could not open the store at {re.escape(str(folder))}"):
        ingest(str(tmp_path / "stores"), str(products[0]), get_settings())


def test_a_writer_that_conflicts_backs_off_with_jitter(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer commits while this one works, three times: each real commit conflict is
    followed by a random wait under a doubling bound, then the work runs again and commits."""
    repo = open_repo(str(tmp_path), TILE, get_settings(), create=True)
    waits: list[float] = []
    monkeypatch.setattr("snowdays.store.time.sleep", waits.append)
    calls = []

    def work(group: zarr.Group) -> tuple[int, str]:
        calls.append(1)
        if len(calls) <= 3:  # the other writer gets in first
            def other(g: zarr.Group) -> tuple[None, str]:
                g.attrs["other"] = len(calls)
                return None, "the other writer"
            transact(repo, other)
        group.attrs["mine"] = len(calls)
        return len(calls), "this writer"

    assert transact(repo, work) == 4
    assert read(repo).attrs["mine"] == 4 and read(repo).attrs["other"] == 3
    assert len(waits) == 3 and len(set(waits)) == 3
    assert all(0 <= w <= BACK_OFF_SECONDS * 2 ** k for k, w in enumerate(waits))


def without_root_privilege(command: list[str]) -> list[str]:
    """``command`` run so that file modes bind it: as root, without the capabilities that pass them."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]


@pytest.mark.server  # the console script
@pytest.mark.parametrize("what", ["raster", "folder", "zip"])
def test_an_unreadable_product_is_a_storage_fault_not_a_rejection(products: list[Path], tmp_path: Path,
                                                                   what: str) -> None:
    """A product (or part of it) this process may not read: the command says so and exits 1 (worth
    retrying), nothing is quarantined, and once it can be read it is folded."""
    product = tmp_path / products[0].name
    if what == "zip":
        shutil.make_archive(str(product), "zip", products[0].parent, products[0].name)
        product = product.with_name(f"{product.name}.zip")
        locked = product
    else:
        shutil.copytree(products[0], product)
        locked = next(product.glob("*_SNW_R2.tif")) if what == "raster" else product
    locked.chmod(0)
    script = str(Path(sys.executable).with_name("snowdays"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWDAYS_")} | {"COLUMNS": "1000"}
    ingest_it = without_root_privilege([script, "ingest", str(product), "--store", "st"])
    try:
        done = subprocess.run(ingest_it, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                              check=False)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Permission denied" in done.stderr and "Traceback" not in done.stderr
    assert "rejected" not in done.stdout
    again = subprocess.run(ingest_it, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                           check=False)
    assert again.returncode == 0 and "folded" in again.stdout, again.stdout + again.stderr
    [tile] = status(str(tmp_path / "st"), get_settings())
    assert tile.quarantined == []


@pytest.mark.server  # the console script
def test_ingest_goes_on_after_a_storage_fault_and_says_what_was_left(products: list[Path],
                                                                      tmp_path: Path) -> None:
    """Of three products the first cannot be read: the other two are folded, and the command ends
    naming the one left for a later run (exit 1, worth retrying)."""
    copies = [shutil.copytree(p, tmp_path / p.name) for p in products[:3]]
    raster = next(copies[0].glob("*_SNW_R2.tif"))
    raster.chmod(0)
    script = str(Path(sys.executable).with_name("snowdays"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNOWDAYS_")} | {"COLUMNS": "1000"}
    try:
        done = subprocess.run(without_root_privilege([script, "ingest", *map(str, copies), "--store", "st"]),
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    finally:
        raster.chmod(0o644)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{copies[0]}: left (a storage fault, worth retrying)"
    assert [line.split(": ", 1)[1].split(" ")[0] for line in lines[1:]] == ["folded", "folded"]
    assert f"1 of 3 products left, run again: {copies[0]}: Could not read" in done.stderr
    assert "Permission denied" in done.stderr
