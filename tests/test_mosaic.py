"""Regional mosaics of two generated tiles on either side of a UTM zone boundary, built from their
published COGs and checked pixel by pixel against the tile maps read with GDAL at the same places;
rebuilt block by block after a tile update; their STAC items; the mosaic flow on a real Prefect server
and Dask cluster."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
import rasterio
from prefect.settings import get_current_settings
from rasterio.io import MemoryFile
from rasterio.warp import transform_geom
from shapely.geometry import Point, shape

from flows.mosaic import mosaic as mosaic_flow
from infra.postgres import LocalPostgres
from snowdays.colours import DATES
from snowdays.errors import BadInput, StorageError, UsageError
from snowdays.mosaic import MosaicReport
from snowdays.regions import load_region
from snowdays.settings import Settings, get_settings
from stac.catalog import open_catalog
from stac.mosaics import build, publish_mosaic
from stac.validate import validate
from tests.cogs import assert_cog, assert_colour_table, half_overview, plain_overview, viewer_stops
from tests.conftest import RunCli, S3Server, _free_port, starts
from tests.mosaicdata import (
    LABEL,
    NODATA,
    Tiles,
    command_folder,
    expected,
    make_tiles,
    published_maps,
    region_file,
    update_tile,
)
from tests.stacdata import database

ORDER = ["T31TGL", "T32TLR"]
MARCH = date(2018, 3, 31)
FILES = {"scd": "scd.tif", "sod": "sod.tif", "smod": "smod.tif", "scd_display": "scd-display.tif"}


def offline(**changes: object) -> Settings:
    """Small blocks; a STAC database on a closed port (most tests need none)."""
    values: dict[str, object] = {"mosaic_block": 32, **changes}
    return get_settings(stac_database_url=f"postgresql://postgres@127.0.0.1:{_free_port()}/none",
                        stac_connect_timeout=1, **values)


@pytest.fixture(scope="module")
@starts("slow")  # two tiles folded to January
def tiles(tmp_path_factory: pytest.TempPathFactory) -> Tiles:
    return make_tiles(tmp_path_factory.mktemp("boundary"), offline())


@pytest.fixture(scope="module")
def built(tiles: Tiles) -> MosaicReport:
    return build(load_region(str(region_file(tiles.catalog.parent))), LABEL, offline(),
                 str(tiles.catalog))


def read(path: Path | str) -> np.ndarray:
    with rasterio.open(path) as ds:
        return np.asarray(ds.read(1))


def assert_equals_tiles(folder: Path, catalog: Path) -> np.ndarray:
    """The mosaic's maps in ``folder`` against the naive reference; returns its sources."""
    want = expected(folder / "scd.tif", catalog, ORDER)
    for band, key in enumerate(("scd", "sod", "smod")):
        np.testing.assert_array_equal(read(folder / FILES[key]), want.maps[band], err_msg=key)
    scd = want.maps[0]
    display = np.where((scd >= 60) & (scd != NODATA), scd, NODATA)
    np.testing.assert_array_equal(read(folder / "scd-display.tif"), display)
    return want.source


def test_mosaic_equals_the_tile_maps_across_the_zone_boundary(built: MosaicReport, tiles: Tiles) -> None:
    folder = Path(built.plan.folder)
    assert folder == tiles.catalog.resolve() / "mosaics" / "boundary" / LABEL
    assert set(built.written) == set(FILES) and sorted(built.rebuilt) == sorted(built.plan.blocks)
    source = assert_equals_tiles(folder, tiles.catalog)
    want = expected(folder / "scd.tif", tiles.catalog, ORDER)
    both = want.inside.all(axis=0)
    assert both.sum() > 100, "the parts overlap"
    assert set(np.unique(source[both])) == {0, 1}, "each tile wins somewhere in the overlap"
    assert (source == 0).sum() > 1000 and (source == 1).sum() > 1000
    assert (source == -1).any(), "the corners of the mosaic are no data"
    assert 60 < np.mean(want.maps[0][source >= 0]) < 200, "a plausible snow season"


