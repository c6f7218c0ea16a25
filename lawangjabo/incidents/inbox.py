"""Incident files handed to the running app: how the CLI imports while the app runs.

Embedded, the app process holds the DuckDB file and no other process may open it. So
``python -m lawangjabo import-incidents FILE`` checks the file itself, then leaves a copy and a
small job description in ``<state>/inbox/incidents/``; the app takes it within a second (its
ingest loop), imports it exactly as the Incidents page would (all rows or none unless partial),
audits it, and writes the outcome to ``done/<job>.json``, which the CLI is waiting for. A job
that cannot be read is quarantined with its reason; a job the database refuses stays for the
next pass (the database may be away) and is quarantined after three refusals. In cluster mode
the CLI writes to PostgreSQL itself and needs no inbox.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lawangjabo.fileio import write_text_atomic
from lawangjabo.incidents.files import import_incidents
from lawangjabo.incidents.store import SOURCES, IncidentStore
from lawangjabo.incidents.turns import ImportTurns
from lawangjabo.storage.spool import quarantine_file

log = logging.getLogger(__name__)

JOB_SUFFIX = ".job.json"
KEEP_RESULTS_S = 7 * 86400
REFUSALS_BEFORE_QUARANTINE = 3


@dataclass(frozen=True)
class Job:
    name: str
    data: Path
    actor: str
    source: str
    partial: bool
    original: str


def inbox_folder(state: Path) -> Path:
    return state / "inbox" / "incidents"


def result_path(folder: Path, name: str) -> Path:
    return folder / "done" / f"{name}.json"


def submit(folder: Path, path: Path, actor: str, source: str, partial: bool) -> str:
    """Leave ``path`` for the running app; returns the job's name (its result's name)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    name = f"{stamp}-{os.getpid()}"
    data = folder / f"{name}{path.suffix.lower()}"
    partial_copy = folder / f".{name}.part"
    shutil.copyfile(path, partial_copy)
    partial_copy.replace(data)  # the job file comes last: a job always finds its data whole
    job = {"data": data.name, "actor": actor, "source": source, "partial": partial,
           "original": path.name}  # fmt: skip
    write_text_atomic(folder / f"{name}{JOB_SUFFIX}", json.dumps(job))
    return name


def _read_job(path: Path) -> Job:
    raw: Any = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError("a job is a JSON object")
    data = path.parent / str(raw.get("data", ""))
    if data.parent != path.parent or not data.is_file():
        raise ValueError("its incident file is missing")
    source = str(raw.get("source", "import"))
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    name = path.name.removesuffix(JOB_SUFFIX)
    actor, original = str(raw.get("actor", "cli:unknown")), str(raw.get("original", data.name))
    return Job(name, data, actor, source, bool(raw.get("partial", False)), original)


class IncidentInbox:
    """Takes the jobs in one inbox folder (call :meth:`take` from one thread at a time)."""

    def __init__(self, folder: Path, turns: ImportTurns | None = None) -> None:
        self.folder = folder
        self.turns = turns or ImportTurns()  # shared with the pages' uploads
        self._refusals: dict[str, int] = {}

    def take(
        self, store: IncidentStore, audit: Callable[[str, str, dict[str, Any]], None]
    ) -> list[dict[str, Any]]:
        """Import every waiting job; returns their outcomes."""
        if not self.folder.is_dir():
            return []
        outcomes = []
        for path in sorted(self.folder.glob(f"*{JOB_SUFFIX}")):
            try:
                job = _read_job(path)
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                quarantine_file(path, f"unreadable incident import job: {exc}")
                continue
            try:
                with self.turns.turn():
                    result = import_incidents(store, job.data, job.actor, job.source,
                                              job.partial)  # fmt: skip
            except Exception as exc:  # the database refused: retry, then set aside
                refused = self._refusals[job.name] = self._refusals.get(job.name, 0) + 1
                log.warning("incident import %s refused (%d): %s", job.name, refused, exc)
                if refused >= REFUSALS_BEFORE_QUARANTINE:
                    reason = f"the database refused it {refused} times: {exc}"
                    quarantine_file(job.data, reason)
                    quarantine_file(path, reason)
                    self._finish(job, {"error": reason[:300]})
                continue
            outcome = {
                "written": result.written,
                "valid": result.valid,
                "notes": result.notes,
                "rejects": [r.as_dict() for r in result.rejects],
                "problems": result.problems,
            }
            audit(job.actor, "incidents_imported", {"file": job.original, "via": "cli",
                  "written": result.written, "rejected": result.problems})  # fmt: skip
            self._finish(job, outcome)
            for done in (job.data, path):
                done.unlink(missing_ok=True)
            outcomes.append(outcome)
        if outcomes:  # results only pile up when jobs come: no folder scan every second
            self._prune()
        return outcomes

    def _finish(self, job: Job, outcome: dict[str, Any]) -> None:
        self._refusals.pop(job.name, None)
        target = result_path(self.folder, job.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        outcome = {"job": job.name, "file": job.original,
                   "finished_at": datetime.now(UTC).isoformat(), **outcome}  # fmt: skip
        write_text_atomic(target, json.dumps(outcome))
        log.info("incident import %s (%s): %s", job.name, job.original,
                 {k: v for k, v in outcome.items() if k != "rejects"})  # fmt: skip

    def _prune(self) -> None:
        cutoff = time.time() - KEEP_RESULTS_S
        for old in (self.folder / "done").glob("*.json"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except OSError:
                continue


def wait_for_result(
    folder: Path, name: str, timeout_s: float, tick: Callable[[float], None] | None = None
) -> dict[str, Any] | None:
    """The outcome of job ``name`` once the app has written it, or None after ``timeout_s``."""
    target = result_path(folder, name)
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if target.is_file():
            loaded: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
            return loaded
        if tick is not None:
            tick(time.monotonic() - started)
        time.sleep(0.2)
    return None
