"""The audit log (``audit_log``): its only SQL, bounded entries, and the spool for entries
written by other processes (the CLI, a poller) or while the database is away.

The app process owns the DuckDB file, so ``python -m lawangjabo users …`` and
``import-cameras`` cannot insert into ``audit_log`` while the app runs. They write one small
JSON-lines file per entry into the audit spool instead (atomically: a reader sees all of it or
nothing), and the app moves each file into ``audit_log`` in one transaction that also records
the file's name, so an entry is never lost and never counted twice.
"""

from __future__ import annotations

import getpass
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lawangjabo.fileio import write_text_atomic
from lawangjabo.sheets import frame_csv
from lawangjabo.storage.db import Gateway
from lawangjabo.storage.spool import SpoolIngest, json_lines

# Account changes after which the account's open sessions are signed out.
SIGN_OUT_AFTER = frozenset({"user_role_set", "user_password_reset", "user_removed"})


@dataclass(frozen=True)
class AuditEntry:
    happened_at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


def cli_actor() -> str:
    """Who ran a command: the operating-system account, marked as coming from the CLI."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def spool_entry(
    folder: Path, actor: str, action: str, detail: dict[str, Any], when: datetime | None = None
) -> Path:
    """Leave one audit entry for the app to ingest; returns the file written."""
    when = when or datetime.now(UTC)
    path = folder / f"{when:%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}.jsonl"
    line = json.dumps(
        {"happened_at": when.isoformat(), "actor": actor, "action": action, "detail": detail},
        default=str,
    )
    write_text_atomic(path, line + "\n")
    return path


MAX_FIELD = 200  # characters of actor and action kept


def _read(path: Path) -> list[AuditEntry]:
    return json_lines(path, _entry)


def _entry(data: Any) -> AuditEntry:
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object but {type(data).__name__}")
    for key in ("happened_at", "actor", "action"):
        if not isinstance(data.get(key), str):
            raise ValueError(f"{key} is missing or not a string")
    when = datetime.fromisoformat(data["happened_at"])
    if when.tzinfo is None:
        raise ValueError("happened_at has no time zone")
    detail = data.get("detail", {})
    if not isinstance(detail, dict):
        raise ValueError("detail is not an object")
    return AuditEntry(when, data["actor"][:MAX_FIELD], data["action"][:MAX_FIELD], detail)


MAX_VALUE = 256  # characters of any one detail value kept
MAX_DETAIL = 4096  # characters of one entry's detail (JSON) kept


def bounded_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """``detail`` with every text cut to a bounded length, so nothing a visitor sends can grow
    the audit log by more than a few KB per entry."""

    def cut(value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return value if len(value) <= MAX_VALUE else value[:MAX_VALUE] + "…"
        if depth > 3:
            return "…"
        if isinstance(value, dict):
            return {str(k)[:64]: cut(v, depth + 1) for k, v in list(value.items())[:50]}
        if isinstance(value, list | tuple):
            return [cut(v, depth + 1) for v in list(value)[:50]]
        return value

    bounded: dict[str, Any] = cut(detail)
    text = json.dumps(bounded, default=str)
    return bounded if len(text) <= MAX_DETAIL else {"truncated": text[: MAX_DETAIL // 2]}


def _write(db: Gateway, entries: list[AuditEntry]) -> None:
    db.executemany(
        "INSERT INTO audit_log (happened_at, actor, action, detail) VALUES (?, ?, ?, ?)",
        [
            [e.happened_at, e.actor, e.action, json.dumps(bounded_detail(e.detail), default=str)]
            for e in entries
        ],
    )


def audit_ingest(folder: Path) -> SpoolIngest[AuditEntry]:
    """The audit spool's consumer (keep one per process: it remembers refusals)."""
    return SpoolIngest(folder, _read, _write, key_prefix="audit/")


def ingest_audit_spool(db: Gateway, folder: Path) -> list[AuditEntry]:
    """Move spooled entries into ``audit_log`` (one transaction per file); returns them."""
    return audit_ingest(folder).run(db)


def append(db: Gateway, when: datetime, actor: str, action: str, detail: dict[str, Any]) -> None:
    """One entry, its detail bounded (see :func:`bounded_detail`)."""
    db.execute(
        "INSERT INTO audit_log (happened_at, actor, action, detail) VALUES (?, ?, ?, ?)",
        [when, actor, action, json.dumps(bounded_detail(detail), default=str)],
    )


def entries(
    db: Gateway, since: datetime, actor: str = "", action: str = "", limit: int = 5000
) -> Any:
    """Entries since ``since`` (newest first) as a DataFrame; ``actor``/``action`` exact."""
    where: list[str] = ["happened_at >= ?"]
    params: list[Any] = [since]
    for column, value in (("actor", actor.strip()), ("action", action.strip())):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    return db.frame(
        f"SELECT happened_at, actor, action, detail FROM audit_log "
        f"WHERE {' AND '.join(where)} ORDER BY happened_at DESC LIMIT ?",
        [*params, limit],
    )


def csv_export(frame: Any, timezone: str) -> str:
    """Audit entries (from :func:`entries`) as CSV, times on the city's clock. A failed
    sign-in's user name is whatever was typed: no cell may start a spreadsheet formula."""
    local = frame.assign(happened_at=frame["happened_at"].dt.tz_convert(timezone).map(str))
    return frame_csv(local)


def prune(db: Gateway, before: datetime) -> int:
    """Delete entries older than ``before`` (the retention); returns how many."""
    return len(db.execute("DELETE FROM audit_log WHERE happened_at < ? RETURNING 1", [before]))


def size(db: Gateway) -> tuple[int, int]:
    """(entries, characters stored): how much the audit log holds."""
    row = db.execute(
        "SELECT count(*), coalesce(sum(length(actor) + length(action) + length(detail)), 0) "
        "FROM audit_log"
    )[0]
    return int(row[0]), int(row[1])
