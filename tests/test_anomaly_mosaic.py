"""A region's anomaly: the anomalies of two generated tiles on either side of a UTM zone boundary (each
holding a past season, built in batch), published and mosaicked block by block; equal on every pixel
to the naive reference (each mosaic pixel's centre looked up in the tiles' anomaly COGs, the tile with
the most clear observations as of its day taking it); rebuilt where a tile's anomaly changed; its
STAC item; the command; the mosaic flow refreshing it on a real Prefect server and Dask cluster."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import psycopg
import pytest
import rasterio

from flows.mosaic import mosaic as mosaic_flow
from infra.postgres import LocalPostgres
from snowdays.backfill import build_season
from snowdays.mosaic import MosaicReport
from snowdays.names import parse_name
from snowdays.regions import load_region
from snowdays.sample import make_season
from snowdays.season import parse_season
from snowdays.settings import Settings, get_settings
from stac.anomalies import build_region, publish_anomaly, publish_region
from stac.publish import PublishReport
from stac.validate import validate
from tests.conftest import RunCli, _free_port, starts
from tests.mosaicdata import (
    LABEL,
    TILES,
    Tiles,
    command_folder,
    expected,
    make_tiles,
    published_anomaly,
    region_file,
    update_tile,
)
from tests.stacdata import database

ORDER = ["T31TGL", "T32TLR"]
PAST = "2016-2017"
FILES = {"scd_anomaly": "scd-anomaly.tif", "smod_anomaly": "smod-anomaly.tif", "scd_mean": "scd-mean.tif",
         "seasons": "seasons.tif"}


def offline(**changes: object) -> Settings:
    """Small blocks; a STAC database on a closed port (most tests need none)."""
    values: dict[str, object] = {"mosaic_block": 32, **changes}
    return get_settings(stac_database_url=f"postgresql://postgres@127.0.0.1:{_free_port()}/none",
                        stac_connect_timeout=1, **values)


def with_past(tiles: Tiles, folder: Path, settings: Settings) -> None:
    """Each tile's past season built into its store (its products before 2017-2018's window), then its
    2017-2018 anomaly published."""
    for seed, (tile, (offset, _)) in enumerate(TILES.items(), 21):
        made = make_season(folder / tile, tile, parse_season(PAST), 48, "muscate", True, seed=seed,
                           offset=offset)
        past = [str(p) for p in made if parse_name(p.name).acquired.date() < date(2017, 8, 17)]
        assert build_season(str(tiles.store), tile, PAST, past, settings).products == len(past)
        assert isinstance(publish_anomaly(str(tiles.store), tile, LABEL, settings, str(tiles.catalog)),
                          PublishReport)


@pytest.fixture(scope="module")
@starts("slow")  # two tiles folded to January, and a past season of each
def tiles(tmp_path_factory: pytest.TempPathFactory) -> Tiles:
    base = tmp_path_factory.mktemp("anomaly-boundary")
    made = make_tiles(base / "tiles", offline())
    with_past(made, base / "past", offline())
    return made


@pytest.fixture(scope="module")
def built(tiles: Tiles) -> MosaicReport:
    report = build_region(load_region(str(region_file(tiles.catalog.parent))), LABEL, offline(),
                          str(tiles.catalog))
    assert report is not None
    return report


def read(path: Path | str) -> np.ndarray:
    with rasterio.open(path) as ds:
        return np.asarray(ds.read(1))


def assert_equals_tiles(folder: Path, catalog: Path) -> np.ndarray:
    """The regional anomaly's maps in ``folder`` against the naive reference; returns its sources."""
    want = expected(folder / "scd-anomaly.tif", catalog, ORDER, sources=published_anomaly)
    for band, (key, name) in enumerate(FILES.items()):
        np.testing.assert_array_equal(read(folder / name), want.maps[band], err_msg=key)
    return want.source


def test_the_regional_anomaly_equals_the_tiles_on_every_pixel(built: MosaicReport, tiles: Tiles) -> None:
    folder = Path(built.plan.folder)
    assert folder == tiles.catalog.resolve() / "mosaics" / "boundary" / LABEL / "anomaly"
    assert set(built.written) == set(FILES) and sorted(built.rebuilt) == sorted(built.plan.blocks)
    source = assert_equals_tiles(folder, tiles.catalog)
    assert set(np.unique(source)) == {-1, 0, 1}, "each tile somewhere, no data at the corners"
    anomaly = read(folder / "scd-anomaly.tif")
    assert np.isnan(anomaly[source == -1]).all() and np.isfinite(anomaly[source >= 0]).all()
    assert (anomaly[source >= 0] > 0).any() and (anomaly[source >= 0] < 0).any()
    assert set(np.unique(read(folder / "seasons.tif")[source >= 0])) == {1.0}
    for name in FILES.values():
        with rasterio.open(folder / name) as ds:
            assert ds.dtypes == ("float32",) and np.isnan(ds.nodata) and ds.crs.to_epsg() == 3035
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"


