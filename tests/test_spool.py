"""Spool files: poison is quarantined with its reason and never blocks the files after it; a
database that refuses files is retried, not blamed; a writer survives a full disk."""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lawangjabo import fileio
from lawangjabo.cameras.ledger import (
    SpoolWriter,
    _read_outcomes,
    _write_outcomes,
    outcome_ingest,
    poll_count,
)
from lawangjabo.cameras.poller import Outcome
from lawangjabo.storage.audit import audit_ingest, bounded_detail, spool_entry
from lawangjabo.storage.db import Database
from lawangjabo.storage.spool import SpoolIngest, quarantined, requeue

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
GOOD = {
    "camera_id": "cam-1",
    "polled_at": T0.isoformat(),
    "ok": True,
    "error_kind": None,
    "latency_ms": 4.0,
    "lane": "sweep",
    "dark": False,
    "low_detail": False,
    "frozen": False,
    "mean_luma": 100.0,
    "detail": 10.0,
    "dhash": 12345,
    "picture_at": T0.isoformat(),
}
POISON: dict[str, str] = {
    "a list": "[1, 2, 3]",
    "a string": '"hello"',
    "a wrong-typed time": json.dumps({**GOOD, "polled_at": "not-a-time"}),
    "a number as a time": json.dumps({**GOOD, "polled_at": 5}),
    "a naive time": json.dumps({**GOOD, "polled_at": "2026-11-30T01:00:00"}),
    "a string for ok": json.dumps({**GOOD, "ok": "yes"}),
    "a missing field": json.dumps({k: v for k, v in GOOD.items() if k != "lane"}),
    "a negative dhash": json.dumps({**GOOD, "dhash": -1}),
    "a huge dhash": json.dumps({**GOOD, "dhash": 2**70}),
    "broken JSON": '{"camera_id": ',
    "not UTF-8": "\udcff",
}


