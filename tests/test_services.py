"""Services: health report, reload on file change, a bad registry degrades instead of crashing."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from lawangjabo.cameras.ledger import write_heartbeat
from lawangjabo.config import PROJECT_ROOT, PathsConfig, Settings, load_settings
from lawangjabo.server.services import Services
from lawangjabo.storage.audit import ingest_audit_spool, spool_entry
from lawangjabo.storage.db import Database

from .conftest import DATA


def test_health_report(settings: Settings) -> None:
    services = Services(settings)
    report = services.health()
    # A fresh state folder: no accounts, and no poller has ever reported.
    assert report["status"] == "degraded"
    assert {p["kind"] for p in report["problems"]} == {"accounts", "poller"}
    services.auth.users.add("ops1", "operator", "a-long-password")
    write_heartbeat(settings.paths.heartbeat_file, mode="embedded", problems=[])
    report = services.health()
    assert report["status"] == "ok", report["problems"]
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
    # The file is replaced by a good one (restored from backup): no restart needed.
    (state / "lawangjabo.duckdb").unlink()
    services._db_retry_at = 0.0  # as if the retry interval had passed
    assert services.db is not None
    assert services.health()["database"]["status"] == "ok"
    services.close()


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


def test_cli_account_and_registry_changes_reach_the_audit_log(tmp_path: Path) -> None:
    """``users`` and ``import-cameras`` run as separate processes (the app holds the database);
    their entries arrive through the audit spool, and an account change signs the account out."""
    from .test_cli import BAD, run

    state = tmp_path / "state"
    env_password = "a-long-test-password-1"
    os.environ["LJ_TEST_PW"] = env_password
    try:
        assert (
            run(
                "users",
                "add",
                "ops1",
                "--role",
                "operator",
                "--agency",
                "dishub",
                "--password-env",
                "LJ_TEST_PW",
                state=state,
            ).returncode
            == 0
        )
        services = Services(load_settings(paths=PathsConfig(state_dir=state)))
        services.ingest()
        kept = services.sessions.create("ops1", "operator", ("dishub",))
        other = services.sessions.create("e2e", "admin")
        assert run("users", "set-role", "ops1", "--role", "leader", state=state).returncode == 0
        assert run("users", "reset-password", "ops1", state=state).returncode == 0
        registry = tmp_path / "cameras.geojson"
        shutil.copy(PROJECT_ROOT / "cameras.geojson", registry)
        assert (
            run(
                "import-cameras",
                str(BAD / "duplicate_ids.geojson"),
                "--registry",
                str(registry),
                state=state,
            ).returncode
            == 1
        )
        assert run("users", "remove", "ops1", state=state).returncode == 0
    finally:
        del os.environ["LJ_TEST_PW"]
    spooled = "".join(p.read_text() for p in (state / "audit-spool").glob("*.jsonl"))
    assert env_password not in spooled and "hash" not in spooled
    services.ingest()
    assert services.sessions.get(kept) is None  # signed out by the role change
    assert services.sessions.get(other) is not None
    db = services.db
    assert db is not None
    rows = db.execute("SELECT actor, action, detail FROM audit_log ORDER BY happened_at")
    assert [r[1] for r in rows] == [
        "user_added",
        "user_role_set",
        "user_password_reset",
        "registry_import",
        "user_removed",
    ]
    assert all(r[0].startswith("cli:") for r in rows)
    imported = json.loads(rows[3][2])
    assert imported["written"] is False and imported["rejected"] >= 1
    assert json.loads(rows[1][2]) == {"user": "ops1", "role": "leader"}
    assert not list((state / "audit-spool").glob("*.jsonl"))  # moved, once
    services.ingest()
    assert len(db.execute("SELECT * FROM audit_log")) == 5
    services.close()


def test_audit_spool_ingest_is_idempotent_and_sets_bad_files_aside(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    db = Database(tmp_path / "a.duckdb")
    first = spool_entry(folder, "cli:root", "user_added", {"user": "a"})
    line = first.read_text()
    copy = folder / "leftover.jsonl"
    copy.write_text(line)
    (folder / "broken.jsonl").write_text('{"actor": "x"}\n')  # no time, no action
    moved = ingest_audit_spool(db, folder)
    assert [e.action for e in moved] == ["user_added", "user_added"]
    copy.write_text(line)  # a file whose name was already ingested (crash replay)
    assert ingest_audit_spool(db, folder) == []
    assert not copy.exists()
    assert (folder / "quarantine" / "broken.jsonl").exists()
    assert len(db.execute("SELECT * FROM audit_log")) == 2
    db.close()


def test_audit_entries_survive_an_unopenable_database(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    broken = state / "lawangjabo.duckdb"
    broken.write_bytes(b"not a database" * 100)
    services = Services(load_settings(paths=PathsConfig(state_dir=state)))
    services.audit("ops1", "login_failed", {"address": "10.1.1.1"})
    services.close()
    broken.unlink()
    services = Services(load_settings(paths=PathsConfig(state_dir=state)))
    services.ingest()
    db = services.db
    assert db is not None
    assert db.execute("SELECT actor, action FROM audit_log") == [("ops1", "login_failed")]
    services.close()


def test_health_tables_keep_to_the_accounts_cameras(settings: Settings) -> None:
    """An agency-scoped account's uptime and outage tables count only the cameras it may see."""
    from datetime import UTC, datetime, timedelta

    from lawangjabo.cameras.ledger import SpoolWriter
    from lawangjabo.cameras.poller import Outcome
    from lawangjabo.views.healthview import outage_rows, uptime_tables

    services = Services(settings)
    cameras = services.snapshot().registry.cameras
    seen, hidden = cameras[0], cameras[1]
    now = datetime.now(UTC)
    writer = SpoolWriter(settings.paths.spool)
    for minute in range(30, 0, -1):
        when = now - timedelta(minutes=minute)
        writer.add(Outcome(seen.id, when, True, None, 5.0, "sweep"))
        writer.add(
            Outcome(hidden.id, when, minute > 20, None if minute > 20 else "timeout", 5.0, "sweep")
        )
    writer.flush()
    services.ingest()
    everything = uptime_tables(services, timedelta(hours=1))
    assert {r["id"] for r in everything["camera"]} == {seen.id, hidden.id}
    assert hidden.id in {r["id"] for r in outage_rows(services, timedelta(hours=1))}
    scoped = uptime_tables(services, timedelta(hours=1), [seen])
    assert [r["id"] for r in scoped["camera"]] == [seen.id]
    assert scoped["camera"][0]["uptime %"] == 100.0
    assert [r["cameras"] for r in scoped["agency"]] == [1]
    assert outage_rows(services, timedelta(hours=1), [seen]) == []
    services.close()


