"""HTTP routes and lifespan for the ``st.App`` (Starlette); no Streamlit imports here.

Snapshots are served from these routes, never from Streamlit's static folder (which has no
auth): they sit behind the app's middleware once auth lands. No response carries a stream URL.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from hashlib import sha256
from pathlib import Path
from typing import Any

import pydeck
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lawangjabo.auth.access import (
    CAN_REFRESH,
    CSRF_HEADER,
    FEED_PATH,
    GLANCE_PATH,
    SECURITY_HEADERS,
    session_of,
)
from lawangjabo.cameras.runtime import PollerRuntime
from lawangjabo.cameras.snapshots import SnapshotMeta
from lawangjabo.i18n import LANGUAGES, Translator
from lawangjabo.server import feed
from lawangjabo.server.live import live_routes
from lawangjabo.server.services import Services, close_all, get_services
from lawangjabo.views.brief import Brief, build_brief
from lawangjabo.views.briefimage import compact_map_png, daily_brief_png
from lawangjabo.views.glance import render_glance
from lawangjabo.views.healthview import tiles
from lawangjabo.views.mapview import operations_map_document
from lawangjabo.views.opsmap import DECK_PATH as MAP_DECK_PATH
from lawangjabo.views.opsmap import STATE_PATH, camera_states, states_etag

log = logging.getLogger(__name__)

SECURITY = {k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"}
NO_STORE = SECURITY_HEADERS


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=NO_STORE)


async def health(request: Request) -> JSONResponse:
    """``GET /api/health``: version, cameras, districts, database and poller status."""
    report = await run_in_threadpool(lambda: get_services().health())
    return _json(report)


async def whoami(request: Request) -> JSONResponse:
    """``GET /api/session``: who is signed in, and the CSRF token that ``/api/*`` writes need
    in the ``X-CSRF-Token`` header. Readable only by our own pages (no CORS)."""
    session = session_of(request)
    if session is None:
        return _json({"user": None, "auth": get_services().settings.auth.enabled})
    return _json(
        {
            "user": session.user,
            "role": session.role,
            "agencies": list(session.agencies),
            "csrf_header": CSRF_HEADER,
            "csrf_token": session.csrf,
        }
    )


def _visible(request: Request, services: Services, camera_id: str) -> bool:
    """Does the camera exist and may this request's account see it (agency scope)?"""
    session = session_of(request)
    return services.may_see(session.agencies if session else (), camera_id)


def _camera_rows(services: Services, agencies: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    states = services.camera_health()
    names = {a.id: a.name for a in services.settings.agencies}
    cameras = services.visible_cameras(agencies)
    rows = []
    for camera, tile in zip(cameras, tiles(services, cameras, states), strict=True):
        h = states[camera.id]
        rows.append(
            {
                "id": camera.id,
                "name": camera.props.name,
                "agency": names.get(camera.props.owner, camera.props.owner),
                "kecamatan": camera.props.kecamatan,
                "lat": camera.lat,
                "lon": camera.lon,
                "state": h.state,
                "last_poll": h.last_poll.isoformat() if h.last_poll else None,
                "last_good": tile.last_good_at.isoformat() if tile.last_good_at else None,
                "last_good_age_s": None
                if tile.last_good_age_s is None
                else round(tile.last_good_age_s, 1),
                "last_error": h.last_error,
                "snapshot_url": f"/api/cameras/{camera.id}/snapshot.jpg",
                "thumb_url": f"/api/cameras/{camera.id}/thumb.jpg",
            }
        )
    return rows


async def cameras(request: Request) -> JSONResponse:
    """``GET /api/cameras``: every camera with its state and snapshot links."""
    session = session_of(request)
    agencies = session.agencies if session else ()
    rows = await run_in_threadpool(lambda: _camera_rows(get_services(), agencies))
    return _json({"cameras": rows})


def _image(request: Request, path: Path, taken_at: datetime | None, keep: bool = False) -> Response:
    """A stored JPEG. ``keep``: the URL names this very picture (the map's ``?v=`` of a
    thumbnail), so the browser may keep it instead of asking again on every click."""
    data = path.read_bytes()  # files are replaced atomically: this is one whole JPEG
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{len(data):x}"'
    headers = {
        "ETag": etag,
        # else always revalidate: the picture behind the URL changes
        "Cache-Control": "private, max-age=86400, immutable" if keep else "private, no-cache",
        **SECURITY,
    }
    if taken_at is not None:
        headers["Last-Modified"] = format_datetime(taken_at.astimezone(UTC), usegmt=True)
        headers["X-Snapshot-Taken-At"] = taken_at.isoformat()
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="image/jpeg", headers=headers)


def _names(version: str | None, taken: datetime) -> bool:
    """Does a map's ``?v=`` (the picture's Unix time, 0.1 s) name this picture?"""
    try:
        return version is not None and float(version[:20]) == round(taken.timestamp(), 1)
    except ValueError:
        return False


async def snapshot(request: Request) -> Response:
    """``GET /api/cameras/{id}/snapshot.jpg`` (and ``thumb.jpg``): the last good picture."""
    services = get_services()
    camera_id = request.path_params["camera_id"]
    if not _visible(request, services, camera_id):
        return _json({"error": "unknown camera"}, 404)
    thumb = request.path_params["kind"] == "thumb"
    session = session_of(request)
    at = request.query_params.get("at")
    when: datetime | None = None
    if at:  # validated before anything is audited: only a real time is stored
        try:
            when = datetime.fromisoformat(at[:40])
        except ValueError:
            return _json({"error": "at must be an ISO time, e.g. 2026-11-27T14:05+07:00"}, 400)
        if when.tzinfo is None:
            return _json({"error": "at needs a time zone offset"}, 400)
    if not thumb:
        services.audit(
            session.user if session else "anonymous",
            "snapshot_view",
            {"camera": camera_id, "at": when.isoformat() if when else None},
        )
    if when is not None:
        found = services.store.at(camera_id, when)
        if found is None:
            return _json({"error": "no stored picture"}, 404)
        return _image(request, found[1], found[0])
    path = services.store.latest_path(camera_id, thumb=thumb)
    if path is None:
        return _json({"error": "no picture yet"}, 404)
    meta = services.store.meta(camera_id)
    taken = meta.taken_at if meta else None
    keep = thumb and taken is not None and _names(request.query_params.get("v"), taken)
    return _image(request, path, taken, keep=keep)


async def _newer_picture(
    services: Services,
    camera_id: str,
    before: SnapshotMeta | None,
    wait_s: float,
    every_s: float = 0.1,
) -> bool:
    """Wait up to ``wait_s`` for a picture of the camera newer than ``before`` in the store."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        meta = services.store.meta(camera_id)
        if meta is not None and (before is None or meta.taken_at > before.taken_at):
            return True
        await asyncio.sleep(every_s)
    return False


async def refresh(request: Request) -> JSONResponse:
    """``POST /api/cameras/{id}/refresh``: a fast-lane capture; waits briefly for it."""
    refused = _forbidden(request, CAN_REFRESH)
    if refused is not None:
        return refused
    services = get_services()
    camera_id = request.path_params["camera_id"]
    if not _visible(request, services, camera_id):
        return _json({"error": "unknown camera"}, 404)
    session = session_of(request)
    wait_s = services.refresh_allowed(session.user if session else "local")
    if wait_s > 0:
        reply = _json({"error": "too many refreshes; try again shortly"}, 429)
        reply.headers["Retry-After"] = str(int(wait_s) + 1)
        return reply
    before = services.store.meta(camera_id)
    try:
        future = services.start_refresh(camera_id)
    except OSError as exc:  # the external poller's request folder is not writable
        log.error("refresh request for %s not written: %s", camera_id, exc)
        return _json({"error": "refresh unavailable: the server cannot write its state"}, 503)
    done = False
    timeout_s = services.settings.cameras.timeout_s
    if future is not None:  # waited on without holding a worker thread
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout_s + 1)
            done = True
    elif services.settings.cameras.poller in ("external", "zones"):
        # another process captures; its picture lands in the store (the shared folder, or the
        # mirror of PostgreSQL's pictures): wait for a newer one, without holding a thread
        done = await _newer_picture(services, camera_id, before, timeout_s + 2)
    meta = services.store.meta(camera_id)
    return _json(
        {
            "camera_id": camera_id,
            "finished": done,
            "last_good": meta.taken_at.isoformat() if meta else None,
        },
        202,
    )


def _translator(request: Request, services: Services) -> Translator:
    """The language a request asks for (``?lang=``), else the city's."""
    lang = request.query_params.get("lang")
    return Translator(
        lang if lang in LANGUAGES else services.settings.city.language,
        services.settings.city.timezone,
    )


async def map_state(request: Request) -> Response:
    """``GET /api/map/state``: each visible camera's state for the operations map, as
    ``[id, state, label, last good picture (Unix s)]`` rows with the server's time; ETag'd, so a
    map polling every few seconds gets a bodiless 304 while nothing changed."""

    def build() -> list[list[Any]]:
        services = get_services()
        session = session_of(request)
        cameras = services.visible_cameras(session.agencies if session else ())
        return camera_states(tiles(services, cameras), _translator(request, services))

    states = await run_in_threadpool(build)
    etag = states_etag(states)
    headers = {**NO_STORE, "Cache-Control": "private, no-cache", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    now = round(datetime.now(UTC).timestamp(), 1)
    return JSONResponse({"now": now, "cameras": states}, headers=headers)


async def map_deck(request: Request) -> Response:
    """``GET /api/map/deck?layers=…&agencies=…&lang=…&v=…``: the operations map of this
    account's cameras (see ``operations_map_document``); ``v`` names the version, so the
    browser keeps it and a rerun of the page never sends the map again."""
    session = session_of(request)
    scope = session.agencies if session else ()
    query = {k: v[:2000] for k, v in request.query_params.items()}
    body = await run_in_threadpool(lambda: operations_map_document(get_services(), scope, query))
    headers = {**SECURITY, "Cache-Control": "private, max-age=86400, immutable"}
    return Response(body, media_type="application/json", headers=headers)


DECK_BUNDLE = Path(pydeck.__file__).parent / "nbextension" / "static" / "index.js"
DECK_PATH = "/assets/deckgl-{digest}.js"


@lru_cache(maxsize=1)
def _deck_digest() -> str:
    return sha256(DECK_BUNDLE.read_bytes()).hexdigest()[:16]


def deck_bundle_url() -> str:
    """Where the browser gets pydeck's own offline deck.gl bundle (deck.gl with MapLibre): from
    us, behind the sign-in gate, under a name that changes with its content."""
    return DECK_PATH.format(digest=_deck_digest())


@lru_cache(maxsize=1)
def _deck_gzipped() -> bytes:
    return gzip.compress(DECK_BUNDLE.read_bytes(), compresslevel=9, mtime=0)


async def deck_bundle(request: Request) -> Response:
    """``GET /assets/deckgl-{digest}.js``: compressed once, cached by the browser for a year
    (the name changes when pydeck's bundle does)."""
    if request.path_params["digest"] != _deck_digest():
        return _json({"error": "unknown bundle"}, 404)
    headers = {
        **SECURITY,
        "Cache-Control": "private, max-age=31536000, immutable",
        "Vary": "Accept-Encoding",
    }
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = await run_in_threadpool(_deck_gzipped)
        headers["Content-Encoding"] = "gzip"
    else:
        body = await run_in_threadpool(DECK_BUNDLE.read_bytes)
    return Response(body, media_type="text/javascript", headers=headers)


async def stats(request: Request) -> JSONResponse:
    """``GET /api/stats`` (admins): rows stored per table, to check that nothing was lost."""
    refused = _forbidden(request, frozenset({"admin"}))
    if refused is not None:
        return refused
    return _json(await run_in_threadpool(lambda: get_services().stored_counts()))


def _glance_view(request: Request) -> tuple[Services, Brief, Translator, str]:
    """The brief of this request's account (its agency scope), in its language."""
    services = get_services()
    session = session_of(request)
    agencies = session.agencies if session else ()
    user = session.user if session else "local"
    cameras = services.visible_cameras(agencies)
    lang = request.query_params.get("lang")
    if lang not in LANGUAGES:
        account = services.auth.users.lookup(user) if session else None
        lang = account.language if account and account.language in LANGUAGES else None
    translator = Translator(
        lang or services.settings.city.language, services.settings.city.timezone
    )
    brief = build_brief(services, cameras, agencies, lang=translator.lang)
    return services, brief, translator, user


async def glance(request: Request) -> Response:
    """``GET /glance``: the leaders' brief as one server-rendered page (see glance.py)."""

    def page() -> str:
        services, brief, translator, user = _glance_view(request)
        return render_glance(
            brief,
            translator,
            services.settings.city.name,
            services.settings.cameras.simulate,
            services.poller_status(),
            user,
        )

    return HTMLResponse(await run_in_threadpool(page), headers=SECURITY_HEADERS)


async def glance_map(request: Request) -> Response:
    """``GET /glance/map.png``: the city with the account's cameras by state."""

    def draw() -> bytes:
        services = get_services()
        session = session_of(request)
        cameras = services.visible_cameras(session.agencies if session else ())
        return compact_map_png(services, tiles(services, cameras))

    data = await run_in_threadpool(draw)
    return Response(data, media_type="image/png", headers=SECURITY_HEADERS)


async def glance_daily(request: Request) -> Response:
    """``GET /glance/daily.png``: the daily brief image to forward (audited as an export)."""

    def build() -> bytes:
        services, brief, translator, user = _glance_view(request)
        services.audit(user, "brief_export", {"format": "png", "language": translator.lang})
        return daily_brief_png(services, brief, translator)

    data = await run_in_threadpool(build)
    headers = {**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="brief.png"'}
    return Response(data, media_type="image/png", headers=headers)


def _forbidden(request: Request, allowed: frozenset[str]) -> JSONResponse | None:
    """403 unless the request's session has one of the ``allowed`` roles (auth enabled)."""
    if not get_services().settings.auth.enabled:
        return None
    session = session_of(request)
    if session is None or session.role not in allowed:
        return _json({"error": "not allowed for your role"}, 403)
    return None


async def login_page(request: Request) -> Response:
    return await get_services().auth.login_page(request)


async def login(request: Request) -> Response:
    return await get_services().auth.login(request)


async def logout_page(request: Request) -> Response:
    return await get_services().auth.logout_page(request)


async def logout(request: Request) -> Response:
    return await get_services().auth.logout(request)


def api_routes() -> list[BaseRoute]:
    return [
        Route("/login", login_page, methods=["GET"], name="login_page"),
        Route("/login", login, methods=["POST"], name="login"),
        Route("/logout", logout_page, methods=["GET"], name="logout_page"),
        Route("/logout", logout, methods=["POST"], name="logout"),
        Route("/api/health", health, methods=["GET"], name="health"),
        Route("/api/session", whoami, methods=["GET"], name="session"),
        Route("/api/stats", stats, methods=["GET"], name="stats"),
        Route("/api/cameras", cameras, methods=["GET"], name="cameras"),
        Route(STATE_PATH, map_state, methods=["GET"], name="map_state"),
        Route(MAP_DECK_PATH, map_deck, methods=["GET"], name="map_deck"),
        Route("/assets/deckgl-{digest}.js", deck_bundle, methods=["GET"], name="deck_bundle"),
        Route(FEED_PATH, feed.post_incidents, methods=["POST"], name="feed_post"),
        Route(FEED_PATH, feed.patch_incidents, methods=["PATCH"], name="feed_patch"),
        Route("/api/openapi.json", feed.openapi, methods=["GET"], name="openapi"),
        Route(
            "/api/cameras/{camera_id}/{kind:str}.jpg",
            snapshot,
            methods=["GET"],
            name="camera_image",
        ),
        Route("/api/cameras/{camera_id}/refresh", refresh, methods=["POST"], name="refresh"),
        Route(GLANCE_PATH, glance, methods=["GET"], name="glance"),
        Route(f"{GLANCE_PATH}/map.png", glance_map, methods=["GET"], name="glance_map"),
        Route(f"{GLANCE_PATH}/daily.png", glance_daily, methods=["GET"], name="glance_daily"),
        *live_routes(),
    ]


async def _ingest_forever(services: Services) -> None:
    while True:
        await asyncio.sleep(1.0)
        try:
            await run_in_threadpool(services.ingest)
            await run_in_threadpool(services.sync_incidents)
            await run_in_threadpool(services.take_incident_files)
            if await run_in_threadpool(services.runs_duties):
                await run_in_threadpool(services.prune_audit)
                await run_in_threadpool(services.fill_places)
        except Exception:
            log.exception("ledger ingest failed")


async def _alerts_forever(services: Services) -> None:
    every = services.settings.alerts.evaluate_every_s
    while True:
        await asyncio.sleep(every)
        try:
            if not await run_in_threadpool(services.runs_duties):
                continue  # another replica evaluates and sends (cluster mode)
            result = await run_in_threadpool(services.evaluate_alerts)
            if result.get("opened") or result.get("resolved") or result.get("dead"):
                log.info("alerts: %s", result)
        except Exception:
            log.exception("alert evaluation failed")


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    """Open the database, start ledger ingest and (embedded mode) the poller; stop on shutdown."""
    services = await run_in_threadpool(get_services)
    report = await run_in_threadpool(services.health)
    log.info("Lawang Jabo started: %s", report)
    if services.settings.cameras.poller == "embedded":
        cameras = services.snapshot().registry.cameras
        runtime = PollerRuntime(
            services.settings,
            cameras,
            mode="embedded",
            cameras_source=lambda: services.snapshot().registry.cameras,
        )
        services.runtime = await run_in_threadpool(runtime.start)
    tasks = [
        asyncio.create_task(_ingest_forever(services)),
        asyncio.create_task(_alerts_forever(services)),
        # the first operator's map should not wait for the bundle's compression (~1 s)
        asyncio.create_task(run_in_threadpool(_deck_gzipped)),
    ]
    try:
        yield {"services": services}
    finally:
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await run_in_threadpool(close_all)


class PageLocale:
    """ASGI middleware: Streamlit's page (its ``index.html``) starts in the signed-in person's
    UI language. Streamlit's frontend formats its calendar and numbers by the browser's
    ``navigator.language``; a one-line script put at the top of the page answers it with the
    UI's locale before any of Streamlit's code runs (``assets/frontend-texts.js`` does the same
    later, when the language is switched in the page). Our own pages (with their strict CSP)
    are left alone."""

    def __init__(self, app: Any, services: Any = None) -> None:
        self.app = app
        self.services = services or get_services

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body: list[bytes] = []

        async def hold_html(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                html = headers.get(b"content-type", b"").startswith(b"text/html")
                if not html or b"content-security-policy" in headers:
                    start["pass"] = True
                    await send(message)
                    return
                start["message"] = message
                return
            if start.get("pass"):
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            page = b"".join(body)
            original = start["message"].get("headers", [])
            encoded = any(k.lower() == b"content-encoding" and v == b"gzip" for k, v in original)
            if encoded:  # Streamlit serves its page gzipped itself; the outer GZip redoes it
                page = gzip.decompress(page)
            page = self._with_locale(page, scope)
            dropped = (b"content-length", b"content-encoding") if encoded else (b"content-length",)
            kept = [(k, v) for k, v in original if k.lower() not in dropped]
            kept.append((b"content-length", str(len(page)).encode()))
            await send({**start["message"], "headers": kept})
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, hold_html)

    def _with_locale(self, page: bytes, scope: Any) -> bytes:
        marker = b"<head>"
        if marker not in page:
            return page
        locale = self._locale(scope)
        script = (
            "<script>(()=>{const l=" + json.dumps(locale) + ";"
            "for(const k of ['language','languages'])Object.defineProperty(navigator,k,"
            "{configurable:true,get:()=>k==='language'?l:[l]});"
            "document.documentElement.lang=l;})();</script>"
        )
        return page.replace(marker, marker + script.encode(), 1)

    def _locale(self, scope: Any) -> str:
        services = self.services()
        lang = services.settings.city.language
        session = scope.get("state", {}).get("session")
        if session is not None:
            account = services.auth.users.lookup(session.user)
            if account is not None and account.language in LANGUAGES:
                lang = account.language
        return Translator(lang).browser_locale