def test_its_item_and_collection(built: MosaicReport, tiles: Tiles) -> None:
    report = publish_region(built, offline(), str(tiles.catalog))
    assert report.api_error and "cannot be reached" in report.api_error
    item = json.loads(Path(report.item_href).read_text())
    validate(item)
    assert (item["id"], item["collection"]) == ("scd-anomaly-mosaic-boundary-2017-2018",
                                                "snow-cover-duration-anomaly-mosaics")
    props = item["properties"]
    tile_items = {t: json.loads(path.read_text()) for t in ORDER
                  for path in tiles.catalog.rglob(f"scd-anomaly-{t.lower()}-{LABEL}.json")}
    assert props["snowdays:tiles"] == ORDER and props["snowdays:tiles_missing"] == []
    assert props["snowdays:tiles_as_of"] == {t: i["properties"]["snowdays:as_of"]
                                             for t, i in tile_items.items()}
    assert props["snowdays:as_of"] == max(props["snowdays:tiles_as_of"].values())
    assert props["snowdays:tiles_past_seasons"] == {t: [PAST] for t in ORDER}
    assert props["snowdays:past_seasons"] == [PAST]
    half = max(i["properties"]["renders"]["scd_anomaly"]["rescale"][0][1] for i in tile_items.values())
    assert props["renders"]["scd_anomaly"]["rescale"] == [[-half, half]]
    assert set(item["assets"]) == set(FILES)
    for key, asset in item["assets"].items():
        path = (Path(report.item_href).parent / asset["href"]).resolve()
        assert path == Path(built.plan.folder) / FILES[key]
        assert asset["raster:bands"][0]["nodata"] == "nan"
    root = tiles.catalog
    validate(json.loads((root / "snow-cover-duration-anomaly-mosaics" / "collection.json").read_text()))
    children = [link["href"] for link in json.loads((root / "catalog.json").read_text())["links"]
                if link["rel"] == "child"]
    assert "./snow-cover-duration-anomaly-mosaics/collection.json" in children


def test_a_tile_anomaly_refreshed_rebuilds_only_its_blocks(tiles: Tiles, built: MosaicReport,
                                                           tmp_path: Path) -> None:
    shutil.copytree(tiles.catalog.parent, tmp_path / "copy", symlinks=True)
    copy = Tiles(tiles.products, tmp_path / "copy" / "stores", tmp_path / "copy" / "catalog")
    region = load_region(str(region_file(tmp_path)))
    first = build_region(region, LABEL, offline(), str(copy.catalog))
    assert first is not None and first.rebuilt == [] and first.plan.blocks == built.plan.blocks
    update_tile(copy, "T31TGL", date(2018, 3, 31), offline())
    assert isinstance(publish_anomaly(str(copy.store), "T31TGL", LABEL, offline(), str(copy.catalog)),
                      PublishReport)
    again = build_region(region, LABEL, offline(), str(copy.catalog))
    assert again is not None
    touched = {b.id for b in again.plan.blocks.values() if "T31TGL" in b.tiles}
    assert set(again.rebuilt) == touched and touched < set(again.plan.blocks)
    assert again.plan.inputs["T31TGL"].as_of > "2018-03"
    assert_equals_tiles(Path(again.plan.folder), copy.catalog)


def test_the_command(tiles: Tiles, tmp_path: Path, snowdays_cli: RunCli) -> None:
    env = command_folder(tiles, tmp_path)
    (tmp_path / "other.txt").write_text("T30TXN\n")
    done = snowdays_cli(["anomaly", "--region", "boundary.txt", "--season", LABEL], env, tmp_path)
    assert done.returncode == 1, done.stderr  # the STAC API is down; the catalog is written
    assert "10 of 10 blocks built (66 x 68 pixels, 2 tiles)" in done.stdout
    assert "scd-anomaly.tif" in done.stdout and "scd-anomaly-mosaic-boundary-2017-2018.json" in done.stdout
    assert "anomaly 2017-2018: build block" in done.stderr
    none = snowdays_cli(["anomaly", "--region", "other.txt", "--season", LABEL], env, tmp_path)
    assert none.returncode == 2
    assert "no tile of the region other has an anomaly published for 2017-2018" in none.stderr


def test_the_mosaic_flow_refreshes_it(tiles: Tiles, built: MosaicReport, tmp_path: Path,
                                      postgres: LocalPostgres, prefect_api: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    command_folder(tiles, tmp_path)
    url = database(postgres, "anomalyflow")
    for key, value in {"STAC_CATALOG": str(tmp_path / "catalog"), "MOSAIC_BLOCK": "32",
                       "DASK_WORKERS": "2", "STAC_DATABASE_URL": url, "STAC_POSTGRES_DATA": ""}.items():
        monkeypatch.setenv(f"SNOWDAYS_{key}", value)
    done = mosaic_flow(region=str(tmp_path / "boundary.txt"), season=LABEL)
    assert str(done["anomaly"]).endswith("scd-anomaly-mosaic-boundary-2017-2018.json")
    assert sorted(str(b) for b in done["anomaly_rebuilt"]) == sorted(built.plan.blocks)  # type: ignore[attr-defined]
    folder = tmp_path / "catalog" / "mosaics" / "boundary" / LABEL / "anomaly"
    for name in FILES.values():
        np.testing.assert_array_equal(read(folder / name), read(Path(built.plan.folder) / name))
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id FROM pgstac.items WHERE collection = "
                            "'snow-cover-duration-anomaly-mosaics'").fetchall()
    assert rows == [("scd-anomaly-mosaic-boundary-2017-2018",)]
    assert mosaic_flow(region=str(tmp_path / "boundary.txt"), season=LABEL)["anomaly_rebuilt"] == []