def test_cogs_are_as_the_viewer_reads_them(built: MosaicReport, tiles: Tiles) -> None:
    for key, name in FILES.items():
        assert_cog(Path(built.plan.folder) / name)
        with rasterio.open(Path(built.plan.folder) / name) as ds:
            assert ds.dtypes == ("uint16",) and ds.crs.to_epsg() == 3035 and ds.res == (20.0, 20.0)
            assert ds.nodata == NODATA and ds.block_shapes == [(512, 512)]
            assert ds.transform.c % 20 == 0 and ds.transform.f % 20 == 0
            assert ds.descriptions == (key,)
    fine = build(load_region(str(region_file(tiles.catalog.parent, "boundary-2m"))), LABEL,
                 offline(mosaic_pixel=2.0, mosaic_block=256), str(tiles.catalog))
    assert fine.plan.grid.width > 600
    for key, name in FILES.items():
        path = Path(fine.plan.folder) / name
        assert_cog(path)
        with rasterio.open(path) as ds:
            assert ds.overviews(1), "internal overviews"
            full, half = ds.read(1), ds.read(1, out_shape=(ds.height // 2, ds.width // 2))
        # coloured as the viewer colours SCD (its scale read from web/src/colours.js), dates on theirs
        stops = viewer_stops() if key.startswith("scd") else list(DATES)
        assert_colour_table(path, stops, [*np.unique(full).tolist(), 400])
        if key.startswith("scd"):  # days averaged as without a colour table (GDAL averages colours)
            with rasterio.open(path) as ds:
                factors = ds.overviews(1)
            np.testing.assert_array_equal(half_overview(path), plain_overview(full, NODATA, factors))
        else:
            assert set(np.unique(half)) <= set(np.unique(full)), "dates are picked, not averaged"


def test_stac_item_and_catalog(built: MosaicReport, tiles: Tiles) -> None:
    report = publish_mosaic(built, offline(), str(tiles.catalog))
    assert report.api_error and "cannot be reached" in report.api_error
    item = json.loads(Path(report.item_href).read_text())
    validate(item)
    assert item["id"] == "scd-mosaic-boundary-2017-2018"
    assert item["collection"] == "snow-cover-duration-mosaics"
    props = item["properties"]
    assert props["snowdays:region"] == "boundary" and props["snowdays:season"] == LABEL
    assert props["proj:code"] == "EPSG:3035" and props["snowdays:tiles"] == ORDER
    assert props["snowdays:display_min_days"] == 60
    assert set(item["assets"]) == set(FILES)
    for key, asset in item["assets"].items():
        path = (Path(report.item_href).parent / asset["href"]).resolve()
        assert path == Path(built.plan.folder) / FILES[key]
        with rasterio.open(path) as ds:
            assert asset["proj:shape"] == list(ds.shape)
            assert asset["raster:bands"][0]["nodata"] == NODATA
    west, south, east, north = item["bbox"]
    assert west < 6.5 < east and south < 45.8 < north
    catalog = open_catalog(str(tiles.catalog), offline())
    assert {c.id for c in catalog.get_children()} == {"snow-cover-duration", "snow-cover-duration-mosaics"}
    collection = catalog.get_child("snow-cover-duration-mosaics")
    assert collection is not None
    validate(collection.to_dict())
    assert [i.id for i in collection.get_items()] == [item["id"]]
    assert len(list(catalog.get_child("snow-cover-duration").get_items())) == 2  # type: ignore[union-attr]


def test_stac_api_gets_the_mosaic(built: MosaicReport, tiles: Tiles, postgres: LocalPostgres) -> None:
    url = database(postgres, "mosaics")
    report = publish_mosaic(built, get_settings(stac_database_url=url), str(tiles.catalog))
    assert report.api_error is None and report.api_items == 1
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, content->'properties'->>'snowdays:region' FROM pgstac.items "
                            "WHERE collection = 'snow-cover-duration-mosaics'").fetchall()
    assert rows == [("scd-mosaic-boundary-2017-2018", "boundary")]


def files(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Block id -> its file's inode, time and digest (a rewritten file is a new inode)."""
    return {p.stem: (p.stat().st_ino, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.glob("*.tif"))}


def test_a_tile_update_rewrites_only_the_blocks_it_touches(tiles: Tiles, tmp_path: Path) -> None:
    shutil.copytree(tiles.catalog.parent, tmp_path / "copy", symlinks=True)
    copy = Tiles(tiles.products, tmp_path / "copy" / "stores", tmp_path / "copy" / "catalog")
    region = load_region(str(region_file(tmp_path)))
    first = build(region, LABEL, offline(), str(copy.catalog))
    blocks = Path(first.plan.folder) / "blocks"
    before = files(blocks)
    assert set(before) == set(first.plan.blocks) and len(before) >= 6

    update_tile(copy, "T31TGL", MARCH, offline())
    again = build(region, LABEL, offline(), str(copy.catalog))
    after = files(blocks)
    rewritten = {b for b in after if after[b][:2] != before[b][:2]}
    assert set(again.rebuilt) == rewritten
    assert any(after[b][2] != before[b][2] for b in rewritten)
    windows = json.loads((Path(again.plan.folder) / "manifest.json").read_text())["blocks"]
    scd = Path(again.plan.folder) / "scd.tif"
    within = expected(scd, copy.catalog, ORDER).inside[0]
    near = expected(scd, copy.catalog, ORDER, margin=1).inside[0]

    def touching(mask: np.ndarray) -> set[str]:
        return {b for b, w in windows.items()
                if mask[w["window"][1]:w["window"][1] + w["window"][3],
                        w["window"][0]:w["window"][0] + w["window"][2]].any()}

    assert touching(within) <= set(again.rebuilt) <= touching(near)
    assert len(again.rebuilt) == 5 and len(before) == 10, "the blocks of T32TLR alone stay as they were"
    assert_equals_tiles(Path(again.plan.folder), copy.catalog)
    assert windows[again.rebuilt[0]]["tiles"]["T31TGL"] > "2018-02"

    third = build(region, LABEL, offline(), str(copy.catalog))
    assert third.rebuilt == [] and third.written == {}
    assert files(blocks) == after


def test_polygon_region(tiles: Tiles, tmp_path: Path) -> None:
    area = {"type": "Polygon", "coordinates": [[[6.49, 45.79], [6.53, 45.79], [6.505, 45.815],
                                                [6.49, 45.79]]]}
    path = tmp_path / "Triangle Zone.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": area}]}))
    region = load_region(str(path))
    assert region.name == "triangle-zone" and region.tiles is None
    report = build(region, LABEL, offline(), str(tiles.catalog))
    assert sorted(report.plan.inputs) == ORDER
    folder = Path(report.plan.folder)
    want = expected(folder / "scd.tif", tiles.catalog, ORDER)
    inside = shape(transform_geom("EPSG:4326", "EPSG:3035", area))
    with rasterio.open(folder / "scd.tif") as ds:
        centres = [[inside.contains(Point(*(ds.transform @ (c + 0.5, r + 0.5))))
                    for c in range(ds.width)] for r in range(ds.height)]
    mask = np.array(centres)
    assert mask.sum() > 100 and (~mask).sum() > 100
    got = read(folder / "scd.tif")
    assert (got[~mask] == NODATA).all()
    np.testing.assert_array_equal(got[mask], want.maps[0][mask])


