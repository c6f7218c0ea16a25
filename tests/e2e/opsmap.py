"""Driving the operations-map component in a real browser, as a user would: find where a
camera is drawn, click or tap it, wait for its picture in the map's card.

The component exposes itself as ``window.lawangjaboMap`` (its deck, its card, its states);
positions come from deck.gl's own projection of what it drew, not from our arithmetic.
"""

from __future__ import annotations

import math
from typing import Any

READY = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
DRAWN = """() => { const m = window.lawangjaboMap;
    return !!(m && m.root.dataset.drawn === 'true'); }"""
POINTS = """() => { const m = window.lawangjaboMap; const v = m.deck.getViewports()[0];
    const r = m.el.canvas.getBoundingClientRect(); const out = {};
    for (const row of m.cameraRows()) { const [x, y] = v.project(row.position);
        if (x > 4 && y > 4 && x < r.width - 4 && y < r.height - 4)
            out[row.id] = [r.left + x, r.top + y, row.title]; }
    return out; }"""
# The card shows this camera's stored picture (loaded), or says it has none.
SHOWN = """id => { const c = window.lawangjaboMap && window.lawangjaboMap.el.card;
    if (!c || c.hidden || c.dataset.camera !== id) return false;
    const img = c.querySelector('img');
    if (!img.hidden && img.dataset.camera === id && img.complete && img.naturalWidth > 0)
        return img.src;
    return c.querySelector('.lj-nopicture').hidden ? false : 'none'; }"""
FRESH = """id => { const c = window.lawangjaboMap.el.card;
    return c.dataset.camera === id && c.dataset.fresh === 'true'; }"""


def open_map(page: Any, url: str, timeout_ms: int = 60_000) -> None:
    """Go to the operations map and wait until the cameras are drawn."""
    page.goto(url)
    page.wait_for_selector(READY, timeout=timeout_ms)
    page.wait_for_function(DRAWN, timeout=timeout_ms, polling=20)


def points(page: Any) -> dict[str, tuple[float, float, str]]:
    """Every camera drawn inside the map: page position (x, y) and its name."""
    found = page.evaluate(POINTS)
    return {k: (v[0], v[1], v[2]) for k, v in found.items()}


def clickable(page: Any, apart_px: float = 20) -> dict[str, tuple[float, float, str]]:
    """Cameras with no other camera within ``apart_px``: a click there means that camera."""
    drawn = points(page)
    return {
        cid: p
        for cid, p in drawn.items()
        if all(math.dist(p[:2], o[:2]) > apart_px for oid, o in drawn.items() if oid != cid)
    }


def card_text(page: Any) -> str:
    text: str = page.evaluate("() => window.lawangjaboMap.el.card.innerText")
    return text


def wait_shown(page: Any, camera_id: str, timeout_ms: int = 30_000) -> str:
    """Wait for the card to show this camera's picture (its URL) or say it has none."""
    handle = page.wait_for_function(SHOWN, arg=camera_id, timeout=timeout_ms, polling=10)
    return str(handle.json_value())


def wait_fresh(page: Any, camera_id: str, timeout_ms: int = 30_000) -> None:
    page.wait_for_function(FRESH, arg=camera_id, timeout=timeout_ms, polling=20)
