"""``/api/incidents``: the agency feed over HTTP, and its OpenAPI description.

``POST`` stores new incidents, ``PATCH`` changes their status; both take one JSON item or a
batch and answer item by item. They authenticate with an agency service token
(``Authorization: Bearer ljt_…``), never with a browser session: the gate lets such requests
through to these routes only, and they verify the token here. Every call is audited under the
token's name and limited per token (``[auth] feed_requests_per_minute``); wrong tokens are
audited and limited per address. ``GET /api/openapi.json`` (signed in) describes it all.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from lawangjabo.auth.access import SECURITY_HEADERS, session_of
from lawangjabo.auth.tokens import ServiceToken, split
from lawangjabo.incidents import feed
from lawangjabo.incidents.store import STATUSES, IncidentError, IncidentStore
from lawangjabo.server.services import Services, get_services

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


async def _authorised(request: Request, services: Services) -> ServiceToken | JSONResponse:
    """The request's service token, or the response that refuses it."""
    presented = _bearer(request)
    if presented is None:
        reason = (
            "agency systems send incidents with a service token, not a browser session"
            if session_of(request) is not None
            else "a service token is required (Authorization: Bearer ljt_…)"
        )
        return _json({"error": reason}, 401, {"WWW-Authenticate": "Bearer"})
    address = _address(request)
    if services.feed_refusals.blocked(address):
        return _json({"error": "too many wrong tokens from this address"}, 429,
                     {"Retry-After": "60"})  # fmt: skip
    token = await run_in_threadpool(services.tokens.verify, presented)
    if token is None:
        wait = services.feed_refusals.take(address)
        parts = split(presented)
        if wait == 0:
            services.audit("anonymous", "feed_token_refused", {
                "address": address, "token_id": parts[0] if parts else None})  # fmt: skip
        return _json({"error": "unknown or revoked service token"}, 401,
                     {"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
    wait = services.feed_limiter.take(token.id)
    if wait:
        return _json({"error": "rate limit reached for this token"}, 429,
                     {"Retry-After": str(int(wait) + 1)})  # fmt: skip
    return token


async def _items(request: Request, limit: int) -> list[Any] | JSONResponse:
    if "json" not in request.headers.get("content-type", ""):
        return _json({"error": "send JSON (Content-Type: application/json)"}, 415)
    body = await request.body()
    if len(body) > MAX_BODY:
        return _json({"error": f"the request is over {MAX_BODY // 1024 // 1024} MB"}, 413)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return _json({"error": f"not JSON: {exc}"}, 400)
    items = feed.items_of(data)
    if not items:
        return _json({"error": "no incidents in the request"}, 400)
    if len(items) > limit:
        return _json({"error": f"at most {limit} incidents per request, got {len(items)}"}, 413)
    return items


def _answer(outcomes: list[feed.ItemOutcome], written: tuple[str, ...]) -> JSONResponse:
    good = sum(o.outcome in written or o.outcome == "exists" for o in outcomes)
    status = 200 if good == len(outcomes) else (207 if good else 422)
    if status == 200 and any(o.outcome == "created" for o in outcomes):
        status = 201
    return _json({"results": [o.as_dict() for o in outcomes]}, status)


async def _feed_request(
    request: Request,
) -> tuple[Services, ServiceToken, list[Any], IncidentStore] | JSONResponse:
    """What every feed call needs, in order: a valid token within its rate, items, the store;
    or the response that refuses the call."""
    services = get_services()
    token = await _authorised(request, services)
    if isinstance(token, JSONResponse):
        return token
    items = await _items(request, services.settings.auth.feed_max_items)
    if isinstance(items, JSONResponse):
        return items
    store = services.incidents()
    if store is None:
        return _json({"error": "the incident database is unavailable; send again later"}, 503)
    return services, token, items, store


async def post_incidents(request: Request) -> JSONResponse:
    """``POST /api/incidents``: new incidents from an agency system (idempotent per
    ``external_id``)."""
    ready = await _feed_request(request)
    if isinstance(ready, JSONResponse):
        return ready
    services, token, items, store = ready

    def work() -> list[feed.ItemOutcome] | str:
        with services.feed_lock:
            try:
                return feed.create(store, token.agency, token.actor, items)
            except IncidentError:  # another replica stored one of them a moment ago
                pass
            try:  # the stored ones now read as "exists"
                return feed.create(store, token.agency, token.actor, items)
            except IncidentError as exc:  # e.g. the token's agency left the city file
                return str(exc)

    outcomes = await run_in_threadpool(work)
    if isinstance(outcomes, str):
        services.audit(token.actor, "feed_incidents_refused", {"agency": token.agency,
                                                               "reason": outcomes})  # fmt: skip
        return _json({"error": f"nothing stored: {outcomes}"}, 409)
    counts = {k: sum(o.outcome == k for o in outcomes) for k in ("created", "exists", "rejected")}
    services.audit(token.actor, "feed_incidents_posted", {"agency": token.agency, **counts})
    return _answer(outcomes, ("created",))


async def patch_incidents(request: Request) -> JSONResponse:
    """``PATCH /api/incidents``: status changes of this agency's incidents."""
    ready = await _feed_request(request)
    if isinstance(ready, JSONResponse):
        return ready
    services, token, items, store = ready
    outcomes = await run_in_threadpool(feed.change, store, token.agency, token.actor, items)
    services.audit(token.actor, "feed_incidents_changed", {
        "agency": token.agency, "updated": sum(o.outcome == "updated" for o in outcomes),
        "refused": sum(o.outcome != "updated" for o in outcomes)})  # fmt: skip
    return _answer(outcomes, ("updated",))


async def openapi(request: Request) -> JSONResponse:
    """``GET /api/openapi.json`` (signed in): the feed's description for agency developers."""
    return _json(openapi_document(get_services()))


def openapi_document(services: Services) -> dict[str, Any]:
    settings = services.settings
    categories = [c.id for c in settings.incident_categories]
    new_item = {
        "type": "object",
        "additionalProperties": False,
        "required": ["external_id", "occurred_at", "category", "priority", "lat", "lon"],
        "properties": {
            "external_id": {"type": "string", "description": "your system's own id; a second "
                            "copy is answered 'exists', never stored twice"},
            "occurred_at": {"type": "string", "description": "ISO 8601; without a zone: "
                            f"{settings.city.timezone}"},
            "reported_at": {"type": "string"},
            "category": {"type": "string", "description": "a category id, name or synonym "
                         "from the city file", "examples": categories[:5]},
            "priority": {"type": "string", "enum": ["P1", "P2", "P3"]},
            "lat": {"type": "number"},
            "lon": {"type": "number"},
            "status": {"type": "string", "enum": list(STATUSES), "default": "new"},
            "description": {"type": "string"},
        },
    }  # fmt: skip
    change_item = {
        "type": "object",
        "additionalProperties": False,
        "required": ["status"],
        "properties": {
            "external_id": {"type": "string", "description": "an incident your system sent"},
            "id": {"type": "integer", "description": "our id of an incident routed to you"},
            "status": {"type": "string", "enum": list(STATUSES)},
            "note": {"type": "string"},
        },
    }
    outcome = {
        "type": "object",
        "properties": {
            "item": {"type": "integer", "description": "1 = the request's first item"},
            "outcome": {"type": "string", "enum": ["created", "exists", "updated", "rejected",
                                                   "not_found"]},
            "id": {"type": "integer"},
            "external_id": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "reason": {"type": "string"}}}},
        },
    }  # fmt: skip

    def body(item: dict[str, Any]) -> dict[str, Any]:
        one_or_many = {
            "oneOf": [
                item,
                {"type": "array", "items": item},
                {"type": "object", "properties": {"incidents": {"type": "array", "items": item}}},
            ]
        }
        return {"required": True, "content": {"application/json": {"schema": one_or_many}}}

    answers = {
        "200": {"description": "every item done (or already there)"},
        "201": {"description": "every item done, at least one created"},
        "207": {"description": "some items done, some refused: see each result"},
        "401": {"description": "no token, or an unknown or revoked one"},
        "413": {"description": f"over {settings.auth.feed_max_items} items or 4 MB"},
        "422": {"description": "no item could be done: see each result"},
        "429": {"description": "rate limit: wait Retry-After seconds"},
        "503": {"description": "the incident database is unavailable: send again later"},
    }
    results = {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"results": {"type": "array", "items": outcome}},
                }
            }
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Lawang Jabo {settings.city.name}: agency incident feed",
            "version": "1",
            "description": "Agency systems send incidents and status changes. Tokens are made "
            "by an administrator: python -m lawangjabo tokens create --agency <id> --name <n>. "
            f"At most {settings.auth.feed_requests_per_minute} requests per minute per token.",
        },
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
        "security": [{"token": []}],
        "paths": {
            "/api/incidents": {
                "post": {"summary": "New incidents (one or a batch)", "requestBody":
                         body(new_item), "responses": {k: {**v, **results} for k, v in
                                                       answers.items()}},
                "patch": {"summary": "Status changes of your agency's incidents",
                          "requestBody": body(change_item),
                          "responses": {k: {**v, **results} for k, v in answers.items()}},
            }
        },
    }  # fmt: skip