def test_refreshes_of_one_camera_share_one_capture(settings: Settings) -> None:
    """Many operators (or one impatient one) asking for the same camera: one capture; and a
    per-account limit on how often one may ask."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from lawangjabo.cameras.capture import Grab
    from lawangjabo.cameras.poller import Poller, Target
    from lawangjabo.cameras.runtime import PollerRuntime

    calls: list[str] = []
    gate = threading.Event()

    def slow_capture(url: str, protocol: str, timeout_s: float) -> Grab:
        calls.append(url)
        gate.wait(5)  # a camera that takes its time
        return Grab(np.full((48, 64, 3), 120, np.uint8), 0.5)

    settings = settings.model_copy(
        update={"cameras": settings.cameras.model_copy(update={"simulate": False})}
    )
    services = Services(settings)
    camera = services.snapshot().registry.cameras[0]
    runtime = PollerRuntime(settings, [camera], capture=slow_capture)
    # Not started (no sweep): only its fast lane is used, on a camera that takes its time.
    runtime.poller = Poller([Target(camera.id, "http://cam", "jpeg")], runtime.store,
                            runtime.spool, capture=slow_capture)  # fmt: skip
    services.runtime = runtime
    with ThreadPoolExecutor(20) as pool:
        futures = list(pool.map(lambda _: services.start_refresh(camera.id), range(20)))
    assert len({id(f) for f in futures}) == 1  # all joined the first capture
    gate.set()
    first = futures[0]
    assert first is not None
    first.result(timeout=10)
    assert len(calls) == 1
    assert services.start_refresh(camera.id) is not first  # the next ask captures anew
    limit = settings.auth.refreshes_per_minute
    assert all(services.refresh_allowed("op") == 0 for _ in range(limit))
    assert services.refresh_allowed("op") > 0 and services.refresh_allowed("other") == 0
    runtime.poller.stop()
    services.runtime = None
    services.close()


def test_the_health_page_leaves_blips_out_and_marks_maintenance(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An ended outage shorter than [cameras] min_outage_s (60 s in the city file) is a blip;
    a longer one, an ongoing one (however young) and one in maintenance are listed, the last
    marked as such."""
    from datetime import UTC, datetime, timedelta

    from lawangjabo.cameras import maintenance
    from lawangjabo.cameras.ledger import SpoolWriter, outcome_ingest
    from lawangjabo.cameras.poller import Outcome
    from lawangjabo.views.healthview import maintenance_rows, outage_rows

    settings = load_settings(paths=PathsConfig(state_dir=tmp_path / "s"))
    assert settings.cameras.min_outage_s == 60
    services = Services(settings)
    db = services.ledger_db()
    assert db is not None
    now = datetime.now(UTC)
    ids = [c.id for c in services.snapshot().registry.cameras][:4]
    blip, long_down, young, kept = ids

    def at(seconds_ago: float, ok: bool, camera: str) -> Outcome:
        when = now - timedelta(seconds=seconds_ago)
        return Outcome(camera, when, ok, None if ok else "timeout", 5.0, "sweep")

    spool = tmp_path / "spool"
    writer = SpoolWriter(spool)
    for outcome in (
        at(600, True, blip),
        at(590, False, blip),
        at(575, True, blip),  # 15 s: a blip
        at(600, True, long_down),
        at(590, False, long_down),
        at(300, True, long_down),
        at(600, True, young),
        at(20, False, young),  # down 20 s and counting
        at(600, True, kept),
        at(590, False, kept),
        at(100, True, kept),
    ):
        writer.add(outcome)
    writer.flush()
    outcome_ingest(spool).run(db)
    maintenance.add(db, kept, None, now - timedelta(minutes=15), now + timedelta(hours=1),
                    "pole replaced", "op1", now)  # fmt: skip
    rows = {r["id"]: r for r in outage_rows(services, timedelta(hours=1))}
    assert set(rows) == {long_down, young, kept}
    assert rows[young]["ongoing"] and not rows[long_down]["maintenance"]
    assert rows[kept]["maintenance"]
    (window,) = maintenance_rows(services)
    assert window["ongoing"] and window["reason"] == "pole replaced"
    services.close()
