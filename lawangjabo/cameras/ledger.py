"""The camera health ledger: poll outcomes in DuckDB, states, uptime and outages.

How outcomes get there. DuckDB lets one process hold a file, and at 500+ cameras the poller must
not share the UI's process. So the poller never touches DuckDB: it appends outcomes to a *spool*
of small JSON-lines files (each written whole, then renamed), and the app process, which owns the
database, ingests closed spool files in one transaction each and records their names, so a file
is never counted twice. If the app is down the spool waits; if the poller is down its heartbeat
file ages and the UI says so. The embedded default runs the poller as a thread in the app process
through the very same spool.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from lawangjabo.cameras.poller import Outcome
from lawangjabo.fileio import write_text_atomic
from lawangjabo.storage.db import Database, Gateway
from lawangjabo.storage.spool import SpoolIngest, json_lines

log = logging.getLogger(__name__)

States = (
    "online", "dark", "frozen", "tampered", "stale", "offline", "pending", "unconfigured",
)  # fmt: skip


class SpoolWriter:
    """An :class:`OutcomeSink` that batches outcomes into spool files (poller side).

    A write that fails (a full disk, a read-only folder) keeps the outcomes in memory (up to
    ``max_buffer``, then the oldest are dropped and counted) and is retried on the next flush;
    ``fault`` says what is wrong until a write succeeds again. The thread never dies of it.
    """

    def __init__(self, spool: Path, flush_every_s: float = 1.0, max_buffer: int = 100_000) -> None:
        self.spool = spool
        self.flush_every_s = flush_every_s
        self.max_buffer = max_buffer
        self._buffer: list[Outcome] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._seq = 0
        self._prefix = f"{os.getpid()}-{int(time.time() * 1000)}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fault: str | None = None
        self.fault_since: datetime | None = None
        self.dropped = 0  # outcomes lost to a long write fault (oldest first)

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self._buffer.append(outcome)
            excess = len(self._buffer) - self.max_buffer
            if excess > 0:
                del self._buffer[:excess]
                self.dropped += excess
        if outcome.lane == "fast":
            self.flush()  # an operator is waiting for this one

    def flush(self) -> Path | None:
        """Write the buffered outcomes as one spool file (None: nothing to write, or failed)."""
        with self._write_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
                if not batch:
                    return None
                self._seq += 1
                name = f"{self._prefix}-{self._seq:08d}.jsonl"
            lines = []
            for outcome in batch:
                row = asdict(outcome)
                row["polled_at"] = outcome.polled_at.isoformat()
                row["picture_at"] = outcome.picture_at.isoformat() if outcome.picture_at else None
                lines.append(json.dumps(row))
            path = self.spool / name
            try:
                write_text_atomic(path, "\n".join(lines) + "\n")
            except OSError as exc:
                with self._lock:
                    self._buffer[:0] = batch  # keep them, oldest first, for the next try
                if self.fault is None:
                    self.fault_since = datetime.now(UTC)
                    log.error("poll spool not writable, keeping outcomes in memory: %s", exc)
                self.fault = f"poll spool not writable: {exc.strerror or exc}"
                return None
            if self.fault is not None:
                log.info("poll spool writable again after %s", self.fault)
                self.fault, self.fault_since = None, None
            return path

    def start(self) -> SpoolWriter:
        def loop() -> None:
            while not self._stop.wait(self.flush_every_s):
                try:
                    self.flush()
                except Exception:  # never die: the next flush tries again
                    log.exception("spool flush failed")

        self._thread = threading.Thread(target=loop, name="spool-writer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.flush()


_COLUMNS = (
    "camera_id",
    "polled_at",
    "ok",
    "error_kind",
    "latency_ms",
    "lane",
    "dark",
    "low_detail",
    "frozen",
    "mean_luma",
    "detail",
    "dhash",
    "picture_at",
    "tamper",
)
OPTIONAL_COLUMNS = frozenset({"picture_at", "tamper"})  # absent from older spool files
TAMPER_KINDS = ("moved", "blurred", "covered")


def _aware_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{field} is not a time string")
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"{field} has no time zone")
    return when


def _check(value: Any, kinds: tuple[type, ...], field: str, optional: bool = True) -> Any:
    """``value`` if it is one of ``kinds`` (bool is not a number here), else ValueError."""
    if value is None and optional:
        return None
    if isinstance(value, bool) and bool not in kinds:
        raise ValueError(f"{field} has the wrong type (bool)")
    if not isinstance(value, kinds):
        raise ValueError(f"{field} has the wrong type ({type(value).__name__})")
    return value


def outcome_row(item: Any) -> list[Any]:
    """One spool line as a ledger row, every field checked (ValueError names the field)."""
    if not isinstance(item, dict):
        raise ValueError(f"not a JSON object but {type(item).__name__}")
    missing = [c for c in _COLUMNS if c not in item and c not in OPTIONAL_COLUMNS]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    camera_id = _check(item["camera_id"], (str,), "camera_id", optional=False)
    if not camera_id or len(camera_id) > 200:
        raise ValueError("camera_id is empty or too long")
    if item["lane"] not in ("sweep", "fast"):
        raise ValueError("lane is neither sweep nor fast")
    dhash = _check(item["dhash"], (int,), "dhash")
    if dhash is not None and not 0 <= dhash < 2**64:
        raise ValueError("dhash out of range")
    error_kind = _check(item["error_kind"], (str,), "error_kind")
    tamper = item.get("tamper")
    if tamper is not None and tamper not in TAMPER_KINDS:
        raise ValueError(f"tamper is not one of {', '.join(TAMPER_KINDS)}")
    return [
        camera_id,
        _aware_time(item["polled_at"], "polled_at"),
        _check(item["ok"], (bool,), "ok", optional=False),
        None if error_kind is None else error_kind[:100],
        _check(item["latency_ms"], (int, float), "latency_ms"),
        item["lane"],
        _check(item["dark"], (bool,), "dark"),
        _check(item["low_detail"], (bool,), "low_detail"),
        _check(item["frozen"], (bool,), "frozen"),
        _check(item["mean_luma"], (int, float), "mean_luma"),
        _check(item["detail"], (int, float), "detail"),
        dhash,
        None if item.get("picture_at") is None else _aware_time(item["picture_at"], "picture_at"),
        tamper,
    ]


def _read_outcomes(path: Path) -> list[list[Any]]:
    return json_lines(path, outcome_row)


def _write_outcomes(db: Gateway, rows: list[list[Any]]) -> None:
    if isinstance(db, Database):  # DuckDB takes a columnar batch ~10x faster than row inserts
        db.insert_frame("poll_outcomes", _COLUMNS, _columns(rows))
        return
    placeholders = ", ".join("?" * len(_COLUMNS))
    db.executemany(
        f"INSERT INTO poll_outcomes ({', '.join(_COLUMNS)}) VALUES ({placeholders})", rows
    )


def _columns(rows: list[list[Any]]) -> Any:
    """Ledger rows as an Arrow table with the ledger's types (dhash is unsigned 64-bit)."""
    import pyarrow as pa

    moment = pa.timestamp("us", tz="UTC")
    types = {"camera_id": pa.string(), "polled_at": moment, "ok": pa.bool_(),
             "error_kind": pa.string(), "latency_ms": pa.float64(), "lane": pa.string(),
             "dark": pa.bool_(), "low_detail": pa.bool_(), "frozen": pa.bool_(),
             "mean_luma": pa.float64(), "detail": pa.float64(), "dhash": pa.uint64(),
             "picture_at": moment, "tamper": pa.string()}  # fmt: skip
    columns = {
        name: pa.array([row[i] for row in rows], type=types[name])
        for i, name in enumerate(_COLUMNS)
    }
    return pa.table(columns)


