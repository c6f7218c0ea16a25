"""The demo cluster of ``scripts/cluster.sh`` (PostgreSQL, two replicas behind HAProxy, two zone
pollers with their simulated cameras) loses PostgreSQL for 60 s: the pollers keep polling and
deliver afterwards (no outcome lost, none twice, no hole in any camera's history), a signed-in
person keeps the screen and is told what is down, and everything recovers with no restart."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lawangjabo.config import PROJECT_ROOT
from lawangjabo.i18n import LANGUAGES, Translator

from ..e2e.conftest import sign_in
from ..pg import _bin
from .test_failover import _save
from .test_proxy import HAPROXY

OUTAGE_S = 60
INTERVAL_S = 3
CAMERAS = 20
PASSWORD = "outage-test-password"
NAV = "[data-testid='stSidebarNav']"
DATABASE_DOWN = [
    Translator(lang, "Asia/Jakarta").gettext("Database unavailable") for lang in LANGUAGES
]
pytestmark = pytest.mark.skipif(
    not Path(HAPROXY).exists() or not shutil.which("curl") or not _bin("pg_ctl"),
    reason="haproxy, curl or PostgreSQL not installed (scripts/test.sh installs them as root)",
)


def _ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def _pg_ctl(folder: Path, *args: str) -> None:
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*as_user, str(_bin("pg_ctl")), "-D", str(folder / "pg" / "data"), *args],
                   check=True, capture_output=True, timeout=90)  # fmt: skip


def _health(base: str, session: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}/api/health", headers={"Cookie": f"lj_session={session}"}
    )
    with urllib.request.urlopen(request, timeout=20) as reply:
        data: dict[str, Any] = json.loads(reply.read())
        return data


def _central_down(report: dict[str, Any]) -> bool:
    return any("central database (PostgreSQL) unreachable" in p["message"]
               for p in report["problems"])  # fmt: skip


def test_postgresql_stopped_for_a_minute_loses_nothing(browser: Any) -> None:
    import psycopg

    # Not under pytest's private tmp folder: PostgreSQL runs as the postgres account and must
    # reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix="lj-cluster-"))
    folder.chmod(0o755)
    pg_port, app1, app2, proxy = _ports(4)
    env = {**os.environ, "LJ_CLUSTER_DIR": str(folder), "LJ_PG_PORT": str(pg_port),
           "LJ_APP_PORTS": f"{app1} {app2}", "LJ_PROXY_PORT": str(proxy),
           "LJ_INTERVAL_S": str(INTERVAL_S), "LJ_CAMERAS": str(CAMERAS),
           "LAWANGJABO_DEMO_PASSWORD": PASSWORD}  # fmt: skip
    script = str(PROJECT_ROOT / "scripts" / "cluster.sh")
    started = subprocess.run(["bash", script, "start"], env=env, capture_output=True, text=True,
                             timeout=300, check=False)  # fmt: skip
    url = f"postgresql://postgres@127.0.0.1:{pg_port}/lawangjabo"
    base = f"http://127.0.0.1:{proxy}"
    figures: dict[str, Any] = {}
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        assert started.returncode == 0, started.stdout + started.stderr

        def ledger(sql: str, *params: Any) -> list[tuple[Any, ...]]:
            with psycopg.connect(url, connect_timeout=5) as conn:
                return conn.execute(sql, params).fetchall()

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            zones = ledger("SELECT zone, count(*) FROM pollers GROUP BY zone ORDER BY zone")
            polled = ledger("SELECT count(DISTINCT camera_id) FROM poll_outcomes")[0][0]
            if polled == CAMERAS and [z for z, _ in zones] == ["dishub", "polda"]:
                break
            time.sleep(1)
        assert polled == CAMERAS and [z for z, _ in zones] == ["dishub", "polda"]
        session = sign_in(base, "demo", PASSWORD)
        report = _health(base, session)
        settle = time.monotonic() + 30  # a cluster just started: its first heartbeats
        while report["status"] != "ok" and time.monotonic() < settle:
            time.sleep(1)
            report = _health(base, session)
        assert report["status"] == "ok", report
        page = context.new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "demo")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(NAV, timeout=60_000)

        time.sleep(2 * INTERVAL_S)
        stop_at = datetime.now(UTC)
        settled = stop_at - timedelta(seconds=15)  # written before the stop, surely delivered
        before = ledger("SELECT count(*) FROM poll_outcomes WHERE polled_at < %s", settled)[0][0]
        _pg_ctl(folder, "-m", "fast", "-w", "stop")
        stopped = time.monotonic()
        said_down = None
        while time.monotonic() - stopped < OUTAGE_S:
            if said_down is None and _central_down(_health(base, session)):
                said_down = time.monotonic() - stopped
            if said_down is not None and "outage_page" not in figures:
                # A fresh page load while PostgreSQL is away renders from what the replica
                # knows (each call to PostgreSQL fails at once), and its banner says so.
                reloaded = time.monotonic()
                page.reload()
                page.wait_for_selector(NAV, timeout=60_000)
                assert "/login" not in page.url
                strip = page.locator("details.lj-strip summary").first
                page.wait_for_function(
                    "words => { const s = document.querySelector('details.lj-strip summary');"
                    " return s && words.some(w => s.innerText.includes(w)); }",
                    arg=DATABASE_DOWN,
                    timeout=30_000,
                )
                figures["outage_page_ms"] = round((time.monotonic() - reloaded) * 1000)
                figures["outage_banner"] = strip.inner_text()
                page.wait_for_timeout(3000)
                page.screenshot(path=str(PROJECT_ROOT / "test-artifacts" / "cluster-outage.png"))
                figures["outage_page"] = True
            time.sleep(1)
        assert said_down is not None and said_down <= 10, said_down
        options = f"-p {pg_port} -k {folder / 'pg'} -c listen_addresses=127.0.0.1"
        _pg_ctl(folder, "-l", str(folder / "pg" / "server.log"), "-w", "-t", "60", "-o", options,
                "start")  # fmt: skip
        start_at = datetime.now(UTC)
        back = time.monotonic()
        recovered = delivered = None
        while time.monotonic() - back < 90 and (recovered is None or delivered is None):
            if recovered is None and not _central_down(_health(base, session)):
                recovered = time.monotonic() - back
            if delivered is None:
                rows = ledger("SELECT min(last_seen), sum(backlog_files) FROM pollers")
                if rows[0][0] > start_at and rows[0][1] == 0:
                    delivered = time.monotonic() - back
            time.sleep(0.5)
        assert recovered is not None and delivered is not None, (recovered, delivered)
        page.reload()
        page.wait_for_selector(NAV, timeout=30_000)  # still signed in, no restart of anything

        after = ledger("SELECT count(*) FROM poll_outcomes WHERE polled_at < %s", settled)[0][0]
        twice = ledger("SELECT count(*) FROM (SELECT camera_id, polled_at FROM poll_outcomes "
                       "GROUP BY 1, 2 HAVING count(*) > 1) d")[0][0]  # fmt: skip
        window = "SELECT count(*) FROM poll_outcomes WHERE polled_at >= %s AND polled_at < %s"
        during = ledger(window, stop_at, start_at)[0][0]
        gaps = ledger(
            "SELECT camera_id, max(gap) FROM (SELECT camera_id, extract(epoch FROM polled_at - "
            "lag(polled_at) OVER (PARTITION BY camera_id ORDER BY polled_at)) AS gap "
            "FROM poll_outcomes WHERE polled_at BETWEEN %s AND %s) g GROUP BY camera_id",
            stop_at - timedelta(seconds=20),
            start_at + timedelta(seconds=5),
        )
        widest = max(float(g or 0) for _, g in gaps)
        per_camera = ledger(window.replace("count(*)", "camera_id, count(*)") + " GROUP BY 1",
                            stop_at, start_at)  # fmt: skip
        outage_s = (start_at - stop_at).total_seconds()
        figures.update(
            outage_s=round(outage_s, 1),
            said_down_after_s=round(said_down, 1),
            recovered_after_s=round(recovered, 1),
            backlog_delivered_after_s=round(delivered, 1),
            outcomes_during_outage=during,
            fewest_polls_of_a_camera_during=min(n for _, n in per_camera),
            lost_before_the_stop=before - after,
            stored_twice=twice,
            widest_gap_in_any_camera_s=round(widest, 1),
        )
        assert after == before and twice == 0
        assert len(gaps) == CAMERAS and widest <= 3 * INTERVAL_S + 5, gaps  # no hole
        # Polling went on at its pace: every camera polled all along (a poll every ≤ 14 s).
        assert len(per_camera) == CAMERAS, per_camera
        assert min(n for _, n in per_camera) >= outage_s / (3 * INTERVAL_S + 5), per_camera
    finally:
        context.close()
        stopped_run = subprocess.run(["bash", script, "stop"], env=env, capture_output=True,
                                     text=True, timeout=120, check=False)  # fmt: skip
        _save("postgresql_stopped_60s", figures)
        shutil.rmtree(folder, ignore_errors=True)
    assert stopped_run.returncode == 0, stopped_run.stdout + stopped_run.stderr