def test_bad_regions(tiles: Tiles, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("T31TGL\nT31TZZ\n")
    with pytest.raises(BadInput, match=r"bad.txt: tile T31TZZ is not an MGRS 100 km square"):
        load_region(str(bad))
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00T31")
    with pytest.raises(BadInput, match=r"binary\.txt: not a text list of tiles"):
        load_region(str(tmp_path / "binary.txt"))
    with pytest.raises(UsageError, match="neither one of alps, pyrenees nor a file"):
        load_region("himalaya")
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "Feature", "geometry": {"type": "Point", "coordinates": [6, 45]}}')
    with pytest.raises(BadInput, match=r"broken\.geojson: holds Point, not polygons"):
        load_region(str(broken))
    (tmp_path / "elsewhere.txt").write_text("T30TXN")
    with pytest.raises(UsageError, match="no tile of the region elsewhere has maps published"):
        build(load_region(str(tmp_path / "elsewhere.txt")), LABEL, offline(), str(tiles.catalog))
    assert len(load_region("alps").tiles or ()) == 39 and "T32TLR" in (load_region("alps").tiles or ())
    assert "T31TCH" in (load_region("pyrenees").tiles or ())


def test_mosaic_command(tiles: Tiles, tmp_path: Path, snowdays_cli: RunCli) -> None:
    env = command_folder(tiles, tmp_path)
    (tmp_path / "bad.txt").write_text("T31TGL nonsense")
    done = snowdays_cli(["mosaic", "--region", "boundary.txt", "--season", LABEL], env, tmp_path)
    assert done.returncode == 1, done.stderr  # the STAC API is down; the catalog is written
    assert "10 of 10 blocks built (66 x 68 pixels, 2 tiles)" in done.stdout
    assert "scd-display.tif" in done.stdout
    assert re.search(r"mosaic 2017-2018: build block .* 10/10", done.stderr), done.stderr  # the bars
    assert re.search(r"mosaic 2017-2018: assemble .* 4/4", done.stderr), done.stderr
    assert "the static catalog is written, the STAC API is not" in done.stderr
    assert (tmp_path / "catalog" / "mosaics" / "boundary" / LABEL / "manifest.json").is_file()
    bad = snowdays_cli(["mosaic", "--region", "bad.txt", "--season", LABEL], env, tmp_path)
    assert bad.returncode == 3 and "bad.txt: tile TNONSENSE is not an MGRS" in bad.stderr
    season = snowdays_cli(["mosaic", "--region", "alps", "--season", "2017"], env, tmp_path)
    assert season.returncode == 2 and "2017" in season.stderr


