"""Camera health as the pages show it: states, ages, tiles, uptime tables, outages, timeline.

Pure functions over the services' data; the pages render what these return.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lawangjabo.cameras import maintenance
from lawangjabo.cameras.capture import error_label
from lawangjabo.cameras.ledger import CameraHealth, outages, uptime_by_camera, uptime_by_group
from lawangjabo.cameras.registry import Camera
from lawangjabo.i18n import N_, Translator
from lawangjabo.server.services import Services

STATE_COLOURS: dict[str, list[int]] = {
    "online": [26, 150, 65],
    "dark": [40, 40, 40],
    "frozen": [123, 50, 148],
    "tampered": [200, 60, 160],
    "stale": [240, 160, 0],
    "offline": [215, 25, 28],
    "pending": [170, 170, 170],
    "unconfigured": [210, 210, 210],
}
STATE_ORDER = (
    "offline", "stale", "frozen", "dark", "tampered", "online", "pending", "unconfigured",
)  # fmt: skip
STATE_LABELS = {  # catalog strings: translate where shown
    "online": N_("online"),
    "dark": N_("dark picture"),
    "frozen": N_("frozen picture"),
    "tampered": N_("tampered"),
    "stale": N_("stale"),
    "offline": N_("offline"),
    "pending": N_("not polled yet"),
    "unconfigured": N_("no stream"),
}
FAILED = {"offline", "stale", "frozen", "dark", "tampered"}


def state_label(state: str, translator: Translator) -> str:
    """The state as a badge shows it: 'OFFLINE', 'MATI', …"""
    return translator.gettext(STATE_LABELS[state]).upper()


@dataclass(frozen=True)
class Tile:
    """One camera as the wall and the details panel show it."""

    camera_id: str
    name: str
    agency: str
    kecamatan: str
    state: str
    last_good_age_s: float | None  # age of the last good picture (see poller.py), None: none
    last_error: str | None
    last_good_at: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.state in FAILED

    def picture_text(self, translator: Translator) -> str:
        """How old the picture is, the one wording every page, tooltip and the daily brief use:
        'picture 12 s ago', 'last good frame 19 min ago (22:28 WIB)', 'no good picture yet'."""
        _ = translator.gettext
        if self.last_good_at is None or self.last_good_age_s is None:
            if self.state == "unconfigured":
                return _("no stream known")
            if self.state == "pending":
                return _("no picture yet")
            return _("no good picture yet")
        age = translator.age(self.last_good_age_s)
        if not self.failed:
            return _("picture {age}").format(age=age)
        return _("last good frame {age} ({when})").format(
            age=age, when=translator.recent(self.last_good_at)
        )

    def reason(self, translator: Translator) -> str:
        """Why an offline camera failed ('timeout', 'refused'), what was done to a tampered
        one ('lens covered'), else ''."""
        if self.last_error and self.state in ("offline", "tampered"):
            return translator.gettext(error_label(self.last_error))
        return ""

    def state_text(self, translator: Translator) -> str:
        """'ONLINE', 'OFFLINE · timeout': the state and, when failed, why."""
        parts = (state_label(self.state, translator), self.reason(translator))
        return " · ".join(p for p in parts if p)

    def caption(self, translator: Translator) -> str:
        """'ONLINE · picture 12 s ago', 'OFFLINE · timeout · last good frame 3 min ago (…)'."""
        parts = (self.state_text(translator), self.picture_text(translator))
        return " · ".join(p for p in parts if p)


def tiles(
    services: Services,
    cameras: list[Camera] | None = None,
    health: dict[str, CameraHealth] | None = None,
) -> list[Tile]:
    now = datetime.now(UTC)
    if health is None:
        few = cameras is not None and len(cameras) <= 8  # a panel: ask the ledger for these
        health = services.camera_health([c.id for c in cameras] if few and cameras else None)
    names = {a.id: a.name for a in services.settings.agencies}
    result = []
    for camera in cameras if cameras is not None else services.snapshot().registry.cameras:
        h = health.get(camera.id)
        meta = services.store.meta(camera.id)
        result.append(
            Tile(
                camera.id,
                camera.props.name,
                names.get(camera.props.owner, camera.props.owner),
                camera.props.kecamatan or "",
                h.state if h else "pending",
                meta.age_s(now) if meta else None,
                h.last_error if h else None,
                meta.taken_at if meta else None,
            )
        )
    return result


def filter_tiles(
    items: list[Tile], agencies: set[str], states: set[str], kecamatan: set[str]
) -> list[Tile]:
    return [
        t
        for t in items
        if (not agencies or t.agency in agencies)
        and (not states or t.state in states)
        and (not kecamatan or t.kecamatan in kecamatan)
    ]


def sort_for_wall(items: list[Tile]) -> list[Tile]:
    """Failures first (an operator's eye goes to the top left), then by name."""
    return sorted(items, key=lambda t: (STATE_ORDER.index(t.state), t.name))


WALL_PAGE = 48  # pictures per wall page: a city's thousands of cameras never render at once


def wall_page(items: list[Tile], page: int, per_page: int = WALL_PAGE) -> tuple[list[Tile], int]:
    """The tiles of one wall page (1-based, clamped) and how many pages there are."""
    pages = max(1, -(-len(items) // per_page))
    page = min(max(page, 1), pages)
    return items[(page - 1) * per_page : page * per_page], pages


def state_counts(items: list[Tile]) -> dict[str, int]:
    counts = {s: 0 for s in STATE_ORDER}
    for t in items:
        counts[t.state] += 1
    return {s: n for s, n in counts.items() if n}


class LedgerUnavailableError(RuntimeError):
    """The poll ledger cannot be read now (cluster mode: PostgreSQL away)."""


def _read_ledger(read: Any) -> Any:
    try:
        return read()
    except Exception as exc:  # a database away is a state to show, not a crashed page
        raise LedgerUnavailableError(type(exc).__name__) from exc


def uptime_tables(
    services: Services, window: timedelta, cameras: list[Camera] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Uptime % per camera, agency and kecamatan over ``window`` (time-weighted), over
    ``cameras`` (an account's agency scope; default every registry camera)."""
    db = services.ledger_db()
    if db is None:
        return {"camera": [], "agency": [], "kecamatan": []}
    now = datetime.now(UTC)
    gap = 3 * max(services.settings.cameras.interval_s, services.settings.cameras.timeout_s)
    if cameras is None:
        cameras = services.snapshot().registry.cameras
    ids = {c.id for c in cameras}
    found = _read_ledger(lambda: uptime_by_camera(db, now, window, gap))
    planned = _read_ledger(lambda: maintenance.windows(db, now - window, now))
    found = maintenance.without_maintenance(  # maintenance is neither up nor down
        found, planned, {c.id: c.props.owner for c in cameras}, now - window, now,
        lambda a, b: _read_ledger(lambda: uptime_by_camera(db, b, b - a, gap)),
    )  # fmt: skip
    per_camera = {k: v for k, v in found.items() if k in ids}
    names = {a.id: a.name for a in services.settings.agencies}
    agency_of = {c.id: names.get(c.props.owner, c.props.owner) for c in cameras}
    kec_of = {c.id: c.props.kecamatan or "—" for c in cameras}

    def table(
        groups: dict[str, float], label: str, members: dict[str, str]
    ) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for cid in per_camera:
            if cid in members:
                counts[members[cid]] = counts.get(members[cid], 0) + 1
        return sorted(
            (
                {label: g, "uptime %": round(v, 1), "cameras": counts.get(g, 0)}
                for g, v in groups.items()
            ),
            key=lambda r: r["uptime %"],
        )

    by_camera = [
        {
            "camera": c.props.name,
            "id": c.id,
            "uptime %": round(100 * u / s, 1),
            "observed h": round(s / 3600, 2),
        }
        for c in cameras
        if (u_s := per_camera.get(c.id)) and (s := u_s[1]) > 0
        for u in (u_s[0],)
    ]
    return {
        "camera": sorted(by_camera, key=lambda r: r["uptime %"]),
        "agency": table(uptime_by_group(per_camera, agency_of), "agency", agency_of),
        "kecamatan": table(uptime_by_group(per_camera, kec_of), "kecamatan", kec_of),
    }


def outage_rows(
    services: Services, window: timedelta, cameras: list[Camera] | None = None
) -> list[dict[str, Any]]:
    """Outages in ``window`` of ``cameras`` (default all), ongoing first, then longest first."""
    db = services.ledger_db()
    if db is None:
        return []
    now = datetime.now(UTC)
    if cameras is None:
        cameras = services.snapshot().registry.cameras
    names = {c.id: c.props.name for c in cameras}
    owners = {c.id: c.props.owner for c in cameras}
    planned = _read_ledger(lambda: maintenance.windows(db, now - window, now))
    blip_s = services.settings.cameras.min_outage_s
    rows = [
        {
            "camera": names.get(o.camera_id, o.camera_id),
            "id": o.camera_id,
            "from": o.start,
            "to": o.end,
            "ongoing": o.end is None,
            "minutes": round(o.duration_s(now) / 60, 1),
            "reason": o.reason,
            "maintenance": _in_maintenance(
                planned, o.camera_id, owners[o.camera_id], o.start, o.end or now
            ),
        }
        for o in _read_ledger(lambda: outages(db, now, window))
        if o.camera_id in names and (o.end is None or o.duration_s(now) >= blip_s)
    ]  # an ended outage shorter than min_outage_s is a blip; an ongoing one is shown as it is
    return sorted(rows, key=lambda r: (not r["ongoing"], -r["minutes"]))


def _in_maintenance(
    planned: list[maintenance.Maintenance], camera_id: str, owner: str, start: datetime,
    end: datetime,
) -> bool:  # fmt: skip
    """Did a maintenance window cover the start or the end of this outage?"""
    return any(w.covers(camera_id, owner, start) or w.covers(camera_id, owner, end)
               for w in planned)  # fmt: skip


def maintenance_rows(
    services: Services, cameras: list[Camera] | None = None, days: int = 7
) -> list[dict[str, Any]]:
    """Maintenance windows now, ahead, and of the last ``days`` days, for ``cameras`` (an
    account's scope: a window of an agency shows when one of its cameras is in scope)."""
    db = services.ledger_db()
    if db is None:
        return []
    now = datetime.now(UTC)
    cameras = services.snapshot().registry.cameras if cameras is None else cameras
    names = {c.id: c.props.name for c in cameras}
    agencies = {c.props.owner for c in cameras}
    agency_names = {a.id: a.name for a in services.settings.agencies}
    found = _read_ledger(lambda: maintenance.windows(db, now - timedelta(days=days),
                                                     now + timedelta(days=365)))  # fmt: skip
    return [
        {
            "id": w.id,
            "target": names.get(w.camera_id or "", "")
            if w.camera_id
            else agency_names.get(w.agency or "", w.agency or ""),
            "from": w.starts_at,
            "to": w.ends_at,
            "ongoing": w.starts_at <= now < w.ends_at,
            "reason": w.reason,
            "actor": w.created_by,
        }
        for w in found
        if (w.camera_id in names) or (w.agency in agencies)
    ]
