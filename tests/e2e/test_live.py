"""Live video through our own gate, from the real server: the websocket's refusals (signed out,
another site, an unknown camera), the H.264 it relays, the player in the map's card (desktop
and phone), and the audit of every session."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from ..browser import ARTIFACTS, gross
from . import opsmap
from .conftest import Server, signed_in_page
from .test_scope import _download

pytestmark = pytest.mark.e2e

HLS_CAMERA = "plg-cam2-bkb"  # simulated as H.264 over HLS (config/palembang.toml)
JPEG_CAMERA = "plg-cam8-sp-charitas"  # a snapshot camera: live as pictures
PLAYING = """() => { const p = window.lawangjaboMap && window.lawangjaboMap.player;
    return !!(p && p.live); }"""


def _socket(server: Server, camera: str, cookie: str | None = "", origin: str = "") -> Any:
    """A plain websocket client, as a browser on ``origin`` with ``cookie`` (None: signed out)."""
    url = server.url.replace("http://", "ws://") + f"/api/cameras/{camera}/live?lang=en"
    headers = {} if cookie is None else {"Cookie": f"lj_session={cookie or server.cookie}"}
    return connect(url, additional_headers=headers, origin=Origin(origin or server.url),
                   open_timeout=10.0)  # fmt: skip


def _texts_until(ws: ClientConnection, want: str, timeout_s: float = 20.0) -> list[Any]:
    seen: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = ws.recv(timeout=deadline - time.monotonic())
        seen.append(json.loads(message) if isinstance(message, str) else message)
        if isinstance(seen[-1], dict) and seen[-1].get("type") == want:
            return seen
    raise AssertionError(f"no {want!r} in {seen}")


def test_the_live_socket_is_behind_the_gate(server: Server) -> None:
    with pytest.raises(InvalidStatus) as signed_out:
        _socket(server, HLS_CAMERA, cookie=None)
    assert signed_out.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as foreign:
        _socket(server, HLS_CAMERA, origin="http://evil.example")
    assert foreign.value.response.status_code == 403
    with _socket(server, "no-such-camera") as ws:
        refused = _texts_until(ws, "refused")[-1]
        assert refused["reason"] == "unknown camera"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 4404


def test_h264_is_relayed_as_fragmented_mp4_and_audited(server: Server, browser: Any) -> None:
    with _socket(server, HLS_CAMERA) as ws:
        hello = _texts_until(ws, "hello")[-1]
        assert hello["mode"] == "mse" and hello["max_s"] > 0
        codec = _texts_until(ws, "codec")[-1]
        assert codec["codec"].startswith("avc1."), codec
        init = ws.recv(timeout=20)
        assert isinstance(init, bytes) and init[0] == 0 and init[13:17] == b"ftyp"
        first = ws.recv(timeout=20)
        while isinstance(first, str):  # a state change ("live") may come first
            assert json.loads(first)["type"] == "state", first
            first = ws.recv(timeout=20)
        assert first[0] == 1 and first[13:17] == b"moof"
        ws.send(json.dumps({"type": "ping", "t": 12.5}))
        pong = _texts_until(ws, "pong")[-1]
        assert pong["t"] == 12.5 and abs(pong["server_time"] - time.time()) < 60
    page = signed_in_page(browser, server)
    deadline = time.monotonic() + 30
    while True:  # the audit reaches the log through its spool, within seconds
        page.goto(f"{server.url}/audit")
        csv = _download(page, "Export CSV").decode()
        views = [line for line in csv.splitlines() if "live_view" in line and HLS_CAMERA in line]
        if views or time.monotonic() > deadline:
            break
    assert views and "from" in views[-1] and "seconds" in views[-1], csv[-800:]
    assert any("live_start" in line and HLS_CAMERA in line for line in csv.splitlines())
    page.close()


@pytest.mark.parametrize(("camera", "width", "height"), [(HLS_CAMERA, 1440, 900),
                                                          (JPEG_CAMERA, 390, 844)])  # fmt: skip
def test_the_card_plays_live_video(
    server: Server, browser: Any, camera: str, width: int, height: int
) -> None:
    page = signed_in_page(browser, server, width, height)
    opsmap.open_map(page, f"{server.url}/?camera={camera}")
    opsmap.wait_shown(page, camera)
    page.click(".lj-golive")
    page.wait_for_function(PLAYING, timeout=20_000, polling=20)
    player = page.evaluate(
        "() => { const p = window.lawangjaboMap.player; return {mode: p.mode,"
        " first: p.timings.first_frame_ms, bar: p.bar.textContent}; }"
    )
    assert player["mode"] == ("mse" if camera == HLS_CAMERA else "jpeg"), player
    assert player["first"] < gross(1_000), player  # target 1 s: see benchmarks/live.py
    if camera == HLS_CAMERA:  # the video plays on: its clock moves
        start = page.evaluate("() => window.lawangjaboMap.player.video.currentTime")
        page.wait_for_function(
            "t => window.lawangjaboMap.player.video.currentTime > t + 1", arg=start, timeout=15_000
        )
    page.wait_for_function(
        "() => window.lawangjaboMap.player.bar.textContent.startsWith('LIVE')", timeout=10_000
    )
    box = page.locator(".lj-live").bounding_box()
    assert box is not None and box["height"] > 60 and box["y"] + box["height"] <= height
    page.screenshot(path=str(ARTIFACTS / f"live-{camera}-{width}.png"))
    page.click(".lj-golive")  # stop
    assert page.evaluate("() => window.lawangjaboMap.player") is None
    assert page.locator(".lj-live").is_hidden()
    page.close()
