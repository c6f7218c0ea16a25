"""The operator's moment in the browser: click → the stored picture, then the fresh one; the
map first; one tap on a phone. Behaviour is asserted, with only a gross guard on time (5× the
target): the figures themselves are measured by ``benchmarks/browser.py``.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

import pytest

from ..browser import ARTIFACTS, gross
from . import opsmap
from .conftest import Server, signed_in_page
from .test_browser import IDLE, _open

pytestmark = pytest.mark.e2e
HANGING = "plg-cam48-sp-soekarno-hatta"
FROZEN = "plg-cam42-sp-bom-baru"


def _click(page: Any, point: tuple[float, float, str], camera_id: str) -> tuple[float, str]:
    x, y, _name = point
    page.mouse.move(x, y)
    started = time.monotonic()
    page.mouse.click(x, y)
    shown = opsmap.wait_shown(page, camera_id)
    return (time.monotonic() - started) * 1000, shown


def test_click_to_picture_during_a_running_sweep(server: Server, browser: Any) -> None:
    """Clicks on different cameras while the poller sweeps every 3 s: each shows that camera's
    stored picture and state from the map itself, then its fresh picture."""
    page = signed_in_page(browser, server)
    opsmap.open_map(page, server.url)
    targets = opsmap.clickable(page)
    order = [cid for cid in targets if cid != HANGING]
    assert len(order) >= 4, targets
    states = page.evaluate("() => Object.fromEntries(window.lawangjaboMap.states)")
    cached: list[float] = []
    for i in range(12):
        camera_id = order[i % len(order)]
        ms, shown = _click(page, targets[camera_id], camera_id)
        cached.append(ms)
        state = states[camera_id][1]
        assert (shown == "none") == (states[camera_id][3] is None), (camera_id, shown)
        if state == "online" and camera_id != FROZEN:
            opsmap.wait_fresh(page, camera_id, timeout_ms=round(gross(1000)) + 10_000)
            assert "fresh picture" in opsmap.card_text(page)
        assert camera_id not in opsmap.card_text(page)  # names and states, never an id or URL
        page.wait_for_timeout(200)
    page.screenshot(path=str(ARTIFACTS / "map-desktop-clicked.png"))
    # A rerun's data still naming the camera chosen before (the page had not heard of the
    # last click yet) does not take the card back to it.
    last = order[11 % len(order)]
    earlier = next(c for c in order if c != last)
    page.evaluate(
        "id => { const m = window.lawangjaboMap; m.update({ ...m.data, selected: id }); }", earlier
    )
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.lawangjaboMap.el.card.dataset.camera") == last
    slowest = sorted(cached)[-2]  # one stall of a busy 2-core machine is allowed
    assert slowest <= gross(150), cached  # target p95 150 ms (benchmarks/browser.py)

    # A hanging camera: its state and "fresh picture on its way…" at once, never a wait for
    # its timeout; then the card says the camera did not answer.
    started = time.monotonic()
    _click(page, targets[HANGING], HANGING)
    text = opsmap.card_text(page)
    assert "on its way" in text and "OFFLINE" in text, text
    assert (time.monotonic() - started) * 1000 < gross(250)
    page.wait_for_function(
        "() => window.lawangjaboMap.el.card.innerText.includes('did not answer')",
        timeout=30_000,
    )
    page.close()


def _sidebar(page: Any, label: str) -> None:
    """Follow a sidebar link, the click's time kept in the page (``window.navClickAt``)."""
    page.evaluate(
        "() => document.addEventListener('click', e => { window.navClickAt = e.timeStamp; },"
        " { capture: true, once: true })"
    )
    page.locator("[data-testid='stSidebarNav'] a", has_text=label).click()


