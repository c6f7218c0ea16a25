"""Sign-in at the ASGI layer, tried against the real server: every route refuses a request
without a session; the websocket too; roles hold against crafted requests; logout revokes."""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import websockets
from streamlit.web.server.starlette import starlette_routes
from websockets.typing import Origin, Subprotocol

from lawangjabo.auth.access import PAGES, PUBLIC_PATHS
from lawangjabo.server.web import api_routes

from ..browser import ARTIFACTS
from .conftest import PASSWORDS, Server, csrf_token

SAMPLE = {
    "path": "x.js",
    "file_id": "abc",
    "session_id": "abc",
    "camera_id": "plg-cam3-sp-polda",
    "kind": "snapshot",
}


def app_paths() -> list[str]:
    """Every HTTP path the app serves: ours and Streamlit's, from their route tables."""
    ours = [route.path for route in api_routes()]  # type: ignore[attr-defined]
    streamlit = [
        f"/{value}"
        for name, value in vars(starlette_routes).items()
        if re.fullmatch(r"_?ROUTE_[A-Z0-9_]+", name) and isinstance(value, str)
    ]
    pages = [f"/{name}" for name in PAGES["admin"]]  # every page of the UI (admins see all)
    paths = ["/", *pages, "/_stcore/stream", *ours, *streamlit]
    filled = [re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE.get(m.group(1), "x"), p) for p in paths]
    assert len(set(filled)) > 15
    return sorted(set(filled))


