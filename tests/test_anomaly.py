"""A season's anomaly as of a day (``snowdays anomaly``) against its tile's past seasons as of the same
day of theirs: three generated seasons built into one store; the climatology (mean, median of SCD and
of SMOD where dated) and the anomaly equal those of the naive reference on every pixel, as of a day
inside the season and once it is over; the COGs read back as computed. Published: its item (checked
against its golden file and the STAC schemas), COGs, collection and catalog, in the STAC API (pgstac)
too, into a catalog on S3, and publishes of two items at once in real processes."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import traceback
from datetime import timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import pytest
import rasterio
from rasterio.io import MemoryFile

from infra.postgres import LocalPostgres
from snowdays.anomaly import Anomaly, NoPast, anomaly, write
from snowdays.backfill import build_season
from snowdays.errors import UsageError
from snowdays.reference import cube_maps, describe, season_cube
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.settings import Settings, get_settings
from stac.anomalies import publish_anomaly
from stac.anomaly_items import layers
from stac.catalog import open_catalog
from stac.publish import PublishReport
from stac.validate import validate
from tests.conftest import RunCli, S3Server, _free_port
from tests.seasondata import Cube, cut
from tests.stacdata import database
from tests.test_stac import GOLDEN, normalised

TILE = "T31TCH"
LABELS = ("2016-2017", "2017-2018", "2018-2019")
SETTINGS = get_settings()
DAY = 140
F = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def seasons(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Cube]]:
    """The store, and each season's truth read from the products of its window. Each season is
    generated from its first day to 16 days before its last (the last season: to the end of its
    window), so that no two generate one product: a season's window then holds the next one's first
    products, as a store's seasons do."""
    base = tmp_path_factory.mktemp("anomaly")
    folder = base / "products"
    for seed, label in enumerate(LABELS, 11):
        season = parse_season(label)
        last = season.stop + timedelta(days=season.margin if label == LABELS[-1] else -16)
        for product in make_season(base / label, TILE, season, 24, "muscate", True, seed=seed):
            if season.start <= describe(product)[2].date() <= last:
                folder.mkdir(exist_ok=True)
                product.rename(folder / product.name)
    hrefs = sorted(str(p) for p in folder.iterdir())
    truths = {}
    for label in LABELS:
        build_season(str(base / "store"), TILE, label, hrefs, SETTINGS)
        season = parse_season(label)
        truths[label] = season_cube(folder, season.start, season.stop, season.margin)
    return str(base / "store"), truths


def naive(truths: dict[str, Cube], label: str, day: int | None) -> dict[str, F]:
    """The climatology and anomaly by hand: numpy over each past season's reference maps."""
    maps = {k: cube_maps(*(t if day is None else cut(t, day))) for k, t in truths.items()}
    past = [k for k in truths if k < label]
    scd = np.stack([maps[k]["SCD"] for k in past]).astype(np.float64)
    smod = np.stack([np.where(maps[k]["SCD"] > 10, maps[k]["SMOD"], np.nan) for k in past])
    this = maps[label]
    counted = np.isfinite(smod).sum(axis=0)
    def per_pixel(stat: Any) -> F:
        return np.array([[stat(smod[:, i, j][np.isfinite(smod[:, i, j])]) if counted[i, j] else np.nan
                          for j in range(smod.shape[2])] for i in range(smod.shape[1])])

    smod_mean = per_pixel(np.mean)
    return {"SCD-MEAN": scd.mean(axis=0), "SCD-MEDIAN": np.median(scd, axis=0),
            "SCD-ANOMALY": this["SCD"] - scd.mean(axis=0), "SMOD-MEAN": smod_mean,
            "SMOD-MEDIAN": per_pixel(np.median),
            "SMOD-ANOMALY": np.where(this["SCD"] > 10, this["SMOD"] - smod_mean, np.nan),
            "SMOD-SEASONS": counted.astype(np.float64), "SEASONS": np.full(scd.shape[1:], len(past), float)}


