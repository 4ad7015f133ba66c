"""STAC items, collection and static catalog of published seasons, checked offline.

Golden items: ``tests/golden/*.json``; ``SNOWDAYS_UPDATE_GOLDEN=1 pytest tests/test_stac.py`` rewrites
them from the current code (then review the diff).
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import os
import re
import shutil
import socket
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
from PIL import Image
from pystac.validation.local_validator import get_local_schema_cache
from rasterio.crs import CRS

from snowdays.colours import SCALES
from snowdays.errors import UsageError
from snowdays.export import season_layers, season_maps
from snowdays.settings import Settings, get_settings
from stac.catalog import open_catalog
from stac.histogram import BIN, counts
from stac.items import COLLECTION
from stac.publish import PublishReport, publish
from stac.quicklook import LARGEST, TEXT, TICKS, bar_box
from stac.sample import synthetic_item
from stac.validate import CORE, SCHEMAS, InvalidStac, registry, validate, vendored
from tests.cogs import assert_cog, assert_colour_table, on_scale, viewer_stops
from tests.conftest import S3Server, _free_port, starts
from tests.stacdata import store_until

GOLDEN = Path(__file__).with_name("golden")
LABEL = "2017-2018"
UNTIL = date(2018, 1, 31)
IN_SEASON = date(2018, 2, 1)
"""A day inside the season's window: the maps are provisional."""


def offline() -> Settings:
    """Settings whose STAC database is a closed port on 127.0.0.1 (these tests need none)."""
    return get_settings(stac_database_url=f"postgresql://postgres@127.0.0.1:{_free_port()}/none",
                        stac_connect_timeout=2)


@pytest.fixture(scope="module")
@starts("slow")  # a season folded to January
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """T31TCH 2017-2018 folded up to the end of January 2018."""
    base = tmp_path_factory.mktemp("stac-store")
    assert store_until(base / "store", "T31TCH", LABEL, 5, UNTIL, offline()) > 20
    return base / "store"


@pytest.fixture(scope="module")
def published(store: Path, tmp_path_factory: pytest.TempPathFactory) -> PublishReport:
    catalog = tmp_path_factory.mktemp("catalog")
    return publish(str(store), "T31TCH", LABEL, offline(), str(catalog), today=IN_SEASON)


def normalised(item: dict[str, Any]) -> dict[str, Any]:
    """An item without what changes at every run or with the GeoTIFF library (time, bytes)."""
    out = copy.deepcopy(item)
    out["properties"]["updated"] = "<updated>"
    for asset in out["assets"].values():
        asset["file:size"], asset["file:checksum"] = "<size>", "<checksum>"
    return out