def _write(folder: Path, name: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")


@pytest.mark.parametrize("kind", sorted(POISON))
def test_a_poison_file_is_quarantined_and_the_next_ones_go_in(tmp_path: Path, kind: str) -> None:
    db = Database(tmp_path / "db.duckdb")
    spool = tmp_path / "spool"
    _write(spool, "0001.jsonl", [json.dumps(GOOD)])
    _write(spool, "0002.jsonl", [json.dumps({**GOOD, "camera_id": "cam-2"}), POISON[kind]])
    _write(spool, "0003.jsonl", [json.dumps({**GOOD, "camera_id": "cam-3"})])
    ingest = outcome_ingest(spool)
    assert len(ingest.run(db)) == 2
    assert poll_count(db) == 2  # the poison file's good line is not half-written either
    held = quarantined(spool)
    assert [q.name for q in held] == ["0002.jsonl"]
    assert "line 2" in held[0].reason
    assert sorted(p.name for p in spool.glob("*.jsonl")) == []
    assert ingest.quarantined_here == 1 and ingest.error is None
    assert len(ingest.run(db)) == 0  # a second pass does not loop on it
    db.close()


def test_a_requeued_file_goes_in_once_fixed(tmp_path: Path) -> None:
    db = Database(tmp_path / "db.duckdb")
    spool = tmp_path / "spool"
    _write(spool, "0001.jsonl", ["[1]"])
    outcome_ingest(spool).run(db)
    fixed = spool / "quarantine" / "0001.jsonl"
    fixed.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    assert requeue(spool) == 1
    assert quarantined(spool) == []
    assert len(outcome_ingest(spool).run(db)) == 1
    db.close()


def _ledger_ingest(
    spool: Path, refusal: Callable[[list[list[Any]]], Exception | None]
) -> SpoolIngest[list[Any]]:
    """The poll spool's consumer, its database write refused when ``refusal`` says why."""

    def write(database: Any, rows: list[list[Any]]) -> None:
        error = refusal(rows)
        if error is not None:
            raise error
        _write_outcomes(database, rows)

    return SpoolIngest(spool, _read_outcomes, write)


def test_a_refusing_database_is_retried_not_blamed(tmp_path: Path) -> None:
    """A database that refuses everything (away, full) quarantines nothing; once it takes
    files again all of them go in, and the error clears."""
    db = Database(tmp_path / "db.duckdb")
    spool = tmp_path / "spool"
    for n in range(5):
        _write(spool, f"{n:04d}.jsonl", [json.dumps({**GOOD, "camera_id": f"cam-{n}"})])
    refusing = {"on": True}

    def refuse(rows: list[list[Any]]) -> Exception | None:
        return OSError(errno.ENOSPC, "No space left on device") if refusing["on"] else None

    ingest = _ledger_ingest(spool, refuse)
    for _ in range(5):
        assert ingest.run(db) == []
    assert ingest.error is not None and "No space" in ingest.error
    assert ingest.error_since is not None
    assert quarantined(spool) == []
    refusing["on"] = False
    assert len(ingest.run(db)) == 5
    assert ingest.error is None and poll_count(db) == 5
    db.close()


def test_a_file_only_the_database_refuses_is_quarantined_after_three_tries(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "db.duckdb")
    spool = tmp_path / "spool"
    _write(spool, "0001.jsonl", [json.dumps({**GOOD, "camera_id": "refused"})])

    ingest = _ledger_ingest(
        spool, lambda rows: ValueError("constraint") if rows[0][0] == "refused" else None
    )
    for n in range(3):
        _write(spool, f"{n + 2:04d}.jsonl", [json.dumps(GOOD)])
        assert len(ingest.run(db)) == 1
    held = quarantined(spool)
    assert [q.name for q in held] == ["0001.jsonl"]
    assert "refused by the database" in held[0].reason
    db.close()


def test_audit_spool_poison_is_quarantined_and_later_entries_still_sign_out(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "db.duckdb")
    folder = tmp_path / "audit"
    _write(folder, "00-poison.jsonl", ['{"happened_at": 5, "actor": [], "action": "x"}'])
    spool_entry(folder, "cli:root", "user_role_set", {"user": "ops1", "role": "planner"})
    moved = audit_ingest(folder).run(db)
    assert [e.action for e in moved] == ["user_role_set"]
    assert [q.name for q in quarantined(folder)] == ["00-poison.jsonl"]
    db.close()


def test_audit_details_are_bounded() -> None:
    one = bounded_detail({"at": "x" * 100_000, "camera": "cam-1"})
    assert one["camera"] == "cam-1" and one["at"].startswith("xxx") and len(one["at"]) <= 257
    big = bounded_detail({"nested": {"k": ["y" * 5000] * 200}})
    assert len(json.dumps(big)) <= 4096 and "truncated" in big


def _outcome(n: int, lane: str = "sweep") -> Outcome:
    return Outcome(f"cam-{n}", T0, True, None, 5.0, lane)


def test_spool_writer_keeps_outcomes_through_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC by injection: the flush fails, says why, keeps the outcomes; when space returns
    the next flush writes all of them, in order, and the fault clears."""
    writer = SpoolWriter(tmp_path / "spool")
    real = fileio.write_bytes_atomic
    full = {"on": True}

    def write(path: Path, data: bytes, durable: bool = True) -> None:
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data, durable)

    monkeypatch.setattr(fileio, "write_bytes_atomic", write)
    for n in range(3):
        writer.add(_outcome(n))
    assert writer.flush() is None
    writer.add(_outcome(3, lane="fast"))  # the fast lane's own flush fails calmly too
    assert writer.fault is not None and "No space" in writer.fault
    full["on"] = False
    path = writer.flush()
    assert path is not None and writer.fault is None
    cameras = [json.loads(line)["camera_id"] for line in path.read_text().splitlines()]
    assert cameras == ["cam-0", "cam-1", "cam-2", "cam-3"]


def test_spool_writer_bounds_its_memory(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path / "ro", max_buffer=10)
    for n in range(25):
        writer.add(_outcome(n))
    assert writer.dropped == 15
    path = writer.flush()
    assert path is not None
    assert json.loads(path.read_text().splitlines()[0])["camera_id"] == "cam-15"
