"""The health ledger: spool → DuckDB, states, time-weighted uptime, outage intervals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lawangjabo.cameras.ledger import (
    Outage,
    SpoolWriter,
    classify,
    current_health,
    ingest_spool,
    outages,
    outcome_ingest,
    poll_count,
    uptime_by_camera,
    uptime_by_group,
)
from lawangjabo.cameras.poller import Outcome
from lawangjabo.storage.db import Database

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def _ok(cam: str, minute: float, dark: bool = False, frozen: bool = False) -> Outcome:
    return Outcome(
        cam, T0 + timedelta(minutes=minute), True, None, 5.0, "sweep", dark=dark, frozen=frozen
    )


def _fail(cam: str, minute: float, kind: str = "timeout") -> Outcome:
    return Outcome(cam, T0 + timedelta(minutes=minute), False, kind, 5000.0, "sweep")


def _ledger(tmp_path: Path, outcomes: list[Outcome], pg_url: str | None = None) -> Any:
    """The outcomes in a ledger: a DuckDB file, or (``pg_url``) cluster mode's PostgreSQL."""
    if pg_url is None:
        db: Any = Database(tmp_path / "ledger.duckdb")
    else:
        from lawangjabo.storage.pg import PgDatabase

        db = PgDatabase(pg_url)
        db.execute("TRUNCATE poll_outcomes")
    writer = SpoolWriter(tmp_path / "spool")
    for outcome in outcomes:
        writer.add(outcome)
    writer.flush()
    assert len(outcome_ingest(tmp_path / "spool").run(db)) == len(outcomes)
    return db