def test_mosaic_flow_on_dask(tiles: Tiles, tmp_path: Path, postgres: LocalPostgres, prefect_api: str,
                             monkeypatch: pytest.MonkeyPatch, built: MosaicReport) -> None:
    command_folder(tiles, tmp_path)
    for key, value in {"STAC_CATALOG": str(tmp_path / "catalog"), "MOSAIC_BLOCK": "32",
                       "DASK_WORKERS": "2", "STAC_DATABASE_URL": database(postgres, "mosaicflow"),
                       "STAC_POSTGRES_DATA": ""}.items():
        monkeypatch.setenv(f"SNOWDAYS_{key}", value)
    started = datetime.now(UTC)  # the session's server holds the block tasks of other flows too
    done = mosaic_flow(region=str(tmp_path / "boundary.txt"), season=LABEL)
    assert done["blocks"] == len(built.plan.blocks) and len(done["rebuilt"]) == done["blocks"]  # type: ignore[arg-type]
    folder = tmp_path / "catalog" / "mosaics" / "boundary" / LABEL
    for name in FILES.values():
        np.testing.assert_array_equal(read(folder / name), read(Path(built.plan.folder) / name))
    url = f"{get_current_settings().api.url}/task_runs/filter"
    body = {"task_runs": {"name": {"like_": "build_block x"}, "start_time": {"after_": started.isoformat()}},
            "limit": 200}
    runs = httpx.post(url, json=body, timeout=30).raise_for_status().json()
    assert len(runs) == done["blocks"] and {r["state_name"] for r in runs} == {"Completed"}
    again = mosaic_flow(region=str(tmp_path / "boundary.txt"), season=LABEL)
    assert again["rebuilt"] == []