def assert_equal(got: Anomaly, expected: dict[str, F]) -> None:
    layers = dict(got.items())
    for name, values in expected.items():
        np.testing.assert_allclose(layers[name], values, rtol=1e-6, atol=1e-4, err_msg=name)
    assert np.isfinite(layers["SCD-ANOMALY"]).all() and np.abs(layers["SCD-ANOMALY"]).max() > 0


@pytest.mark.parametrize("label", LABELS[1:])
def test_as_of_a_day_against_the_same_day_of_the_past_seasons(seasons: tuple[str, dict[str, Cube]],
                                                              label: str) -> None:
    store, truths = seasons
    as_of = parse_season(label).start + timedelta(days=DAY)
    got = anomaly(store, TILE, label, SETTINGS, as_of)
    assert (got.day, got.as_of, got.past) == (DAY, as_of, [k for k in LABELS if k < label])
    assert_equal(got, naive(truths, label, DAY))


def test_a_season_over_against_the_past_annual_maps(seasons: tuple[str, dict[str, Cube]], tmp_path: Path,
                                                    ) -> None:
    store, truths = seasons
    got = anomaly(store, TILE, LABELS[2], SETTINGS)
    expected = naive(truths, LABELS[2], None)
    assert_equal(got, expected)
    written = {p.name.split("_")[1].split("-SNOW-")[1]: p for p in write(got, tmp_path, SETTINGS)}
    assert set(written) == {k for k, _ in got.items()}
    for name, values in expected.items():
        with rasterio.open(written[name]) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            read = ds.read(1).astype(np.float64)
            np.testing.assert_allclose(read, values, rtol=1e-6, atol=1e-4, err_msg=name)
            if ds.dtypes[0] == "float32":
                assert np.isnan(ds.nodata)


def test_the_first_season_has_no_past(seasons: tuple[str, dict[str, Cube]]) -> None:
    with pytest.raises(UsageError, match="holds no season before 2016-2017"):
        anomaly(seasons[0], TILE, LABELS[0], SETTINGS)