def test_map_comes_first_on_the_desktop_and_opens_fast(server: Server, browser: Any) -> None:
    """The first map of a page load (a new WebGL context: its shaders compiled in software
    WebGL), then the way back to it from another page, which finds the map's deck kept."""
    page = signed_in_page(browser, server)
    _open(page, f"{server.url}/camera_wall", with_map=False)
    _sidebar(page, "Operations map")
    page.wait_for_function(opsmap.DRAWN, timeout=60_000, polling=20)
    box = page.locator(".lj-opsmap").bounding_box()
    page.screenshot(path=str(ARTIFACTS / "map-desktop-first.png"))
    assert box["y"] <= 200, box
    assert box["height"] >= 600, box  # the map fills the window under the status line
    first = opsmap.points(page)
    assert len(first) >= 4, first
    canvases = page.locator("canvas").count()
    page.evaluate("() => { window.lawangjaboMap.deck.getCanvas().dataset.first = 'yes'; }")

    _sidebar(page, "Camera wall")
    page.wait_for_function("() => !window.lawangjaboMap", timeout=60_000)
    page.wait_for_selector(IDLE, timeout=60_000)
    started = time.monotonic()
    _sidebar(page, "Operations map")
    page.wait_for_function(opsmap.DRAWN, timeout=60_000, polling=20)
    back_ms = (time.monotonic() - started) * 1000
    in_page = page.evaluate("() => window.lawangjaboMap.marks.drawn - window.navClickAt")
    assert 0 < in_page <= back_ms + 50, (in_page, back_ms)
    assert page.locator("canvas").count() == canvases  # the kept deck, not one more
    kept = """() => { const m = window.lawangjaboMap; const c = m.deck.getCanvas();
        return c.dataset.first === 'yes' && m.root.contains(c); }"""
    assert page.evaluate(kept)
    again = opsmap.points(page)
    assert set(again) == set(first)  # the same cameras, where they were
    camera_id = next(iter(again))
    _ms, shown = _click(page, again[camera_id], camera_id)  # it answers clicks as before
    assert shown
    assert back_ms <= gross(1500), (back_ms, in_page)  # target 1.5 s (benchmarks/browser.py)
    page.close()


def _touch(cdp: Any, kind: str, points: list[tuple[float, float]]) -> None:
    cdp.send(
        "Input.dispatchTouchEvent",
        {
            "type": kind,
            "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)],
        },
    )


def test_phone_map_fills_the_screen_and_one_tap_opens_the_picture(
    server: Server, browser: Any
) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    host = urllib.parse.urlsplit(server.url).hostname
    context.add_cookies([{"name": "lj_session", "value": server.cookie, "domain": host,
                          "path": "/", "httpOnly": True, "sameSite": "Strict"}])  # fmt: skip
    page = context.new_page()
    opsmap.open_map(page, server.url)
    box = page.locator(".lj-opsmap").bounding_box()
    assert box["y"] < 200 and box["y"] + box["height"] <= 844 + 1, box
    assert box["height"] >= 0.7 * 844, box
    targets = opsmap.clickable(page)
    camera = "plg-cam3-sp-polda"
    x, y, _name = targets[camera]
    # A drag that starts on the camera and a pinch over it move the map; neither selects.
    cdp = context.new_cdp_session(page)
    _touch(cdp, "touchStart", [(x, y)])
    for step in range(1, 6):
        _touch(cdp, "touchMove", [(x + 8 * step, y + 4 * step)])
    _touch(cdp, "touchEnd", [])
    _touch(cdp, "touchStart", [(x - 50, y), (x + 50, y)])  # fingers together: zoom out
    for gap in (40, 30, 20):
        _touch(cdp, "touchMove", [(x - gap, y), (x + gap, y)])
    _touch(cdp, "touchEnd", [])
    page.wait_for_timeout(800)
    assert page.evaluate("() => window.lawangjaboMap.el.card.hidden")
    # Where the camera is now (the drag moved the map), one tap opens its picture.
    x, y, _name = opsmap.points(page)[camera]
    page.touchscreen.tap(x, y)
    opsmap.wait_shown(page, camera, timeout_ms=10_000)
    picture = page.locator(".lj-card img").bounding_box()
    assert picture is not None
    assert picture["y"] >= 0 and picture["y"] + picture["height"] <= 844, picture
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "map-phone-tapped.png"))
    context.close()


PAGES = ("", "brief", "alerts", "camera_wall", "health", "incidents", "analytics", "registry",
         "audit")  # fmt: skip


def test_every_page_says_its_feeds_are_simulated(server: Server, browser: Any) -> None:
    page = signed_in_page(browser, server)
    for name in PAGES:
        page.goto(f"{server.url}/{name}")
        page.wait_for_selector(IDLE, timeout=60_000)
        strip = page.locator("details.lj-strip summary").first
        strip.wait_for(timeout=30_000)
        assert "Simulated feeds" in strip.inner_text(), name
    page.close()
