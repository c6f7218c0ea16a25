"""Services: health report, reload on file change, a bad registry degrades instead of crashing."""

from __future__ import annotations

import shutil
import time

from lawangjabo.config import PROJECT_ROOT, PathsConfig, Settings, load_settings
from lawangjabo.services import Services

from .conftest import DATA


def test_health_report(settings: Settings) -> None:
    services = Services(settings)
    report = services.health()
    assert report["status"] == "ok"
    assert report["cameras"] == {"loaded": 12, "rejected": 0, "warnings": 0}
    assert report["districts"] == {"official": False, "count": 18}
    assert report["database"]["status"] == "ok"
    services.close()


def test_bad_registry_degrades_and_reloads_when_fixed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    registry = tmp_path / "cameras.geojson"
    shutil.copy(DATA / "registries" / "duplicate_ids.geojson", registry)
    settings = load_settings(paths=PathsConfig(registry=registry, state_dir=tmp_path / "s"))
    services = Services(settings)
    report = services.health()
    assert report["status"] == "degraded"
    assert report["cameras"] == {"loaded": 2, "rejected": 1, "warnings": 0}
    time.sleep(0.01)
    shutil.copy(PROJECT_ROOT / "cameras.geojson", registry)
    assert services.health()["cameras"]["loaded"] == 12
    services.close()


def test_unopenable_database_is_reported_not_raised(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "state"
    state.mkdir()
    (state / "lawangjabo.duckdb").write_bytes(b"this is not a duckdb file" * 100)
    services = Services(load_settings(paths=PathsConfig(state_dir=state)))
    report = services.health()
    assert report["status"] == "degraded"
    assert report["database"]["status"] == "error"
    assert str(state) not in str(report)


def test_audit_log_is_appended(settings: Settings) -> None:
    services = Services(settings)
    services.audit("ops1", "snapshot_view", {"camera": "plg-cam3-sp-polda"})
    services.audit("ops1", "incident_status", {"id": 7, "to": "dispatched"})
    db = services.db
    assert db is not None
    rows = db.execute("SELECT actor, action, detail FROM audit_log ORDER BY happened_at")
    assert rows == [
        ("ops1", "snapshot_view", '{"camera": "plg-cam3-sp-polda"}'),
        ("ops1", "incident_status", '{"id": 7, "to": "dispatched"}'),
    ]
    services.close()
