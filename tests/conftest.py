"""Shared fixtures. Tests that read ../shared skip cleanly when it is absent (a fresh clone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lawangjabo.cameras.registry import load_registry
from lawangjabo.config import PROJECT_ROOT, PathsConfig, Settings, load_settings
from lawangjabo.geo.districts import approximate_districts
from lawangjabo.incidents.store import Enricher, IncidentStore
from lawangjabo.storage.db import Database

from .browser import browser  # noqa: F401 - one Chromium for the session, for any test
from .pg import pg_url  # noqa: F401 - a throwaway PostgreSQL cluster, for any test

SHARED = PROJECT_ROOT.parent / "shared"
BIG_KECAMATAN = SHARED / "data" / "palembang_kecamatan_BIG2023.geojson"
DATA = Path(__file__).parent / "data"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Palembang settings with a private state folder (database, imported districts)."""
    return load_settings(paths=PathsConfig(state_dir=tmp_path / "state"))


@pytest.fixture
def store(settings: Settings, tmp_path: Path) -> IncidentStore:
    """An empty incident store on a private DuckDB file, with the shipped cameras."""
    districts = approximate_districts(settings.city)
    cameras = load_registry(PROJECT_ROOT / "cameras.geojson", settings, districts).cameras
    return IncidentStore(
        Database(tmp_path / "lj.duckdb"), settings, Enricher(settings, districts, cameras)
    )


@pytest.fixture
def big_kecamatan() -> Path:
    if not BIG_KECAMATAN.is_file():
        pytest.skip(f"official BIG boundaries not present at {BIG_KECAMATAN} (fresh clone)")
    return BIG_KECAMATAN
