"""The mayor's phone: the brief at 390×844 in English and Indonesian, loaded over a throttled
link (Chromium's network emulation), with the bytes and the time to useful content measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from lawangjabo.config import PROJECT_ROOT

from ..browser import ARTIFACTS, gross
from .conftest import Server, signed_in_page
from .test_browser import IDLE, READY

pytestmark = pytest.mark.e2e

# "Fast 3G" as Chrome's DevTools and Lighthouse define it: 1.6 Mbit/s down, 750 kbit/s up,
# 562.5 ms round trip (each × 0.9 for the throughput actually reached).
SLOW_LINK = {
    "offline": False,
    "latency": 562.5,
    "downloadThroughput": 1_600_000 * 0.9 / 8,
    "uploadThroughput": 750_000 * 0.9 / 8,
}
KPIS = ".st-key-brief-kpis [data-testid='stMetricValue']"


def _set_language(server: Server, user: str, lang: str) -> None:
    state = str(server.log.parent)  # the server's state folder holds its users.json
    subprocess.run(
        [sys.executable, "-m", "lawangjabo", "users", "set-language", user, "--language", lang],
        cwd=PROJECT_ROOT,
        env={**os.environ, "LAWANGJABO_PATHS__STATE_DIR": state},
        check=True,
        capture_output=True,
        timeout=60,
    )


def _load_brief(page: Any, url: str, cold: bool = True) -> dict[str, float]:
    """Open the brief over the slow link; bytes received and seconds to the numbers. ``cold``:
    with an empty cache (a first visit); else with what the last visit cached."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": cold})
    cdp.send("Network.emulateNetworkConditions", SLOW_LINK)
    received = {"http": 0.0, "websocket": 0.0}
    cdp.on(
        "Network.loadingFinished",
        lambda event: received.__setitem__("http", received["http"] + event["encodedDataLength"]),
    )

    def frame(event: dict[str, Any]) -> None:
        payload = event["response"]["payloadData"]
        size = len(payload) * 3 / 4 if event["response"]["opcode"] == 2 else len(payload)
        received["websocket"] += size  # binary frames arrive base64-encoded

    cdp.on("Network.webSocketFrameReceived", frame)
    started = time.monotonic()
    page.goto(url)
    page.wait_for_selector(KPIS, timeout=120_000)
    useful = time.monotonic() - started
    page.wait_for_selector(READY, timeout=120_000)
    page.wait_for_selector(IDLE, timeout=120_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"img[src*='/thumb.jpg']\")].every(i => i.complete)",
        timeout=120_000,
    )
    done = time.monotonic() - started
    return {
        "first_useful_s": round(useful, 1),
        "complete_s": round(done, 1),
        "http_kb": round(received["http"] / 1024),
        "websocket_kb": round(received["websocket"] / 1024),
    }


def test_the_mayors_brief_on_a_slow_phone_link(server: Server, browser: Any) -> None:
    figures = {}
    try:
        for lang in ("en", "id"):
            _set_language(server, "mayor", lang)
            page = signed_in_page(browser, server, width=390, height=844, leader=True)
            figures[lang] = _load_brief(page, server.url)  # the leader lands on the brief
            main = page.locator("[data-testid='stMain']").inner_text()
            words = (
                ("Cameras online", "Open P1 incidents", "Incidents today", "Strategic sites")
                if lang == "en"
                else ("Kamera aktif", "Insiden P1 terbuka", "Insiden hari ini", "Lokasi strategis")
            )
            for word in words:
                assert word in main, (lang, word)
            assert "WIB" in main
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
            map_box = page.locator("[data-testid='stDeckGlJsonChart']").first.bounding_box()
            assert map_box is not None and map_box["height"] <= 300  # the page still scrolls
            page.set_viewport_size({"width": 390, "height": 2000})  # all of it, same width
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ARTIFACTS / f"brief-{lang}-390.png"), full_page=True)
            again = page.context.new_page()  # the next visit, same phone: scripts cached
            figures[f"{lang}-warm"] = _load_brief(again, server.url, cold=False)
            page.close()
            again.close()
    finally:
        _set_language(server, "mayor", "en")
    (ARTIFACTS / "brief-throttled.json").write_text(json.dumps(figures, indent=1))
    for lang, measured in figures.items():
        assert measured["first_useful_s"] < 60, (lang, measured)


def test_the_daily_brief_downloads_as_an_image(server: Server, browser: Any) -> None:
    page = signed_in_page(browser, server, width=390, height=844, leader=True)
    page.goto(server.url)
    page.wait_for_selector(KPIS, timeout=60_000)
    page.wait_for_selector(IDLE, timeout=60_000)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_text("Daily brief (PNG)").click()
    path = download.value.path()
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    (ARTIFACTS / "daily-brief.png").write_bytes(data)
    page.close()


def test_the_mayors_glance_without_streamlits_frontend(server: Server, browser: Any) -> None:
    """The server-rendered brief on a phone over 'Fast 3G', first visit (empty cache): the
    numbers within 3 s and at most 300 KB, thumbnails included once scrolled to. (That a
    leader's sign-in lands here is tested in test_auth: the browser tests' failed sign-ins
    make this address wait.)"""
    figures: dict[str, Any] = {}
    for lang, words in (
        ("en", ("Cameras online", "Open P1 incidents", "Incidents today", "Strategic sites")),
        ("id", ("Kamera aktif", "Insiden P1 terbuka", "Insiden hari ini", "Lokasi strategis")),
    ):
        page = signed_in_page(browser, server, width=390, height=844, leader=True)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        cdp.send("Network.emulateNetworkConditions", SLOW_LINK)
        received = {"bytes": 0.0}

        def count(event: dict[str, Any], received: dict[str, float] = received) -> None:
            received["bytes"] += event["encodedDataLength"]

        cdp.on("Network.loadingFinished", count)
        started = time.monotonic()
        page.goto(f"{server.url}/glance?lang={lang}")
        page.wait_for_selector("#kpis", timeout=60_000)
        numbers_s = time.monotonic() - started
        page.wait_for_load_state("load")
        first_screen_kb = received["bytes"] / 1024
        page.mouse.wheel(0, 5000)  # the strategic sites' thumbnails load as they come into view
        page.wait_for_function(
            "() => [...document.querySelectorAll(\"img[src*='/thumb.jpg']\")]"
            ".every(i => i.complete && i.naturalWidth > 0)",
            timeout=60_000,
        )
        page.wait_for_timeout(500)
        figures[lang] = {
            "numbers_s": round(numbers_s, 2),
            "complete_s": round(time.monotonic() - started, 2),
            "first_screen_kb": round(first_screen_kb),
            "total_kb": round(received["bytes"] / 1024),
        }
        text = page.locator("main").inner_text()
        for word in words:
            assert word in text, (lang, word)
        assert "WIB" in text and page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(ARTIFACTS / f"glance-{lang}-390.png"), full_page=True)
        page.close()
    (ARTIFACTS / "glance-throttled.json").write_text(json.dumps(figures, indent=1))
    for lang, measured in figures.items():
        # Target: the numbers within 3 s on a throttled phone link (saved); the bytes are exact.
        assert measured["numbers_s"] <= gross(3.0) and measured["total_kb"] <= 300, (lang, measured)
