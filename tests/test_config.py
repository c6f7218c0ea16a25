import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from lawangjabo.config import DEFAULT_CONFIG, load_settings


def test_palembang_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAWANGJABO_CONFIG", raising=False)
    settings = load_settings()
    assert settings.city.name == "Palembang"
    assert settings.city.metric_crs == "EPSG:32748"
    assert len(settings.city.districts) == 18
    assert {d.code for d in settings.city.districts} == {f"16.71.{i:02d}" for i in range(1, 19)}
    assert abs(sum(d.area_km2 or 0 for d in settings.city.districts) - 352.25) < 0.05
    assert len(settings.city.sites) == 10
    assert settings.config_file == DEFAULT_CONFIG


def test_every_reference_point_is_inside_the_bbox() -> None:
    city = load_settings().city
    for district in city.districts:
        assert city.bbox.contains(district.point.lon, district.point.lat), district.name
    for site in city.sites:
        assert city.bbox.contains(site.point.lon, site.point.lat), site.name


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAWANGJABO_MAP__BASEMAP", "none")
    monkeypatch.setenv("LAWANGJABO_PATHS__STATE_DIR", "/tmp/lj-state")
    settings = load_settings()
    assert settings.map.basemap == "none"
    assert settings.paths.database_file == Path("/tmp/lj-state/lawangjabo.duckdb")


def test_bad_basemap_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAWANGJABO_MAP__BASEMAP", "google")
    with pytest.raises(ValidationError, match="basemap"):
        load_settings()


def test_unknown_key_in_city_file_is_rejected(tmp_path: Path) -> None:
    text = DEFAULT_CONFIG.read_text(encoding="utf-8").replace(
        'timezone = "Asia/Jakarta"', 'timezone = "Asia/Jakarta"\nmayor = "someone"'
    )
    bad = tmp_path / "city.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError, match="mayor"):
        load_settings(bad)


def test_another_city_is_one_file(tmp_path: Path) -> None:
    other = tmp_path / "kota.toml"
    other.write_text(
        """
[city]
name = "Kota Contoh"
centre = { lat = -6.2, lon = 106.8 }
bbox = { west = 106.7, south = -6.3, east = 106.9, north = -6.1 }
metric_crs = "EPSG:32748"
[[agencies]]
id = "dishub"
name = "Dishub"
colour = [1, 2, 3]
""",
        encoding="utf-8",
    )
    settings = load_settings(other)
    assert settings.city.name == "Kota Contoh"
    assert settings.city.districts == []
    assert settings.map.basemap == "carto"


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_settings_are_parsed_once_and_again_when_the_file_or_environment_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lawangjabo.config import current_settings

    city = tmp_path / "city.toml"
    city.write_text(DEFAULT_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("LAWANGJABO_CONFIG", str(city))
    first = current_settings()
    assert current_settings() is first  # not parsed again
    monkeypatch.setenv("LAWANGJABO_MAP__BASEMAP", "none")
    second = current_settings()
    assert second is not first and second.map.basemap == "none"
    text = city.read_text(encoding="utf-8").replace('language = "id"', 'language = "en"')
    assert 'language = "en"' in text
    city.write_text(text, encoding="utf-8")
    os.utime(city, ns=(city.stat().st_mtime_ns + 10**9,) * 2)
    third = current_settings()
    assert third is not second and third.city.language == "en"


def test_a_broken_edit_keeps_the_last_good_settings_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running command center does not go down because someone saved a typo in the city
    file: the last good settings stay in use, health names the problem, a fix is picked up."""
    from lawangjabo.config import current_settings, settings_problem

    city = tmp_path / "city.toml"
    good = DEFAULT_CONFIG.read_text(encoding="utf-8")
    city.write_text(good, encoding="utf-8")
    monkeypatch.setenv("LAWANGJABO_CONFIG", str(city))
    first = current_settings()
    assert settings_problem() is None

    def save(text: str) -> None:
        city.write_text(text, encoding="utf-8")
        os.utime(city, ns=(city.stat().st_mtime_ns + 10**9,) * 2)

    save(good.replace('language = "id"', 'language = "klingon"'))
    assert current_settings() is first
    problem = settings_problem()
    assert problem is not None and "language" in problem[0] and str(tmp_path) not in problem[0]
    save(good.replace("[city]", "[city"))  # not even TOML
    assert current_settings() is first and settings_problem() is not None
    save(good.replace('language = "id"', 'language = "en"'))
    fixed = current_settings()
    assert fixed.city.language == "en" and settings_problem() is None
