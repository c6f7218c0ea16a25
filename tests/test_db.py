"""The DuckDB gateway: migrations, parameters, a cursor per thread, health status."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from lawangjabo.storage.db import MIGRATIONS, Database, Migration


def test_migrates_from_empty_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "lj.duckdb"
    db = Database(path)
    assert db.schema_version() == MIGRATIONS[-1].version
    db.close()
    again = Database(path)
    rows = again.execute("SELECT version FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]
    again.close()


def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    broken = (*MIGRATIONS, Migration(99, "broken", ("CREATE TABLE t (x INT)", "SELEC nonsense")))
    with pytest.raises(duckdb.Error):
        Database(tmp_path / "lj.duckdb", broken)
    db = Database(tmp_path / "lj.duckdb")
    assert db.schema_version() == MIGRATIONS[-1].version
    tables = {r[0] for r in db.execute("SELECT table_name FROM information_schema.tables")}
    assert "t" not in tables
    db.close()


def test_parameters_are_bound_not_interpolated(tmp_path: Path) -> None:
    db = Database(tmp_path / "lj.duckdb")
    hostile = "x'); DROP TABLE app_meta; --"
    db.execute("INSERT INTO app_meta (key, value) VALUES (?, ?)", [hostile, "v"])
    assert db.execute("SELECT key FROM app_meta WHERE value = $v", {"v": "v"}) == [(hostile,)]
    db.close()


def test_threads_each_use_their_own_cursor(tmp_path: Path) -> None:
    db = Database(tmp_path / "lj.duckdb")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(50):
                db.execute("INSERT INTO app_meta (key, value) VALUES (?, ?)", [f"{n}-{i}", "x"])
                db.execute("SELECT count(*) FROM app_meta")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.execute("SELECT count(*) FROM app_meta") == [(300,)]
    db.close()


def test_status_reports_engine_and_schema(tmp_path: Path) -> None:
    db = Database(tmp_path / "lj.duckdb")
    status = db.status()
    assert status == {
        "status": "ok",
        "schema_version": MIGRATIONS[-1].version,
        "engine": f"duckdb {duckdb.__version__}",
    }
    assert str(tmp_path) not in str(status)
    db.close()