def outcome_ingest(spool: Path) -> SpoolIngest[list[Any]]:
    """The poll spool's consumer (keep one per process: it remembers refusals)."""
    return SpoolIngest(spool, _read_outcomes, _write_outcomes)


# --- cluster mode: the ledger in PostgreSQL, one partition per UTC day ----------------------

PARTITION_LOCK = 7311  # one partition maker at a time across pollers and replicas


def day_partition(day: date) -> str:
    return f"poll_outcomes_{day:%Y%m%d}"


def ensure_day_partitions(db: Gateway, days: set[date]) -> None:
    """Create the day partitions of ``poll_outcomes`` that do not exist yet (inside the
    caller's transaction; serialised by an advisory lock, so two pollers never race)."""
    missing = [d for d in sorted(days) if not _exists(db, day_partition(d))]
    if not missing:
        return
    db.execute("SELECT pg_advisory_xact_lock(?)", [PARTITION_LOCK])
    for day in missing:
        if _exists(db, day_partition(day)):
            continue
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)  # DDL takes no parameters: both are our own dates
        db.execute(
            f"CREATE TABLE {day_partition(day)} PARTITION OF poll_outcomes "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )


def _exists(db: Gateway, table: str) -> bool:
    return db.execute("SELECT to_regclass(?) IS NOT NULL", [table])[0][0] is True


