"""Behind a real HAProxy (Debian's), configured from docs/haproxy.cfg: TLS ends at the proxy,
the app believes X-Forwarded-* from its trusted proxy only, sign-in limits count per real client,
the cookie is Secure, and the websocket's origin check holds for https."""

from __future__ import annotations

import asyncio
import http.client
import re
import shutil
import ssl
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import websockets
from websockets.typing import Origin, Subprotocol

from lawangjabo.config import PROJECT_ROOT

from ..e2e.conftest import Server, _free_port, start_server, stop

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
LIMIT = 3  # failed sign-ins per address before it must wait

pytestmark = pytest.mark.skipif(
    not Path(HAPROXY).exists() or not shutil.which("openssl"),
    reason="haproxy or openssl not installed (scripts/test.sh installs haproxy as root)",
)


@dataclass
class Proxied:
    app: Server
    tls_port: int
    app_port: int


def _config(cert: Path, tls_port: int, plain_port: int, app_ports: tuple[int, int]) -> str:
    """docs/haproxy.cfg with a test certificate, loopback ports and the two replicas' ports."""
    text = (PROJECT_ROOT / "docs" / "haproxy.cfg").read_text(encoding="utf-8")
    for old, new in (
        ("/etc/haproxy/lawangjabo.pem", str(cert)),
        ("bind :443", f"bind 127.0.0.1:{tls_port}"),
        ("bind :80", f"bind 127.0.0.1:{plain_port}"),
        ("127.0.0.1:8501", f"127.0.0.1:{app_ports[0]}"),
        ("127.0.0.1:8502", f"127.0.0.1:{app_ports[1]}"),
    ):
        assert old in text, old  # the sample still has the shape this test relies on
        text = text.replace(old, new)
    return text


def start_haproxy(folder: Path, app_ports: tuple[int, int]) -> tuple[subprocess.Popen[bytes], int]:
    """A real HAProxy from docs/haproxy.cfg with a throwaway certificate, in front of
    ``app_ports``, answering on its TLS port (returned) once the first replica is healthy."""
    key, crt, pem = folder / "key.pem", folder / "crt.pem", folder / "haproxy.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(crt), "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pem.write_bytes(crt.read_bytes() + key.read_bytes())
    tls_port, plain_port = _free_port(), _free_port()
    config = folder / "haproxy.cfg"
    config.write_text(_config(pem, tls_port, plain_port, app_ports), encoding="utf-8")
    proxy = subprocess.Popen(
        [HAPROXY, "-f", str(config), "-db"],
        stdout=(folder / "haproxy.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if _request(tls_port, "GET", "/_stcore/health")[0] == 200:
                return proxy, tls_port
        except OSError:
            time.sleep(0.2)
    proxy.terminate()
    raise RuntimeError((folder / "haproxy.log").read_text(errors="replace"))


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    state = tmp_path_factory.mktemp("state-proxy")
    process, app = start_server(
        state,
        state / "server.log",
        LAWANGJABO_AUTH__TRUSTED_PROXIES='["127.0.0.1"]',
        LAWANGJABO_AUTH__FAILURES_PER_ADDRESS=str(LIMIT),
        LAWANGJABO_CAMERAS__INTERVAL_S="5",
    )
    app_port = int(app.url.rsplit(":", 1)[1])
    proxy, tls_port = start_haproxy(state, (app_port, app_port))  # one app: both entries
    yield Proxied(app, tls_port, app_port)
    proxy.terminate()
    proxy.wait(timeout=10)
    stop(process)


def _request(
    port: int,
    method: str,
    path: str,
    body: str = "",
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
    tls: bool = True,
) -> tuple[int, dict[str, str], str]:
    """One request from ``source`` (any 127/8 address is this machine) to ``port``."""
    context = ssl._create_unverified_context()  # our throwaway certificate
    connection: http.client.HTTPConnection = (
        http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=15, context=context, source_address=(source, 0)
        )
        if tls
        else http.client.HTTPConnection("127.0.0.1", port, timeout=15, source_address=(source, 0))
    )
    connection.request(method, path, body=body.encode(), headers=headers or {})
    reply = connection.getresponse()
    answer: dict[str, str] = {}
    for key, value in reply.getheaders():  # several Set-Cookie headers: keep them all
        answer[key.lower()] = f"{answer[key.lower()]}\n{value}" if key.lower() in answer else value
    found = (reply.status, answer, reply.read().decode())
    connection.close()
    return found


def _sign_in(port: int, user: str, password: str, source: str, tls: bool = True) -> tuple[int, str]:
    """The sign-in form as a browser posts it; (status, Set-Cookie of the reply)."""
    status, headers, page = _request(port, "GET", "/login", source=source, tls=tls)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert status == 200 and csrf, status
    cookie = headers["set-cookie"].split("\n")[0].split(";")[0]
    form = urllib.parse.urlencode(
        {"username": user, "password": password, "csrf": csrf.group(1), "next": "/"}
    )
    scheme = "https" if tls else "http"
    status, headers, _ = _request(
        port, "POST", "/login", form,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
         "Origin": f"{scheme}://127.0.0.1:{port}"},
        source=source, tls=tls,
    )  # fmt: skip
    session = [c for c in headers.get("set-cookie", "").split("\n") if "lj_session=" in c]
    return status, session[0] if session else ""


