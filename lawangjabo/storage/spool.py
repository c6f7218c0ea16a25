"""Consuming spool files: each closed ``*.jsonl`` file moves into the database exactly once, and a
file that cannot be moved is set aside with its reason instead of blocking the ones after it.

* A file that cannot be *read* (not UTF-8, not JSON, not an object, a wrong-typed field — any
  exception of the reader) goes to ``<folder>/quarantine/`` with a ``.reason.txt`` beside it, is
  logged once and counted. The files after it are ingested.
* A file the *database* refuses is retried on later passes (the database may be away: a full
  disk, a lock). Only when other files went in while this one was refused three times is it
  poison, and quarantined as well. Nothing is deleted: a quarantined file can be put back with
  ``python -m lawangjabo spool requeue`` once its cause is fixed.
* The last database error and when it started are kept, for ``/api/health``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from lawangjabo.fileio import write_text_atomic
from lawangjabo.storage.db import Gateway

log = logging.getLogger(__name__)
T = TypeVar("T")

QUARANTINE = "quarantine"
REASON_SUFFIX = ".reason.txt"
REFUSALS_BEFORE_QUARANTINE = 3
MAX_FAILED_WRITES_PER_PASS = 3  # the database is likely away: do not hammer it with every file


@dataclass(frozen=True)
class Quarantined:
    name: str
    reason: str
    at: datetime


def quarantine_file(path: Path, reason: str) -> Path:
    """Move ``path`` into its folder's ``quarantine/`` with a note of why; returns the new path."""
    folder = path.parent / QUARANTINE
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    os.replace(path, target)
    write_text_atomic(target.with_name(target.name + REASON_SUFFIX), reason + "\n")
    return target


def quarantined(folder: Path) -> list[Quarantined]:
    """The files set aside in ``folder``'s quarantine, oldest first."""
    place = folder / QUARANTINE
    found = []
    try:
        files = sorted(p for p in place.iterdir() if not p.name.endswith(REASON_SUFFIX))
    except OSError:
        return []
    for path in files:
        try:
            note = path.with_name(path.name + REASON_SUFFIX).read_text(encoding="utf-8").strip()
            at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:
            note, at = "(reason unreadable)", datetime.now(UTC)
        found.append(Quarantined(path.name, note, at))
    return found


def requeue(folder: Path) -> int:
    """Put every quarantined file of ``folder`` back in line; returns how many."""
    moved = 0
    for item in quarantined(folder):
        source = folder / QUARANTINE / item.name
        os.replace(source, folder / item.name)
        source.with_name(item.name + REASON_SUFFIX).unlink(missing_ok=True)
        moved += 1
    return moved


def json_lines(path: Path, parse: Callable[[Any], T]) -> list[T]:
    """Every non-blank line of ``path`` as JSON through ``parse``; a line that is not UTF-8, not
    JSON or that ``parse`` rejects raises ValueError naming the line."""
    items = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            items.append(parse(json.loads(raw.decode("utf-8"))))
        except (ValueError, TypeError, KeyError) as exc:  # UnicodeDecodeError is a ValueError
            why = str(exc) if type(exc) is ValueError else _short(exc)
            raise ValueError(f"line {number}: {why}") from exc
    return items


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


class SpoolIngest(Generic[T]):
    """Moves one folder's spool files into the database (one transaction per file)."""

    def __init__(
        self,
        folder: Path,
        read: Callable[[Path], list[T]],
        write: Callable[[Gateway, list[T]], None],
        key_prefix: str = "",
    ) -> None:
        self.folder, self.read, self.write, self.key_prefix = folder, read, write, key_prefix
        self._refusals: dict[str, int] = {}
        self._stuck: set[str] = set()  # could not even be moved aside: skip until restart
        self._lock = threading.Lock()
        self.error: str | None = None  # the database's last refusal, while it lasts
        self.error_since: datetime | None = None
        self.quarantined_here = 0  # by this process

    def _set_aside(self, path: Path, reason: str) -> None:
        try:
            quarantine_file(path, reason)
        except OSError as exc:
            self._stuck.add(path.name)
            log.error("spool file %s: %s; it cannot be moved aside either (%s)", path, reason, exc)
            return
        self.quarantined_here += 1
        log.error("spool file %s quarantined: %s", path, reason)

    def _remove(self, path: Path) -> None:
        """Remove an ingested file; if the folder is read-only, skip it until restart (its
        name in ``ingested_files`` keeps it from counting twice later)."""
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            self._stuck.add(path.name)
            log.warning("ingested %s but cannot remove it: %s", path.name, exc)

    def run(self, db: Gateway) -> list[T]:
        """One pass over the folder; returns every item moved into the database."""
        with self._lock:
            return self._run(db)

    def _run(self, db: Gateway) -> list[T]:
        moved: list[T] = []
        refused: list[tuple[Path, str]] = []
        wrote = False
        try:
            paths = sorted(self.folder.glob("*.jsonl"))
        except OSError as exc:
            self._failed(f"spool folder unreadable: {_short(exc)}")
            return moved
        for path in paths:
            if path.name in self._stuck:
                continue
            key = self.key_prefix + path.name
            try:
                done = bool(db.execute("SELECT 1 FROM ingested_files WHERE name = ?", [key]))
            except Exception as exc:
                self._failed(_short(exc))
                return moved
            if done:  # moved in already (the app stopped before removing it)
                self._remove(path)
                continue
            try:
                items = self.read(path)
            except FileNotFoundError:
                continue  # taken by another pass
            except Exception as exc:
                why = str(exc) if type(exc) is ValueError else _short(exc)
                self._set_aside(path, f"unreadable: {why}"[:400])
                continue

            def work(database: Gateway, items: list[T] = items, key: str = key) -> None:
                if items:
                    self.write(database, items)
                database.execute(
                    "INSERT INTO ingested_files (name, rows) VALUES (?, ?)", [key, len(items)]
                )

            try:
                db.transaction(work)
            except Exception as exc:
                reason = _short(exc)
                count = self._refusals[path.name] = self._refusals.get(path.name, 0) + 1
                if count == 1:
                    log.error("database refused spool file %s (will retry): %s", path, reason)
                refused.append((path, reason))
                if len(refused) >= MAX_FAILED_WRITES_PER_PASS and not wrote:
                    break
                continue
            wrote = True
            self._refusals.pop(path.name, None)
            self._remove(path)
            moved.extend(items)
        if wrote:
            for path, reason in refused:
                if self._refusals.get(path.name, 0) >= REFUSALS_BEFORE_QUARANTINE:
                    self._refusals.pop(path.name, None)
                    self._set_aside(path, f"refused by the database: {reason}")
        if refused and not wrote:
            self._failed(refused[-1][1])
        else:
            self._recovered()
        return moved

    def _failed(self, reason: str) -> None:
        if self.error is None:
            self.error_since = datetime.now(UTC)
        self.error = reason

    def _recovered(self) -> None:
        if self.error is not None:
            log.info("spool %s: database accepts files again", self.folder.name)
        self.error, self.error_since = None, None
