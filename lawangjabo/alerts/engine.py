"""Alerts: rules over camera health and incidents, their lifecycle, and webhook delivery.

* Rules (:func:`evaluate_rules`) turn the current state into *conditions*, each with a stable
  key (``camera_down:plg-cam3``). :class:`AlertBook` opens an alert when a key appears,
  refreshes it while it holds, and resolves it when it stops holding. Operators acknowledge
  alerts (who and when are kept).
* Each opening and resolution is queued as a webhook delivery (an outbox in DuckDB). The
  dispatcher POSTs due deliveries as JSON, retries failures with exponential backoff, and after
  the last attempt marks the delivery ``dead``: the dead-letter log, shown in the app.
* Messages are stored as a rule plus parameters and rendered per language when shown or sent,
  so the same alert reads in Bahasa Indonesia or English.
"""

from __future__ import annotations

import json
import logging
import math
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from lawangjabo.cameras import maintenance
from lawangjabo.cameras.capture import CaptureError, error_label, resolve_url
from lawangjabo.cameras.ledger import TAMPER_KINDS, Outage, uptime_by_camera, uptime_by_group
from lawangjabo.config import AlertsConfig, Settings
from lawangjabo.i18n import N_, Translator
from lawangjabo.incidents.analytics import open_p1_since, surge_counts
from lawangjabo.storage.db import Database, Gateway

R = TypeVar("R")

log = logging.getLogger(__name__)

# Rule → (severity, message template). Templates are catalog strings with named parameters.
RULES: dict[str, tuple[str, str]] = {
    "camera_down": ("warning", N_("Camera {camera} down for {minutes} min ({reason})")),
    "camera_frozen": ("warning", N_("Camera {camera} frozen for {minutes} min")),
    "camera_tampered": ("warning", N_("Camera {camera}: {tamper} for {minutes} min")),
    "agency_uptime": (
        "warning",
        N_("{agency}: cameras up {uptime} % of the last {window} min (below {threshold} %)"),
    ),
    "incident_surge": (
        "critical",
        N_("Incident surge in {kecamatan}: {count} in {hours} h (usually {usual})"),
    ),
    "p1_incident": ("critical", N_("New P1 incident #{id}: {category} in {kecamatan}")),
    "poller_silent": ("critical", N_("Camera poller silent for {minutes} min")),
}


@dataclass(frozen=True)
class Condition:
    """Something that holds now and deserves an alert while it does."""

    rule: str
    subject: str
    params: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.subject}"


def render(rule: str, params: dict[str, Any], translator: Translator) -> str:
    """The alert's message in the translator's language."""
    template = translator.gettext(RULES[rule][1])
    values = {k: translator.number(v, 1) if isinstance(v, float) else v for k, v in params.items()}
    if rule == "camera_down":
        values["reason"] = translator.gettext(error_label(params.get("reason")))
    if rule == "camera_tampered":
        values["tamper"] = translator.gettext(error_label(params.get("tamper")))
    return template.format(**values)


# --- rules --------------------------------------------------------------------------------