def _write_outcomes_partitioned(db: Gateway, rows: list[list[Any]]) -> None:
    ensure_day_partitions(db, {row[1].astimezone(UTC).date() for row in rows})
    _write_outcomes(db, rows)
    _update_states(db, rows)


def _update_states(db: Gateway, rows: list[list[Any]]) -> None:
    """Keep ``camera_state`` (one row per camera: what the center's map and alert rules read)
    in step with the ledger. A late batch (a backlog after a cut link) never overwrites newer
    news. ``bad_since`` is when the current run of unusable polls began (a frozen picture's run
    began when the picture was first seen), as :func:`outages` would say."""
    by_camera: dict[str, list[list[Any]]] = defaultdict(list)
    for row in rows:  # columns as _COLUMNS: camera_id, polled_at, ok, error_kind, latency_ms …
        by_camera[row[0]].append(row)
    existing = {
        cid: (last_poll, bad_since, bad_reason)
        for cid, last_poll, bad_since, bad_reason in db.execute(
            "SELECT camera_id, last_poll, bad_since, bad_reason FROM camera_state "
            "WHERE camera_id = ANY(?) ORDER BY camera_id FOR UPDATE",
            [sorted(by_camera)],
        )
    }
    values = []
    for cid, camera_rows in sorted(by_camera.items()):
        camera_rows.sort(key=lambda r: r[1])
        last_poll, bad_since, bad_reason = existing.get(cid, (None, None, None))
        latest, latest_ok = camera_rows[-1], None
        for row in camera_rows:
            polled_at, ok, dark, frozen, picture_at = row[1], row[2], row[6], row[8], row[12]
            tamper = row[13]
            if ok:
                latest_ok = row
            if last_poll is not None and polled_at <= last_poll:
                continue  # late news: the ledger keeps it, the current run is not changed
            if ok and not dark and not frozen and not tamper:
                bad_since, bad_reason = None, None
                continue
            start = picture_at if frozen and picture_at is not None else polled_at
            if bad_since is None:
                bad_since, bad_reason = start, _reason(ok, dark, frozen, tamper, row[3])
            elif start < bad_since:
                bad_since = start
        ok_part = (
            (latest_ok[1], latest_ok[6], latest_ok[8], latest_ok[13])
            if latest_ok
            else (None, None, None, None)
        )
        values.append([cid, latest[1], latest[3], latest[4], *ok_part, bad_since, bad_reason])
    newer = "excluded.last_poll >= s.last_poll"
    newer_ok = (
        "excluded.last_ok IS NOT NULL AND (s.last_ok IS NULL OR excluded.last_ok >= s.last_ok)"
    )
    db.executemany(
        f"""INSERT INTO camera_state AS s (camera_id, last_poll, last_error, latency_ms, last_ok,
                                           ok_dark, ok_frozen, ok_tamper, bad_since, bad_reason)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (camera_id) DO UPDATE SET
                last_poll = greatest(s.last_poll, excluded.last_poll),
                last_error = CASE WHEN {newer} THEN excluded.last_error ELSE s.last_error END,
                latency_ms = CASE WHEN {newer} THEN excluded.latency_ms ELSE s.latency_ms END,
                last_ok = greatest(s.last_ok, excluded.last_ok),
                ok_dark = CASE WHEN {newer_ok} THEN excluded.ok_dark ELSE s.ok_dark END,
                ok_frozen = CASE WHEN {newer_ok} THEN excluded.ok_frozen ELSE s.ok_frozen END,
                ok_tamper = CASE WHEN {newer_ok} THEN excluded.ok_tamper ELSE s.ok_tamper END,
                bad_since = CASE WHEN {newer} THEN excluded.bad_since ELSE s.bad_since END,
                bad_reason = CASE WHEN {newer} THEN excluded.bad_reason ELSE s.bad_reason END""",
        values,
    )


