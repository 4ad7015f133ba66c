"""The UI's tiles table comes from the published items alone: no store is opened to fill it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pystac

from snowdays.ingest import Report, Status
from snowdays.settings import get_settings
from stac.catalog import write_catalog
from stac.publish import PublishReport
from stac.sample import synthetic_item
from tasks.report import summary, tiles_table


def test_tiles_table_says_what_the_items_say(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    settings = get_settings(stac_catalog=str(catalog), store=str(tmp_path / "no-store-here"),
                            files_url="http://127.0.0.1:8080/")
    published = [("T31TCH", "2017-2018", 12), ("T32TLR", "2017-2018", 3), ("T31TCH", "2018-2019", 40)]
    for tile, label, products in published:
        write_catalog(str(catalog), synthetic_item(tile, label, products, settings), settings)
    rows = sorted(tiles_table(settings), key=lambda row: (row["tile"], row["season"]))
    expected = sorted(published)
    assert [(r["tile"], r["season"], int(r["products"])) for r in rows] == expected
    for row, (tile, label, products) in zip(rows, expected, strict=True):
        assert row["as of"] == str(settings.season(label).start + timedelta(days=products))
        assert row["status"] == "provisional"
        name = f"scd-{tile.lower()}-{label}"
        assert row["item"] == f"http://127.0.0.1:8080/snow-cover-duration/{name}/{name}.json"
    assert not (tmp_path / "no-store-here").exists()


def test_no_catalog_yet_is_an_empty_table(tmp_path: Path) -> None:
    assert tiles_table(get_settings(stac_catalog=str(tmp_path / "none"))) == []


def test_the_summary_shows_the_plots_as_images_the_browser_loads(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    settings = get_settings(stac_catalog=str(catalog), files_url="http://127.0.0.1:8080/")
    folder = catalog / "snow-cover-duration" / "scd-t31tch-2017-2018"
    published = {}
    for with_dem in (True, False):
        item = synthetic_item("T31TCH", "2017-2018", 12, settings)
        item.set_self_href(str(folder / f"{item.id}.json"))  # its assets' hrefs relative, as published
        item.add_asset("SCD", pystac.Asset("./scd.tif", extra_fields={
            "raster:bands": [{"statistics": {"mean": 101.5}}]}))
        for key in ("histogram", "elevation-plot") if with_dem else ("histogram",):
            item.add_asset(key, pystac.Asset(f"./{key}.png"))
        published[with_dem] = PublishReport(item, str(folder / f"{item.id}.json"), "", 1, None, [])
    product = "SENTINEL2A_20171020-103629-000_L2B-SNOW_T31TCH_C_V1-7"
    rejected = [Report(product, Status.REJECTED, "unreadable")]
    url = "http://127.0.0.1:8080/snow-cover-duration/scd-t31tch-2017-2018"
    text = summary("T31TCH", rejected, {"2017-2018": published[True]}, settings, {})
    assert f"![Histogram of the snow cover duration]({url}/histogram.png)" in text.splitlines()
    assert f"![Snow cover duration against elevation]({url}/elevation-plot.png)" in text.splitlines()
    assert "- mean SCD: 101.5 days" in text and "| rejected (unreadable) |" in text
    assert f"- maps: [SCD]({url}/scd.tif)" in text
    text = summary("T31TCH", rejected, {"2017-2018": published[False]}, settings, {})
    assert f"({url}/histogram.png)" in text and "elevation" not in text