def test_https_through_the_proxy_gives_a_secure_cookie(proxied: Proxied) -> None:
    status, cookie = _sign_in(proxied.tls_port, "e2e", "e2e-admin-password", "127.0.0.2")
    assert status == 303 and "lj_session=" in cookie
    assert "secure" in cookie.lower()


def test_a_websocket_through_the_proxy_passes_the_https_origin_check(proxied: Proxied) -> None:
    _, cookie = _sign_in(proxied.tls_port, "e2e", "e2e-admin-password", "127.0.0.2")
    session = cookie.split(";")[0]
    url = f"wss://127.0.0.1:{proxied.tls_port}/_stcore/stream"

    async def connect(origin: str) -> str:
        try:
            async with websockets.connect(
                url,
                additional_headers={"Cookie": session},
                subprotocols=[Subprotocol("streamlit")],
                origin=Origin(origin),
                ssl=ssl._create_unverified_context(),
            ):
                return "open"
        except websockets.exceptions.InvalidStatus as error:
            return str(error.response.status_code)

    with ThreadPoolExecutor(1) as pool:  # Playwright may run a loop on this thread
        same = pool.submit(asyncio.run, connect(f"https://127.0.0.1:{proxied.tls_port}"))
        assert same.result() == "open"
        plain = pool.submit(asyncio.run, connect(f"http://127.0.0.1:{proxied.tls_port}"))
        assert plain.result() == "403"


def test_sign_in_limits_count_per_real_client(proxied: Proxied) -> None:
    """Behind the proxy every request comes from 127.0.0.1; the limit still counts the client
    HAProxy saw (127.0.0.3 here), so 127.0.0.4 signs in while .3 waits."""
    for _ in range(LIMIT):
        assert _sign_in(proxied.tls_port, "nobody3", "wrong-password", "127.0.0.3")[0] == 401
    assert _sign_in(proxied.tls_port, "nobody3", "wrong-password", "127.0.0.3")[0] == 429
    assert _sign_in(proxied.tls_port, "e2e", "e2e-admin-password", "127.0.0.4")[0] == 303


def test_forwarded_headers_from_anyone_else_are_ignored(proxied: Proxied) -> None:
    """A client reaching the app directly (127.0.0.5, not a trusted proxy) cannot claim https
    or another address: its cookie is not Secure and its failures count against itself.
    (Each test fails on its own user name: five failures lock an account, whatever address.)"""
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    status, headers, _page = _request(
        proxied.app_port, "GET", "/login", headers=forged, source="127.0.0.5", tls=False
    )
    assert status == 200
    assert "secure" not in headers["set-cookie"].lower()
    for _ in range(LIMIT):
        assert _sign_in(proxied.app_port, "nobody5", "x" * 12, "127.0.0.5", tls=False)[0] == 401
    assert _sign_in(proxied.app_port, "e2e", "e2e-admin-password", "127.0.0.5", tls=False)[0] == 429
