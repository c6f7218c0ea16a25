"""Alert rules against hand-built states, the alert lifecycle, and webhook delivery to real
local HTTP receivers: one that works, one that fails, one that hangs, one that recovers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lawangjabo.alerts.engine import (
    AlertBook,
    Condition,
    agency_conditions,
    backoff_s,
    camera_conditions,
    deliver_due,
    p1_conditions,
    poller_conditions,
    render,
    surge_conditions,
)
from lawangjabo.cameras.ledger import Outage
from lawangjabo.config import AlertsConfig, Settings
from lawangjabo.i18n import Translator
from lawangjabo.incidents.analytics import surge_counts
from lawangjabo.incidents.store import IncidentStore, NewIncident

from .webhook import receiver

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
RULES = AlertsConfig()


def _outage(cam: str, minutes: float, reason: str, ended: bool = False) -> Outage:
    start = NOW - timedelta(minutes=minutes)
    return Outage(cam, start, NOW if ended else None, reason)


def test_camera_down_and_frozen_rules() -> None:
    names = {c: c.upper() for c in ("a", "b", "c", "d", "e")}
    found = camera_conditions(
        [
            _outage("a", 10.5, "timeout"),  # down 10 min: alert
            _outage("b", 9.5, "refused"),  # 9 min: not yet
            _outage("c", 31, "frozen"),  # frozen 31 min: alert
            _outage("d", 29, "frozen"),  # frozen 29 min: not yet
            _outage("e", 120, "timeout", ended=True),  # over
            _outage("zz", 60, "timeout"),  # not in the registry any more
        ],
        names,
        NOW,
        RULES,
    )
    assert [(c.rule, c.subject, c.params) for c in found] == [
        ("camera_down", "a", {"camera": "A", "minutes": 10, "reason": "timeout"}),
        ("camera_frozen", "c", {"camera": "C", "minutes": 31}),
    ]
    assert render("camera_down", found[0].params, Translator("en")) == (
        "Camera A down for 10 min (timeout)"
    )


def test_a_tampered_camera_has_its_own_rule_and_words() -> None:
    """Moved, blurred, covered: alerted after [alerts] camera_tampered_minutes (default 5),
    named in the reader's language."""
    found = camera_conditions(
        [_outage("a", 5.5, "covered"), _outage("b", 4.5, "moved"), _outage("c", 12, "blurred")],
        {"a": "CCTV BKB", "b": "B", "c": "C"},
        NOW,
        RULES,
    )
    assert [(c.rule, c.subject, c.params) for c in found] == [
        ("camera_tampered", "a", {"camera": "CCTV BKB", "minutes": 5, "tamper": "covered"}),
        ("camera_tampered", "c", {"camera": "C", "minutes": 12, "tamper": "blurred"}),
    ]
    assert render("camera_tampered", found[0].params, Translator("en")) == (
        "Camera CCTV BKB: lens covered for 5 min"
    )
    assert render("camera_tampered", found[0].params, Translator("id")) == (
        "Kamera CCTV BKB: lensa tertutup selama 5 menit"
    )
    later = AlertsConfig(camera_tampered_minutes=15)
    assert camera_conditions([_outage("c", 12, "blurred")], {"c": "C"}, NOW, later) == []


def test_agency_uptime_rule() -> None:
    per_camera = {"a": (700.0, 1000.0), "b": (1000.0, 1000.0), "c": (900.0, 1000.0)}
    agency_of = {"a": "dishub", "b": "dishub", "c": "diskominfo"}
    found = agency_conditions(per_camera, agency_of, {"dishub": "Dishub"}, RULES)
    assert [(c.subject, c.params["uptime"]) for c in found] == [("dishub", 85.0)] or found == []
    strict = AlertsConfig(agency_uptime_below_pct=90)
    found = agency_conditions(per_camera, agency_of, {"dishub": "Dishub"}, strict)
    assert [(c.subject, c.params["uptime"], c.params["agency"]) for c in found] == [
        ("dishub", 85.0, "Dishub")
    ]


def test_poller_silent_rule() -> None:
    assert poller_conditions({"mode": "embedded", "alive": True, "age_s": 5}, RULES) == []
    assert poller_conditions({"mode": "embedded", "alive": False, "age_s": 100}, RULES) == []
    found = poller_conditions({"mode": "embedded", "alive": False, "age_s": 200}, RULES)
    assert found == [Condition("poller_silent", "poller", {"minutes": 3})]
    assert poller_conditions({"mode": "off", "alive": False, "age_s": 9999}, RULES) == []


def _add(store: IncidentStore, when: datetime, lat: float, lon: float, priority: str = "P3",
         status: str = "new") -> None:  # fmt: skip
    store.insert(
        [NewIncident(when, "kemacetan", priority, lat, lon, reported_at=when, status=status)],
        "test",
    )