def test_an_unreadable_tile_map_is_named_and_the_mosaic_kept(built: MosaicReport, tiles: Tiles,
                                                              tmp_path: Path) -> None:
    shutil.copytree(tiles.catalog, tmp_path / "catalog")
    region = load_region(str(region_file(tmp_path)))
    folder = tmp_path / "catalog" / "mosaics" / "boundary" / LABEL
    kept = {name: (folder / name).read_bytes() for name in FILES.values()}
    (folder / "manifest.json").unlink()  # every block is built again
    cut = published_maps(tmp_path / "catalog", "T32TLR")["SOD"]
    cut.write_bytes(cut.read_bytes()[:300])
    with pytest.raises(StorageError, match=rf"tile T32TLR: could not read its published map .*{cut.name}"):
        build(region, LABEL, offline(), str(tmp_path / "catalog"))
    assert {name: (folder / name).read_bytes() for name in FILES.values()} == kept
    item = tmp_path / "catalog" / "snow-cover-duration" / f"scd-t31tgl-{LABEL}" / f"scd-t31tgl-{LABEL}.json"
    data = json.loads(item.read_text())
    del data["assets"]["NOBS"]["file:checksum"]
    item.write_text(json.dumps(data))
    reason = r"not a tile item a mosaic can use \(no 'file:checksum'\)"
    with pytest.raises(BadInput, match=rf"{item.name}: {reason}"):
        build(region, LABEL, offline(), str(tmp_path / "catalog"))


def test_a_tile_added_to_the_region_builds_only_its_blocks(tiles: Tiles, tmp_path: Path) -> None:
    shutil.copytree(tiles.catalog, tmp_path / "catalog", ignore=shutil.ignore_patterns("mosaics"))
    path = tmp_path / "growing.txt"
    path.write_text("T31TGL")
    first = build(load_region(str(path)), LABEL, offline(), str(tmp_path / "catalog"))
    path.write_text("T31TGL T32TLR")
    grown = build(load_region(str(path)), LABEL, offline(), str(tmp_path / "catalog"))
    assert grown.plan.grid != first.plan.grid and set(grown.written) == set(FILES)
    alone = {b.id for b in grown.plan.blocks.values() if b.tiles == ("T31TGL",)}
    assert alone and set(first.plan.blocks) >= alone
    assert set(grown.rebuilt) == set(grown.plan.blocks) - alone, "blocks stay put as the region grows"
    assert any(grown.plan.blocks[b].window != first.plan.blocks[b].window for b in alone)
    assert_equals_tiles(Path(grown.plan.folder), tmp_path / "catalog")


def test_a_catalog_on_s3(built: MosaicReport, tiles: Tiles, s3_server: S3Server, tmp_path: Path) -> None:
    shutil.copytree(tiles.catalog, tmp_path / "catalog", ignore=shutil.ignore_patterns("mosaics"))
    root = s3_server.upload(tmp_path / "catalog", "maps", "catalog")
    settings = offline(s3_endpoint_url=s3_server.endpoint_url)
    report = build(load_region(str(region_file(tmp_path))), LABEL, settings, root)
    assert report.plan.folder == f"{root}/mosaics/boundary/{LABEL}"
    assert sorted(report.rebuilt) == sorted(built.plan.blocks)
    client = s3_server.client()
    for name in FILES.values():
        body = client.get_object(Bucket="maps", Key=f"catalog/mosaics/boundary/{LABEL}/{name}")["Body"]
        with MemoryFile(body.read()) as memory, memory.open() as ds:
            np.testing.assert_array_equal(ds.read(1), read(Path(built.plan.folder) / name), err_msg=name)
    assert build(load_region(str(region_file(tmp_path))), LABEL, settings, root).rebuilt == []
    published = publish_mosaic(report, settings, root)
    item = json.loads(client.get_object(Bucket="maps", Key=published.item_href.removeprefix("s3://maps/"))
                      ["Body"].read())
    assert item["assets"]["scd"]["href"] == f"../../mosaics/boundary/{LABEL}/scd.tif"
