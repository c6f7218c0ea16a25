"""The one gateway to DuckDB: parameterised SQL, a cursor per thread, versioned migrations.

DuckDB lets one process hold a database file; inside that process, threads share one
connection and each uses its own ``cursor()`` (sharing a connection object across threads
errors on 2.x). Written for DuckDB 2.x: results are fetched completely before a cursor runs its
next statement, and Arrow results use ``to_arrow_table()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "metadata table",
        (
            """CREATE TABLE app_meta (
                   key VARCHAR PRIMARY KEY,
                   value VARCHAR NOT NULL,
                   updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
               )""",
        ),
    ),
    Migration(
        2,
        "camera health ledger",
        (
            """CREATE TABLE poll_outcomes (
                   camera_id VARCHAR NOT NULL,
                   polled_at TIMESTAMPTZ NOT NULL,
                   ok BOOLEAN NOT NULL,
                   error_kind VARCHAR,
                   latency_ms DOUBLE,
                   lane VARCHAR NOT NULL,
                   dark BOOLEAN,
                   low_detail BOOLEAN,
                   frozen BOOLEAN,
                   mean_luma DOUBLE,
                   detail DOUBLE,
                   dhash UBIGINT
               )""",
            """CREATE TABLE ingested_files (
                   name VARCHAR PRIMARY KEY,
                   rows INTEGER NOT NULL,
                   ingested_at TIMESTAMPTZ NOT NULL DEFAULT now()
               )""",
        ),
    ),
    Migration(
        3,
        "incidents and their event log",
        (
            "CREATE SEQUENCE incident_ids START 1",
            """CREATE TABLE incidents (
                   id BIGINT PRIMARY KEY DEFAULT nextval('incident_ids'),
                   occurred_at TIMESTAMPTZ NOT NULL,
                   reported_at TIMESTAMPTZ NOT NULL,
                   category VARCHAR NOT NULL,
                   priority VARCHAR NOT NULL CHECK (priority IN ('P1', 'P2', 'P3')),
                   status VARCHAR NOT NULL,
                   lat DOUBLE NOT NULL,
                   lon DOUBLE NOT NULL,
                   kecamatan VARCHAR,
                   h3_r7 UBIGINT NOT NULL,
                   h3_r8 UBIGINT NOT NULL,
                   h3_r9 UBIGINT NOT NULL,
                   nearest_camera VARCHAR,
                   camera_distance_m DOUBLE,
                   local_hour TINYINT NOT NULL,
                   local_dow TINYINT NOT NULL,
                   lead_agency VARCHAR NOT NULL,
                   source VARCHAR NOT NULL,
                   external_id VARCHAR,
                   description VARCHAR,
                   created_by VARCHAR NOT NULL,
                   updated_at TIMESTAMPTZ NOT NULL
               )""",
            """CREATE TABLE incident_events (
                   incident_id BIGINT NOT NULL,
                   happened_at TIMESTAMPTZ NOT NULL,
                   kind VARCHAR NOT NULL,
                   from_status VARCHAR,
                   to_status VARCHAR,
                   agency VARCHAR,
                   note VARCHAR,
                   actor VARCHAR NOT NULL
               )""",
        ),
    ),
    Migration(
        4,
        "append-only audit log",
        (
            """CREATE TABLE audit_log (
                   happened_at TIMESTAMPTZ NOT NULL,
                   actor VARCHAR NOT NULL,
                   action VARCHAR NOT NULL,
                   detail VARCHAR
               )""",
        ),
    ),
    Migration(
        5,
        "alerts and their webhook deliveries (with the dead-letter log)",
        (
            "CREATE SEQUENCE alert_ids START 1",
            """CREATE TABLE alerts (
                   id BIGINT PRIMARY KEY DEFAULT nextval('alert_ids'),
                   key VARCHAR NOT NULL,
                   rule VARCHAR NOT NULL,
                   subject VARCHAR NOT NULL,
                   severity VARCHAR NOT NULL,
                   params VARCHAR NOT NULL,
                   opened_at TIMESTAMPTZ NOT NULL,
                   last_seen_at TIMESTAMPTZ NOT NULL,
                   resolved_at TIMESTAMPTZ,
                   acked_by VARCHAR,
                   acked_at TIMESTAMPTZ
               )""",
            "CREATE SEQUENCE delivery_ids START 1",
            """CREATE TABLE alert_deliveries (
                   id BIGINT PRIMARY KEY DEFAULT nextval('delivery_ids'),
                   alert_id BIGINT NOT NULL,
                   event VARCHAR NOT NULL,
                   payload VARCHAR NOT NULL,
                   status VARCHAR NOT NULL,
                   attempts INTEGER NOT NULL,
                   next_attempt_at TIMESTAMPTZ NOT NULL,
                   last_error VARCHAR,
                   sent_at TIMESTAMPTZ
               )""",
        ),
    ),
    Migration(
        6,
        "when each polled picture was first seen (a frozen feed's true age)",
        ("ALTER TABLE poll_outcomes ADD COLUMN picture_at TIMESTAMPTZ",),
    ),
    Migration(
        7,
        "a small-integer code per incident category (analytics filter on it, not on text)",
        (
            """CREATE TABLE incident_category_codes (
                   category VARCHAR PRIMARY KEY,
                   code USMALLINT NOT NULL UNIQUE
               )""",
            "INSERT INTO incident_category_codes SELECT category, "
            "row_number() OVER (ORDER BY category) FROM (SELECT DISTINCT category FROM incidents)",
            "ALTER TABLE incidents ADD COLUMN category_code USMALLINT",
            "UPDATE incidents SET category_code = c.code FROM incident_category_codes c "
            "WHERE c.category = incidents.category",
        ),
    ),
    Migration(
        8,  # DuckDB refuses a constraint in the transaction that filled the column
        "every incident has its category code",
        ("ALTER TABLE incidents ALTER COLUMN category_code SET NOT NULL",),
    ),
    Migration(
        9,
        "the category words of other systems' files, mapped once in an import preview",
        (
            """CREATE TABLE incident_category_words (
                   word VARCHAR PRIMARY KEY,
                   category VARCHAR NOT NULL,
                   added_by VARCHAR NOT NULL,
                   added_at TIMESTAMPTZ NOT NULL
               )""",
        ),
    ),
    Migration(
        10,
        "each incident's place at the city's finer level (kelurahan), once its boundaries exist",
        ("ALTER TABLE incidents ADD COLUMN kelurahan VARCHAR",),
    ),
    Migration(
        11,
        "maintenance windows: a camera's or an agency's time left out of uptime and alerts",
        (
            "CREATE SEQUENCE maintenance_ids START 1",
            """CREATE TABLE maintenance (
                   id BIGINT PRIMARY KEY DEFAULT nextval('maintenance_ids'),
                   camera_id VARCHAR,
                   agency VARCHAR,
                   starts_at TIMESTAMPTZ NOT NULL,
                   ends_at TIMESTAMPTZ NOT NULL,
                   reason VARCHAR NOT NULL,
                   created_by VARCHAR NOT NULL,
                   created_at TIMESTAMPTZ NOT NULL
               )""",
        ),
    ),
    Migration(
        12,
        "a good-looking picture that was tampered with: moved, blurred or covered",
        ("ALTER TABLE poll_outcomes ADD COLUMN tamper VARCHAR",),
    ),
)


class Gateway(Protocol):
    """What a table owner needs from a database, embedded (:class:`Database`) or PostgreSQL
    (``storage.pg.PgDatabase``): ``?`` placeholders, rows fully fetched, one transaction per
    ``work``."""

    dialect: str  # "duckdb" or "postgresql": where SQL must differ (row locks, advisory locks)

    def execute(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[tuple[Any, ...]]: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def frame(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any: ...

    def insert_frame(self, table: str, columns: Sequence[str], frame: Any) -> int: ...

    def insert_files(self, table: str, columns: Sequence[str], paths: Sequence[Path]) -> int: ...

    def transaction(self, work: Callable[[Any], None]) -> None: ...


class Database:
    """A DuckDB file opened once per process; use :meth:`execute` from any thread."""

    dialect = "duckdb"

    def __init__(self, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = duckdb.connect(str(path))
        self._local = threading.local()
        self._lock = threading.Lock()
        self._migrate(migrations)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._lock:
                cursor = self._connection.cursor()
            self._local.cursor = cursor
        return cursor

    def execute(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Run one statement with parameters and return all its rows (fully fetched)."""
        cursor = self._cursor()
        cursor.execute(sql, params)
        return cursor.fetchall()

    def frame(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """Run one query and return all its rows as a pandas DataFrame (columnar, fast)."""
        cursor = self._cursor()
        cursor.execute(sql, params)
        return cursor.df()

    def insert_frame(self, table: str, columns: Sequence[str], frame: Any) -> int:
        """Bulk insert a pandas DataFrame or Arrow table (column names as given)."""
        return self._from_frame(table, columns, frame, None)

    def insert_files(self, table: str, columns: Sequence[str], paths: Sequence[Path]) -> int:
        """Bulk insert the rows of Parquet files (column names as given) in one statement:
        DuckDB streams them in. Many chunks registered from pandas one by one inside one
        transaction grew this process by ~500 MB per million incidents; staged as files and
        inserted at once, by ~100 MB."""
        if not paths:
            return 0
        cols = ", ".join(columns)
        rows = self.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM read_parquet(?)",
            [[str(p) for p in paths]],
        )
        return int(rows[0][0]) if rows else 0

    def replace_frame(self, table: str, key: str, columns: Sequence[str], frame: Any) -> int:
        """Replace the rows of ``table`` whose ``key`` appears in ``frame`` by ``frame``'s rows
        (delete, then insert; run it inside a transaction)."""
        return self._from_frame(table, columns, frame, key)

    def _from_frame(self, table: str, columns: Sequence[str], frame: Any, key: str | None) -> int:
        cursor = self._cursor()
        name = f"incoming_{threading.get_ident()}"
        cursor.register(name, frame)
        try:
            if key is not None:
                cursor.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {name})")
            cols = ", ".join(columns)
            cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
            rows = cursor.fetchall()
        finally:
            cursor.unregister(name)
        return int(rows[0][0]) if rows else 0

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one parameterised statement for many rows."""
        self._cursor().executemany(sql, rows)

    def transaction(self, work: Callable[[Database], None]) -> None:
        """Run ``work`` inside one transaction on this thread's cursor; roll back on error."""
        cursor = self._cursor()
        cursor.execute("BEGIN TRANSACTION")
        try:
            work(self)
            cursor.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (a full disk) leaves the transaction open: end it, or this
            # thread's cursor could never start another one.
            try:
                cursor.execute("ROLLBACK")
            except duckdb.Error:
                log.debug("rollback after a failed transaction also failed", exc_info=True)
            raise

    def get_meta(self, key: str) -> str | None:
        """A value of this file's own bookkeeping (``app_meta``), or None."""
        rows = self.execute("SELECT value FROM app_meta WHERE key = ?", [key])
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.execute(
            "INSERT INTO app_meta (key, value, updated_at) VALUES (?, ?, now()) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()",
            [key, value],
        )

    def schema_version(self) -> int:
        rows = self.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return int(rows[0][0])

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        self.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version INTEGER PRIMARY KEY,
                   description VARCHAR NOT NULL,
                   applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
               )"""
        )
        current = self.schema_version()
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version <= current:
                continue

            def apply(db: Database, m: Migration = migration) -> None:
                for statement in m.statements:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                    [m.version, m.description],
                )

            self.transaction(apply)
            log.info("database %s migrated to version %d", self.path.name, migration.version)

    def status(self) -> dict[str, Any]:
        """A health summary: reachable, schema version, engine version (no file paths)."""
        try:
            version = self.schema_version()
            self.execute("SELECT 1")
        except duckdb.Error as exc:
            return {"status": "error", "error": type(exc).__name__}
        return {"status": "ok", "schema_version": version, "engine": f"duckdb {duckdb.__version__}"}

    def close(self) -> None:
        self._connection.close()
