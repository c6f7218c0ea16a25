"""The same store tests against both backends: the embedded DuckDB file and PostgreSQL 15 (a
throwaway cluster). So far the audit log and the spool bookkeeping (issue 12, step 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lawangjabo.storage import audit
from lawangjabo.storage.db import Database

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["duckdb", "postgresql"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "duckdb":
        db: Any = Database(tmp_path / "lj.duckdb")
    else:
        from lawangjabo.storage.pg import PgDatabase

        url = request.getfixturevalue("pg_url")
        db = PgDatabase(url)
        db.execute("TRUNCATE audit_log, ingested_files")  # one cluster for the session
    yield db
    db.close()


def test_the_audit_log_appends_filters_and_bounds(gateway: Any) -> None:
    for n in range(5):
        audit.append(gateway, T0 + timedelta(minutes=n), f"op{n % 2}", "snapshot_view",
                     {"camera": f"cam-{n}", "at": "x" * 10_000})  # fmt: skip
    frame = audit.entries(gateway, T0, actor="op1")
    assert list(frame["actor"]) == ["op1", "op1"]
    assert frame["happened_at"].iloc[0] > frame["happened_at"].iloc[1]  # newest first
    detail = json.loads(frame["detail"].iloc[0])
    assert detail["camera"] == "cam-3" and len(detail["at"]) <= 257
    rows, chars = audit.size(gateway)
    assert rows == 5 and chars < 5 * 400
    assert audit.prune(gateway, T0 + timedelta(minutes=2)) == 2
    assert audit.size(gateway)[0] == 3


def test_spooled_audit_entries_go_in_once_and_poison_is_set_aside(
    gateway: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "audit-spool"
    written = audit.spool_entry(folder, "cli:root", "user_added", {"user": "ops1"}, T0)
    copy = written.read_bytes()
    (folder / "0000-poison.jsonl").write_text("[1]\n")
    moved = audit.audit_ingest(folder).run(gateway)
    assert [e.action for e in moved] == ["user_added"]
    assert (folder / "quarantine" / "0000-poison.jsonl").exists()
    written.write_bytes(copy)  # the same file again (the app died before removing it)
    assert audit.audit_ingest(folder).run(gateway) == []
    assert audit.size(gateway)[0] == 1 and not written.exists()


def test_migrations_are_versioned_and_idempotent(gateway: Any) -> None:
    version = gateway.schema_version()
    assert version >= 1
    assert gateway.status()["status"] == "ok"
    if type(gateway).__name__ == "PgDatabase":
        from lawangjabo.storage.pg import PgDatabase

        again = PgDatabase(gateway.url)  # a second replica starting: nothing re-applied
        assert again.schema_version() == version
        again.close()


def test_replicas_starting_together_migrate_an_empty_database_once(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Four replicas (and pollers) starting at the same moment on a new database: the
    advisory lock lets one migrate, the others wait and find every version applied."""
    import threading

    import psycopg

    from lawangjabo.storage.pg import PG_MIGRATIONS, PgDatabase

    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS lj_concurrent")
        admin.execute("CREATE DATABASE lj_concurrent")
    url = pg_url.rsplit("/", 1)[0] + "/lj_concurrent"
    barrier = threading.Barrier(4)
    opened: list[PgDatabase] = []
    failures: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            opened.append(PgDatabase(url))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert failures == [] and len(opened) == 4
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert errors == []  # no replica's migration failed and was left for later
        rows = opened[0].execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == [m.version for m in PG_MIGRATIONS]  # each exactly once
        assert {db.schema_version() for db in opened} == {PG_MIGRATIONS[-1].version}
    finally:
        for db in opened:
            db.close()


@pytest.mark.parametrize("kind", ["file", "postgresql"])
def test_service_tokens_verify_until_revoked_and_store_only_hashes(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from lawangjabo.auth.tokens import FileTokenStore, SharedTokenStore, TokenError

    if kind == "file":
        store: Any = FileTokenStore(tmp_path / "service-tokens.json")
        shared = None
    else:
        from lawangjabo.storage.pg import PgDatabase

        shared = PgDatabase(request.getfixturevalue("pg_url"))
        shared.execute("TRUNCATE service_tokens")
        store = SharedTokenStore(shared)
    try:
        token, secret = store.create("dishub", "atcs", "cli:root")
        assert secret.startswith("ljt_") and store.verify(secret) == token
        assert store.verify(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
        assert store.verify("ljt_" + token.id + "_" + "x" * 43) is None
        with pytest.raises(TokenError):
            store.create("dishub", "atcs", "cli:root")  # one live token per name
        other, other_secret = store.create("polrestabes", "cad", "cli:root")
        assert store.revoke("atcs").id == token.id  # by name (or id)
        assert store.verify(secret) is None and store.verify(other_secret) == other
        assert [(t.name, t.revoked_at is not None) for t in store.listing()] == [
            ("atcs", True), ("cad", False)]  # fmt: skip
        with pytest.raises(TokenError):
            store.revoke("nobody")
        if kind == "file":
            text = (tmp_path / "service-tokens.json").read_text()
            assert secret.rsplit("_", 1)[1] not in text
            assert (tmp_path / "service-tokens.json").stat().st_mode & 0o077 == 0
    finally:
        if shared is not None:
            shared.close()


def test_a_cameras_state_at_a_moment_is_its_last_poll_before_it(gateway: Any) -> None:
    """Was it on camera? reads the poll just before the moment, on either backend."""
    from lawangjabo.cameras.ledger import states_at

    if type(gateway).__name__ == "PgDatabase":
        gateway.execute("TRUNCATE poll_outcomes")
    rows = [
        ("cam-a", T0 - timedelta(seconds=50), True, None, False),
        ("cam-a", T0 - timedelta(seconds=10), False, "timeout", False),
        ("cam-b", T0 - timedelta(seconds=30), True, None, True),
        ("cam-c", T0 - timedelta(minutes=10), True, None, False),  # too long before: unknown
        ("cam-d", T0 + timedelta(seconds=1), True, None, False),  # after: unknown
    ]
    for camera, at, ok, error, dark in rows:
        gateway.execute(
            "INSERT INTO poll_outcomes (camera_id, polled_at, ok, error_kind, lane, dark) "
            "VALUES (?, ?, ?, ?, 'sweep', ?)",
            [camera, at, ok, error, dark],
        )
    found = states_at(gateway, ["cam-a", "cam-b", "cam-c", "cam-d", "cam-e"], T0, gap_s=90)
    assert found == {"cam-a": "timeout", "cam-b": "dark"}
