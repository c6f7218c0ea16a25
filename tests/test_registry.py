"""The camera registry: the shipped file, a folder of malformed files, CSV import, atomic writes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from lawangjabo.cameras.registry import (
    Camera,
    import_cameras,
    load_mapping,
    load_registry,
    read_camera_file,
    write_registry,
)
from lawangjabo.cameras.synthetic import synthetic_cameras
from lawangjabo.config import PROJECT_ROOT, Settings
from lawangjabo.geo.districts import approximate_districts

from .conftest import DATA

BAD = DATA / "registries"
EXPECTED = json.loads((BAD / "expected.json").read_text(encoding="utf-8"))
REGISTRY = PROJECT_ROOT / "cameras.geojson"

STRATEGIC_2017 = {
    "plg-cam2-bkb",
    "plg-cam9-masjid-agung",
    "plg-cam8-sp-charitas",
    "plg-cam7-sp5-dprd",
    "plg-2017-kapten-a-rivai",
    "plg-2017-jembatan-ampera",
    "plg-2017-pasar-16-ilir",
}


def test_every_malformed_file_has_an_expectation() -> None:
    on_disk = {p.name for p in BAD.iterdir() if p.name != "expected.json"}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_loads_valid_cameras_and_reports_each_reject(
    name: str, settings: Settings
) -> None:
    expected = EXPECTED[name]
    result = read_camera_file(BAD / name, settings, approximate_districts(settings.city))
    assert len(result.cameras) == expected["loaded"]
    assert len(result.rejects) == len(expected["rejects"]), [str(r) for r in result.rejects]
    for reject, (index, reason) in zip(result.rejects, expected["rejects"], strict=True):
        assert reject.index == index, str(reject)
        assert reason in reject.reason, str(reject)


def test_rejects_name_the_camera_id_when_readable(settings: Settings) -> None:
    result = load_registry(BAD / "swapped_latlon.geojson", settings)
    assert [r.camera_id for r in result.rejects] == ["swapped"]
    assert str(result.rejects[0]).startswith("#1 (swapped): lat/lon swapped")


def test_reject_reasons_never_echo_stream_urls(settings: Settings) -> None:
    for name in EXPECTED:
        for reject in read_camera_file(BAD / name, settings).rejects:
            assert not re.search(r"(https?|rtsps?|ftp)://", reject.reason), (name, reject.reason)
            assert "pw@" not in reject.reason and "viewer@" not in reject.reason


def test_the_shipped_registry_loads_cleanly(settings: Settings) -> None:
    result = load_registry(REGISTRY, settings, approximate_districts(settings.city))
    assert result.rejects == []
    assert len(result.cameras) == 12
    ids = {c.id for c in result.cameras}
    assert ids >= STRATEGIC_2017
    for camera in result.cameras:
        props = camera.props
        assert props.source and props.kecamatan, camera.id
        assert settings.city.bbox.contains(camera.lon, camera.lat)
        assert {"heading_deg", "fov_deg", "range_m"} <= set(props.estimated), camera.id
        if "public-portal" in props.tags:
            assert props.stream is not None and props.stream.protocol == "hls"
            assert "palembang" in props.source.lower()


def test_disputed_2017_sites_are_flagged(settings: Settings) -> None:
    result = load_registry(REGISTRY, settings)
    for camera_id in ("plg-2017-jembatan-ampera", "plg-2017-pasar-16-ilir"):
        camera = result.by_id(camera_id)
        assert camera is not None
        assert "sources-disagree" in camera.props.tags
        assert camera.props.stream is None  # no stream address is known: none invented


def test_kecamatan_is_filled_from_districts_when_missing(settings: Settings) -> None:
    data = json.loads((BAD / "duplicate_ids.geojson").read_text(encoding="utf-8"))
    result = read_camera_file(
        BAD / "duplicate_ids.geojson", settings, approximate_districts(settings.city)
    )
    assert all("kecamatan" not in f["properties"] for f in data["features"])
    assert all(c.props.kecamatan for c in result.cameras)


def test_kecamatan_spellings_are_canonicalised(settings: Settings, tmp_path: Path) -> None:
    source = json.loads((BAD / "duplicate_ids.geojson").read_text(encoding="utf-8"))
    source["features"] = source["features"][:1]
    source["features"][0]["properties"]["kecamatan"] = "Bukitkecil"
    path = tmp_path / "r.geojson"
    path.write_text(json.dumps(source), encoding="utf-8")
    assert load_registry(path, settings).cameras[0].props.kecamatan == "Bukit Kecil"


def test_public_row_never_carries_the_stream(settings: Settings) -> None:
    for camera in load_registry(REGISTRY, settings).cameras:
        row = camera.public_row("agency")
        assert "stream" not in row
        assert not any("://" in str(v) for v in row.values()), row


def test_csv_import_is_all_or_nothing(settings: Settings, tmp_path: Path) -> None:
    target = tmp_path / "cameras.geojson"
    shutil.copy(REGISTRY, target)
    before = target.read_bytes()
    outcome = import_cameras(BAD / "bad_rows.csv", target, settings)
    assert not outcome.written
    assert [r.index for r in outcome.incoming.rejects] == [3, 4, 5, 6]
    assert target.read_bytes() == before


def test_csv_import_partial_merges_by_id(settings: Settings, tmp_path: Path) -> None:
    target = tmp_path / "cameras.geojson"
    shutil.copy(REGISTRY, target)
    outcome = import_cameras(BAD / "bad_rows.csv", target, settings, allow_partial=True)
    assert outcome.written and outcome.added == ["csv-ok"] and outcome.updated == []
    merged = load_registry(target, settings)
    assert merged.rejects == [] and len(merged.cameras) == 13
    again = import_cameras(BAD / "bad_rows.csv", target, settings, allow_partial=True)
    assert again.updated == ["csv-ok"] and len(load_registry(target, settings).cameras) == 13


def test_import_never_overwrites_a_registry_with_rejects(
    settings: Settings, tmp_path: Path
) -> None:
    target = tmp_path / "cameras.geojson"
    shutil.copy(BAD / "swapped_latlon.geojson", target)
    before = target.read_bytes()
    outcome = import_cameras(REGISTRY, target, settings)
    assert not outcome.written
    assert "fix it first" in outcome.incoming.rejects[-1].reason
    assert target.read_bytes() == before


def test_write_then_load_round_trips(settings: Settings, tmp_path: Path) -> None:
    cameras = load_registry(REGISTRY, settings).cameras
    path = tmp_path / "copy.geojson"
    write_registry(path, cameras)
    again = load_registry(path, settings).cameras
    assert [c.to_feature() for c in again] == [c.to_feature() for c in cameras]
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("count", [500, 5000])
def test_synthetic_registries_validate_inside_the_city(
    settings: Settings, tmp_path: Path, count: int
) -> None:
    cameras = synthetic_cameras(settings, count, seed=7)
    path = tmp_path / "synthetic.geojson"
    write_registry(path, cameras)
    result = load_registry(path, settings)
    assert result.rejects == [] and len(result.cameras) == count
    assert all(isinstance(c, Camera) and c.props.source.startswith("synthetic") for c in cameras)
    assert synthetic_cameras(settings, 3, seed=7) == cameras[:3]


def test_every_problem_of_a_feature_is_listed_at_once(settings: Settings) -> None:
    result = read_camera_file(BAD / "many_problems.geojson", settings)
    (reject,) = result.rejects
    for part in ("unknown feature keys: ['extra']", "lat/lon swapped",
                 "owner 'kodim' is not a configured agency", "unknown kecamatan 'Atlantis'",
                 "heading_deg: Input should be a valid number"):  # fmt: skip
        assert part in reject.reason, reject.reason


def test_owners_match_by_any_spelling_and_are_stored_by_id(settings: Settings) -> None:
    loaded = read_camera_file(BAD / "owner_spellings.geojson", settings).cameras
    assert [c.props.owner for c in loaded] == ["dishub", "dishub", "dishub", "satpolpp"]


def test_another_portals_export_imports_through_a_mapping_and_never_stores_a_password(
    settings: Settings, tmp_path: Path
) -> None:
    """The sample mapping (data/mappings/city-portal.toml) on a portal-shaped CSV: names,
    one "lat, lon" column, agency spellings, estimated geometry; a URL with a password and a
    row with two problems are refused, line by line, and not written even with --partial."""
    mapping = load_mapping(PROJECT_ROOT / "data" / "mappings" / "city-portal.toml")
    export = DATA / "portal" / "portal_export.csv"
    target = tmp_path / "cameras.geojson"
    shutil.copy(REGISTRY, target)
    outcome = import_cameras(export, target, settings, allow_partial=True, mapping=mapping)
    assert outcome.added == ["plg-portal-simpang-charitas", "plg-portal-jembatan-ampera-hulu"]
    rejects = {r.index: r.reason for r in outcome.incoming.rejects}
    assert set(rejects) == {4, 5}  # CSV lines
    assert "env://NAME" in rejects[4] and "secret://NAME" in rejects[4]
    assert "lat/lon swapped" in rejects[5] and "owner 'Kodam'" in rejects[5]
    written = target.read_text()
    assert "rahasia" not in written and "admin:" not in written
    camera = load_registry(target, settings).by_id("plg-portal-simpang-charitas")
    assert camera is not None and camera.props.owner == "dishub"
    assert camera.props.estimated == ["heading_deg", "fov_deg", "range_m"]
    assert camera.props.stream is not None and camera.props.stream.protocol == "hls"
    with pytest.raises(ValueError, match="unknown target fields"):
        bad = tmp_path / "bad.toml"
        bad.write_text('[fields]\nnama = "nama_kamera"\n')
        load_mapping(bad)
    unmapped = tmp_path / "unmapped.csv"
    unmapped.write_text(export.read_text().replace(",status\n", ",status,foto_lain\n", 1))
    header = read_camera_file(unmapped, settings, None, mapping).rejects
    assert "unknown columns ['foto_lain']" in header[0].reason  # not silently dropped
