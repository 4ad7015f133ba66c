"""An L2A product and the snow product of its acquisition: the snow product counts, whichever arrives
first, in the store (a later snow product replaces the derived observation as a re-published version
would, a later L2A product is skipped), in the batch, and in the archive's pending list."""

from __future__ import annotations

import random
import shutil
from datetime import date
from pathlib import Path

import pytest

from snowdays.annual import Annual, run_annual
from snowdays.archive import pending
from snowdays.export import season_maps
from snowdays.ingest import ingest
from snowdays.names import parse_name
from snowdays.sample import make_season
from snowdays.season import Season, parse_season
from snowdays.settings import get_settings
from snowdays.state import ledger
from snowdays.store import last_commit, open_repo, read, subgroup
from tests.conftest import starts
from tests.test_state import assert_same, ingest_all

TILE, LABEL = "T31TCH", "2017-2018"
SEASON = parse_season(LABEL)
WINDOW = Season(start=date(2017, 12, 20), stop=date(2018, 2, 10), margin=0)
SIZE = 20
SETTINGS = get_settings()


@pytest.fixture(scope="module")
@starts("slow")  # three families of a window, folded again in each test
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The same acquisitions as L2A products, MUSCATE snow products and LIS products (zips, tifs)."""
    root = tmp_path_factory.mktemp("made")
    return {family: make_season(root / family, TILE, WINDOW, SIZE, family, True, seed=5)
            for family in ("l2a", "muscate", "fsc")}


def acquisition(path: Path) -> str:
    """The acquisition in a MUSCATE name, as this test reads it (platform and time)."""
    name = parse_name(path.name).name
    return name.split("_L2A_")[0] if "_L2A_" in name else name.split("_L2B-SNOW_")[0]


def winners(products: list[Path]) -> list[Path]:
    """What counts: every snow product, and the L2A products of acquisitions without one."""
    snowy = {acquisition(p) for p in products if "_L2B-SNOW_" in p.name}
    return [p for p in products if "_L2B-SNOW_" in p.name or acquisition(p) not in snowy]


def late(stream: list[Path]) -> list[Path]:
    """The L2A products folded after a snow product of their acquisition, in the stream's order
    (``ingest_all`` folds each product as it comes)."""
    seen: set[str] = set()
    found = []
    for p in stream:
        if "_L2A_" in p.name and acquisition(p) in seen:
            found.append(p)
        elif "_L2B-SNOW_" in p.name:
            seen.add(acquisition(p))
    return found


def batch_of(products: list[Path], folder: Path, as_of: date) -> Annual:
    folder.mkdir()
    for p in products:
        shutil.copy2(p, folder / p.name)
    return run_annual(str(folder), TILE, Season(start=SEASON.start, stop=as_of, margin=SEASON.margin),
                      SETTINGS)


@pytest.mark.parametrize("seed", range(3))
def test_any_arrival_order_gives_the_maps_of_the_winners(made: dict[str, list[Path]], tmp_path: Path,
                                                         seed: int) -> None:
    """L2A products for every acquisition, snow products for two thirds of them, all shuffled; with
    the state folded every few arrivals, so that replacements land on days already in the state."""
    rng = random.Random(seed)
    snow = [p for p in made["muscate"] if rng.random() < 0.67]
    stream = made["l2a"] + snow
    rng.shuffle(stream)
    settings = get_settings(pending_max=(0, 2, 16)[seed])
    outcomes = ingest_all(tmp_path / "store", stream, settings)
    assert outcomes.count("skipped (a snow product of its acquisition is folded)") == len(late(stream)) > 0
    got = season_maps(str(tmp_path / "store"), TILE, LABEL, SETTINGS)
    group = subgroup(read(open_repo(str(tmp_path / "store"), TILE, SETTINGS)), f"seasons/{LABEL}")
    kept = winners(stream)
    assert sorted(e.name for e in ledger(group)) == sorted(parse_name(p.name).name for p in kept)
    assert sorted(e.slot for e in ledger(group)) == list(range(len(made["l2a"])))  # replaced in place
    assert_same(got.maps, batch_of(kept, tmp_path / "batch", got.as_of).maps)


def test_snow_products_after_l2a_give_the_snow_maps_alone(made: dict[str, list[Path]],
                                                          tmp_path: Path) -> None:
    """Every L2A product, then every snow product: the maps of the snow products alone, exactly; the
    L2A-derived maps differed (faint snow below the snowline, no DEM here: no snow)."""
    ingest_all(tmp_path / "store", made["l2a"])
    derived = season_maps(str(tmp_path / "store"), TILE, LABEL, SETTINGS)
    outcomes = ingest_all(tmp_path / "store", made["muscate"])
    assert all(o.startswith("folded") for o in outcomes)  # as higher versions: in place
    got = season_maps(str(tmp_path / "store"), TILE, LABEL, SETTINGS)
    alone = tmp_path / "alone"
    ingest_all(alone, made["muscate"])
    assert_same(got.maps, season_maps(str(alone), TILE, LABEL, SETTINGS).maps)
    assert (derived.maps.scd != got.maps.scd).any()


def test_an_l2a_product_after_its_snow_product_changes_nothing(made: dict[str, list[Path]],
                                                               tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    ingest_all(tmp_path / "store", made["muscate"])
    before = last_commit(open_repo(store, TILE, SETTINGS))
    reports = [ingest(store, str(p), SETTINGS) for p in made["l2a"]]
    assert {r.outcome for r in reports} == {"skipped (a snow product of its acquisition is folded)"}
    assert last_commit(open_repo(store, TILE, SETTINGS)) == before  # not even a commit


def test_a_lis_product_of_the_same_second_replaces_an_l2a_product(made: dict[str, list[Path]],
                                                                 tmp_path: Path) -> None:
    """LIS names drop the milliseconds: the acquisition is matched to the second."""
    l2a = next(p for p in made["l2a"] if "SENTINEL2" in p.name)
    fsc = next(p for p in made["fsc"] if parse_name(p.name).acquisition == parse_name(l2a.name).acquisition)
    store = str(tmp_path / "store")
    assert ingest(store, str(l2a), SETTINGS).outcome == "folded"
    assert ingest(store, str(fsc), SETTINGS).outcome == "folded"
    group = subgroup(read(open_repo(store, TILE, SETTINGS)), f"seasons/{LABEL}")
    assert [e.name for e in ledger(group)] == [parse_name(fsc.name).name]
    assert ingest(store, str(l2a), SETTINGS).outcome.startswith("skipped (a snow product")


def test_the_batch_keeps_the_snow_products(made: dict[str, list[Path]], tmp_path: Path) -> None:
    both = batch_of(made["l2a"] + made["muscate"], tmp_path / "both", SEASON.stop)
    alone = batch_of(made["muscate"], tmp_path / "alone", SEASON.stop)
    assert_same(both.maps, alone.maps)
    assert sorted(p.id.name for p in both.used) == sorted(p.id.name for p in alone.used)


def test_pending_leaves_out_what_a_snow_product_outranks(made: dict[str, list[Path]],
                                                         tmp_path: Path) -> None:
    """An L2A product is not pending when its snow product is folded or in the archive (unless that
    one was rejected); an older version is not pending once a newer one is folded."""
    archive, store = tmp_path / "archive", str(tmp_path / "store")
    archive.mkdir()
    l2a = [p for p in made["l2a"] if "SENTINEL2" in p.name][:4]
    snow = {acquisition(p): p for p in made["muscate"]}
    for p in l2a:
        shutil.copy2(p, archive / p.name)
    names = {Path(h).name for h in pending(str(archive), store, TILE, SETTINGS)}
    assert names == {p.name for p in l2a}  # no snow product: every L2A product is pending
    first, second, third = (snow[acquisition(p)] for p in l2a[:3])
    shutil.copy2(first, archive / first.name)
    ingest(store, str(second), SETTINGS)  # folded, though not from the archive
    bad = archive / third.name
    bad.write_bytes(b"not a zip")  # its snow product, rejected and quarantined
    assert ingest(store, str(bad), SETTINGS).outcome.startswith("rejected")
    names = {Path(h).name for h in pending(str(archive), store, TILE, SETTINGS)}
    assert names == {first.name, l2a[2].name, l2a[3].name}
    older = archive / first.name.replace("_V1-7", "_V1-6")
    shutil.copy2(first, older)
    ingest(store, str(first), SETTINGS)
    names = {Path(h).name for h in pending(str(archive), store, TILE, SETTINGS)}
    assert names == {l2a[2].name, l2a[3].name}  # the folded V1-7 outranks V1-6 and its L2A product