def test_item_matches_golden_and_validates(published: PublishReport) -> None:
    item = json.loads(Path(published.item_href).read_text())
    golden = GOLDEN / f"{item['id']}.json"
    if os.environ.get("SNOWDAYS_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(normalised(item), indent=1, sort_keys=True) + "\n")
    assert golden.is_file(), f"no golden item {golden}: run with SNOWDAYS_UPDATE_GOLDEN=1"
    assert normalised(item) == json.loads(golden.read_text())
    assert validate(item)[1:] == item["stac_extensions"]
    assert item["id"] == "scd-t31tch-2017-2018"
    props = item["properties"]
    assert props["snowdays:status"] == "provisional"
    assert props["snowdays:as_of"] <= UNTIL.isoformat()
    assert props["start_datetime"] == "2017-09-01T00:00:00Z"
    assert props["grid:code"] == "MGRS-31TCH"


def test_collection_and_catalog_validate(published: PublishReport) -> None:
    root = Path(published.catalog_href)
    collection = json.loads((root.parent / COLLECTION / "collection.json").read_text())
    validate(collection)
    validate(json.loads(root.read_text()))
    assert set(collection["item_assets"]) == {"SCD", "SOD", "SMOD", "NOBS", "NSP", "QCOD", "QCMD", "QC",
                                              "quicklook", "histogram", "products"}
    assert collection["summaries"]["grid:code"] == ["MGRS-31TCH"]
    assert collection["renders"]["scd"]["colormap_name"] == "blues"


def test_assets_describe_their_files(published: PublishReport, store: Path) -> None:
    item = pystac.Item.from_file(published.item_href)
    result, layers = season_layers(str(store), "T31TCH", LABEL, offline())
    maps = dict(result.maps.items() + layers.items())
    assert set(item.assets) == {*maps, "quicklook", "histogram", "products"}
    for key, asset in item.assets.items():
        path = Path(asset.get_absolute_href() or "")
        data = path.read_bytes()
        assert asset.extra_fields["file:size"] == len(data)
        assert asset.extra_fields["file:checksum"] == "1220" + hashlib.sha256(data).hexdigest()
        if key not in maps:
            continue
        assert asset.media_type == pystac.MediaType.COG
        assert asset.roles == (["quality"] if key in ("NSP", "QCOD", "QCMD", "QC") else ["data"])
        band = asset.extra_fields["raster:bands"][0]
        assert_cog(path)
        assert_colour_table(path, viewer_stops() if key == "SCD" else list(SCALES[key]), maps[key])
        with rasterio.open(path) as ds:
            assert ds.nodata == band.get("nodata") == (65535 if key in ("QCOD", "QCMD") else None)
            assert asset.extra_fields["proj:shape"] == list(ds.shape)
            assert asset.extra_fields["proj:transform"] == list(ds.transform)
            assert asset.extra_fields["proj:code"] == ds.crs.to_string()
            assert asset.extra_fields["raster:bands"][0]["data_type"] == ds.dtypes[0] == "uint16"
            assert np.array_equal(ds.read(1), maps[key])
        defined = maps[key][maps[key] != 65535] if key in ("QCOD", "QCMD") else maps[key]
        assert band["statistics"]["maximum"] == int(defined.max())
    products = json.loads(Path(item.assets["products"].get_absolute_href() or "").read_text())
    assert len(products["products"]) == item.properties["snowdays:products"]


def test_quicklook_has_map_and_legend(published: PublishReport, store: Path) -> None:
    """The map and its legend read back from the PNG: the map's pixels and the colour bar on the
    viewer's scale (read from ``web/src/colours.js``), a tick mark and a label under each tick."""
    item = pystac.Item.from_file(published.item_href)
    assert item.assets["quicklook"].roles == ["overview"]
    with Image.open(item.assets["quicklook"].get_absolute_href() or "") as image:
        pixels = np.asarray(image.convert("RGBA")).astype(int)
    maps = season_maps(str(store), "T31TCH", LABEL, offline()).maps
    height, width = maps.scd.shape
    assert max(height, width) <= LARGEST  # drawn pixel for pixel
    stops = viewer_stops()
    seen = maps.nobs > 0
    assert np.array_equal(pixels[:height, :width, 3] == 0, ~seen)
    for value in np.unique(maps.scd[seen]).tolist():
        drawn = pixels[:height, :width, :3][(maps.scd == value) & seen]
        assert np.abs(drawn - on_scale(stops, value)).max() <= 0.5 + 1e-9, value
    left, top, right, bottom = bar_box(pixels.shape[1], height)
    assert bottom + 2 * TEXT < pixels.shape[0]
    bar = pixels[top:bottom, left:right, :3]
    assert (bar == bar[0]).all(), "each column of the bar is one colour"
    days = np.linspace(stops[0][0], stops[-1][0], right - left)
    assert np.abs(bar[0] - np.array([on_scale(stops, d) for d in days])).max() <= 0.5 + 1e-9
    assert (pixels[top:bottom, :left, :3] == 255).all() and (pixels[top:bottom, right:, :3] == 255).all()
    ink = pixels[bottom:, :, :3].max(axis=2) < 100
    for day in TICKS:
        x = left + round(day / stops[-1][0] * (right - left - 1))
        assert ink[:3, x].all(), f"no tick mark under {day}"
        label = ink[3:3 + TEXT + 1, max(x - 12, 0):x + 13]
        assert label.sum() > 5, f"no label under {day}"
    assert ink[TEXT + 5:].sum() > 100, "no unit under the labels"


def test_final_once_the_window_is_over(store: Path, tmp_path: Path) -> None:
    report = publish(str(store), "t31tch", LABEL, offline(), str(tmp_path), today=date(2018, 9, 16))
    props = report.item.properties
    assert props["snowdays:status"] == "final"
    assert props["datetime"] == f"{props['snowdays:as_of']}T00:00:00Z"
    assert all("_20170901_20180831_" in a.href for k, a in report.item.assets.items() if k == "SCD")
    assert report.api_error is not None and "cannot be reached" in report.api_error
    validate(report.item.to_dict())


def test_catalog_updated_in_place(store: Path, tmp_path: Path) -> None:
    settings = offline()
    other = tmp_path / "other"
    assert store_until(other / "store", "T32TLR", "2018-2019", 8, date(2018, 12, 31), settings) > 5
    publish(str(store), "T31TCH", LABEL, settings, str(tmp_path / "cat"), today=IN_SEASON)
    publish(str(other / "store"), "T32TLR", "2018-2019", settings, str(tmp_path / "cat"))
    publish(str(store), "T31TCH", LABEL, settings, str(tmp_path / "cat"), today=IN_SEASON)
    catalog = pystac.Catalog.from_file(str(tmp_path / "cat" / "catalog.json"))
    collection = catalog.get_child(COLLECTION)
    assert isinstance(collection, pystac.Collection)
    items = sorted(i.id for i in collection.get_items())
    assert items == ["scd-t31tch-2017-2018", "scd-t32tlr-2018-2019"]
    interval = collection.extent.temporal.intervals[0]
    assert interval[0] is not None and interval[0].year == 2017
    assert interval[1] is not None and interval[1].year == 2019
    assert collection.summaries.to_dict()["grid:code"] == ["MGRS-31TCH", "MGRS-32TLR"]
    for item in collection.get_items():
        validate(item.to_dict(transform_hrefs=False))


def test_unknown_tile_or_season_writes_nothing(store: Path, tmp_path: Path) -> None:
    for tile, label, words in [("T32TLR", LABEL, "no store for tile T32TLR"),
                               ("T31TCH", "2019-2020", "no season 2019-2020"),
                               ("T31TCH", "2019", "2019")]:
        with pytest.raises(UsageError, match=words):
            publish(str(store), tile, label, offline(), str(tmp_path / "cat"))
    assert not (tmp_path / "cat").exists()


def test_validation_is_real(published: PublishReport) -> None:
    item = json.loads(Path(published.item_href).read_text())
    broken = copy.deepcopy(item)
    broken["assets"]["SCD"]["proj:shape"] = [24]
    with pytest.raises(InvalidStac, match=r"projection.*proj:shape"):
        validate(broken)
    broken = copy.deepcopy(item)
    broken["assets"]["SCD"]["file:checksum"] = "not hex"
    with pytest.raises(InvalidStac, match="file"):
        validate(broken)
    broken = copy.deepcopy(item)  # the core schema and GeoJSON's, pystac's copies
    broken["geometry"] = {"type": "Polygon", "coordinates": [[6.5, 45.8]]}  # (best_match: "no bbox then")
    with pytest.raises(InvalidStac, match=re.escape("item-spec/json-schema/item.json at")):
        validate(broken)
    broken = copy.deepcopy(item)
    del broken["properties"]["datetime"]
    with pytest.raises(InvalidStac, match=re.escape("item.json at properties")):
        validate(broken)
    unknown = copy.deepcopy(item)
    unknown["stac_extensions"].append("https://stac-extensions.github.io/eo/v1.1.0/schema.json")
    with pytest.raises(InvalidStac, match=re.escape("eo/v1.1.0/schema.json, whose schema is neither")):
        validate(unknown)


def test_the_schemas_pystac_ships_are_not_vendored_again() -> None:
    shipped = get_local_schema_cache()
    assert {CORE.format(kind, kind) for kind in ("item", "collection", "catalog")} <= set(shipped)
    assert "https://geojson.org/schema/Geometry.json" in shipped
    assert vendored(), "the extensions' schemas are vendored"
    assert not set(vendored()) & set(shipped)


def test_a_missing_schema_is_an_error_not_a_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PROJJSON's schema, which the projection extension refers to, validation fails naming it,
    and nothing is asked of the network."""
    item = synthetic_item("T31TCH", LABEL, 3, offline()).to_dict()
    del item["collection"]  # its link is made when it is published
    item["stac_extensions"] = ["https://stac-extensions.github.io/projection/v2.0.0/schema.json"]
    item["properties"] |= {"proj:code": None, "proj:projjson": CRS.from_epsg(32631).to_dict(projjson=True)}
    assert validate(item)[1:] == item["stac_extensions"]
    projjson = "proj.org/schemas/v0.7/projjson.schema.json"
    shutil.copytree(SCHEMAS, tmp_path / "schemas", ignore=shutil.ignore_patterns("projjson.schema.json"))
    asked: list[object] = []

    def no_network(*args: object, **_: object) -> None:
        asked.append(args)
        raise OSError("no network in this test")

    for name in ("create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    # the module (``stac.validate`` is also the function the package exports)
    monkeypatch.setattr(importlib.import_module("stac.validate"), "SCHEMAS", tmp_path / "schemas")
    registry.cache_clear()
    try:
        with pytest.raises(InvalidStac, match=f"refers to https://{re.escape(projjson)}, a schema neither"):
            validate(item)
    finally:
        monkeypatch.undo()
        registry.cache_clear()
    assert asked == []


def test_static_catalog_on_s3(store: Path, s3_server: S3Server) -> None:
    s3_server.client().create_bucket(Bucket="stac")
    settings = offline().model_copy(update={"s3_endpoint_url": s3_server.endpoint_url})
    report = publish(str(store), "T31TCH", LABEL, settings, "s3://stac/catalog", today=IN_SEASON)
    assert report.item_href == "s3://stac/catalog/snow-cover-duration/scd-t31tch-2017-2018/" \
                               "scd-t31tch-2017-2018.json"
    catalog = open_catalog("s3://stac/catalog", settings)
    items = list(catalog.get_items(recursive=True))
    assert [i.id for i in items] == ["scd-t31tch-2017-2018"]
    scd = items[0].assets["SCD"].get_absolute_href() or ""
    assert scd.startswith("s3://stac/catalog/snow-cover-duration/scd-t31tch-2017-2018/LIS_")
    body = s3_server.client().get_object(Bucket="stac", Key=scd.removeprefix("s3://stac/"))["Body"]
    data = body.read()
    assert items[0].assets["SCD"].extra_fields["file:size"] == len(data)
    validate(items[0].to_dict(transform_hrefs=False))


def test_histogram_of_the_observed_pixels(published: PublishReport, store: Path) -> None:
    """The histogram's counts against a loop over the pixels; its PNG is an item asset, its bars in
    the map's colours."""
    maps = season_maps(str(store), "T31TCH", LABEL, offline()).maps
    starts, found = counts(maps.scd, maps.nobs)
    naive: dict[int, int] = {}
    for days, seen in zip(maps.scd.ravel().tolist(), maps.nobs.ravel().tolist(), strict=True):
        if seen:
            naive[days // BIN * BIN] = naive.get(days // BIN * BIN, 0) + 1
    assert dict(zip(starts.tolist(), found.tolist(), strict=True)) == {
        start: naive.get(start, 0) for start in starts.tolist()}
    assert set(naive) <= set(starts.tolist()) and found.sum() == (maps.nobs > 0).sum()
    item = pystac.Item.from_file(published.item_href)
    asset = item.assets["histogram"]
    assert asset.roles == ["overview"] and asset.media_type == pystac.MediaType.PNG
    with Image.open(asset.get_absolute_href() or "") as image:
        assert image.size == (500, 320)
        drawn = np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)
    colours = {tuple(int(v) for v in row) for row in drawn}
    fullest = int(starts[np.argmax(found)])
    assert tuple(round(c) for c in on_scale(viewer_stops(), fullest + BIN / 2)) in colours
