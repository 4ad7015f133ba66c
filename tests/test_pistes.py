"""``snowdays pistes import``: generated OSM XML, the same as PBF (both written with pyosmium) and as an
Overpass-style GeoJSON export, into the viewer's overlay; bad files are named and nothing is written.
``snowdays pistes sample``: seeded ski areas, read back as they were given."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import osmium
import pytest

from snowdays.errors import BadInput, UsageError
from snowdays.pistes import import_pistes
from snowdays.sample_pistes import LonLat, Piste, SkiArea, random_areas, write_osm
from tests.conftest import RunCli

# two ski areas side by side (one a closed way, one a multipolygon relation), an unnamed one
EAST = SkiArea("Val Est", [(6.50, 45.80), (6.52, 45.80), (6.52, 45.82), (6.50, 45.82), (6.50, 45.80)], [
    Piste("Combe", "downhill", "advanced", [(6.505, 45.815), (6.507, 45.81), (6.51, 45.805)]),
    # mostly in Val Ouest: belongs there, although mapped after Val Est's pistes
    Piste("Traverse", "downhill", "easy", [(6.503, 45.81), (6.48, 45.81)]),
    Piste("Stade", "downhill", "intermediate",
          [(6.511, 45.811), (6.513, 45.811), (6.513, 45.813), (6.511, 45.813), (6.511, 45.811)], area=True),
    Piste(None, "nordic", None, [(6.515, 45.802), (6.518, 45.803)]),
])
WEST = SkiArea("Val Ouest", [(6.47, 45.80), (6.50, 45.80), (6.50, 45.82), (6.47, 45.82), (6.47, 45.80)],
               relation=True)
NAMELESS = SkiArea(None, [(6.60, 45.90), (6.61, 45.90), (6.61, 45.91), (6.60, 45.90)], [
    Piste("Piste perdue", "downhill", None, [(6.603, 45.903), (6.605, 45.902)])])
LOOSE = [Piste("Hors station", "skitour", None, [(6.7, 45.7), (6.71, 45.71)])]


@pytest.fixture
def osm(tmp_path: Path) -> Path:
    return write_osm(tmp_path / "extract.osm", [EAST, WEST, NAMELESS], LOOSE)


def by_name(overlay: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {f["properties"]["name"]: f for f in overlay["features"]}


def test_osm_xml_into_the_overlay(osm: Path) -> None:
    overlay = import_pistes(osm)
    assert overlay["type"] == "FeatureCollection"
    for f in overlay["features"]:
        assert set(f["properties"]) == {"kind", "piste_type", "difficulty", "name", "ski_area", "osm_id"}
        assert f["properties"]["osm_id"].split("/")[0] in ("way", "relation")
    found = by_name(overlay)
    assert [f["properties"]["kind"] for f in overlay["features"]].count("ski_area") == 3
    assert found["Val Ouest"]["properties"] | {"osm_id": None} == {
        "kind": "ski_area", "piste_type": None, "difficulty": None, "name": "Val Ouest",
        "ski_area": "Val Ouest", "osm_id": None}
    assert found["Val Ouest"]["properties"]["osm_id"].startswith("relation/")
    assert found["Val Est"]["properties"]["osm_id"].startswith("way/")
    assert found["Val Est"]["geometry"]["type"] == "MultiPolygon"
    assert found["Combe"]["properties"] | {"osm_id": None} == {
        "kind": "piste", "piste_type": "downhill", "difficulty": "advanced", "name": "Combe",
        "ski_area": "Val Est", "osm_id": None}
    assert found["Combe"]["geometry"] == {"type": "LineString", "coordinates": [
        [6.505, 45.815], [6.507, 45.81], [6.51, 45.805]]}
    assert found["Traverse"]["properties"]["ski_area"] == "Val Ouest"
    assert found["Stade"]["geometry"]["type"] == "Polygon"
    assert found["Stade"]["properties"]["ski_area"] == "Val Est"
    assert found["Piste perdue"]["properties"]["ski_area"] is None  # its area has no name
    assert found["Hors station"]["properties"] | {"osm_id": None} == {
        "kind": "piste", "piste_type": "skitour", "difficulty": None, "name": "Hors station",
        "ski_area": None, "osm_id": None}
    nordic = [f for f in overlay["features"] if f["properties"]["piste_type"] == "nordic"]
    assert [f["properties"]["ski_area"] for f in nordic] == ["Val Est"]


def test_pbf_and_geojson_give_the_same_overlay(osm: Path, tmp_path: Path) -> None:
    want = import_pistes(osm)
    pbf = write_osm(tmp_path / "extract.osm.pbf", [EAST, WEST, NAMELESS], LOOSE)  # PBF by its name
    assert pbf.read_bytes()[:64] != osm.read_bytes()[:64]
    assert import_pistes(pbf) == want

    features = []  # as Overpass exports them: the tags flat (or under "tags"), the id "way/123"
    for k, f in enumerate(want["features"]):
        p = f["properties"]
        tags = {"name": p["name"]} | ({"landuse": "winter_sports"} if p["kind"] == "ski_area" else
                                      {"piste:type": p["piste_type"], "piste:difficulty": p["difficulty"]})
        props = {"@id": p["osm_id"], **tags} if k % 2 else {"tags": tags}
        features.append({"type": "Feature", "properties": props, "geometry": f["geometry"]}
                        | ({} if k % 2 else {"id": p["osm_id"]}))
    exported = tmp_path / "export.geojson"
    exported.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    assert import_pistes(exported) == want


def test_command_writes_the_overlay(osm: Path, tmp_path: Path, snowdays_cli: RunCli) -> None:
    done = snowdays_cli(["pistes", "import", str(osm)], {}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "6 pistes (4 downhill), 3 ski areas" in done.stdout
    written = tmp_path / "catalog" / "pistes" / "pistes.geojson"
    assert json.loads(written.read_text()) == import_pistes(osm)
    elsewhere = snowdays_cli(["pistes", "import", str(osm), "--out", "o/p.geojson"], {}, tmp_path)
    assert elsewhere.returncode == 0 and (tmp_path / "o" / "p.geojson").is_file()


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("cut.osm", '<?xml version="1.0"?><osm version="0.6"><node id="1" lat=', "not a readable OSM file"),
    ("empty.osm", '<?xml version="1.0"?><osm version="0.6"></osm>', "holds no piste:type way"),
    ("notes.txt", "hello", "not OSM XML (.osm), PBF (.pbf) or GeoJSON"),
    ("broken.geojson", '{"type": "FeatureCollection", "features": [{"properties": {"piste:type": '
     '"downhill"}, "geometry": {"type": "Line"}}]}', "not a GeoJSON feature collection"),
    ("roads.geojson", '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
     '{"highway": "primary"}, "geometry": {"type": "Point", "coordinates": [6, 45]}}]}',
     "holds no piste:type way"),
])
def test_bad_files_are_named_and_nothing_is_written(name: str, content: str, reason: str, tmp_path: Path,
                                                    snowdays_cli: RunCli) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(BadInput, match=re.escape(reason)) as caught:
        import_pistes(path)
    assert name in str(caught.value)
    done = snowdays_cli(["pistes", "import", name], {}, tmp_path)
    assert done.returncode == 3 and reason in done.stderr and name in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "catalog").exists()


def test_synthetic_ski_areas_command(tmp_path: Path, snowdays_cli: RunCli) -> None:
    done = snowdays_cli(["pistes", "sample", "ski.osm", "--bbox", "6.4,45.7,6.6,45.9", "--count", "3"],
                        {}, tmp_path)
    assert done.returncode == 0, done.stderr
    overlay = import_pistes(tmp_path / "ski.osm")
    areas = [f for f in overlay["features"] if f["properties"]["kind"] == "ski_area"]
    assert sorted(f["properties"]["name"] for f in areas) == ["Station 1", "Station 2", "Station 3"]
    pistes = [f["properties"] for f in overlay["features"] if f["properties"]["kind"] == "piste"]
    assert {p["ski_area"] for p in pistes} == {"Station 1", "Station 2", "Station 3"}
    for f in overlay["features"]:
        for lon, lat in (f["geometry"]["coordinates"] if f["geometry"]["type"] == "LineString"
                         else f["geometry"]["coordinates"][0][0]):
            assert 6.4 <= lon <= 6.6 and 45.7 <= lat <= 45.9
    bad = snowdays_cli(["pistes", "sample", "x.osm", "--bbox", "6.6,45.7,6.4,45.9"], {}, tmp_path)
    assert bad.returncode == 2 and "WEST < EAST" in bad.stderr


def read_back(path: Path) -> tuple[dict[int, tuple[float, float]], list[tuple[list[int], dict[str, str]]],
                                   list[tuple[list[tuple[str, int, str]], dict[str, str]]]]:
    """An OSM file's nodes (id -> lon, lat), ways (node ids, tags) and relations (members, tags), as
    pyosmium reads them."""
    nodes, ways, relations = {}, [], []
    for obj in osmium.FileProcessor(str(path)):
        if isinstance(obj, osmium.osm.Node):
            nodes[obj.id] = (obj.location.lon, obj.location.lat)
        elif isinstance(obj, osmium.osm.Way):
            ways.append(([n.ref for n in obj.nodes], dict(obj.tags)))
        elif isinstance(obj, osmium.osm.Relation):
            relations.append(([(m.type, m.ref, m.role) for m in obj.members], dict(obj.tags)))
    return nodes, ways, relations


def test_synthetic_ski_areas_read_back_as_given(tmp_path: Path) -> None:
    bounds = (6.4, 45.7, 6.6, 45.9)
    areas = random_areas(bounds, 4, seed=5)
    written = write_osm(tmp_path / "ski.osm", areas).read_bytes()
    assert write_osm(tmp_path / "same.osm", random_areas(bounds, 4, seed=5)).read_bytes() == written
    assert write_osm(tmp_path / "other.osm", random_areas(bounds, 4, seed=6)).read_bytes() != written
    nodes, ways, relations = read_back(tmp_path / "ski.osm")
    assert sorted(nodes) == list(range(1, len(nodes) + 1))
    expected_ways: list[tuple[list[LonLat], dict[str, str]]] = []  # each area's ring, then its pistes
    outers = []
    for area in areas:
        if area.relation:
            outers.append(len(expected_ways) + 1)
        expected_ways.append((area.ring, {} if area.relation else {"landuse": "winter_sports",
                                                                    "name": str(area.name)}))
        expected_ways += [(p.line, {k: v for k, v in {"piste:type": p.kind, "piste:difficulty": p.difficulty,
                                                      "name": p.name}.items() if v is not None})
                          for p in area.pistes]
    assert [tags for _, tags in ways] == [tags for _, tags in expected_ways]
    for (refs, _), (line, _) in zip(ways, expected_ways, strict=True):
        np.testing.assert_allclose([nodes[r] for r in refs], line, rtol=0, atol=1e-7)  # OSM's precision
    assert relations == [([("w", outer, "outer")], {"type": "multipolygon", "landuse": "winter_sports",
                                                    "name": str(a.name)})
                         for outer, a in zip(outers, [a for a in areas if a.relation], strict=True)]


def test_writing_osm_without_the_extra_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "osmium", None)  # as if pyosmium were not installed
    with pytest.raises(UsageError, match=re.escape("pip install 'snowdays[osm]'")):
        write_osm(tmp_path / "ski.osm", [EAST])
    assert not (tmp_path / "ski.osm").exists()
