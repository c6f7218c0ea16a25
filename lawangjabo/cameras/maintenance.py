"""Maintenance windows and blips: what the health figures leave out, on purpose and said so.

A camera, or every camera of an agency, can be put in maintenance for a time (with a reason, by
someone: audited by the caller). Maintenance time counts neither as up nor as down in uptime, a
camera in maintenance raises no alert, and its outages are marked as in maintenance. An outage
shorter than ``[cameras] min_outage_s`` is a blip, not an outage (it still shows in the camera's
state at that moment: a state is what was observed). Windows live beside the poll ledger (the
embedded DuckDB, or PostgreSQL in zones mode).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from lawangjabo.cameras.registry import Camera
from lawangjabo.storage.db import Gateway

_COLUMNS = "id, camera_id, agency, starts_at, ends_at, reason, created_by, created_at"


@dataclass(frozen=True)
class Maintenance:
    id: int
    camera_id: str | None  # one camera, or
    agency: str | None  # every camera of an agency
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime

    def covers(self, camera_id: str, owner: str, at: datetime | None = None) -> bool:
        """Is the camera (of agency ``owner``) under this window (at ``at``, when given)?"""
        mine = camera_id == self.camera_id or (self.agency is not None and owner == self.agency)
        return mine and (at is None or self.starts_at <= at < self.ends_at)


class MaintenanceError(ValueError):
    """A window the rules refuse (no target, ends before it starts, no reason)."""


def add(
    db: Gateway,
    camera_id: str | None,
    agency: str | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    actor: str,
    now: datetime,
) -> int:
    """Record a window; returns its id."""
    if (camera_id is None) == (agency is None):
        raise MaintenanceError("a maintenance window is for one camera or one agency")
    if ends_at <= starts_at:
        raise MaintenanceError("a maintenance window must end after it starts")
    if not reason.strip():
        raise MaintenanceError("say why (the reason is shown to everyone)")
    rows = db.execute(
        "INSERT INTO maintenance (camera_id, agency, starts_at, ends_at, reason, created_by, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [camera_id, agency, starts_at, ends_at, reason.strip()[:500], actor, now],
    )
    return int(rows[0][0])


def end(db: Gateway, window_id: int, now: datetime) -> None:
    """End a window now (a window that has not started yet is ended before it starts)."""
    db.execute(
        "UPDATE maintenance SET ends_at = greatest(starts_at, least(ends_at, ?)) WHERE id = ?",
        [now, window_id],
    )


def windows(db: Gateway, since: datetime, until: datetime) -> list[Maintenance]:
    """Every window overlapping [since, until), earliest first."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM maintenance WHERE starts_at < ? AND ends_at > ? "
        "ORDER BY starts_at, id",
        [until, since],
    )
    return [Maintenance(*r) for r in rows]


def covering(found: Iterable[Maintenance], camera: Camera, at: datetime) -> Maintenance | None:
    """The window keeping ``camera`` in maintenance at ``at``, if any."""
    return next((w for w in found if w.covers(camera.id, camera.props.owner, at)), None)


def _merged(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for start, stop in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], stop))
        else:
            out.append((start, stop))
    return out


def without_maintenance(
    per_camera: dict[str, tuple[float, float]],
    found: list[Maintenance],
    owners: dict[str, str],
    since: datetime,
    now: datetime,
    measure: Callable[[datetime, datetime], dict[str, tuple[float, float]]],
) -> dict[str, tuple[float, float]]:
    """Uptime (usable, observed seconds per camera over [since, now]) with each camera's
    (``owners``: camera id → its agency) maintenance time taken out of both. ``measure(a, b)``
    gives the same figures over [a, b]: segments are clipped to the window, so the difference
    is exact."""
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for camera_id, owner in owners.items():
        mine = [(max(w.starts_at, since), min(w.ends_at, now)) for w in found
                if w.covers(camera_id, owner)]  # fmt: skip
        mine = [(a, b) for a, b in mine if b > a]
        if mine:
            spans[camera_id] = _merged(mine)
    measured: dict[tuple[datetime, datetime], dict[str, tuple[float, float]]] = {}
    out = dict(per_camera)
    for camera_id, intervals in spans.items():
        up, seen = out.get(camera_id, (0.0, 0.0))
        for span in intervals:
            if span not in measured:
                measured[span] = measure(*span)
            inside = measured[span].get(camera_id, (0.0, 0.0))
            up, seen = up - inside[0], seen - inside[1]
        out[camera_id] = (max(0.0, up), max(0.0, seen))
    return out
