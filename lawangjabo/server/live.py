"""``/api/cameras/{id}/live``: live video over a websocket, behind the same gate as every route.

The sign-in gate has already refused a websocket without a session or from another origin;
here the camera's scope is checked exactly as for its pictures, the viewer caps apply, and the
session is audited from start to end. Messages (server → browser): JSON text ``hello``,
``codec`` (before each init segment), ``state`` (connecting, live, lost with the reason),
``pong``, ``end``, ``refused``; binary pieces (see :mod:`lawangjabo.cameras.live`). The browser
may send ``{"type": "ping", "t": <its clock>}`` to learn the server's clock (the latency shown).
No stream URL is ever sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from lawangjabo.auth.access import session_of as _session_of
from lawangjabo.cameras.capture import error_label
from lawangjabo.cameras.live import MAX_BACKLOG, LiveHub, LiveRefusedError, Mode, Piece, source_kind
from lawangjabo.cameras.runtime import poll_targets
from lawangjabo.i18n import LANGUAGES, N_, Translator
from lawangjabo.server.services import Services, get_services

log = logging.getLogger(__name__)

LIVE_PATH = "/api/cameras/{camera_id}/live"
# Close codes the player understands (4000–4999 are the application's own).
REFUSED, NOT_FOUND, ENDED = 4403, 4404, 4000
REFUSALS = {  # why a viewer cannot watch, as the person reads it (catalog strings)
    "disabled": N_("live video is switched off here"),
    "unknown": N_("unknown camera"),
    "busy": N_("live video is at its limit of {n} viewers; try again later"),
    "camera_busy": N_("this camera already has {n} viewers, the most allowed; try again later"),
    "no_stream": N_("this camera has no stream to watch from here"),
}


def live_source(services: Services, camera_id: str) -> tuple[str, str] | None:
    """Where to watch a camera from this process, server-side only: the registry's live stream,
    else a video source of its sweep or click (main stream first), else its pictures. None when
    this process cannot reach the camera (cluster zones: only their pollers do)."""
    camera = services.snapshot().registry.by_id(camera_id)
    if camera is None:
        return None
    stream = camera.props.stream
    runtime = services.runtime
    candidates: list[tuple[str, str]] = []
    if stream is not None and stream.live is not None and not services.settings.cameras.simulate:
        candidates.append((stream.live.url, stream.live.protocol))
    if runtime is not None and runtime.poller is not None and camera_id in runtime.poller.targets:
        target = runtime.poller.targets[camera_id]
        if target.sharp_url and target.sharp_protocol:
            candidates.append((target.sharp_url, target.sharp_protocol))
        candidates.append((target.url, target.protocol))
    elif services.settings.cameras.poller != "zones" and not services.settings.cameras.simulate:
        for target in poll_targets([camera], None):
            if target.sharp_url and target.sharp_protocol:
                candidates.append((target.sharp_url, target.sharp_protocol))
            candidates.append((target.url, target.protocol))
    if not candidates:
        return None
    return next((c for c in candidates if source_kind(c[1]) == "video"), candidates[0])


def live_hub(services: Services) -> LiveHub:
    """This process's relays (one per camera watched), made on first use."""
    if services.live is None:
        cfg = services.settings.live
        services.live = LiveHub(
            lambda camera_id: live_source(services, camera_id),
            max_viewers_per_camera=cfg.max_viewers_per_camera,
            max_viewers=cfg.max_viewers,
            linger_s=cfg.linger_s,
            open_timeout_s=services.settings.cameras.timeout_s,
            read_timeout_s=max(5.0, services.settings.cameras.timeout_s),
            jpeg_fps=cfg.jpeg_fps,
        )
    return services.live


async def _refuse(
    websocket: WebSocket, translator: Translator, kind: str, code: int, n: int = 0
) -> None:
    reason = translator.gettext(REFUSALS[kind]).format(n=n)
    await websocket.send_text(json.dumps({"type": "refused", "kind": kind, "reason": reason}))
    await websocket.close(code=code)