def test_surge_against_each_kecamatans_own_baseline(
    store: IncidentStore, settings: Settings
) -> None:
    quiet, busy = settings.city.districts[0], settings.city.districts[1]
    for day in range(1, 29):
        _add(store, NOW - timedelta(days=day, hours=1), quiet.point.lat, quiet.point.lon)
        for hour in range(5):  # five a day in the same hours
            _add(store, NOW - timedelta(days=day, hours=hour, minutes=10), busy.point.lat,
                 busy.point.lon)  # fmt: skip
        _add(store, NOW - timedelta(days=day, hours=12), busy.point.lat, busy.point.lon)  # outside
    for minute in range(0, 300, 60):  # today: 5 in each
        _add(store, NOW - timedelta(minutes=minute + 5), quiet.point.lat, quiet.point.lon)
        _add(store, NOW - timedelta(minutes=minute + 5), busy.point.lat, busy.point.lon)
    counts = {k: (c, u) for k, c, u in surge_counts(store.db, NOW, 6, 28)}
    assert counts[quiet.name] == (5, 1.0)
    assert counts[busy.name] == (5, 5.0)
    found = surge_conditions(list(surge_counts(store.db, NOW, 6, 28)), RULES)
    assert [(c.subject, c.params["count"], c.params["usual"]) for c in found] == [
        (quiet.name, 5, 1.0)  # 5 > 1 + 3·1; the busy one's 5 is its usual
    ]


def test_new_p1_incidents(store: IncidentStore, settings: Settings) -> None:
    point = settings.city.districts[0].point
    _add(store, NOW - timedelta(hours=1), point.lat, point.lon, "P1")
    _add(store, NOW - timedelta(hours=2), point.lat, point.lon, "P1", status="closed")
    _add(store, NOW - timedelta(hours=30), point.lat, point.lon, "P1")  # too old
    _add(store, NOW - timedelta(hours=1), point.lat, point.lon, "P2")
    found = p1_conditions(store.db, NOW, RULES)
    assert len(found) == 1 and found[0].params["kecamatan"] == settings.city.districts[0].name
    text = render("p1_incident", found[0].params, Translator("id"))
    assert text.startswith("Insiden P1 baru #") and "kemacetan" in text


@pytest.fixture(params=["duckdb", "postgresql"])
def alert_db(request: pytest.FixtureRequest, store: IncidentStore) -> Iterator[Any]:
    """The alert book's database: this process's DuckDB file, or the cluster's PostgreSQL."""
    if request.param == "duckdb":
        yield store.db
        return
    from lawangjabo.storage.pg import PgDatabase

    db = PgDatabase(request.getfixturevalue("pg_url"))
    db.execute("TRUNCATE alerts, alert_deliveries RESTART IDENTITY")
    yield db
    db.close()


def test_lifecycle_open_refresh_resolve_acknowledge(alert_db: Any, settings: Settings) -> None:
    book = AlertBook(alert_db, settings)
    down = Condition("camera_down", "cam1", {"camera": "Cam 1", "minutes": 10, "reason": "timeout"})
    frozen = Condition("camera_frozen", "cam2", {"camera": "Cam 2", "minutes": 31})
    first = book.apply([down, frozen], NOW)
    assert len(first["opened"]) == 2 and first["resolved"] == []
    later = Condition(
        "camera_down", "cam1", {"camera": "Cam 1", "minutes": 11, "reason": "timeout"}
    )
    second = book.apply([later], NOW + timedelta(minutes=1))
    assert second["opened"] == [] and len(second["resolved"]) == 1
    (alert,) = book.active()
    assert alert.params["minutes"] == 11 and alert.last_seen_at == NOW + timedelta(minutes=1)
    assert book.acknowledge(alert.id, "ops1", NOW + timedelta(minutes=2))
    assert not book.acknowledge(alert.id, "ops2")  # already acknowledged: who stays ops1
    (alert,) = book.active()
    assert (alert.acked_by, alert.acked_at) == ("ops1", NOW + timedelta(minutes=2))
    book.apply([], NOW + timedelta(minutes=3))
    assert book.active() == []
    again = book.apply([down], NOW + timedelta(minutes=4))  # it comes back: a new alert
    assert len(again["opened"]) == 1 and again["opened"][0] != alert.id
    assert book.delivery_counts() == {}  # no webhook configured: nothing queued


def _book(db: Any, settings: Settings, url: str, **rules: object) -> AlertBook:
    alerts = settings.alerts.model_copy(update={"webhook_url": url, **rules})
    return AlertBook(db, settings.model_copy(update={"alerts": alerts}))


DOWN = Condition("camera_down", "cam1", {"camera": "BKB", "minutes": 12, "reason": "timeout"})