def test_the_command_writes_the_cogs(seasons: tuple[str, dict[str, Cube]], snowdays_cli: RunCli,
                                     tmp_path: Path) -> None:
    store, _ = seasons
    done = snowdays_cli(["anomaly", "--store", store, "--tile", TILE, "--season", LABELS[1], "--as-of",
                         "2018-01-19", "--out", str(tmp_path)], {}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "as of 2018-01-19 (day 140) against 2016-2017" in done.stdout
    assert len(list(tmp_path.glob("LIS_*-SNOW-SCD-ANOMALY_T31TCH_20170901_20180119_*.tif"))) == 1


def offline() -> Settings:
    """Settings whose STAC database is a closed port on 127.0.0.1 (the API is not reached)."""
    return get_settings(stac_database_url=f"postgresql://postgres@127.0.0.1:{_free_port()}/none",
                        stac_connect_timeout=1)


def item_json(report: PublishReport) -> dict[str, Any]:
    return dict(json.loads(Path(report.item_href).read_text()))


def test_the_published_item_its_cogs_and_collection(seasons: tuple[str, dict[str, Cube]],
                                                    tmp_path: Path) -> None:
    store, _ = seasons
    as_of = parse_season(LABELS[2]).start + timedelta(days=DAY)
    report = publish_anomaly(store, TILE.lower(), LABELS[2], offline(), str(tmp_path), as_of)
    assert isinstance(report, PublishReport) and report.api_error and "cannot be reached" in report.api_error
    item = item_json(report)
    golden = GOLDEN / f"{item['id']}.json"
    if os.environ.get("SNOWDAYS_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(normalised(item), indent=1, sort_keys=True) + "\n")
    assert normalised(item) == json.loads(golden.read_text())
    assert validate(item)[1:] == item["stac_extensions"]
    assert item["id"] == "scd-anomaly-t31tch-2018-2019"
    assert item["collection"] == "snow-cover-duration-anomalies"
    props = item["properties"]
    assert props["snowdays:past_seasons"] == list(LABELS[:2]) and props["snowdays:as_of"] == str(as_of)
    assert (props["snowdays:day"], props["snowdays:status"]) == (DAY, "provisional")
    expected = dict(layers(anomaly(store, TILE, LABELS[2], SETTINGS, as_of)))
    assert set(item["assets"]) == set(expected)
    for key, asset in item["assets"].items():
        path = Path(report.item_href).parent / asset["href"]
        assert asset["file:checksum"] == "1220" + hashlib.sha256(path.read_bytes()).hexdigest()
        band = asset["raster:bands"][0]
        with rasterio.open(path) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and ds.dtypes[0] == band["data_type"]
            np.testing.assert_array_equal(ds.read(1), expected[key], err_msg=key)
            assert (str(ds.nodata) if ds.nodata is not None else None) == band.get("nodata")
            assert asset["proj:shape"] == list(ds.shape) and asset["proj:code"] == ds.crs.to_string()
        defined = expected[key][np.isfinite(expected[key])]
        assert band["statistics"]["maximum"] == pytest.approx(float(defined.max()), abs=1e-3)
    scd = expected["SCD-ANOMALY"]
    half = props["renders"]["scd_anomaly"]["rescale"][0][1]
    assert props["renders"]["scd_anomaly"]["rescale"] == [[-half, half]] and half % 10 == 0
    assert half - 10 < np.abs(scd).max() <= half
    root = Path(report.catalog_href).parent
    collection = json.loads((root / "snow-cover-duration-anomalies" / "collection.json").read_text())
    validate(collection)
    catalog = json.loads(Path(report.catalog_href).read_text())
    validate(catalog)
    assert [link["href"] for link in catalog["links"] if link["rel"] == "child"] == [
        "./snow-cover-duration-anomalies/collection.json"]
    assert [link["href"] for link in collection["links"] if link["rel"] == "item"] == [
        "./scd-anomaly-t31tch-2018-2019/scd-anomaly-t31tch-2018-2019.json"]


def test_a_season_without_past_publishes_nothing(seasons: tuple[str, dict[str, Cube]], tmp_path: Path,
                                                 ) -> None:
    assert publish_anomaly(seasons[0], TILE, LABELS[0], offline(), str(tmp_path / "cat")) == NoPast(TILE, 364)
    assert not (tmp_path / "cat").exists()


def test_the_stac_api_gets_it_and_a_refresh_replaces_it(seasons: tuple[str, dict[str, Cube]],
                                                         tmp_path: Path, postgres: LocalPostgres) -> None:
    store, _ = seasons
    settings = get_settings(stac_database_url=database(postgres, "anomalies"))
    start = parse_season(LABELS[1]).start
    first = publish_anomaly(store, TILE, LABELS[1], settings, str(tmp_path), start + timedelta(days=100))
    again = publish_anomaly(store, TILE, LABELS[1], settings, str(tmp_path), start + timedelta(days=DAY))
    assert isinstance(first, PublishReport) and isinstance(again, PublishReport)
    assert (first.api_error, again.api_error, again.api_items) == (None, None, 1)
    assert len(again.removed) == len(item_json(again)["assets"])  # the COGs as of the earlier day
    with psycopg.connect(settings.stac_database_url) as conn:
        rows = conn.execute("SELECT id, content->'properties'->>'snowdays:as_of' FROM pgstac.items "
                            "WHERE collection = 'snow-cover-duration-anomalies'").fetchall()
    assert rows == [("scd-anomaly-t31tch-2017-2018", str(start + timedelta(days=DAY)))]
    folder = Path(again.item_href).parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [Path(a["href"]).name for a in item_json(again)["assets"].values()] + [folder.name + ".json"])


def publish_at_once(store: str, label: str, root: str, url: str, start: Barrier, errors: Any) -> None:
    """A publisher process: the anomaly of ``label`` as of each of three days, each round at the same
    moment as the other's."""
    try:
        settings = get_settings(stac_database_url=url)
        for day in (60, 90, DAY):
            start.wait(300)
            as_of = parse_season(label).start + timedelta(days=day)
            report = publish_anomaly(store, TILE, label, settings, root, as_of)
            assert isinstance(report, PublishReport) and report.api_error is None, report
    except Exception:  # noqa: BLE001 - the parent reports it, with its traceback
        errors.put(traceback.format_exc())
        start.abort()


def test_publishes_at_once_lose_nothing(seasons: tuple[str, dict[str, Cube]], tmp_path: Path,
                                        postgres: LocalPostgres) -> None:
    """Two processes publish the anomalies of two seasons into one catalog and database, three
    times, at the same moments: both items are linked and loaded, each as of its last day."""
    store, _ = seasons
    url = database(postgres, "anomalies_at_once")
    context = multiprocessing.get_context("spawn")
    start, errors = context.Barrier(2), context.Queue()
    workers = [context.Process(target=publish_at_once, args=(store, label, str(tmp_path), url, start, errors))
               for label in LABELS[1:]]
    for w in workers:
        w.start()
    for w in workers:
        w.join(600)
    assert errors.empty(), errors.get()
    assert [w.exitcode for w in workers] == [0, 0]
    ids = [f"scd-anomaly-t31tch-{label}" for label in LABELS[1:]]
    collection = json.loads((tmp_path / "snow-cover-duration-anomalies" / "collection.json").read_text())
    assert sorted(link["href"].split("/")[1] for link in collection["links"] if link["rel"] == "item") == ids
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, content->'properties'->>'snowdays:day' FROM pgstac.items "
                            "ORDER BY id").fetchall()
    assert rows == [(i, str(DAY)) for i in ids]


