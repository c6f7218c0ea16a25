"""What an agency's system sends to ``/api/incidents``: new incidents (one or a batch) and status
changes, judged item by item. No HTTP here (``server.feed`` carries it).

Each item is checked as a row of an imported file is (the same rules and messages), under the
agency's source ``feed:<agency>``: an ``external_id`` is required and a second copy of it is
answered ``exists`` with the stored id, not stored twice. A status change reaches only the
agency's own incidents: those its system sent, or those routed to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lawangjabo.i18n import Message, as_message
from lawangjabo.incidents.files import RecordCheck, RowReject
from lawangjabo.incidents.store import FEED_PREFIX, STATUSES, IncidentError, IncidentStore

NEW_FIELDS = ("external_id", "occurred_at", "category", "priority", "lat", "lon",
              "description", "reported_at", "status")  # fmt: skip
CHANGE_FIELDS = ("id", "external_id", "status", "note")


@dataclass
class ItemOutcome:
    item: int  # 1 = the first item of the request
    outcome: str  # created, exists, updated, rejected, not_found
    external_id: str | None = None
    id: int | None = None
    errors: list[RowReject] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"item": self.item, "outcome": self.outcome}
        if self.external_id is not None:
            out["external_id"] = self.external_id
        if self.id is not None:
            out["id"] = self.id
        if self.errors:
            out["errors"] = [{"field": e.field, "reason": str(e.reason)} for e in self.errors]
        return out


def items_of(body: Any) -> list[Any]:
    """One item or a batch: an object, a list of objects, or ``{"incidents": [...]}``."""
    if isinstance(body, dict) and isinstance(body.get("incidents"), list):
        return list(body["incidents"])
    if isinstance(body, list):
        return body
    return [body]


def _shape_errors(item: Any, number: int, allowed: tuple[str, ...]) -> list[RowReject]:
    if not isinstance(item, dict):
        return [RowReject(number, "item", Message("an object was expected"))]
    unknown = sorted(str(k) for k in item if k not in allowed)
    if unknown:
        return [
            RowReject(number, k, Message("unknown field; known: {known}", known=", ".join(allowed)))
            for k in unknown
        ]
    return []


def create(store: IncidentStore, agency: str, actor: str, items: list[Any]) -> list[ItemOutcome]:
    """Store the valid new incidents of a request (one transaction) and judge every item."""
    source = f"{FEED_PREFIX}{agency}"
    ids = [str(i.get("external_id") or "").strip() for i in items if isinstance(i, dict)]
    stored = store.stored_external_ids(source, [i for i in ids if i])
    checker = RecordCheck.build(store.settings, store, source, refuse_stored=False)
    outcomes: list[ItemOutcome] = []
    fresh: list[tuple[ItemOutcome, Any]] = []
    for number, item in enumerate(items, start=1):
        errors = _shape_errors(item, number, NEW_FIELDS)
        external = str(item.get("external_id") or "").strip() if isinstance(item, dict) else ""
        if not errors and not external:
            errors = [RowReject(number, "external_id", Message("missing"))]
        outcome = ItemOutcome(number, "rejected", external or None)
        outcomes.append(outcome)
        if errors:
            outcome.errors = errors
            continue
        if external in stored:
            outcome.outcome, outcome.id = "exists", stored[external]
            continue
        incident, problems = checker.check(item, number)
        if incident is None:
            outcome.errors = problems
            continue
        fresh.append((outcome, incident))
    if fresh:
        made = store.insert([i for _, i in fresh], actor)
        for (outcome, _), incident_id in zip(fresh, made, strict=True):
            outcome.outcome, outcome.id = "created", incident_id
    return outcomes


def change(store: IncidentStore, agency: str, actor: str, items: list[Any]) -> list[ItemOutcome]:
    """Status changes, each its own transaction; only this agency's incidents are found."""
    source = f"{FEED_PREFIX}{agency}"
    outcomes: list[ItemOutcome] = []
    for number, item in enumerate(items, start=1):
        errors = _shape_errors(item, number, CHANGE_FIELDS)
        outcome = ItemOutcome(number, "rejected")
        outcomes.append(outcome)
        if errors:
            outcome.errors = errors
            continue
        external = str(item.get("external_id") or "").strip() or None
        outcome.external_id = external
        status = str(item.get("status") or "")
        if status not in STATUSES:
            outcome.errors = [RowReject(number, "status", Message(
                "unknown status {value!r}", value=status))]  # fmt: skip
            continue
        incident_id = _target(store, source, agency, item.get("id"), external)
        if incident_id is None:
            outcome.outcome = "not_found"
            outcome.errors = [RowReject(number, "id" if external is None else "external_id",
                                        Message("no such incident of this agency"))]  # fmt: skip
            continue
        outcome.id = incident_id
        note = item.get("note")
        try:
            store.transition(incident_id, status, actor, str(note) if note else None)
        except IncidentError as exc:
            outcome.errors = [RowReject(number, "status", as_message(exc))]
            continue
        outcome.outcome = "updated"
    return outcomes


def _target(
    store: IncidentStore, source: str, agency: str, given_id: Any, external: str | None
) -> int | None:
    """The incident an item names, if it is this agency's: sent by its system (by its
    external id) or routed to it (by our id)."""
    if external is not None:
        return store.stored_external_ids(source, [external]).get(external)
    if isinstance(given_id, bool) or not isinstance(given_id, int):
        return None
    scope = store.scope_of(given_id)
    if scope is None or (scope[0] != agency and scope[1] != source):
        return None
    return given_id