def camera_conditions(
    ongoing: Sequence[Outage], names: dict[str, str], now: datetime, rules: AlertsConfig
) -> list[Condition]:
    """Cameras without a usable picture for longer than the rule allows (frozen and tampered
    pictures by their own rules)."""
    found = []
    for outage in ongoing:
        if outage.end is not None or outage.camera_id not in names:
            continue
        minutes = int(outage.duration_s(now) // 60)
        params: dict[str, Any] = {"camera": names[outage.camera_id], "minutes": minutes}
        if outage.reason == "frozen":
            rule, limit = "camera_frozen", rules.camera_frozen_minutes
        elif outage.reason in TAMPER_KINDS:
            rule, limit = "camera_tampered", rules.camera_tampered_minutes
            params["tamper"] = outage.reason
        else:
            rule, limit = "camera_down", rules.camera_down_minutes
            params["reason"] = outage.reason
        if minutes >= limit:
            found.append(Condition(rule, outage.camera_id, params))
    return found


def agency_conditions(
    per_camera: dict[str, tuple[float, float]],
    agency_of: dict[str, str],
    agency_names: dict[str, str],
    rules: AlertsConfig,
) -> list[Condition]:
    """Agencies whose cameras were usable less than the threshold over the window."""
    found = []
    for agency, uptime in sorted(uptime_by_group(per_camera, agency_of).items()):
        if uptime < rules.agency_uptime_below_pct:
            found.append(
                Condition(
                    "agency_uptime",
                    agency,
                    {
                        "agency": agency_names.get(agency, agency),
                        "uptime": round(uptime, 1),
                        "window": rules.agency_uptime_window_min,
                        "threshold": rules.agency_uptime_below_pct,
                    },
                )
            )
    return found


def surge_conditions(counts: Sequence[Any], rules: AlertsConfig) -> list[Condition]:
    """A kecamatan with clearly more incidents than its own usual for these hours: at least
    ``surge_min_count``, and above usual + 3·√usual (a Poisson-style margin)."""
    found = []
    for kecamatan, current, usual in counts:
        margin = float(usual) + 3 * math.sqrt(max(float(usual), 1.0))
        if current >= rules.surge_min_count and current > margin:
            found.append(
                Condition(
                    "incident_surge",
                    kecamatan,
                    {
                        "kecamatan": kecamatan,
                        "count": int(current),
                        "hours": rules.surge_window_h,
                        "usual": round(float(usual), 1),
                    },
                )
            )
    return found


def p1_conditions(
    db: Database, now: datetime, rules: AlertsConfig, category_names: dict[str, str] | None = None
) -> list[Condition]:
    """Open P1 incidents reported within the last ``p1_within_h`` hours."""
    names = category_names or {}
    rows = open_p1_since(db, now - timedelta(hours=rules.p1_within_h))
    return [
        Condition(
            "p1_incident",
            str(i),
            {
                "id": i,
                "category": names.get(category, category),
                "kecamatan": kecamatan,
                "agency": agency,
            },
        )
        for i, category, kecamatan, agency in rows
    ]


def poller_conditions(poller: dict[str, Any], rules: AlertsConfig) -> list[Condition]:
    age = poller.get("age_s")
    if poller.get("mode") == "off" or poller.get("alive") or age is None:
        return []
    minutes = int(age // 60)
    if minutes < rules.poller_silent_minutes:
        return []
    return [Condition("poller_silent", "poller", {"minutes": minutes})]


def evaluate_rules(
    db: Gateway,
    settings: Settings,
    now: datetime,
    ongoing: Sequence[Outage],
    camera_names: dict[str, str],
    camera_agency: dict[str, str],
    poller: dict[str, Any],
    ledger: Gateway | None = None,
    incidents: Database | None = None,
) -> list[Condition]:
    """Every condition that holds at ``now``. Uptime comes from ``ledger`` and incident surges
    and P1s from ``incidents`` when given (cluster mode: PostgreSQL's ledger and this replica's
    incident copy), else from ``db``."""
    rules = settings.alerts
    cams = settings.cameras
    gap = 3 * max(cams.interval_s, cams.timeout_s)
    window = timedelta(minutes=rules.agency_uptime_window_min)
    source = ledger or db
    per_camera = {
        k: v for k, v in uptime_by_camera(source, now, window, gap).items() if k in camera_agency
    }
    # Maintenance raises no alert and is neither up nor down time.
    planned = maintenance.windows(source, now - window, now)
    per_camera = maintenance.without_maintenance(
        per_camera, planned, camera_agency, now - window, now,
        lambda a, b: uptime_by_camera(source, b, b - a, gap),
    )  # fmt: skip
    ongoing = [
        o for o in ongoing
        if not any(w.covers(o.camera_id, camera_agency.get(o.camera_id, ""), now) for w in planned)
    ]  # fmt: skip
    facts: Any = incidents if incidents is not None else db
    names = {a.id: a.name for a in settings.agencies}
    return [
        *camera_conditions(ongoing, camera_names, now, rules),
        *agency_conditions(per_camera, camera_agency, names, rules),
        *surge_conditions(
            surge_counts(facts, now, rules.surge_window_h, rules.surge_baseline_days), rules
        ),
        *p1_conditions(facts, now, rules, {c.id: c.name for c in settings.incident_categories}),
        *poller_conditions(poller, rules),
    ]


# --- lifecycle ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    id: int
    rule: str
    subject: str
    severity: str
    params: dict[str, Any]
    opened_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    acked_by: str | None
    acked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.resolved_at is None


_ALERT_COLUMNS = (
    "id, rule, subject, severity, params, opened_at, last_seen_at, resolved_at, acked_by, acked_at"
)


def _alert(row: Sequence[Any]) -> Alert:
    return Alert(int(row[0]), row[1], row[2], row[3], json.loads(row[4]), *row[5:])


def _payload(event: str, alert_id: int, condition: Condition, when: datetime, city: str) -> str:
    """The webhook body: the alert in both languages, so a chat gateway can forward it as is."""
    return json.dumps(
        {
            "event": event,
            "city": city,
            "alert": {
                "id": alert_id,
                "rule": condition.rule,
                "severity": RULES[condition.rule][0],
                "subject": condition.subject,
                "params": condition.params,
                "text": {
                    lang: render(condition.rule, condition.params, Translator(lang))
                    for lang in ("id", "en")
                },
            },
            "at": when.isoformat(),
        },
        default=str,
    )


class AlertBook:
    """Alerts: open, refresh, resolve, acknowledge; queue webhook deliveries. In this process's
    DuckDB file, or (cluster mode) in PostgreSQL, where every replica shows the same alerts and
    an acknowledgement made on one is seen on all. If that database is away, the lists read
    last are shown again (the health banner says the database is away)."""

    def __init__(self, db: Gateway, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._last: dict[Any, Any] = {}  # what each read returned last (PostgreSQL away)

    def _read(self, key: Any, read: Callable[[], R]) -> R:
        try:
            found = read()
        except Exception as exc:
            if key not in self._last or self.db.dialect != "postgresql":
                raise
            log.warning("alerts unreadable (%s); showing the last ones read", type(exc).__name__)
            last: R = self._last[key]
            return last
        self._last[key] = found
        return found

    def apply(self, conditions: Sequence[Condition], now: datetime) -> dict[str, list[int]]:
        """Bring the alerts in line with ``conditions``; returns the ids opened and resolved."""
        changes: dict[str, list[int]] = {"opened": [], "resolved": []}
        webhook = bool(self.settings.alerts.webhook_url)
        city = self.settings.city.name

        def work(db: Database) -> None:
            active = {
                key: (alert_id, rule, subject, params)
                for key, alert_id, rule, subject, params in db.execute(
                    "SELECT key, id, rule, subject, params FROM alerts WHERE resolved_at IS NULL"
                )
            }
            wanted = {c.key: c for c in conditions}
            for key, condition in wanted.items():
                if key in active:
                    db.execute(
                        "UPDATE alerts SET last_seen_at = ?, params = ? WHERE id = ?",
                        [now, json.dumps(condition.params, default=str), active[key][0]],
                    )
                    continue
                alert_id = int(
                    db.execute(
                        "INSERT INTO alerts (key, rule, subject, severity, params, opened_at,"
                        " last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                        [
                            key,
                            condition.rule,
                            condition.subject,
                            RULES[condition.rule][0],
                            json.dumps(condition.params, default=str),
                            now,
                            now,
                        ],
                    )[0][0]
                )
                changes["opened"].append(alert_id)
                if webhook:
                    body = _payload("opened", alert_id, condition, now, city)
                    self._queue(db, alert_id, "opened", body, now)
            for key, (alert_id, rule, subject, params) in active.items():
                if key in wanted:
                    continue
                db.execute("UPDATE alerts SET resolved_at = ? WHERE id = ?", [now, alert_id])
                changes["resolved"].append(alert_id)
                if webhook:
                    gone = Condition(rule, subject, json.loads(params))
                    body = _payload("resolved", alert_id, gone, now, city)
                    self._queue(db, alert_id, "resolved", body, now)

        self.db.transaction(work)
        return changes

    @staticmethod
    def _queue(db: Database, alert_id: int, event: str, payload: str, now: datetime) -> None:
        db.execute(
            "INSERT INTO alert_deliveries (alert_id, event, payload, status, attempts,"
            " next_attempt_at) VALUES (?, ?, ?, 'pending', 0, ?)",
            [alert_id, event, payload, now],
        )

    def acknowledge(self, alert_id: int, user: str, now: datetime | None = None) -> bool:
        """Mark an alert seen by ``user``; False if it does not exist or was acknowledged."""
        rows = self.db.execute(
            "UPDATE alerts SET acked_by = ?, acked_at = ? WHERE id = ? AND acked_by IS NULL"
            " RETURNING id",
            [user, now or datetime.now(UTC), alert_id],
        )
        return bool(rows)

    def active(self) -> list[Alert]:
        """Unresolved alerts, critical first, newest first."""
        rows = self._read("active", lambda: self.db.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE resolved_at IS NULL "
            "ORDER BY severity = 'critical' DESC, opened_at DESC"
        ))  # fmt: skip
        return [_alert(r) for r in rows]

    def recent(self, since: datetime, limit: int = 200) -> list[Alert]:
        rows = self._read("recent", lambda: self.db.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE opened_at >= ? OR resolved_at IS NULL "
            "ORDER BY opened_at DESC LIMIT ?",
            [since, limit],
        ))  # fmt: skip
        return [_alert(r) for r in rows]

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Deliveries that failed every attempt (newest first); the webhook URL is not kept."""
        rows = self.db.execute(
            "SELECT id, alert_id, event, attempts, last_error, next_attempt_at "
            "FROM alert_deliveries WHERE status = 'dead' ORDER BY id DESC LIMIT ?",
            [limit],
        )
        keys = ("delivery", "alert", "event", "attempts", "last_error", "gave_up_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def delivery_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, count(*) FROM alert_deliveries GROUP BY status")
        return {status: int(n) for status, n in rows}


# --- webhook ------------------------------------------------------------------------------

Poster = Callable[[str, bytes, float], int]
"""(url, body, timeout_s) -> HTTP status; raises OSError on a network failure."""


def http_post(url: str, body: bytes, timeout_s: float) -> int:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "LawangJabo-alerts/0.1"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def backoff_s(attempts: int, base_s: float, cap_s: float = 3600.0) -> float:
    """Wait after the ``attempts``-th failure: base, 2·base, 4·base, … up to ``cap_s``."""
    return float(min(cap_s, base_s * 2 ** max(0, attempts - 1)))


def deliver_due(
    db: Gateway, rules: AlertsConfig, now: datetime, post: Poster = http_post
) -> dict[str, int]:
    """Send every delivery that is due; returns how many were sent, retried and given up."""
    result = {"sent": 0, "retry": 0, "dead": 0}
    if not rules.webhook_url:
        return result
    try:
        url = resolve_url(rules.webhook_url)
    except CaptureError as exc:
        log.error("alert webhook not sent: %s", exc)
        return result
    due = db.execute(
        "SELECT id, payload, attempts FROM alert_deliveries "
        "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT 100",
        [now],
    )
    for delivery_id, payload, tried in due:
        attempts = tried + 1
        try:
            status = post(url, payload.encode("utf-8"), rules.webhook_timeout_s)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except (OSError, TimeoutError) as exc:
            error = type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"
            error = error.replace(url, "<webhook>")
        if error is None:
            db.execute(
                "UPDATE alert_deliveries SET status = 'sent', attempts = ?, sent_at = ?,"
                " last_error = NULL WHERE id = ?",
                [attempts, now, delivery_id],
            )
            result["sent"] += 1
        elif attempts >= rules.webhook_max_attempts:
            db.execute(
                "UPDATE alert_deliveries SET status = 'dead', attempts = ?, last_error = ?,"
                " next_attempt_at = ? WHERE id = ?",
                [attempts, error, now, delivery_id],
            )
            log.error(
                "alert delivery %s gave up after %d attempts: %s", delivery_id, attempts, error
            )
            result["dead"] += 1
        else:
            wait = backoff_s(attempts, rules.webhook_backoff_s)
            db.execute(
                "UPDATE alert_deliveries SET attempts = ?, last_error = ?, next_attempt_at = ?"
                " WHERE id = ?",
                [attempts, error, now + timedelta(seconds=wait), delivery_id],
            )
            result["retry"] += 1
    return result