def _reason(ok: bool, dark: bool, frozen: bool, tamper: str | None, error: str | None) -> str:
    """Why a poll gave no usable picture: the error, or what was wrong with the frame."""
    if not ok:
        return error or "error"
    return "dark" if dark else "frozen" if frozen else tamper or "frozen"


def cluster_outages(db: Gateway) -> list[Outage]:
    """Cluster mode: the cameras without a usable picture now, since when and why (what the
    alert rules need; the embedded default reads :func:`outages` from its ledger)."""
    rows = db.execute(
        "SELECT camera_id, bad_since, coalesce(bad_reason, 'error') FROM camera_state "
        "WHERE bad_since IS NOT NULL ORDER BY bad_since"
    )
    return [Outage(cid, since, None, reason) for cid, since, reason in rows]


def cluster_health(
    db: Gateway,
    now: datetime,
    interval_s: float,
    offline_after_s: float,
    camera_ids: list[str] | None = None,
) -> dict[str, CameraHealth]:
    """:func:`current_health` in cluster mode: from ``camera_state``, one row per camera."""
    rows = db.execute(
        "SELECT camera_id, last_poll, last_ok, last_error, ok_dark, ok_frozen, latency_ms, "
        "ok_tamper FROM camera_state"
        + (" WHERE camera_id = ANY(?)" if camera_ids is not None else ""),
        [camera_ids] if camera_ids is not None else [],
    )
    return _classified(rows, now, interval_s, offline_after_s)


def forwarding_ingest(spool: Path, poller_id: str) -> SpoolIngest[list[Any]]:
    """A remote poller's forwarder: its spool files into the central PostgreSQL ledger, each
    exactly once (``ingested_files`` keyed by poller), whenever the link allows."""
    return SpoolIngest(spool, _read_outcomes, _write_outcomes_partitioned, f"{poller_id}/")


def drop_days_before(db: Gateway, first_kept: date) -> list[str]:
    """Retention: drop whole day partitions older than ``first_kept`` (instant, no vacuum) and
    strays in the default partition; returns the partitions dropped."""
    children = db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'poll_outcomes'::regclass"
    )
    dropped = []
    for (name,) in children:
        suffix = str(name).removeprefix("poll_outcomes_")
        if suffix.isdigit() and len(suffix) == 8 and suffix < f"{first_kept:%Y%m%d}":
            db.execute(f"DROP TABLE {name}")
            dropped.append(str(name))
    cutoff = datetime(first_kept.year, first_kept.month, first_kept.day, tzinfo=UTC)
    db.execute("DELETE FROM poll_outcomes_other WHERE polled_at < ?", [cutoff])
    return dropped


def ingest_spool(db: Database, spool: Path) -> int:
    """Move closed spool files into ``poll_outcomes``; returns rows ingested."""
    return len(outcome_ingest(spool).run(db))