@pytest.fixture(params=["duckdb", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """Which ledger: None for the embedded file, else PostgreSQL's URL (uptime and outages
    have a query for each; both must give the same answers)."""
    return None if request.param == "duckdb" else str(request.getfixturevalue("pg_url"))


@pytest.mark.parametrize(
    ("last_poll", "last_ok", "dark", "frozen", "expected"),
    [
        (None, None, False, False, "pending"),
        (10, None, False, False, "offline"),
        (10, 10, False, False, "online"),
        (10, 50, False, False, "online"),  # 50 s old, interval 30: within 2×
        (10, 61, False, False, "stale"),
        (10, 601, False, False, "offline"),
        (10, 10, True, False, "dark"),
        (10, 10, False, True, "frozen"),
        (10, 10, True, True, "dark"),
        (10, 100, True, False, "stale"),  # an old dark frame is stale first
    ],
)
def test_states(
    last_poll: int | None, last_ok: int | None, dark: bool, frozen: bool, expected: str
) -> None:
    now = T0 + timedelta(hours=1)
    poll = None if last_poll is None else now - timedelta(seconds=last_poll)
    ok = None if last_ok is None else now - timedelta(seconds=last_ok)
    assert classify(now, 30, poll, ok, dark, frozen, offline_after_s=600) == expected


def test_current_health_from_the_ledger(tmp_path: Path) -> None:
    db = _ledger(
        tmp_path,
        [
            _ok("a", 0),
            _ok("a", 1),
            _ok("b", 0),
            _fail("b", 1, "refused"),
            _fail("c", 0),
            _fail("c", 1),
            _ok("d", 0, dark=True),
            _ok("d", 1, dark=True),
            _ok("e", 0),
            _ok("e", 1, frozen=True),
        ],
    )
    health = current_health(db, T0 + timedelta(minutes=1, seconds=20), 30, 600)
    assert {k: v.state for k, v in health.items()} == {
        "a": "online",
        "b": "stale",
        "c": "offline",
        "d": "dark",
        "e": "frozen",
    }
    assert health["b"].last_error == "refused"
    assert health["a"].last_ok == T0 + timedelta(minutes=1)
    db.close()


def test_uptime_is_time_weighted(tmp_path: Path, backend: str | None) -> None:
    # a: up 0–30, down 30–45, up 45–60 → 45 of 60 min. b: up, dark from 20 → 20 of 60.
    # c: polled at 0 then silent: only gap_s (10 min) is observed, all up.
    outcomes = [
        _ok("a", 0),
        _fail("a", 30),
        _ok("a", 45),
        _ok("b", 0),
        _ok("b", 20, dark=True),
        _ok("c", 0),
    ]
    db = _ledger(tmp_path, outcomes, backend)
    now = T0 + timedelta(minutes=60)
    per = uptime_by_camera(db, now, timedelta(hours=24), gap_s=3600)
    assert per["a"] == pytest.approx((45 * 60, 60 * 60))
    assert per["b"] == pytest.approx((20 * 60, 60 * 60))
    short = uptime_by_camera(db, now, timedelta(hours=24), gap_s=600)
    assert short["c"] == pytest.approx((600, 600))
    window = uptime_by_camera(db, now, timedelta(minutes=20), gap_s=3600)
    assert window["a"] == pytest.approx((15 * 60, 20 * 60))  # 40–45 down, 45–60 up
    groups = uptime_by_group(per, {"a": "Dishub", "b": "Dishub", "c": "Polrestabes"})
    assert groups["Dishub"] == pytest.approx(100 * 65 / 120)
    db.close()


def test_outage_intervals(tmp_path: Path, backend: str | None) -> None:
    db = _ledger(
        tmp_path,
        [
            _ok("a", 0),
            _fail("a", 10, "refused"),
            _fail("a", 12),
            _ok("a", 20),
            _fail("a", 50),
            _ok("b", 0, frozen=True),
            _ok("b", 5),
        ],
        backend,
    )
    now = T0 + timedelta(minutes=55)
    found = {(o.camera_id, o.start.minute): o for o in outages(db, now, timedelta(hours=1))}
    first = found[("a", 10)]
    assert first.end == T0 + timedelta(minutes=20) and first.reason == "refused"
    assert first.duration_s(now) == 600
    ongoing = found[("a", 50)]
    assert ongoing.end is None and ongoing.duration_s(now) == 300
    frozen = found[("b", 0)]
    assert frozen.reason == "frozen" and frozen.end == T0 + timedelta(minutes=5)
    assert len(found) == 3
    db.close()


def test_ingest_is_idempotent_and_survives_a_bad_file(tmp_path: Path) -> None:
    db = _ledger(tmp_path, [_ok("a", 0), _ok("a", 1)])
    spool = tmp_path / "spool"
    writer = SpoolWriter(spool)
    writer.add(_ok("a", 2))
    path = writer.flush()
    assert path is not None
    copy = path.read_bytes()
    assert ingest_spool(db, spool) == 1
    path.write_bytes(copy)  # as if the app died after commit, before deleting the file
    assert ingest_spool(db, spool) == 0
    (spool / "zzz.jsonl").write_text("{not json\n", encoding="utf-8")
    assert ingest_spool(db, spool) == 0
    assert (spool / "quarantine" / "zzz.jsonl").is_file()
    assert poll_count(db) == 3
    db.close()


def test_spool_lines_are_complete_json(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.add(_ok("a", 0, dark=True))
    writer.add(_fail("b", 0))
    path = writer.flush()
    assert path is not None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["camera_id"] for r in rows] == ["a", "b"] and rows[0]["dark"] is True
    assert writer.flush() is None  # nothing new: no empty files


def test_frozen_outage_starts_when_the_picture_stopped_changing(
    tmp_path: Path, backend: str | None
) -> None:
    first_seen = T0 + timedelta(minutes=1)
    db = _ledger(
        tmp_path,
        [
            Outcome("c", first_seen, True, None, 5.0, "sweep", picture_at=first_seen),
            Outcome(
                "c", T0 + timedelta(minutes=2), True, None, 5.0, "sweep", picture_at=first_seen
            ),
            Outcome(
                "c",
                T0 + timedelta(minutes=3),
                True,
                None,
                5.0,
                "sweep",
                frozen=True,
                picture_at=first_seen,
            ),
        ],
        backend,
    )
    (found,) = outages(db, T0 + timedelta(minutes=10), timedelta(hours=1))
    assert found.reason == "frozen" and found.start == first_seen and found.end is None
    db.close()


def test_spool_files_of_older_versions_still_ingest(tmp_path: Path) -> None:
    """A spool line written before ``picture_at`` existed is ingested, not set aside."""
    spool = tmp_path / "spool"
    spool.mkdir()
    line: dict[str, object] = {
        c: None for c in ("error_kind", "latency_ms", "mean_luma", "detail", "dhash")
    }
    line.update(
        camera_id="a",
        polled_at=T0.isoformat(),
        ok=True,
        lane="sweep",
        dark=False,
        low_detail=False,
        frozen=False,
    )
    (spool / "old.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    db = Database(tmp_path / "ledger.duckdb")
    assert ingest_spool(db, spool) == 1
    db.close()


def test_a_frozen_run_counts_as_down_from_its_first_repeat(
    tmp_path: Path, backend: str | None
) -> None:
    """The polls that repeated the picture before the feed counted as frozen are part of the
    outage too: uptime and outages agree that the camera was down from the picture's time."""
    first_seen = T0 + timedelta(minutes=10)
    outcomes = [_ok("c", m) for m in range(0, 10)]  # a live feed, one new picture a minute
    outcomes += [
        Outcome("c", T0 + timedelta(minutes=m), True, None, 5.0, "sweep", frozen=m >= 12,
                picture_at=first_seen)
        for m in range(10, 20)
    ]  # fmt: skip
    db = _ledger(tmp_path, outcomes, backend)
    now = T0 + timedelta(minutes=20)
    up, seen = uptime_by_camera(db, now, timedelta(hours=1), gap_s=120)["c"]
    assert seen == 20 * 60 and up == 10 * 60  # the ten live minutes only
    (outage,) = outages(db, now, timedelta(hours=1))
    assert outage.start == first_seen and outage.reason == "frozen" and outage.end is None
    db.close()


def test_maintenance_time_is_neither_up_nor_down_and_raises_no_alert(
    tmp_path: Path, backend: str | None
) -> None:
    """Issue 14, item 6. Two cameras polled every minute for 2 h; each is down 40 minutes
    (minutes 40–79). Camera a's down time is a maintenance window of its own, camera b's is
    covered by its agency's window: both read 100 % over the rest, not 66.7 %; an ongoing
    outage during maintenance raises no alert; a window needs a target, an end after its start
    and a reason; ending one shortens it."""
    from lawangjabo.alerts.engine import evaluate_rules
    from lawangjabo.cameras import maintenance
    from lawangjabo.config import load_settings

    outcomes = [
        (_fail if 40 <= m < 80 else _ok)(cam, m)
        for cam in ("cam-a", "cam-b", "cam-c")
        for m in range(120)
    ]
    db = _ledger(tmp_path, outcomes, backend)
    if backend is not None:
        db.execute("TRUNCATE maintenance")
    now, window = T0 + timedelta(minutes=120), timedelta(hours=2)
    owners = {"cam-a": "dishub", "cam-b": "bpbd", "cam-c": "dishub"}
    start, stop = T0 + timedelta(minutes=40), T0 + timedelta(minutes=80)
    maintenance.add(db, "cam-a", None, start, stop, "lens cleaning", "op1", T0)
    made = maintenance.add(db, None, "bpbd", start, stop + timedelta(hours=5), "fibre cut", "op1",
                           T0)  # fmt: skip
    gap = 180.0
    raw = uptime_by_camera(db, now, window, gap)
    assert round(100 * raw["cam-a"][0] / raw["cam-a"][1], 1) == pytest.approx(66.7, abs=0.5)
    planned = maintenance.windows(db, now - window, now)
    assert [w.reason for w in planned] == ["lens cleaning", "fibre cut"]
    kept = maintenance.without_maintenance(
        raw, planned, owners, now - window, now,
        lambda a, b: uptime_by_camera(db, b, b - a, gap),
    )  # fmt: skip
    # a: maintenance 40-80 leaves 0-40 and 80-120; b: its agency's window runs past now
    for cam, outside_min in (("cam-a", 80), ("cam-b", 40)):
        up, seen = kept[cam]
        assert up == pytest.approx(seen) and seen == pytest.approx(outside_min * 60, abs=61)
    assert kept["cam-c"] == raw["cam-c"]  # same agency as cam-a, but a's window is a's own

    down_now = [Outage(c, T0 + timedelta(minutes=90), None, "timeout") for c in owners]
    later = T0 + timedelta(minutes=200)
    facts = Database(tmp_path / "incidents.duckdb")  # cluster mode: the replica's copy
    found = evaluate_rules(db, load_settings(), later, down_now, {c: c for c in owners}, owners,
                           {"mode": "embedded", "alive": True, "age_s": 1.0}, ledger=db,
                           incidents=facts)  # fmt: skip
    facts.close()
    alerted = {c.subject for c in found if c.rule == "camera_down"}
    assert alerted == {"cam-a", "cam-c"}  # cam-a's window ended at minute 80; bpbd's goes on

    maintenance.end(db, made, T0 + timedelta(minutes=60))
    (ended,) = [w for w in maintenance.windows(db, T0, later) if w.id == made]
    assert ended.ends_at == T0 + timedelta(minutes=60)
    for bad in ((None, None, "x"), ("cam-a", "bpbd", "x"), ("cam-a", None, " ")):
        with pytest.raises(maintenance.MaintenanceError):
            maintenance.add(db, bad[0], bad[1], start, stop, bad[2], "op1", T0)
    with pytest.raises(maintenance.MaintenanceError):
        maintenance.add(db, "cam-a", None, stop, start, "backwards", "op1", T0)
    db.close()


def _tampered(cam: str, minute: float, kind: str) -> Outcome:
    return Outcome(cam, T0 + timedelta(minutes=minute), True, None, 5.0, "sweep", tamper=kind)


def test_a_tampered_camera_is_down_with_what_was_done_to_it(
    tmp_path: Path, backend: str | None
) -> None:
    """Moved, blurred, covered: a picture arrived, but it is no good picture. The camera's
    state is 'tampered' with the kind as its reason; its outage says the kind; uptime counts
    the time as down; 'Was it on camera?' names the kind at a moment."""
    from lawangjabo.cameras.ledger import states_at

    db = _ledger(
        tmp_path,
        [_ok("a", 0), _tampered("a", 10, "covered"), _tampered("a", 15, "covered"), _ok("a", 20),
         _ok("b", 0), _tampered("b", 30, "moved"), _tampered("b", 40, "moved")],
        backend,
    )  # fmt: skip
    now = T0 + timedelta(minutes=40, seconds=10)
    found = {(o.camera_id, o.start.minute): o for o in outages(db, now, timedelta(hours=1))}
    assert found[("a", 10)].reason == "covered" and found[("a", 10)].end == T0 + timedelta(
        minutes=20
    )
    assert found[("b", 30)].reason == "moved" and found[("b", 30)].end is None
    up, seen = uptime_by_camera(db, now, timedelta(minutes=40), gap_s=3600)["a"]
    assert seen == pytest.approx(40 * 60, abs=15) and seen - up == pytest.approx(600, abs=1)
    assert states_at(db, ["a", "b"], T0 + timedelta(minutes=12), gap_s=900) == {
        "a": "covered",
        "b": "online",
    }
    if backend is None:
        health = current_health(db, now, 30 * 60, 3600)
        assert health["b"].state == "tampered" and health["b"].last_error == "moved"
        assert health["a"].state == "online"
    db.close()


def test_the_clusters_camera_state_knows_tampering(tmp_path: Path, pg_url: str) -> None:
    """Cluster mode: the zone pollers' outcomes keep ``camera_state`` (what the map and the
    alert rules read there) saying 'tampered' and why, until a good picture comes."""
    from lawangjabo.cameras.ledger import cluster_health, cluster_outages, forwarding_ingest
    from lawangjabo.storage.pg import PgDatabase

    db = PgDatabase(pg_url)
    db.execute("DELETE FROM camera_state WHERE camera_id LIKE 'tamper-%'")
    db.execute("TRUNCATE poll_outcomes")  # other tests' rows of that day sit in the default part
    writer = SpoolWriter(tmp_path / "spool")
    for outcome in [_ok("tamper-x", 0), _tampered("tamper-x", 5, "blurred")]:
        writer.add(outcome)
    writer.flush()
    assert len(forwarding_ingest(tmp_path / "spool", "zone-test").run(db)) == 2
    now = T0 + timedelta(minutes=5, seconds=10)
    health = cluster_health(db, now, 30 * 60, 3600, ["tamper-x"])
    assert health["tamper-x"].state == "tampered" and health["tamper-x"].last_error == "blurred"
    ongoing = {o.camera_id: o for o in cluster_outages(db)}
    assert ongoing["tamper-x"].reason == "blurred"
    assert ongoing["tamper-x"].start == T0 + timedelta(minutes=5)
    db.close()
