"""Audit entries written by other processes (the CLI, a poller) or while the database is away.

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

from .db import Database
from .fileio import write_text_atomic
from .ledger import ingest_files

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


def _read(path: Path) -> list[AuditEntry]:
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        data = json.loads(line)
        when = datetime.fromisoformat(data["happened_at"])
        if when.tzinfo is None:
            raise ValueError(f"line {number}: happened_at has no time zone")
        detail = data.get("detail", {})
        if not isinstance(detail, dict):
            raise ValueError(f"line {number}: detail is not an object")
        entries.append(AuditEntry(when, str(data["actor"]), str(data["action"]), detail))
    return entries


def _write(db: Database, entries: list[AuditEntry]) -> None:
    db.executemany(
        "INSERT INTO audit_log (happened_at, actor, action, detail) VALUES (?, ?, ?, ?)",
        [[e.happened_at, e.actor, e.action, json.dumps(e.detail, default=str)] for e in entries],
    )


def ingest_audit_spool(db: Database, folder: Path) -> list[AuditEntry]:
    """Move spooled entries into ``audit_log`` (one transaction per file); returns them."""
    return ingest_files(db, folder, _read, _write, key_prefix="audit/")
