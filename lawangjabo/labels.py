"""Catalog strings for values and column names the UI shows from data (translated there)."""

from __future__ import annotations

from .i18n import N_

COLUMN_LABELS: dict[str, str] = {
    "id": N_("id"),
    "occurred_at": N_("occurred"),
    "reported_at": N_("reported"),
    "happened_at": N_("when"),
    "category": N_("category"),
    "priority": N_("priority"),
    "status": N_("status"),
    "kecamatan": N_("kecamatan"),
    "lead_agency": N_("lead agency"),
    "nearest_camera": N_("nearest camera"),
    "camera_distance_m": N_("camera distance (m)"),
    "source": N_("source"),
    "kind": N_("kind"),
    "from_status": N_("from"),
    "to_status": N_("to"),
    "agency": N_("agency"),
    "note": N_("note"),
    "actor": N_("by"),
    "camera": N_("camera"),
    "uptime %": N_("uptime %"),
    "cameras": N_("cameras"),
    "observed h": N_("observed h"),
    "from": N_("from"),
    "to": N_("to"),
    "ongoing": N_("ongoing"),
    "minutes": N_("minutes"),
    "reason": N_("reason"),
    "action": N_("action"),
    "detail": N_("detail"),
    "count": N_("count"),
    "incidents": N_("incidents"),
    "name": N_("name"),
    "owner": N_("owner"),
    "scope": N_("scope"),
    "confidence": N_("confidence"),
    "verified": N_("verified"),
}

VALUE_LABELS = (
    # incident statuses and event kinds
    N_("new"),
    N_("dispatched"),
    N_("on_scene"),
    N_("resolved"),
    N_("closed"),
    N_("false_alarm"),
    N_("hoax"),
    N_("created"),
    N_("assigned"),
    N_("status"),
)
