"""Approximate districts, and import of official boundary files (skipped without ../shared)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point, Polygon, box

from lawangjabo.cameras.registry import load_registry
from lawangjabo.config import PROJECT_ROOT, Settings
from lawangjabo.geo.districts import (
    approximate_districts,
    import_boundaries,
    load_district_layer,
    load_sublevel_layer,
    normalise_name,
    read_boundaries,
)
from lawangjabo.geo.geometry import to_metric


def _square_districts(settings: Settings, crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    """Hand-built boundaries: one square around each reference point (BIG-style names), of
    60 % of the district's configured area (the import checks areas: see the level test)."""
    rows = []
    for fact in settings.city.districts:
        p = fact.point
        half = math.sqrt(0.6 * (fact.area_km2 or 1.0)) / 111.0 / 2
        rows.append(
            {
                "NAMA": (fact.aliases or [fact.name])[0],
                "KODE": fact.code,
                "geometry": box(p.lon - half, p.lat - half, p.lon + half, p.lat + half),
            }
        )
    return gpd.GeoDataFrame(rows, crs="EPSG:4326").to_crs(crs)


def test_approximate_layer_tiles_the_bbox(settings: Settings) -> None:
    layer = approximate_districts(settings.city)
    assert not layer.official and "approximate" in layer.source
    assert len(layer.districts) == 18
    city = settings.city
    bbox = box(city.bbox.west, city.bbox.south, city.bbox.east, city.bbox.north)
    total = sum(to_metric(d.geometry, city.metric_crs).area for d in layer.districts)
    assert total == pytest.approx(to_metric(bbox, city.metric_crs).area, rel=1e-6)
    for fact in city.districts:
        found = layer.lookup(fact.point.lon, fact.point.lat)
        assert found is not None and found.code == fact.code


