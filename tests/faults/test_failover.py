"""Cluster mode under a real HAProxy (docs/haproxy.cfg) with two app replicas on one throwaway
PostgreSQL: kill -9 the replica a signed-in browser is on, and the person carries on on the
other within seconds, still signed in."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from lawangjabo.config import PROJECT_ROOT

from ..browser import gross
from ..e2e.conftest import PASSWORDS, start_server, stop
from ..e2e.opsmap import DRAWN
from .test_proxy import HAPROXY, start_haproxy

pytestmark = pytest.mark.skipif(
    not Path(HAPROXY).exists() or not shutil.which("openssl"),
    reason="haproxy or openssl not installed (scripts/test.sh installs haproxy as root)",
)
READY = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
NAV = "[data-testid='stSidebarNav']"


def _cluster_database(pg_url: str) -> str:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS lj_failover")
        admin.execute("CREATE DATABASE lj_failover")
    return pg_url.rsplit("/", 1)[0] + "/lj_failover"


def test_a_killed_replica_costs_a_signed_in_person_seconds_not_a_sign_in(
    pg_url: str, browser: Any, tmp_path: Path
) -> None:
    env = {
        "LAWANGJABO_STORAGE__POSTGRES_URL": _cluster_database(pg_url),
        "LAWANGJABO_AUTH__TRUSTED_PROXIES": '["127.0.0.1"]',
        "LAWANGJABO_CAMERAS__POLLER": "off",
    }
    replicas = {}
    for name in ("app1", "app2"):
        (tmp_path / name).mkdir()
        replicas[name] = start_server(tmp_path / name, tmp_path / f"{name}.log", **env)
    ports = tuple(int(replicas[n][1].url.rsplit(":", 1)[1]) for n in ("app1", "app2"))
    proxy, tls_port = start_haproxy(tmp_path, (ports[0], ports[1]))
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        base = f"https://127.0.0.1:{tls_port}"
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "e2e")
        page.fill("input[name=password]", PASSWORDS["e2e"])
        page.click("button[type=submit]")
        page.wait_for_selector(NAV, timeout=60_000)
        page.wait_for_selector(IDLE, timeout=60_000)
        sticky = {c["name"]: c["value"] for c in context.cookies()}
        victim = sticky["LJSRV"]
        assert victim in replicas and "lj_session" in sticky

        replicas[victim][0].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        # The page notices its websocket is gone, reconnects through the proxy to the other
        # replica, which knows the sign-in (PostgreSQL) and draws the page again.
        page.wait_for_selector(
            '[data-testid="stApp"]:not([data-test-connection-state="CONNECTED"])', timeout=15_000
        )
        page.wait_for_selector(READY, timeout=30_000)
        page.wait_for_selector(NAV, timeout=30_000)
        carried_on_s = time.monotonic() - killed
        page.reload()  # and a fresh load is served too, without the sign-in page
        page.wait_for_selector(NAV, timeout=30_000)
        assert "/login" not in page.url
        now_on = {c["name"]: c["value"] for c in context.cookies()}["LJSRV"]
        assert now_on != victim and now_on in replicas
        page.wait_for_function(DRAWN, timeout=30_000)  # the map drew its cameras
        page.screenshot(path=str(PROJECT_ROOT / "test-artifacts" / "failover-after.png"))
    finally:
        context.close()
        proxy.terminate()
        proxy.wait(timeout=10)
        for process, _ in replicas.values():
            if process.poll() is None:
                stop(process)
    _save("replica_killed_under_a_browser_s", round(carried_on_s, 1))
    # the figure (3–6 s here) is the artifact's; the test guards a gross regression only: a
    # fresh-clone run on a busy machine measured 10.7 s
    assert carried_on_s <= gross(6.0), carried_on_s


def _save(key: str, value: Any) -> None:
    path = PROJECT_ROOT / "test-artifacts" / "cluster.json"
    path.parent.mkdir(exist_ok=True)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = {"value": value}
    path.write_text(json.dumps(data, indent=1))