# --- states -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraHealth:
    camera_id: str
    state: str
    last_poll: datetime | None
    last_ok: datetime | None
    last_error: str | None
    latency_ms: float | None


def classify(
    now: datetime,
    interval_s: float,
    last_poll: datetime | None,
    last_ok: datetime | None,
    ok_dark: bool,
    ok_frozen: bool,
    offline_after_s: float,
    ok_tamper: str | None = None,
) -> str:
    """The camera's state from its latest outcomes.

    online: a good frame within 2× the interval · dark / frozen: that frame was dark, or the
    picture has not changed for N polls · stale: the last good frame is older than 2× the
    interval · offline: never a good frame, or none for ``offline_after_s`` · pending: not
    polled yet.
    """
    if last_poll is None:
        return "pending"
    if last_ok is None:
        return "offline"
    age = (now - last_ok).total_seconds()
    if age > offline_after_s:
        return "offline"
    if age > 2 * interval_s:
        return "stale"
    if ok_dark:
        return "dark"
    if ok_frozen:
        return "frozen"
    if ok_tamper:
        return "tampered"
    return "online"


def _classified(
    rows: list[tuple[Any, ...]], now: datetime, interval_s: float, offline_after_s: float
) -> dict[str, CameraHealth]:
    """Rows of (camera, last poll, last good, last error, dark, frozen, latency, tamper) as
    states; a tampered camera's 'error' is what was done to it (moved, blurred, covered)."""
    result = {}
    for cid, last_poll, last_ok, last_error, ok_dark, ok_frozen, latency, tamper in rows:
        state = classify(
            now, interval_s, last_poll, last_ok, bool(ok_dark), bool(ok_frozen), offline_after_s,
            tamper,
        )  # fmt: skip
        error = tamper if state == "tampered" else last_error  # (DuckDB: '' for none)
        result[cid] = CameraHealth(cid, state, last_poll, last_ok, error, latency)
    return result


def current_health(
    db: Database,
    now: datetime,
    interval_s: float,
    offline_after_s: float,
    camera_ids: list[str] | None = None,
) -> dict[str, CameraHealth]:
    """State of every camera in the ledger (or of ``camera_ids`` only: a details panel)."""
    where = "WHERE list_contains($ids, camera_id)" if camera_ids is not None else ""
    rows = db.execute(
        f"""
        SELECT camera_id,
               max(polled_at) AS last_poll,
               max(polled_at) FILTER (WHERE ok) AS last_ok,
               arg_max(error_kind, polled_at) AS last_error,
               arg_max(dark, polled_at) FILTER (WHERE ok) AS ok_dark,
               arg_max(frozen, polled_at) FILTER (WHERE ok) AS ok_frozen,
               arg_max(latency_ms, polled_at) AS latency_ms,
               -- arg_max skips a NULL value: a good picture after a cover is '' here
               arg_max(coalesce(tamper, ''), polled_at) FILTER (WHERE ok) AS ok_tamper
        FROM poll_outcomes {where}
        GROUP BY camera_id
        """,
        {"ids": camera_ids} if camera_ids is not None else (),
    )
    return _classified(rows, now, interval_s, offline_after_s)


# --- uptime and outages -------------------------------------------------------------------

# A usable poll: a frame arrived, not dark, and its picture is not one that froze. The polls
# that repeated a picture before it counted as frozen belong to the frozen run too: a feed is
# down from the moment its picture stopped changing (``picture_at``), as outages() says.
USABLE = """(ok AND NOT coalesce(dark, false) AND NOT coalesce(frozen, false) AND tamper IS NULL
    AND NOT coalesce(bool_or(coalesce(frozen, false))
                     OVER (PARTITION BY camera_id, coalesce(picture_at, polled_at)), false))"""