async def live_socket(websocket: WebSocket) -> None:
    """One viewer of one camera, until the browser leaves, the session ends or time is up."""
    services = get_services()
    camera_id = websocket.path_params["camera_id"][:80]
    mode: Mode = "jpeg" if websocket.query_params.get("mode") == "jpeg" else "mse"
    session = _session_of(websocket)  # type: ignore[arg-type]
    user = session.user if session else "local"
    lang = websocket.query_params.get("lang")
    settings = services.settings
    translator = Translator(
        lang if lang in LANGUAGES else settings.city.language, settings.city.timezone
    )
    await websocket.accept()
    if not settings.live.enabled:
        await _refuse(websocket, translator, "disabled", REFUSED)
        return
    agencies = session.agencies if session else ()
    if not await run_in_threadpool(services.may_see, agencies, camera_id):
        await _refuse(websocket, translator, "unknown", NOT_FOUND)  # as for no such camera
        return
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Piece] = asyncio.Queue()
    lagging = False

    def offer(piece: Piece) -> None:  # in the event loop
        nonlocal lagging
        if piece.kind in ("media", "jpeg"):
            if lagging and not (piece.keyframe or piece.kind == "jpeg"):
                return
            if queue.qsize() > MAX_BACKLOG:  # a slow link: skip to the next keyframe
                lagging = True
                return
            lagging = False
        queue.put_nowait(piece)

    def deliver(piece: Piece) -> None:  # from the relay's thread
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(offer, piece)

    hub = live_hub(services)
    try:
        key, mode = await run_in_threadpool(hub.join, camera_id, deliver, mode)
    except LiveRefusedError as exc:
        limit = (
            settings.live.max_viewers
            if exc.kind == "busy"
            else settings.live.max_viewers_per_camera
        )
        await _refuse(websocket, translator, exc.kind, REFUSED, limit)
        return
    started = datetime.now(UTC)
    max_s = settings.live.max_minutes * 60
    await run_in_threadpool(services.audit, user, "live_start", {"camera": camera_id, "mode": mode})
    end = "closed"
    try:
        await websocket.send_text(
            json.dumps(
                {
                    "type": "hello",
                    "mode": mode,
                    "max_s": max_s,
                    "keyframe_interval_s": hub.keyframe_interval(camera_id),
                    "server_time": time.time(),
                }
            )
        )
        sender = asyncio.create_task(_send_pieces(websocket, queue, translator))
        listener = asyncio.create_task(_answer_pings(websocket))
        done, _ = await asyncio.wait(
            {sender, listener}, timeout=max_s, return_when=asyncio.FIRST_COMPLETED
        )
        for task in (sender, listener):
            task.cancel()
        if not done:
            end = "max_minutes"
            with contextlib.suppress(Exception):
                await websocket.send_text(json.dumps({"type": "end", "reason": "max_minutes"}))
                await websocket.close(code=ENDED)
    finally:
        hub.leave(camera_id, key)
        stopped = datetime.now(UTC)
        detail: dict[str, Any] = {
            "camera": camera_id,
            "mode": mode,
            "from": started.isoformat(timespec="seconds"),
            "to": stopped.isoformat(timespec="seconds"),
            "seconds": round((stopped - started).total_seconds(), 1),
            "end": end,
        }
        await run_in_threadpool(services.audit, user, "live_view", detail)


async def _send_pieces(
    websocket: WebSocket, queue: asyncio.Queue[Piece], translator: Translator
) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        while True:
            piece = await queue.get()
            if piece.kind == "state":
                reason = translator.gettext(error_label(piece.reason)) if piece.reason else ""
                body = {"type": "state", "state": piece.state, "reason": reason,
                        "kind": piece.reason, "since": piece.at}  # fmt: skip
                await websocket.send_text(json.dumps(body))
                continue
            if piece.kind == "init":
                await websocket.send_text(json.dumps({"type": "codec", "codec": piece.codec}))
            await websocket.send_bytes(piece.message())


async def _answer_pings(websocket: WebSocket) -> None:
    """Pings (the browser's clock, for the latency figure) until the browser goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        while True:
            text = await websocket.receive_text()
            try:
                message = json.loads(text[:1000])
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("type") == "ping":
                reply = {"type": "pong", "t": message.get("t"), "server_time": time.time()}
                await websocket.send_text(json.dumps(reply))


def live_routes() -> list[WebSocketRoute]:
    return [WebSocketRoute(LIVE_PATH, live_socket, name="camera_live")]
