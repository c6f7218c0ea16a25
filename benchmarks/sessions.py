"""Benchmark: how many active operator sessions one app replica carries, with real browsers.

    .venv/bin/python benchmarks/sessions.py [--levels 1 5 10 15] [--window 30]

Starts the app as a user runs it (the Palembang demo, simulated cameras polled every 10 s) and
opens, level by level, N headless Chromium pages signed in on the operations map. During each
``--window`` the pages take turns clicking cameras on the map (each waits for the picture), so
every session is an operator at work. Measured per level: the app process's CPU (% of one core,
from /proc) and memory, the click → picture p50/p95 across the sessions, and a newcomer's page
open (sign-in cookie → map drawn). Ratios are against the first level, measured in the same
run. The browsers run on the same machine and compete for its cores: the machine's load is
printed beside each level, and the figures are an upper bound on the app's own cost.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.conftest import signed_in_page, start_server, stop  # noqa: E402
from tests.e2e.test_browser import _open  # noqa: E402
from tests.e2e.test_operator import SHOWN, _clickable  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", type=int, nargs="+", default=[0, 1, 5, 10])
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        state = Path(folder)
        process, server = start_server(state, state / "server.log",
                                       LAWANGJABO_CAMERAS__INTERVAL_S="10")  # fmt: skip
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages: list[Any] = []
        idle = 0.0
        rows: list[dict[str, float]] = []
        try:
            for level in args.levels:
                while len(pages) < level:
                    page = signed_in_page(browser, server)
                    _open(page, server.url)
                    pages.append(page)
                if level == 0:  # the app alone: polling, alert rules, nobody looking
                    time.sleep(2)
                    cpu0, wall0 = cpu_seconds(process.pid), time.monotonic()
                    time.sleep(args.window)
                    idle = (cpu_seconds(process.pid) - cpu0) / (time.monotonic() - wall0) * 100
                    print(f"  0 sessions: app CPU {idle:5.1f} % of a core (polling, rules)",
                          flush=True)  # fmt: skip
                    continue
                targets = _clickable(pages[0])
                ids = [c for c in targets if not c.endswith(("punti-kayu", "soekarno-hatta"))]
                time.sleep(2)
                cpu0, wall0 = cpu_seconds(process.pid), time.monotonic()
                clicks: list[float] = []
                turn = lost = 0
                while time.monotonic() - wall0 < args.window:
                    page = pages[turn % len(pages)]
                    camera = rng.choice(ids)
                    x, y, _ = targets[camera]
                    page.mouse.move(x, y)  # a user's pointer arrives first
                    page.wait_for_timeout(200)
                    started = time.monotonic()
                    page.mouse.click(x, y)
                    try:
                        page.wait_for_function(SHOWN, arg=camera, timeout=15_000, polling=10)
                        clicks.append((time.monotonic() - started) * 1000)
                    except Exception:  # counted, not fatal: a lost click is a result too
                        lost += 1
                    turn += 1
                elapsed = time.monotonic() - wall0
                cpu = (cpu_seconds(process.pid) - cpu0) / elapsed * 100
                # The app's CPU per answered click, above what it spends with nobody looking.
                per_click = (cpu - idle) / 100 * elapsed / max(1, len(clicks)) * 1000
                newcomer = signed_in_page(browser, server)
                started = time.monotonic()
                try:
                    _open(newcomer, server.url)
                    opened = time.monotonic() - started - 2.5  # _open waits 2.5 s for deck.gl
                except Exception:  # not drawn within 30 s: the machine is saturated
                    opened = float("inf")
                newcomer.context.close()
                rows.append({"sessions": level, "cpu": cpu, "rss": rss_mb(process.pid),
                             "p50": statistics.median(clicks), "p95": pct(clicks, 0.95),
                             "clicks": len(clicks), "lost": lost, "open": opened,
                             "per_click": per_click,
                             "load": os.getloadavg()[0]})  # fmt: skip
                row = rows[-1]
                base = rows[0]
                print(
                    f"{level:3d} sessions: app CPU {row['cpu']:5.1f} % of a core "
                    f"({row['cpu'] / max(base['cpu'], 0.1):4.1f}x), RSS {row['rss']:4.0f} MB, "
                    f"click->picture p50 {row['p50']:4.0f} p95 {row['p95']:5.0f} ms "
                    f"({row['p95'] / base['p95']:4.1f}x) over {row['clicks']} clicks "
                    f"({row['lost']} unanswered in 15 s; "
                    f"app {row['per_click']:.0f} ms CPU per click), "
                    f"newcomer's map open {row['open']:4.1f} s ({row['open'] / base['open']:4.1f}x)"
                    f", machine load {row['load']:.1f}",
                    flush=True,
                )
        finally:
            browser.close()
            stop(process)


if __name__ == "__main__":
    main()
