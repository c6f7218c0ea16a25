"""Alerts end to end: the running app notices the refused camera, opens an alert, delivers it
to the webhook after one failed attempt, and an operator acknowledges it in the browser."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .conftest import Server, signed_in_page
from .test_browser import IDLE, _open

pytestmark = pytest.mark.e2e

DOWN_CAMERA = "plg-cam14-punti-kayu"  # the simulator refuses its connections


def _opened(server: Server) -> dict[str, Any] | None:
    assert server.webhook is not None
    return next(
        (
            body
            for body in server.webhook.bodies
            if body["event"] == "opened" and body["alert"]["subject"] == DOWN_CAMERA
        ),
        None,
    )


def test_a_dead_camera_raises_an_alert_that_reaches_the_webhook(
    server: Server, browser: Any
) -> None:
    deadline = time.monotonic() + 150
    while _opened(server) is None and time.monotonic() < deadline:
        time.sleep(2)
    body = _opened(server)
    assert body is not None, "no camera_down alert reached the webhook"
    assert body["alert"]["rule"] == "camera_down"
    assert body["alert"]["text"]["en"].startswith("Camera CCTV Punti Kayu down for")
    assert body["alert"]["text"]["id"].startswith("Kamera CCTV Punti Kayu mati selama")
    assert "koneksi ditolak" in body["alert"]["text"]["id"]  # the reason, translated
    assert server.webhook is not None
    sent = [(b["alert"]["id"], b["event"]) for b in server.webhook.bodies]
    assert any(sent.count(key) >= 2 for key in sent)  # the first delivery failed and was retried
    assert "rtsp://" not in str(body) and "stream" not in str(body["alert"]["params"])

    page = signed_in_page(browser, server)
    _open(page, f"{server.url}/alerts", with_map=False)
    main = page.locator("[data-testid='stMain']")
    assert "Camera CCTV Punti Kayu down for" in main.inner_text()
    card = page.locator("[class*='st-key-alert-']", has_text="CCTV Punti Kayu").first
    card.get_by_role("button", name="Acknowledge").click()
    page.wait_for_selector(IDLE, timeout=60_000)
    page.locator("[class*='st-key-alert-']", has_text="acknowledged by e2e").first.wait_for(
        timeout=30_000
    )
    page.close()