_SEGMENTS = """
    WITH o AS (
        SELECT camera_id, polled_at, {USABLE} AS usable,
               lead(polled_at) OVER (PARTITION BY camera_id ORDER BY polled_at) AS next_at
        FROM poll_outcomes
        WHERE polled_at >= $since - to_seconds($gap_s)
    )
    SELECT camera_id, usable,
           greatest(polled_at, $since) AS seg_start,
           least(coalesce(next_at, $now), polled_at + to_seconds($gap_s), $now) AS seg_end
    FROM o
    WHERE coalesce(next_at, $now) > $since
"""


# The same two questions in PostgreSQL's words (cluster mode: the zone pollers' ledger).
_PG_UPTIME = f"""
    WITH o AS (
        SELECT camera_id, polled_at, {USABLE} AS usable,
               lead(polled_at) OVER (PARTITION BY camera_id ORDER BY polled_at) AS next_at
        FROM poll_outcomes
        WHERE polled_at >= ?::timestamptz - make_interval(secs => ?)
    ), s AS (
        SELECT camera_id, usable, greatest(polled_at, ?::timestamptz) AS seg_start,
               least(coalesce(next_at, ?::timestamptz), polled_at + make_interval(secs => ?),
                     ?::timestamptz) AS seg_end
        FROM o WHERE coalesce(next_at, ?::timestamptz) > ?::timestamptz
    )
    SELECT camera_id,
           sum(CASE WHEN usable THEN extract(epoch FROM seg_end - seg_start) ELSE 0 END),
           sum(extract(epoch FROM seg_end - seg_start))
    FROM s WHERE seg_end > seg_start GROUP BY camera_id
"""
# Each camera's polls numbered by runs: a usable poll starts a new run (both dialects).
_RUNS = f"""
    WITH o AS (
        SELECT camera_id, polled_at, error_kind, dark, frozen, ok, picture_at, tamper,
               {USABLE} AS usable
        FROM poll_outcomes WHERE polled_at >= {{since}}
    ), runs AS (
        SELECT *, sum(CASE WHEN usable THEN 1 ELSE 0 END)
                  OVER (PARTITION BY camera_id ORDER BY polled_at) AS run
        FROM o
    )"""
_PG_OUTAGES = (
    _RUNS.format(since="?")
    + """, bad AS (
        SELECT camera_id, run,
               least(min(polled_at), min(picture_at) FILTER (WHERE frozen)) AS start,
               (array_agg(CASE WHEN NOT ok THEN coalesce(error_kind, 'error')
                               WHEN dark THEN 'dark'
                               WHEN tamper IS NOT NULL THEN tamper ELSE 'frozen' END
                          ORDER BY polled_at))[1] AS reason
        FROM runs WHERE NOT usable GROUP BY camera_id, run
    ), firsts AS (
        SELECT camera_id, run, min(polled_at) AS at FROM runs GROUP BY camera_id, run
    )
    SELECT b.camera_id, b.start, f.at, b.reason
    FROM bad b LEFT JOIN firsts f ON f.camera_id = b.camera_id AND f.run = b.run + 1
    ORDER BY b.start
"""
)


def uptime_by_camera(
    db: Gateway, now: datetime, window: timedelta, gap_s: float
) -> dict[str, tuple[float, float]]:
    """camera id → (usable seconds, observed seconds) over ``window``.

    Each outcome stands for the time until the next poll, at most ``gap_s`` (longer silences are
    unobserved, not down). A usable poll is a good frame that is neither dark nor frozen.
    """
    since = now - window
    if db.dialect == "postgresql":
        rows = db.execute(_PG_UPTIME, [since, gap_s, since, now, gap_s, now, now, since])
        return {cid: (float(up or 0), float(seen or 0)) for cid, up, seen in rows}
    rows = db.execute(
        f"""
        SELECT camera_id,
               sum(CASE WHEN usable THEN epoch(seg_end) - epoch(seg_start) ELSE 0 END),
               sum(epoch(seg_end) - epoch(seg_start))
        FROM ({_SEGMENTS.replace("{USABLE}", USABLE)}) WHERE seg_end > seg_start
        GROUP BY camera_id
        """,
        {"since": now - window, "now": now, "gap_s": gap_s},
    )
    return {cid: (float(up or 0), float(seen or 0)) for cid, up, seen in rows}