def test_the_command_publishes(seasons: tuple[str, dict[str, Cube]], snowdays_cli: RunCli,
                               tmp_path: Path) -> None:
    store, _ = seasons
    env = {"SNOWDAYS_STAC_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{_free_port()}/none",
           "SNOWDAYS_STAC_CONNECT_TIMEOUT": "1"}
    args = ["anomaly", "--store", store, "--tile", TILE, "--season", LABELS[1]]
    done = snowdays_cli([*args, "--publish", "--catalog", str(tmp_path / "cat")], env, tmp_path)
    assert done.returncode == 1, done.stderr  # the STAC API is down; the catalog is written
    assert "the static catalog is written, the STAC API is not" in done.stderr
    item = tmp_path / "cat" / "snow-cover-duration-anomalies" / "scd-anomaly-t31tch-2017-2018" / \
        "scd-anomaly-t31tch-2017-2018.json"
    assert f"{item}" in done.stdout
    assert json.loads(item.read_text())["properties"]["snowdays:past_seasons"] == [LABELS[0]]
    neither = snowdays_cli(args, env, tmp_path)
    assert neither.returncode == 2 and "give --out DIR (the COGs), --publish" in neither.stderr
    both = snowdays_cli([*args, "--region", "alps"], env, tmp_path)
    assert both.returncode == 2 and "--region mosaics the tiles' published anomalies" in both.stderr


def test_published_into_a_catalog_on_s3(seasons: tuple[str, dict[str, Cube]], s3_server: S3Server) -> None:
    store, _ = seasons
    s3_server.client().create_bucket(Bucket="anomalies")
    settings = offline().model_copy(update={"s3_endpoint_url": s3_server.endpoint_url})
    report = publish_anomaly(store, TILE, LABELS[1], settings, "s3://anomalies/catalog")
    assert isinstance(report, PublishReport)
    assert report.item_href == ("s3://anomalies/catalog/snow-cover-duration-anomalies/"
                                "scd-anomaly-t31tch-2017-2018/scd-anomaly-t31tch-2017-2018.json")
    [item] = list(open_catalog("s3://anomalies/catalog", settings).get_items(recursive=True))
    validate(item.to_dict(transform_hrefs=False))
    href = item.assets["SCD-ANOMALY"].get_absolute_href() or ""
    body = s3_server.client().get_object(Bucket="anomalies", Key=href.removeprefix("s3://anomalies/"))["Body"]
    with MemoryFile(body.read()) as memory, memory.open() as ds:
        np.testing.assert_array_equal(ds.read(1), anomaly(store, TILE, LABELS[1], SETTINGS).scd_anomaly)
