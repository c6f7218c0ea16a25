"""Browser tests: the real server (``streamlit run app.py``), Playwright, Debian Chromium.

Chromium must be the system package (``apt-get install chromium``); Playwright never downloads a
browser here. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lawangjabo.config import PROJECT_ROOT

from ..webhook import Receiver, receiver

PASSWORDS = {"e2e": "e2e-admin-password", "mayor": "e2e-leader-password"}


@dataclass
class Server:
    url: str
    log: Path
    cookie: str = ""  # the admin's session
    leader_cookie: str = ""
    webhook: Receiver | None = None  # the alert webhook's receiver, when the server has one

    def headers(self, leader: bool = False, write: bool = False) -> dict[str, str]:
        """Request headers for the admin's (or leader's) session; ``write`` adds the session's
        CSRF token, which ``/api/*`` POSTs need."""
        cookie = self.leader_cookie if leader else self.cookie
        headers = {"Cookie": f"lj_session={cookie}"}
        if write:
            headers["X-CSRF-Token"] = csrf_token(self.url, cookie)
        return headers


def csrf_token(url: str, cookie: str) -> str:
    """The session's CSRF token, as our own pages would read it from ``/api/session``."""
    request = urllib.request.Request(
        f"{url}/api/session", headers={"Cookie": f"lj_session={cookie}"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        token: str = json.loads(reply.read())["csrf_token"]
    return token


def sign_in(url: str, user: str, password: str) -> str:
    """Sign in through the real login form (CSRF cookie and all); returns the session id."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/login", timeout=10).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, "no CSRF field on the login page"
    form = urllib.parse.urlencode(
        {"username": user, "password": password, "csrf": csrf.group(1), "next": "/"}
    ).encode()
    opener.open(f"{url}/login", data=form, timeout=10).read()
    session = next((c.value for c in jar if c.name == "lj_session"), None)
    assert session, f"sign-in as {user} failed"
    return session


def create_users(state: Path, **extra: str) -> None:
    """The test accounts (in cluster mode, ``extra`` names the shared database: there the
    second replica finds them made already)."""
    env = {**os.environ, "LAWANGJABO_PATHS__STATE_DIR": str(state), **extra}
    for user, role in (("e2e", "admin"), ("mayor", "leader")):
        env["E2E_PASSWORD"] = PASSWORDS[user]
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "lawangjabo",
                "users",
                "add",
                user,
                "--role",
                role,
                "--password-env",
                "E2E_PASSWORD",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if made.returncode != 0 and f"user {user!r} exists" not in made.stdout:
            raise RuntimeError(f"users add {user} failed: {(made.stdout + made.stderr)[-1000:]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(state: Path, log: Path, **env: str) -> tuple[subprocess.Popen[bytes], Server]:
    port = _free_port()
    streamlit = shutil.which("streamlit", path=str(Path(sys.executable).parent))
    assert streamlit, "streamlit is not installed next to this interpreter"
    # English unless a test asks otherwise: the assertions read English words.
    environ = {
        **os.environ,
        "LAWANGJABO_PATHS__STATE_DIR": str(state),
        "LAWANGJABO_CITY__LANGUAGE": "en",
        **env,
    }
    create_users(state, **env)
    handle = log.open("wb")
    process = subprocess.Popen(
        [
            streamlit,
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=PROJECT_ROOT,
        env=environ,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return process, Server(
                        url,
                        log,
                        sign_in(url, "e2e", PASSWORDS["e2e"]),
                        sign_in(url, "mayor", PASSWORDS["mayor"]),
                    )
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"server did not come up: {log.read_text(errors='replace')[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for_first_round(server: Server, timeout_s: float = 45.0) -> list[dict[str, object]]:
    """Block until every camera has been polled at least once; returns /api/cameras."""
    deadline = time.monotonic() + timeout_s
    cameras: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        request = urllib.request.Request(f"{server.url}/api/cameras", headers=server.headers())
        with urllib.request.urlopen(request, timeout=10) as reply:
            cameras = json.loads(reply.read())["cameras"]
        if cameras and all(c["state"] != "pending" for c in cameras):
            return cameras
        time.sleep(0.5)
    raise AssertionError(f"cameras still pending: {cameras}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app as a user runs it (simulated cameras, Carto basemap, no internet), polling
    every 3 s so states settle quickly; alert rules run every 3 s, a camera counts as down
    after 1 min, and alerts go to a local webhook receiver whose first answer is a failure."""
    state = tmp_path_factory.mktemp("state")
    with receiver(["fail"]) as hook:
        process, srv = start_server(
            state,
            state / "server.log",
            LAWANGJABO_CAMERAS__INTERVAL_S="3",
            LAWANGJABO_CAMERAS__TIMEOUT_S="2",
            LAWANGJABO_ALERTS__WEBHOOK_URL=hook.url,
            LAWANGJABO_ALERTS__CAMERA_DOWN_MINUTES="1",
            LAWANGJABO_ALERTS__EVALUATE_EVERY_S="3",
            LAWANGJABO_ALERTS__WEBHOOK_BACKOFF_S="2",
        )
        srv.webhook = hook
        wait_for_first_round(srv)
        yield srv
        stop(process)


@pytest.fixture(scope="session")
def offline_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app with ``basemap = none``: it must make no request beyond its own server."""
    state = tmp_path_factory.mktemp("state-none")
    process, srv = start_server(state, state / "server.log", LAWANGJABO_MAP__BASEMAP="none")
    yield srv
    stop(process)


def signed_in_page(
    browser: Any, server: Server, width: int = 1440, height: int = 900, leader: bool = False
) -> Any:
    """A new browser page carrying a session cookie, as after signing in."""
    context = browser.new_context(viewport={"width": width, "height": height})
    host = urllib.parse.urlsplit(server.url).hostname
    context.add_cookies(
        [
            {
                "name": "lj_session",
                "value": server.leader_cookie if leader else server.cookie,
                "domain": host,
                "path": "/",
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )
    return context.new_page()
