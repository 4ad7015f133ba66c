"""The demo's last step on a published season of a generated tile: the regional map, synthetic ski runs
over it and their ranking, where the viewer reads them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import rasterio

from infra.demo import regional
from snowdays.settings import get_settings
from stac.publish import publish
from tests.conftest import _free_port
from tests.stacdata import ingest_until, sample

LABEL = "2017-2018"


@pytest.mark.slow  # a whole season folded
def test_regional_map_ski_runs_and_ranking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = get_settings(stac_database_url=f"postgresql://postgres@127.0.0.1:{_free_port()}/none",
                            stac_connect_timeout=1)
    products = sample(tmp_path / "products", "T31TCH", LABEL, seed=3)
    ingest_until(tmp_path / "stores", products, date(2018, 8, 31), settings)
    publish(str(tmp_path / "stores"), "T31TCH", LABEL, settings, settings.stac_catalog)

    report = regional("T31TCH", LABEL, tmp_path, settings)
    catalog = tmp_path / "catalog"
    folder = catalog / "mosaics" / "demo" / LABEL
    assert Path(report.plan.folder) == folder.resolve()
    for name in ("scd.tif", "sod.tif", "smod.tif", "scd-display.tif"):
        with rasterio.open(folder / name) as ds:
            assert ds.crs.to_epsg() == 3035 and (ds.read(1) != 65535).any()
    name = f"scd-mosaic-demo-{LABEL}"
    item = catalog / "snow-cover-duration-mosaics" / name / f"{name}.json"
    assert json.loads(item.read_text())["properties"]["snowdays:region"] == "demo"
    overlay = json.loads((catalog / "pistes" / "pistes.geojson").read_text())
    assert sum(f["properties"]["kind"] == "ski_area" for f in overlay["features"]) == 5
    ranked = json.loads((catalog / "resorts" / f"demo-{LABEL}.json").read_text())
    assert ranked["region"] == "demo" and ranked["season"] == LABEL
    assert len(ranked["resorts"]) == 5 and all(r["pixels"] > 0 for r in ranked["resorts"])