def uptime_by_group(
    per_camera: dict[str, tuple[float, float]], group_of: dict[str, str]
) -> dict[str, float]:
    """Uptime % per group (agency, kecamatan), weighted by observed time."""
    up: dict[str, float] = defaultdict(float)
    seen: dict[str, float] = defaultdict(float)
    for cid, (u, s) in per_camera.items():
        group = group_of.get(cid)
        if group is None:
            continue
        up[group] += u
        seen[group] += s
    return {g: 100.0 * up[g] / seen[g] for g in seen if seen[g] > 0}


@dataclass(frozen=True)
class Outage:
    camera_id: str
    start: datetime
    end: datetime | None  # None: still down
    reason: str

    def duration_s(self, now: datetime) -> float:
        return ((self.end or now) - self.start).total_seconds()


def outages(db: Gateway, now: datetime, window: timedelta) -> list[Outage]:
    """Intervals without a usable picture: from the first bad poll to the next usable one. A
    frozen feed's outage starts when its picture was first seen (it stopped changing then)."""
    if db.dialect == "postgresql":
        rows = db.execute(_PG_OUTAGES, [now - window])
        return [Outage(cid, start, ended, reason) for cid, start, ended, reason in rows]
    rows = db.execute(
        _RUNS.format(since="$since")
        + """, bad AS (
            SELECT camera_id, run,
                   least(min(polled_at), min(picture_at) FILTER (WHERE frozen)) AS start,
                   arg_min(CASE WHEN NOT ok THEN coalesce(error_kind, 'error')
                                WHEN dark THEN 'dark'
                                WHEN tamper IS NOT NULL THEN tamper ELSE 'frozen' END,
                           polled_at) AS reason
            FROM runs WHERE NOT usable GROUP BY camera_id, run
        )
        SELECT b.camera_id, b.start,
               (SELECT min(r.polled_at) FROM runs r
                 WHERE r.camera_id = b.camera_id AND r.run = b.run + 1) AS ended,
               b.reason
        FROM bad b ORDER BY b.start
        """,
        {"since": now - window},
    )
    return [Outage(cid, start, ended, reason) for cid, start, ended, reason in rows]


def states_at(db: Gateway, camera_ids: list[str], when: datetime, gap_s: float) -> dict[str, str]:
    """Each camera's state at ``when`` by its last poll in the ``gap_s`` before it: ``online``
    (a good frame), ``dark``, ``frozen``, or the error kind; a camera not polled then is left
    out (unknown: nothing was observed)."""
    if not camera_ids:
        return {}
    rows = db.execute(
        "SELECT DISTINCT ON (camera_id) camera_id, CASE WHEN NOT ok THEN "
        "coalesce(error_kind, 'error') WHEN coalesce(dark, false) THEN 'dark' "
        "WHEN coalesce(frozen, false) THEN 'frozen' WHEN tamper IS NOT NULL THEN tamper "
        "ELSE 'online' END "
        "FROM poll_outcomes WHERE polled_at >= ? AND polled_at <= ? "
        f"AND camera_id IN ({', '.join('?' * len(camera_ids))}) "
        "ORDER BY camera_id, polled_at DESC",
        [when - timedelta(seconds=gap_s), when, *camera_ids],
    )
    return {str(cid): str(state) for cid, state in rows}


def poll_count(db: Database) -> int:
    return int(db.execute("SELECT count(*) FROM poll_outcomes")[0][0])


# --- the poller's heartbeat ---------------------------------------------------------------


def write_heartbeat(path: Path, **fields: Any) -> None:
    write_text_atomic(path, json.dumps({"at": datetime.now(UTC).isoformat(), **fields}))


def read_heartbeat(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            return None
        data["at"] = datetime.fromisoformat(data["at"])
        if data["at"].tzinfo is None:
            return None
        return data
    except (OSError, ValueError, KeyError, TypeError):  # missing, torn or foreign: no beat
        return None