def _status(url: str, method: str = "GET", cookie: str | None = None, **headers: str) -> int:
    if cookie:
        headers["Cookie"] = f"lj_session={cookie}"
    request = urllib.request.Request(url, method=method, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=15) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return error.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_every_route_refuses_without_a_session(server: Server) -> None:
    """GET and POST of every path without a session; the table goes to test-artifacts."""
    rows, wrong = [], []
    for path in app_paths():
        got = {method: _status(server.url + path, method) for method in ("GET", "POST")}
        if path in PUBLIC_PATHS:
            expected = "public"
            ok = all(status not in (401, 303) for status in got.values()) or path == "/login"
        elif path.startswith("/api/"):
            expected = "401"
            ok = all(status == 401 for status in got.values())
        else:
            expected = "303 to /login"
            ok = all(status in (303, 401) for status in got.values())
        rows.append(f"| `{path}` | {got['GET']} | {got['POST']} | {expected} |")
        if not ok:
            wrong.append((path, got))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "route-refusals.md").write_text(
        "| path | GET | POST | expected |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    assert not wrong, wrong


def test_forged_cookie_is_refused(server: Server) -> None:
    assert _status(f"{server.url}/api/cameras", cookie="forged-session-id") == 401
    assert _status(f"{server.url}/api/cameras", cookie=server.cookie) == 200


def test_websocket_refuses_without_a_session(server: Server) -> None:
    url = server.url.replace("http://", "ws://") + "/_stcore/stream"

    async def connect(cookie: str | None, origin: str | None) -> str:
        headers = {"Cookie": f"lj_session={cookie}"} if cookie else {}
        try:
            async with websockets.connect(
                url,
                additional_headers=headers,
                subprotocols=[Subprotocol("streamlit")],
                origin=Origin(origin) if origin else None,
            ):
                return "open"
        except websockets.exceptions.InvalidStatus as error:
            return str(error.response.status_code)

    def run(cookie: str | None, origin: str | None = server.url) -> str:
        # In a thread of its own: the browser tests' Playwright may run a loop on this one.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, connect(cookie, origin)).result()

    assert run(None) == "403"
    assert run("forged") == "403"
    assert run(server.cookie) == "open"
    other_port = server.url.rsplit(":", 1)[0] + ":1"
    assert run(server.cookie, origin=other_port) == "403"  # another port of this host
    assert run(server.cookie, origin=None) == "403"


def test_a_leader_cannot_act_as_an_operator(server: Server, browser: Any) -> None:
    refresh = f"{server.url}/api/cameras/plg-cam3-sp-polda/refresh"
    leader_token = csrf_token(server.url, server.leader_cookie)
    admin_token = csrf_token(server.url, server.cookie)
    assert _status(refresh, "POST", server.leader_cookie, **{"X-CSRF-Token": leader_token}) == 403
    assert _status(refresh, "POST", server.cookie) == 403  # no CSRF token
    assert _status(refresh, "POST", server.cookie, **{"X-CSRF-Token": leader_token}) == 403
    cross_site = {"X-CSRF-Token": admin_token, "Origin": "https://evil.example"}
    assert _status(refresh, "POST", server.cookie, **cross_site) == 403
    assert _status(refresh, "POST", server.cookie, **{"X-CSRF-Token": admin_token}) == 202
    from .conftest import signed_in_page
    from .test_browser import IDLE, _open

    page = signed_in_page(browser, server, leader=True)
    _open(page, server.url)  # a leader's home is the brief, with its compact map
    nav = page.locator("[data-testid='stSidebarNav']").inner_text()
    assert "Operations map" in nav and "Incidents" not in nav and "Camera registry" not in nav
    page.goto(f"{server.url}/incidents")  # typed by hand: not among the leader's pages
    page.wait_for_selector(IDLE, timeout=60_000)
    assert "Log incident" not in page.locator("[data-testid='stMain']").inner_text()
    page.close()


def _attempt(url: str, user: str, password: str) -> int:
    """One sign-in through the form; the HTTP status of the answer (303 = signed in)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    page = opener.open(f"{url}/login", timeout=10).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    form = urllib.parse.urlencode(
        {"username": user, "password": password, "csrf": csrf.group(1)}
    ).encode()
    try:
        with opener.open(f"{url}/login", data=form, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_lockout_after_repeated_failures(server: Server) -> None:
    assert [_attempt(server.url, "mayor", "wrong-password-123") for _ in range(5)] == [401] * 5
    assert _attempt(server.url, "mayor", PASSWORDS["mayor"]) == 429  # locked, right or wrong
    assert _status(f"{server.url}/api/cameras", cookie=server.leader_cookie) == 200  # sessions stay
    no_csrf = urllib.request.Request(f"{server.url}/login", data=b"username=e2e&password=x")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(no_csrf, timeout=10)
    assert error.value.code == 400  # a login form posted from elsewhere is refused


def test_sign_in_sign_out_and_the_back_button(server: Server, browser: Any) -> None:
    from .test_browser import IDLE, READY

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(server.url)
    assert "/login" in page.url
    page.fill("input[name=username]", "e2e")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    page.get_by_text("Wrong user name or password").wait_for(timeout=15_000)
    page.fill("input[name=username]", "e2e")  # retry on the same form
    page.fill("input[name=password]", PASSWORDS["e2e"])
    page.click("button[type=submit]")
    page.wait_for_selector(READY, timeout=60_000)
    page.wait_for_selector(IDLE, timeout=60_000)
    cookie = next(c for c in context.cookies() if c["name"] == "lj_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "Signed in as" in page.locator("[data-testid='stSidebar']").inner_text()
    page.get_by_text("Sign out").click()
    page.locator("button[type=submit]").click()  # the sign-out page's own button (POST)
    page.wait_for_url(re.compile(r".*/login.*"), timeout=30_000)
    page.go_back()
    page.wait_for_timeout(1500)
    assert "/login" in page.url or "Operations map" not in page.content()
    assert _status(f"{server.url}/api/cameras", cookie=cookie["value"]) == 401  # revoked
    context.close()


def test_the_sign_in_page_speaks_both_languages(server: Server) -> None:
    def page(query: str) -> str:
        with urllib.request.urlopen(f"{server.url}/login{query}", timeout=10) as reply:
            return str(reply.read().decode())

    english, indonesian = page(""), page("?lang=id")
    assert 'lang="en"' in english and "Password" in english and "Bahasa Indonesia" in english
    assert 'lang="id"' in indonesian and "Kata sandi" in indonesian and ">Masuk<" in indonesian
    assert "English" in indonesian  # the switch back
    assert 'lang="en"' in page("?lang=xx")  # unknown: the city's default


def test_an_open_wall_goes_dark_within_seconds_of_a_role_change(
    server: Server, browser: Any
) -> None:
    """An operator's wall is open and streaming; the CLI demotes the account: the server closes
    the page's websocket within seconds and sends it nothing more (no reconnect either)."""
    import time

    from ..test_cli import run
    from .conftest import sign_in, signed_in_page
    from .test_browser import IDLE

    def cli(*args: str) -> None:
        done = run(*args, state=server.log.parent, WALL_PASSWORD="wall-watch-password")
        assert done.returncode == 0, done.stdout + done.stderr

    cli("users", "add", "wallwatch", "--role", "operator", "--password-env", "WALL_PASSWORD")
    cookie = sign_in(server.url, "wallwatch", "wall-watch-password")
    page = signed_in_page(browser, Server(server.url, server.log, cookie))
    frames: list[float] = []
    closed: list[float] = []

    def on_socket(ws: Any) -> None:
        ws.on("framereceived", lambda _: frames.append(time.monotonic()))
        ws.on("close", lambda _: closed.append(time.monotonic()))

    page.on("websocket", on_socket)
    page.goto(f"{server.url}/camera_wall")
    page.wait_for_selector(IDLE, timeout=60_000)
    page.locator("[class*='st-key-tile-']").first.wait_for(timeout=30_000)
    assert frames and not closed
    revoked = time.monotonic()
    cli("users", "set-role", "wallwatch", "--role", "planner")
    deadline = revoked + 15
    while not closed and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert closed, "the websocket stayed open after the role change"
    took = closed[0] - revoked
    assert took < 5, took
    page.wait_for_timeout(12_000)  # longer than the wall's 10 s refresh
    late = [t for t in frames if t > closed[0] + 0.5]
    assert late == [], f"{len(late)} frames after the close"
    (ARTIFACTS / "revocation.json").write_text(f'{{"websocket_closed_after_s": {took:.2f}}}')
    page.close()


def test_forwarded_headers_are_not_believed_without_a_trusted_proxy(server: Server) -> None:
    """No ``trusted_proxies`` configured: a local process claiming https through
    X-Forwarded-Proto does not get a Secure cookie (uvicorn alone would believe it)."""
    request = urllib.request.Request(
        f"{server.url}/login",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        cookies = reply.headers.get_all("set-cookie") or []
    assert cookies and not any("secure" in c.lower() for c in cookies)
