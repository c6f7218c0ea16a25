"""What an operator waits for in the browser, measured in headless Chromium (SwiftShader).

    .venv/bin/python benchmarks/browser.py [--clicks 20] [--taps 10] [--big 2000] [--quick]
        [--big-poller external|embedded]

Starts the app as a user runs it (simulated cameras, polling every 3 s: the clicks fall during
running sweeps), then measures and writes p50/p95 to ``test-artifacts/browser-timings.json``:

- sidebar → operations map drawn (the first load, which fetches the deck.gl bundle, apart);
- click → the camera's stored picture in the map's card; click → its fresh capture swapped in;
- a deep link ``/?camera=ID`` → its picture;
- a phone (390×844, touch): how many of ``--taps`` first taps open the picture, quiet and with
  two CPU-burning processes running;
- the same clicks with ``--big`` cameras (``generate-registry``), the component's data size and
  the bytes of one state refresh (``/api/map/state``, gzip; a 304 when nothing changed).

Each figure is printed against its target (issue 21) as a ratio. The browser tests assert the
behaviour and only a gross regression (5× a target); the figures are this command's.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e import opsmap  # noqa: E402
from tests.e2e.conftest import Server, signed_in_page, start_server, stop  # noqa: E402

RESULTS = ARTIFACTS / "browser-timings.json"
TARGETS_MS = {
    "sidebar_to_map": 1500,
    "click_to_stored_p95": 150,
    "click_to_fresh_p95": 1000,
    "deep_link_to_picture": 2000,
}
FROZEN = "plg-cam42-sp-bom-baru"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values)) if values else None,
        "p95_ms": round(p95(values)) if values else None,
        "all_ms": [round(v) for v in values],
    }


def _burn() -> None:
    while True:
        pass


@contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    """``processes`` CPU-burning processes for the duration (the phone test 'under load')."""
    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(processes)]
    for burner in burners:
        burner.start()
    try:
        yield
    finally:
        for burner in burners:
            burner.terminate()
            burner.join()


@contextmanager
def app(
    cameras: Path | None = None, interval_s: int = 3, poller: str = "embedded"
) -> Iterator[Server]:
    """The app as a user runs it; ``poller="external"``: the poller (with the simulated cameras
    it reaches) in its own process, the layout the README advises from 500 cameras."""
    state = Path(tempfile.mkdtemp(prefix="lj-bench-browser-"))
    env = {
        "LAWANGJABO_CAMERAS__INTERVAL_S": str(interval_s),
        "LAWANGJABO_CAMERAS__TIMEOUT_S": "2",
        "LAWANGJABO_CAMERAS__POLLER": poller,
    }
    if cameras is not None:
        env["LAWANGJABO_PATHS__REGISTRY"] = str(cameras)
        env["LAWANGJABO_CAMERAS__SIMULATE"] = "true"
    process, server = start_server(state, state / "server.log", **env)
    poller_process = None
    if poller == "external":
        environ = {**os.environ, "LAWANGJABO_PATHS__STATE_DIR": str(state), **env}
        poller_process = subprocess.Popen(
            [sys.executable, "-m", "lawangjabo", "poller"],
            cwd=ROOT, env=environ, stdout=subprocess.DEVNULL,
            stderr=(state / "poller.log").open("wb"),
        )  # fmt: skip
    try:
        _wait_polled(server)
        yield server
    finally:
        if poller_process is not None:
            stop(poller_process)
        stop(process)


def _get(server: Server, path: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(f"{server.url}{path}", headers={**server.headers(), **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.read(), dict(reply.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def _wait_polled(server: Server, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _, body, _ = _get(server, "/api/map/state")
        states = json.loads(body)["cameras"]
        if states and sum(s[1] != "pending" for s in states) >= 0.9 * len(states):
            return
        time.sleep(1)


def _follow(page: Any, label: str) -> float:
    """Click a sidebar link; returns Playwright's start time (the page keeps the click's)."""
    page.evaluate(
        "() => document.addEventListener('click', e => { window.navClickAt = e.timeStamp; },"
        " { capture: true, once: true })"
    )
    started = time.monotonic()
    page.locator("[data-testid='stSidebarNav'] a", has_text=label).click()
    return started


def _map_drawn(page: Any, started: float, parts: list[dict[str, int]], way: str) -> float:
    page.wait_for_function(opsmap.DRAWN, timeout=60_000, polling=10)
    took = (time.monotonic() - started) * 1000
    marks = page.evaluate("() => window.lawangjaboMap.marks")
    clicked = page.evaluate("() => window.navClickAt")
    parts.append(
        {
            "way": way,
            "in_page_ms": round(marks["drawn"] - clicked),  # the click → the frame on screen
            "page_run_and_mount_ms": round(marks["mounted"] - clicked),
            "bundle_ready_ms": round(marks["bundle"] - marks["mounted"]),
            "deck_first_frame_ms": round(marks["drawn"] - marks["bundle"]),
        }
    )
    return took


def sidebar_to_map(
    page: Any, server: Server, runs: int, parts: list[dict[str, int]]
) -> tuple[float, list[float], list[float]]:
    """The first map of the session (the bundle fetched); then ``runs`` times: the first map of
    a page load (the audit log loaded, a new WebGL context) and the way back to the map from
    the audit log in the same page (the deck kept). The audit log is a light page: with
    thousands of cameras the wall itself takes long to draw."""
    first = 0.0
    loads, returns = [], []
    for run in range(runs + 1):
        page.goto(f"{server.url}/audit")
        page.wait_for_selector(opsmap.IDLE, timeout=60_000)
        took = _map_drawn(page, _follow(page, "Operations map"), parts, "page load")
        if run == 0:
            first = took
            continue
        loads.append(took)
        _follow(page, "Audit log")
        page.wait_for_function("() => !window.lawangjaboMap", timeout=60_000)
        page.wait_for_selector(opsmap.IDLE, timeout=60_000)
        returns.append(_map_drawn(page, _follow(page, "Operations map"), parts, "back"))
    return first, loads, returns


ARRIVED = """id => { const m = window.lawangjaboMap; const v = m.deck.getViewports()[0];
    const row = m.cameraRows().find(r => r.id === id);
    return !!row && v.zoom >= 15.99 && Math.abs(v.longitude - row.position[0]) < 1e-6
        && Math.abs(v.latitude - row.position[1]) < 1e-6; }"""
TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


CARD_BOX = """() => { const m = window.lawangjaboMap; const id = m.order[0];
    m.select(id, { tell: false }); const r = m.el.card.getBoundingClientRect();
    m.close({ tell: false }); const bottom = r.top + Math.max(r.height, 340) + 20;
    return [r.left, r.top, r.right, bottom]; }"""


def _under(box: list[float], point: tuple[float, float]) -> bool:
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])


def _targets(page: Any, clicks: int) -> list[tuple[str, Callable[[], tuple[float, float]]]]:
    """Cameras to click, and how to find each on screen: at the city view when enough stand
    apart; otherwise (thousands) the view flies to each one first, as a search would."""
    # An open card (top right, with its picture) covers part of the map: an operator clicks the
    # cameras they see, so cameras under it are not targets.
    card = page.evaluate(CARD_BOX)
    apart = {c: p for c, p in opsmap.clickable(page).items() if not _under(card, p[:2])}
    if len(apart) >= 6:
        ids = [list(apart)[i % len(apart)] for i in range(clicks)]
        return [(c, (lambda c=c: apart[c][:2])) for c in ids]
    drawn = list(opsmap.points(page))
    step = max(1, len(drawn) // clicks)
    chosen = drawn[::step][:clicks]

    def locate(camera_id: str) -> tuple[float, float]:
        page.evaluate("id => window.lawangjaboMap.flyTo(id)", camera_id)
        # an operator clicks on a map at rest: the flight over and its last frame drawn
        page.wait_for_function(ARRIVED, arg=camera_id, timeout=30_000, polling=50)
        page.evaluate(TWO_FRAMES)
        x, y, _ = opsmap.points(page)[camera_id]
        return x, y

    return [(c, (lambda c=c: locate(c))) for c in chosen]


def clicks(page: Any, count: int) -> dict[str, Any]:
    stored: list[float] = []
    fresh: list[float] = []
    misses = 0
    page.wait_for_function("() => window.lawangjaboMap.states.size > 0", timeout=60_000)
    states = page.evaluate("() => Object.fromEntries(window.lawangjaboMap.states)")
    for camera_id, locate in _targets(page, count):
        x, y = locate()
        page.mouse.move(x, y)
        page.wait_for_timeout(150)
        started = time.monotonic()
        page.mouse.click(x, y)
        try:
            opsmap.wait_shown(page, camera_id, timeout_ms=15_000)
        except Exception:
            misses += 1
            continue
        stored.append((time.monotonic() - started) * 1000)
        if states.get(camera_id, [None, None])[1] == "online" and camera_id != FROZEN:
            try:
                opsmap.wait_fresh(page, camera_id, timeout_ms=15_000)
                fresh.append((time.monotonic() - started) * 1000)
            except Exception:
                misses += 1
        page.wait_for_timeout(300)
    in_page = page.evaluate("() => window.lawangjaboMap.timings.map(t => t.shown_ms)")
    return {
        "stored": summary(stored),
        "stored_in_page": summary(in_page),  # input event → the frame with the picture
        "fresh": summary(fresh),
        "missed": misses,
    }


def deep_links(browser: Any, server: Server, runs: int, in_page: list[float]) -> list[float]:
    page = signed_in_page(browser, server)
    opsmap.open_map(page, server.url)  # the bundle in the cache, as for an operator on shift
    page.wait_for_function("() => window.lawangjaboMap.states.size > 0", timeout=60_000)
    states = page.evaluate("() => Object.fromEntries(window.lawangjaboMap.states)")
    with_picture = [cid for cid, s in states.items() if s[3] is not None]
    times = []
    for i in range(runs):
        camera_id = with_picture[i % len(with_picture)]
        started = time.monotonic()
        page.goto(f"{server.url}/?camera={camera_id}")
        opsmap.wait_shown(page, camera_id, timeout_ms=30_000)
        times.append((time.monotonic() - started) * 1000)
        page.wait_for_timeout(300)  # the frame with the picture
        shown = page.evaluate("() => window.lawangjaboMap.marks.picture")  # since navigation
        in_page.append(shown)
    page.close()
    return times


def phone_taps(browser: Any, server: Server, taps: int) -> dict[str, Any]:
    """``taps`` fresh phone pages: one tap on a camera each; did the picture open?"""
    opened, times = 0, []
    for _ in range(taps):
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
        )
        host = server.url.split("//")[1].split(":")[0]
        context.add_cookies([{"name": "lj_session", "value": server.cookie, "domain": host,
                              "path": "/", "httpOnly": True, "sameSite": "Strict"}])  # fmt: skip
        page = context.new_page()
        opsmap.open_map(page, server.url)
        apart = opsmap.clickable(page)
        camera_id = next(iter(apart))
        x, y, _ = apart[camera_id]
        started = time.monotonic()
        page.touchscreen.tap(x, y)
        try:
            opsmap.wait_shown(page, camera_id, timeout_ms=10_000)
            opened += 1
            times.append((time.monotonic() - started) * 1000)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "bench-phone-miss.png"))
        context.close()
    return {"opened": opened, "of": taps, "tap_to_picture": summary(times)}


def state_bytes(server: Server) -> dict[str, Any]:
    _, body, headers = _get(server, "/api/map/state", **{"Accept-Encoding": "gzip"})
    raw = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
    again, empty, _ = _get(server, "/api/map/state", **{"If-None-Match": headers.get("etag", "")})
    return {
        "cameras": len(json.loads(raw)["cameras"]),
        "bytes_gzip": len(body),
        "bytes_raw": len(raw),
        "unchanged_status": again,
        "unchanged_bytes": len(empty),
    }


def measure(browser: Any, server: Server, args: argparse.Namespace, phone: bool) -> dict[str, Any]:
    page = signed_in_page(browser, server)
    parts: list[dict[str, int]] = []
    first, loads, returns = sidebar_to_map(page, server, 2 if args.quick else 5, parts)
    data_bytes = page.evaluate("() => JSON.stringify(window.lawangjaboMap.data).length")
    result: dict[str, Any] = {
        "first_map_ms": round(first),
        "sidebar_to_map": summary(returns),
        "page_load_to_map": summary(loads),
        "sidebar_to_map_parts": parts,
        "component_data_bytes": data_bytes,
        "state_refresh": state_bytes(server),
        "clicks": clicks(page, args.clicks),
    }
    page.close()
    in_page: list[float] = []
    result["deep_link_to_picture"] = summary(
        deep_links(browser, server, 3 if args.quick else 5, in_page)
    )
    result["deep_link_in_page"] = summary(in_page)  # navigation start → picture on screen
    if phone:
        result["phone_quiet"] = phone_taps(browser, server, args.taps)
        with cpu_load(2):
            result["phone_under_load"] = phone_taps(browser, server, args.taps)
    return result


def report(name: str, result: dict[str, Any]) -> None:
    rows = [
        ("sidebar → map drawn p50", result["sidebar_to_map"]["p50_ms"], "sidebar_to_map"),
        ("  in the page (click → frame)",
         round(statistics.median([p["in_page_ms"] for p in result["sidebar_to_map_parts"]
                                  if p["way"] == "back"])),
         "sidebar_to_map"),
        ("  first map of a page load p50", result["page_load_to_map"]["p50_ms"],
         "sidebar_to_map"),
        ("click → stored picture p95", result["clicks"]["stored"]["p95_ms"], "click_to_stored_p95"),
        ("  in the page (event → frame)", result["clicks"]["stored_in_page"]["p95_ms"],
         "click_to_stored_p95"),
        ("click → fresh picture p95", result["clicks"]["fresh"]["p95_ms"], "click_to_fresh_p95"),
        ("deep link → picture p50", result["deep_link_to_picture"]["p50_ms"],
         "deep_link_to_picture"),
        ("  in the page (navigation → frame)", result["deep_link_in_page"]["p50_ms"],
         "deep_link_to_picture"),
    ]  # fmt: skip
    print(f"\n== {name}")
    for label, value, key in rows:
        target = TARGETS_MS[key]
        ratio = f"{value / target:.2f}× target" if value is not None else "n/a"
        print(f"  {label:30} {value} ms (target {target} ms): {ratio}")
    print(f"  first map (bundle fetched)     {result['first_map_ms']} ms")
    print(f"  component data                 {result['component_data_bytes']:,} bytes")
    s = result["state_refresh"]
    print(f"  state refresh                  {s['bytes_gzip']:,} bytes gzip "
          f"({s['bytes_raw']:,} raw) for {s['cameras']} cameras; unchanged: HTTP "
          f"{s['unchanged_status']}, {s['unchanged_bytes']} bytes")  # fmt: skip
    for key in ("phone_quiet", "phone_under_load"):
        if key in result:
            print(f"  {key:30} {result[key]['opened']} of {result[key]['of']} first taps opened")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--taps", type=int, default=10)
    parser.add_argument("--big", type=int, default=2000, help="cameras in the big run (0: none)")
    parser.add_argument(
        "--big-interval", type=int, default=60,
        help="poll interval of the big run, s (the simulator and the poller share this machine)",
    )  # fmt: skip
    parser.add_argument(
        "--big-poller", choices=("external", "embedded"), default="external",
        help="where the big run's poller runs: its own process (the README's layout from 500 "
        "cameras) or the app's",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--no-demo", action="store_true", help="the big run only")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": {"cpus": multiprocessing.cpu_count()}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        if RESULTS.is_file():  # a run of one part keeps the other's figures
            results = {**json.loads(RESULTS.read_text(encoding="utf-8")), **results}
        if not args.no_demo:
            with app() as server:
                results["demo"] = measure(browser, server, args, phone=True)
            report("demo (12 cameras)", results["demo"])
            RESULTS.write_text(json.dumps(results, indent=1), encoding="utf-8")
        if args.big:
            big = Path(tempfile.mkdtemp(prefix="lj-bench-reg-")) / "cameras.geojson"
            subprocess.run(
                [sys.executable, "-m", "lawangjabo", "generate-registry", "--count",
                 str(args.big), "--out", str(big)],
                check=True, cwd=ROOT, capture_output=True,
            )  # fmt: skip
            with app(big, interval_s=args.big_interval, poller=args.big_poller) as server:
                results["big"] = measure(browser, server, args, phone=False)
            results["big"]["layout"] = {
                "cameras": args.big, "interval_s": args.big_interval, "poller": args.big_poller,
            }  # fmt: skip
            report(f"{args.big} cameras", results["big"])
            demo = results.get("demo", {}).get("clicks", {}).get("stored", {})
            many = results["big"]["clicks"]["stored"]
            if demo.get("p95_ms") and many["p95_ms"]:
                ratio = many["p95_ms"] / demo["p95_ms"]
                print(f"\n  {args.big} cameras against 12: click → stored p95 ×{ratio:.2f} "
                      "(target ≤ 1.5×)")  # fmt: skip
        browser.close()
    RESULTS.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"\nfigures in {RESULTS}")


if __name__ == "__main__":
    main()
