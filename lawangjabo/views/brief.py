"""The leaders' brief: one glance at what is happening and what is broken (data only).

Everything here is small and aggregated: a phone on a slow link gets counts, a handful of rows
and thumbnails, never raw incident points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lawangjabo.alerts.engine import Alert
from lawangjabo.auth.access import camera_visible
from lawangjabo.cameras.registry import Camera
from lawangjabo.incidents.store import PRIORITIES
from lawangjabo.server.services import Services
from lawangjabo.views.healthview import Tile, tiles

STRATEGIC_TAG = "strategic-2017"
USUAL_WEEKS = 8


@dataclass(frozen=True)
class AgencyUptime:
    agency: str
    online: int
    total: int

    @property
    def pct(self) -> float:
        return 100.0 * self.online / self.total if self.total else 0.0


@dataclass(frozen=True)
class Brief:
    at: datetime
    online: int
    total: int
    by_agency: list[AgencyUptime]
    open_by_priority: dict[str, int]
    today: int
    usual_today: float
    strategic: list[Tile]
    p1_open: list[dict[str, Any]]
    outages: list[Tile]
    alerts: list[Alert]
    tiles: list[Tile]

    @property
    def online_pct(self) -> float:
        return 100.0 * self.online / self.total if self.total else 0.0


def incidents_today(
    services: Services, now: datetime, agencies: tuple[str, ...] = ()
) -> tuple[int, float]:
    """Incidents since local midnight, and the mean over the same weekday and the same hours
    of the previous eight weeks."""
    store = services.incidents()
    if store is None:
        return 0, 0.0
    zone = ZoneInfo(services.settings.city.timezone)
    local = now.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    windows = [(midnight - timedelta(weeks=w), now - timedelta(weeks=w)) for w in range(9)]
    counts = store.counts_in_windows(windows, agencies)
    return counts[0], sum(counts[1:]) / USUAL_WEEKS


def open_incidents(
    services: Services, now: datetime, agencies: tuple[str, ...] = (), lang: str | None = None
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Open incidents by priority, and the open P1s (newest first, at most 10)."""
    store = services.incidents()
    if store is None:
        return dict.fromkeys(PRIORITIES, 0), []
    counts, rows = store.open_summary(agencies, limit=10)
    keys = ("id", "category", "kecamatan", "status", "reported_at", "agency")
    names = services.settings.category_names(lang or services.settings.city.language)
    p1 = [dict(zip(keys, r, strict=True)) for r in rows]
    for row in p1:
        row["category"] = names.get(row["category"], row["category"])  # the name people know
    return counts, p1


def visible_alerts(
    alerts: list[Alert], agencies: tuple[str, ...], cameras: dict[str, Camera]
) -> list[Alert]:
    """The alerts an account may see: cameras in its scope, its agencies' incidents."""
    if not agencies:
        return alerts
    shown = []
    for alert in alerts:
        if alert.rule in ("camera_down", "camera_frozen", "camera_tampered"):
            camera = cameras.get(alert.subject)
            if camera is None or not camera_visible(
                agencies, camera.props.owner, camera.props.scope
            ):
                continue
        elif alert.rule == "agency_uptime":
            if alert.subject not in agencies:
                continue
        elif alert.rule == "p1_incident":
            if alert.params.get("agency") not in agencies:
                continue
        elif alert.rule == "incident_surge":
            continue  # city-wide counts: for unrestricted accounts
        shown.append(alert)
    return shown


def build_brief(
    services: Services,
    cameras: list[Camera],
    agencies: tuple[str, ...] = (),
    now: datetime | None = None,
    lang: str | None = None,
) -> Brief:
    """The brief for an account that sees ``cameras`` and (if limited) ``agencies``."""
    now = now or datetime.now(UTC)
    now_tiles = tiles(services, cameras)
    polled = [t for t in now_tiles if t.state not in ("pending", "unconfigured")]
    names = {a.id: a.name for a in services.settings.agencies}
    per_agency: dict[str, list[int]] = {}
    owner = {c.id: c.props.owner for c in cameras}
    for tile in polled:
        counts = per_agency.setdefault(owner[tile.camera_id], [0, 0])
        counts[0] += tile.state == "online"
        counts[1] += 1
    by_agency = sorted(
        (AgencyUptime(names.get(a, a), up, n) for a, (up, n) in per_agency.items()),
        key=lambda u: (u.pct, u.agency),
    )
    strategic_ids = {c.id for c in cameras if STRATEGIC_TAG in c.props.tags}
    today, usual = incidents_today(services, now, agencies)
    by_priority, p1 = open_incidents(services, now, agencies, lang)
    book = services.alerts()
    alerts = visible_alerts(book.active() if book else [], agencies, {c.id: c for c in cameras})
    return Brief(
        at=now,
        online=sum(t.state == "online" for t in polled),
        total=len(polled),
        by_agency=by_agency,
        open_by_priority=by_priority,
        today=today,
        usual_today=usual,
        strategic=[t for t in now_tiles if t.camera_id in strategic_ids],
        p1_open=p1,
        outages=[t for t in now_tiles if t.failed],
        alerts=alerts,
        tiles=now_tiles,
    )