def test_webhook_delivers_the_alert_in_both_languages(alert_db: Any, settings: Settings) -> None:
    with receiver(["ok", "ok"]) as hook:
        book = _book(alert_db, settings, hook.url)
        book.apply([DOWN], NOW)
        assert deliver_due(alert_db, book.settings.alerts, NOW) == {
            "sent": 1,
            "retry": 0,
            "dead": 0,
        }
        book.apply([], NOW + timedelta(minutes=5))
        deliver_due(alert_db, book.settings.alerts, NOW + timedelta(minutes=5))
    opened, resolved = hook.bodies
    assert opened["event"] == "opened" and resolved["event"] == "resolved"
    assert opened["alert"]["text"] == {
        "id": "Kamera BKB mati selama 12 menit (waktu habis)",
        "en": "Camera BKB down for 12 min (timeout)",
    }
    assert book.delivery_counts() == {"sent": 2}


def test_webhook_failures_back_off_then_go_to_the_dead_letter_log(
    alert_db: Any, settings: Settings
) -> None:
    with receiver(["fail"] * 10) as hook:
        book = _book(alert_db, settings, hook.url, webhook_max_attempts=4, webhook_backoff_s=30)
        book.apply([DOWN], NOW)
        clock, waits = NOW, []
        for _ in range(3):
            assert deliver_due(alert_db, book.settings.alerts, clock)["retry"] == 1
            (due,) = alert_db.execute("SELECT next_attempt_at FROM alert_deliveries")[0]
            waits.append((due - clock).total_seconds())
            assert deliver_due(alert_db, book.settings.alerts, due - timedelta(seconds=1)) == {
                "sent": 0, "retry": 0, "dead": 0}  # fmt: skip
            clock = due
        assert waits == [30, 60, 120]
        assert deliver_due(alert_db, book.settings.alerts, clock)["dead"] == 1
        assert deliver_due(alert_db, book.settings.alerts, clock + timedelta(days=1))["dead"] == 0
    assert len(hook.bodies) == 4  # four attempts reached the receiver, none more
    (dead,) = book.dead_letters()
    assert dead["attempts"] == 4 and dead["last_error"] == "HTTP 500"
    assert hook.url not in json.dumps(dead, default=str)
    assert backoff_s(20, 30) == 3600


def test_a_hanging_receiver_times_out_and_a_recovering_one_gets_it(
    store: IncidentStore, settings: Settings
) -> None:
    with receiver(["hang", "fail", "ok"]) as hook:
        book = _book(store.db, settings, hook.url, webhook_timeout_s=0.5, webhook_backoff_s=1)
        book.apply([DOWN], NOW)
        started = time.monotonic()
        assert deliver_due(store.db, book.settings.alerts, NOW)["retry"] == 1
        assert time.monotonic() - started < 1.5  # the timeout held
        (error,) = store.db.execute("SELECT last_error FROM alert_deliveries")[0]
        assert "timed out" in error.lower() or "timeout" in error.lower()
        assert deliver_due(store.db, book.settings.alerts, NOW + timedelta(seconds=1))["retry"] == 1
        assert deliver_due(store.db, book.settings.alerts, NOW + timedelta(seconds=3))["sent"] == 1
    assert book.delivery_counts() == {"sent": 1}


def test_webhook_url_may_come_from_the_environment(
    store: IncidentStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with receiver(["ok"]) as hook:
        monkeypatch.setenv("LJ_TEST_HOOK", hook.url)
        book = _book(store.db, settings, "env://LJ_TEST_HOOK")
        book.apply([DOWN], NOW)
        assert deliver_due(store.db, book.settings.alerts, NOW)["sent"] == 1
    with pytest.raises(ValueError, match="webhook_url"):
        AlertsConfig(webhook_url="ftp://example.org/hook")


def test_replicas_share_one_alert_book_and_show_the_last_one_read_when_it_is_away(
    pg_url: str, settings: Settings
) -> None:
    from lawangjabo.storage.pg import PgDatabase

    one, two = PgDatabase(pg_url), PgDatabase(pg_url)
    try:
        one.execute("TRUNCATE alerts, alert_deliveries RESTART IDENTITY")
        leader, other = AlertBook(one, settings), AlertBook(two, settings)
        (opened,) = leader.apply([DOWN], NOW)["opened"]
        assert [a.id for a in other.active()] == [opened]  # the same alert on every replica
        assert other.acknowledge(opened, "ops2", NOW + timedelta(minutes=1))
        assert leader.active()[0].acked_by == "ops2"  # acknowledged once, for everyone
        assert other.active()[0].acked_by == "ops2"
        away = PgDatabase("postgresql://postgres@127.0.0.1:9/none", timeout_s=0.3)
        other.db = away
        (shown,) = other.active()  # PostgreSQL away: the last list read, not an error
        assert shown.id == opened and shown.acked_by == "ops2"
        with pytest.raises(Exception, match=r"unreachable|timeout|connect"):
            other.acknowledge(opened, "ops3")  # a change cannot pretend to be stored
        away.close()
    finally:
        one.close()
        two.close()