def test_lookup_outside_every_district_is_none(settings: Settings) -> None:
    assert approximate_districts(settings.city).lookup(106.8, -6.2) is None


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Bukitkecil", "bukitkecil"),
        ("Alang-alang Lebar", "alangalanglebar"),
        ("ILIR  TIMUR-I", "ilirtimuri"),
    ],
)
def test_names_fold(raw: str, canonical: str) -> None:
    assert normalise_name(raw) == canonical


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp"])
def test_import_each_format_and_reproject(settings: Settings, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"districts{suffix}"
    _square_districts(settings, crs="EPSG:32748").to_file(path, engine="pyogrio")
    result = import_boundaries(
        path, settings.city, settings.paths.districts_file, name_field="NAMA"
    )
    assert result.rejects == [] and len(result.districts) == 18
    assert any("reprojected" in n for n in result.notes)
    layer = load_district_layer(settings.city, settings.paths.districts_file)
    assert layer.official
    fact = settings.city.districts[10]
    found = layer.lookup(fact.point.lon, fact.point.lat)
    assert found is not None and found.name == "Bukit Kecil"


def test_invalid_ring_is_repaired_and_reported(settings: Settings, tmp_path: Path) -> None:
    frame = _square_districts(settings)
    p = settings.city.districts[0].point
    bowtie = Polygon(
        [
            (p.lon - 0.01, p.lat - 0.01),
            (p.lon + 0.01, p.lat + 0.01),
            (p.lon + 0.01, p.lat - 0.01),
            (p.lon - 0.01, p.lat + 0.01),
        ]
    )
    assert not bowtie.is_valid
    frame.loc[0, "geometry"] = bowtie
    path = tmp_path / "bowtie.geojson"
    frame.to_file(path, engine="pyogrio")
    result = read_boundaries(path, settings.city, name_field="NAMA", code_field="KODE")
    assert result.rejects == []
    assert any("repaired invalid geometry" in n and "Self-intersection" in n for n in result.notes)
    assert all(d.geometry.is_valid for d in result.districts)


def test_bad_features_are_rejected_and_nothing_is_installed(
    settings: Settings, tmp_path: Path
) -> None:
    frame = _square_districts(settings)
    frame.loc[1, "NAMA"] = "Kecamatan Entah"
    frame.loc[1, "KODE"] = "99.99.99"
    frame.loc[2, "geometry"] = Point(104.75, -2.99)
    frame.loc[3, "geometry"] = box(110.0, -7.0, 110.1, -6.9)
    frame.loc[4, "KODE"] = frame.loc[5, "KODE"]
    path = tmp_path / "mixed.geojson"
    frame.to_file(path, engine="pyogrio")
    result = import_boundaries(
        path, settings.city, settings.paths.districts_file, name_field="NAMA", code_field="KODE"
    )
    reasons = {r.feature: r.reason for r in result.rejects}
    assert "matches no configured district" in reasons[1]
    assert "not a polygon" in reasons[2]
    assert "outside the city bbox" in reasons[3]
    assert "duplicate district" in reasons[5]
    assert result.written is None and not settings.paths.districts_file.exists()
    assert not load_district_layer(settings.city, settings.paths.districts_file).official


def test_file_level_problems_are_clear(settings: Settings, tmp_path: Path) -> None:
    junk = tmp_path / "junk.geojson"
    junk.write_text("{ not json", encoding="utf-8")
    assert "cannot read" in read_boundaries(junk, settings.city, name_field="x").rejects[0].reason
    good = tmp_path / "good.geojson"
    _square_districts(settings).to_file(good, engine="pyogrio")
    wrong = read_boundaries(good, settings.city, name_field="WADMKC")
    assert "name field 'WADMKC' not in" in wrong.rejects[0].reason
    neither = read_boundaries(good, settings.city)
    assert "--name-field" in neither.rejects[0].reason


def test_corrupt_installed_file_falls_back_to_approximate(settings: Settings) -> None:
    target = settings.paths.districts_file
    target.parent.mkdir(parents=True)
    target.write_text("{}", encoding="utf-8")
    assert not load_district_layer(settings.city, target).official


def test_big_2023_import_matches_every_camera(settings: Settings, big_kecamatan: Path) -> None:
    """With the official BIG polygons, every registry kecamatan matches the reference notes."""
    result = import_boundaries(
        big_kecamatan,
        settings.city,
        settings.paths.districts_file,
        name_field="WADMKC",
        code_field="KDCPUM",
    )
    assert result.rejects == [] and len(result.districts) == 18 and result.written
    layer = load_district_layer(settings.city, settings.paths.districts_file)
    for fact in settings.city.districts:
        district = next(d for d in layer.districts if d.code == fact.code)
        area = to_metric(district.geometry, settings.city.metric_crs).area / 1e6
        assert area == pytest.approx(fact.area_km2, abs=0.02), fact.name
    registry = load_registry(PROJECT_ROOT / "cameras.geojson", settings, layer)
    assert registry.rejects == [] and registry.warnings == []
    for camera in registry.cameras:
        found = layer.lookup(camera.lon, camera.lat)
        assert found is not None and found.name == camera.props.kecamatan, camera.id
    installed = json.loads(settings.paths.districts_file.read_text(encoding="utf-8"))
    assert installed["lawangjabo"]["source"] == big_kecamatan.name


def test_a_finer_level_is_never_installed_as_districts(settings: Settings, tmp_path: Path) -> None:
    """Kelurahan-sized polygons named after their kecamatan (as the official kelurahan file's
    WADMKC field does): refused whole by their areas, --partial or not."""
    frame = _square_districts(settings)
    frame["geometry"] = [g.centroid.buffer(0.004, cap_style="square") for g in frame.geometry]
    path = tmp_path / "kelurahan-like.geojson"
    frame.to_file(path, engine="pyogrio")
    for partial in (False, True):
        result = import_boundaries(path, settings.city, settings.paths.districts_file,
                                   name_field="NAMA", allow_partial=partial)  # fmt: skip
        assert result.written is None and result.districts == []
        assert "areas disagree with the configured kecamatan" in result.rejects[0].reason
        assert "kelurahan" in result.rejects[0].reason
    assert not settings.paths.districts_file.exists()


def test_the_official_kelurahan_file_is_refused_as_kecamatan(
    settings: Settings, big_kelurahan: Path
) -> None:
    kelurahan = big_kelurahan
    result = import_boundaries(kelurahan, settings.city, settings.paths.districts_file,
                               name_field="WADMKC", allow_partial=True)  # fmt: skip
    assert result.written is None and "kelurahan" in result.rejects[0].reason


@pytest.fixture
def big_kelurahan(big_kecamatan: Path) -> Path:
    """The official kelurahan file beside the kecamatan one (skipped in a fresh clone)."""
    found = big_kecamatan.with_name("palembang_kelurahan_BIG2023.geojson")
    if not found.is_file():
        pytest.skip("official kelurahan boundaries not present (fresh clone)")
    return found


KELURAHAN_SAMPLE = PROJECT_ROOT / "tests" / "data" / "boundaries" / "kelurahan_sample.geojson"


def test_the_finer_level_installs_from_its_own_file_with_every_bad_feature_named(
    settings: Settings,
) -> None:
    """A kelurahan-shaped sample (32 good places, then four bad features): each bad one is
    named with its reason; nothing is installed unless --partial; then the 32 are."""
    target = settings.paths.sublevel_file
    kwargs = {"name_field": "WADMKD", "code_field": "KDEPUM", "sublevel": True}
    refused = import_boundaries(KELURAHAN_SAMPLE, settings.city, target, **kwargs)  # type: ignore[arg-type]
    assert refused.written is None and not target.exists()
    reasons = {r.feature: r.reason for r in refused.rejects}
    assert sorted(reasons) == [32, 33, 34, 35]
    assert "no name" in reasons[32]
    assert "not a polygon" in reasons[33]
    assert "outside the city bbox" in reasons[34]
    assert "duplicate" in reasons[35]
    assert any("32 kelurahan in the file; the city file expects 107" in n for n in refused.notes)
    done = import_boundaries(KELURAHAN_SAMPLE, settings.city, target, allow_partial=True,
                             **kwargs)  # type: ignore[arg-type]  # fmt: skip
    assert done.written == target
    layer = load_sublevel_layer(settings.city, target)
    assert layer is not None and layer.official and len(layer.districts) == 32
    first = layer.districts[0]
    point = first.geometry.representative_point()
    assert layer.lookup(point.x, point.y) == first


def test_districts_are_never_installed_as_the_finer_level(
    settings: Settings, tmp_path: Path
) -> None:
    """Kecamatan-sized polygons offered as kelurahan: refused whole by their areas."""
    path = tmp_path / "kecamatan-like.geojson"
    _square_districts(settings).to_file(path, engine="pyogrio")
    result = import_boundaries(path, settings.city, settings.paths.sublevel_file,
                               name_field="NAMA", code_field="KODE", sublevel=True,
                               allow_partial=True)  # fmt: skip
    assert result.written is None and result.districts == []
    assert "disagree with 107 kelurahan" in result.rejects[0].reason
    assert "kecamatan" in result.rejects[0].reason


def test_the_official_kelurahan_file_installs_as_the_finer_level(
    settings: Settings, big_kelurahan: Path
) -> None:
    kelurahan = big_kelurahan
    result = import_boundaries(kelurahan, settings.city, settings.paths.sublevel_file,
                               name_field="WADMKD", code_field="KDEPUM", sublevel=True)  # fmt: skip
    assert result.written is not None and not result.rejects, result.rejects[:3]
    assert len(result.districts) == 107
