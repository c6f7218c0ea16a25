"""Accounts and sessions: argon2 hashes, lockout, expiry, revocation, rotation; role tables."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lawangjabo.auth.access import (
    COOKIE,
    CSRF_HEADER,
    MAX_FAILURES,
    PAGES,
    AuthGate,
    FailureLimiter,
    SessionStore,
    UserStore,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_passwords_are_stored_as_argon2_hashes(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "users.json")
    password = users.add("ops", "operator", agencies=["dishub"])
    text = (tmp_path / "users.json").read_text(encoding="utf-8")
    assert password not in text and "$argon2id$" in text
    assert (tmp_path / "users.json").stat().st_mode & 0o777 == 0o600
    account = users.verify("ops", password)
    assert account is not None and account.role == "operator" and account.agencies == ["dishub"]
    assert users.verify("ops", "wrong-password") is None
    assert users.verify("nobody", password) is None


def test_lockout_after_repeated_failures(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "users.json")
    password = users.add("ops", "operator")
    for _ in range(MAX_FAILURES):
        assert users.verify("ops", "wrong-password") is None
    assert users.locked("ops")
    assert users.verify("ops", password) is None  # even the right password, while locked


def test_reset_and_roles(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "users.json")
    old = users.add("ops", "operator")
    new = users.reset_password("ops")
    assert new != old and users.verify("ops", old) is None and users.verify("ops", new)
    users.set_role("ops", "planner")
    account = users.get("ops")
    assert account is not None and account.role == "planner"
    with pytest.raises(ValueError, match="role"):
        users.set_role("ops", "god")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exists"):
        users.add("ops", "leader")
    with pytest.raises(ValueError, match="10 characters"):
        users.add("short", "leader", "abc")
    assert json.loads((tmp_path / "users.json").read_text(encoding="utf-8"))["users"].keys() == {
        "ops"
    }


def test_sessions_expire_and_revoke() -> None:
    clock = Clock()
    sessions = SessionStore(idle_s=60, absolute_s=300, clock=clock)
    sid = sessions.create("ops", "operator")
    assert sessions.get(sid) is not None
    clock.now += 59
    assert sessions.get(sid) is not None  # activity keeps it alive
    clock.now += 61
    assert sessions.get(sid) is None  # idle too long
    sid = sessions.create("ops", "operator")
    for _ in range(6):
        clock.now += 55
        sessions.get(sid)
    assert sessions.get(sid) is None  # absolute limit, however active
    sid = sessions.create("ops", "operator")
    other = sessions.create("ops", "operator")
    assert sid != other
    sessions.revoke(sid)
    assert sessions.get(sid) is None and sessions.get(other) is not None
    sessions.revoke_user("ops")
    assert sessions.get(other) is None
    assert sessions.get("forged-id") is None and sessions.get(None) is None


def test_roles_reach_only_their_pages() -> None:
    assert "incidents" not in PAGES["leader"] and "incidents" not in PAGES["planner"]
    assert "analytics" not in PAGES["operator"]
    assert PAGES["admin"] >= PAGES["operator"] | PAGES["planner"] | PAGES["leader"]


@pytest.mark.parametrize(
    ("agencies", "owner", "scope", "visible"),
    [
        ((), "polrestabes", "internal", True),  # unrestricted account
        (("dishub",), "dishub", "internal", True),  # its own agency's internal camera
        (("dishub",), "diskominfo", "publik", True),  # anyone's public camera
        (("dishub",), "polrestabes", "internal", False),
    ],  # police-internal: hidden from Dishub
)
def test_agency_scope(agencies: tuple[str, ...], owner: str, scope: str, visible: bool) -> None:
    from lawangjabo.auth.access import camera_visible

    assert camera_visible(agencies, owner, scope) is visible


def test_failure_limiter_per_address() -> None:
    clock = [1000.0]
    limiter = FailureLimiter(3, 60.0, clock=lambda: clock[0])
    for _ in range(3):
        assert limiter.blocked_for("10.0.0.1") == 0
        limiter.failed("10.0.0.1")
        clock[0] += 1
    assert limiter.blocked_for("10.0.0.1") == pytest.approx(57.0)  # first failure + 60 s
    assert limiter.blocked_for("10.0.0.2") == 0  # other addresses are not affected
    clock[0] += 57
    assert limiter.blocked_for("10.0.0.1") == 0  # the window slid past the first failure


@dataclass
class Reply:
    status_code: int
    headers: dict[str, str]


class GatedClient:
    """Plain ASGI calls into :class:`AuthGate` in front of a two-route Starlette app."""

    def __init__(self, app: Any, cookie: str | None) -> None:
        self.app, self.cookie = app, cookie

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Reply:
        raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        raw.append((b"host", b"cc.local"))
        if self.cookie:
            raw.append((b"cookie", f"{COOKIE}={self.cookie}".encode()))
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": raw,
            "scheme": "http",
            "server": ("cc.local", 80),
            "client": ("127.0.0.1", 5000),
            "http_version": "1.1",
            "root_path": "",
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        # Its own thread: a browser test's Playwright may already run a loop on this one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self.app(scope, receive, send)).result()
        start = next(m for m in sent if m["type"] == "http.response.start")
        return Reply(start["status"], {k.decode(): v.decode() for k, v in start.get("headers", [])})

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("GET", path, headers)

    def post(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("POST", path, headers)


def _gated_app() -> tuple[GatedClient, SessionStore, str]:
    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    sessions = SessionStore()
    inner = Starlette(
        routes=[
            Route("/api/thing", ok, methods=["GET", "POST"]),
            Route("/page", ok, methods=["GET", "POST"]),
        ]
    )
    session_id = sessions.create("op", "operator")
    return GatedClient(AuthGate(inner, lambda: sessions), session_id), sessions, session_id


def test_gate_wants_the_csrf_token_for_api_writes() -> None:
    client, sessions, session_id = _gated_app()
    session = sessions.get(session_id)
    assert session is not None
    assert client.get("/api/thing").status_code == 200  # reads need no token
    assert client.post("/api/thing").status_code == 403
    assert client.post("/api/thing", headers={CSRF_HEADER: "guess"}).status_code == 403
    assert client.post("/api/thing", headers={CSRF_HEADER: "pässwörd"}).status_code == 403
    other = SessionStore()
    other_session = other.get(other.create("x", "operator"))
    assert other_session is not None and other_session.csrf != session.csrf
    assert client.post("/api/thing", headers={CSRF_HEADER: other_session.csrf}).status_code == 403
    assert client.post("/api/thing", headers={CSRF_HEADER: session.csrf}).status_code == 200


def test_gate_refuses_cross_origin_writes_and_adds_headers() -> None:
    client, sessions, session_id = _gated_app()
    session = sessions.get(session_id)
    assert session is not None
    evil = {"Origin": "https://evil.example", CSRF_HEADER: session.csrf}
    assert client.post("/api/thing", headers=evil).status_code == 403
    assert client.post("/page", headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/page", headers={"Origin": "http://cc.local"}).status_code == 200
    reply = client.get("/page")
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["x-content-type-options"] == "nosniff"
    client.cookie = None
    refused = client.get("/page")
    assert refused.status_code == 303 and refused.headers["x-frame-options"] == "DENY"
    assert refused.headers["location"] == "/login?next=/page"


@pytest.mark.parametrize(
    ("role", "next_path", "lands"),
    [("leader", "/", "/glance"), ("leader", "/alerts", "/alerts"), ("operator", "/", "/")],
)
def test_a_leader_signing_in_lands_on_the_glance(
    tmp_path: Path, role: str, next_path: str, lands: str
) -> None:
    """The mayor's phone opens on the server-rendered brief, unless a page was asked for."""
    from urllib.parse import urlencode

    from lawangjabo.auth.access import Auth

    users = UserStore(tmp_path / "users.json")
    users.add("who", role, "a-long-password")  # type: ignore[arg-type]
    auth = Auth(users, SessionStore())
    body = urlencode(
        {"username": "who", "password": "a-long-password", "csrf": "t" * 24, "next": next_path}
    ).encode()
    scope, receive = _login_scope(body)
    reply = _run(auth.login(Request(scope, receive)))
    assert reply.status_code == 303 and reply.headers["location"] == lands


def _run(coro: Any) -> Any:
    # Its own thread: a browser test's Playwright may already run a loop on this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _login_scope(body: bytes, address: str = "10.1.1.1") -> tuple[dict[str, Any], Any]:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/login",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"cookie", b"lj_csrf=" + b"t" * 24),
        ],
        "client": (address, 5000),
        "scheme": "http",
        "server": ("cc.local", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return scope, receive


def test_a_flood_of_rate_limited_logins_writes_one_bounded_audit_row(tmp_path: Path) -> None:
    """A 1 MB user name is refused unread; a long one is cut; once the address is limited,
    one audit row per window, not one per attempt."""
    from urllib.parse import urlencode

    from lawangjabo.auth.access import MAX_NAME, Auth

    audited: list[tuple[str, str, dict[str, Any]]] = []
    auth = Auth(
        UserStore(tmp_path / "users.json"),
        SessionStore(),
        lambda actor, action, detail: audited.append((actor, action, detail)),
        FailureLimiter(2, 600.0),
    )

    def attempt(name: str) -> int:
        body = urlencode({"username": name, "password": "x" * 12, "csrf": "t" * 24}).encode()
        scope, receive = _login_scope(body)
        reply = _run(auth.login(Request(scope, receive)))
        return int(reply.status_code)

    assert attempt("u" * 1_000_000) == 413
    assert audited == []
    assert attempt("v" * 5000) == 401 and attempt("w" * 5000) == 401
    assert all(len(actor) <= MAX_NAME for actor, _, _ in audited)
    for _ in range(50):
        assert attempt("z" * 5000) == 429
    limited = [a for a in audited if a[1] == "login_rate_limited"]
    assert len(limited) == 1 and len(limited[0][0]) <= MAX_NAME
    assert sum(len(json.dumps(a)) for a in audited) < 2000


def test_background_requests_do_not_keep_a_session_alive() -> None:
    clock = Clock()
    sessions = SessionStore(idle_s=100, absolute_s=3600, clock=clock)
    inner = Starlette(routes=[Route("/{path:path}", _ok, methods=["GET"])])
    client = GatedClient(AuthGate(inner, lambda: sessions), sessions.create("op", "operator"))
    for _ in range(3):  # pictures, JSON and the brief's own refresh, every 30 s
        clock.now += 30
        assert client.get("/api/cameras").status_code == 200
        assert client.get("/glance/map.png").status_code == 200
    clock.now += 30
    assert client.get("/api/cameras").status_code == 401  # idle for 120 s > 100 s
    client.cookie = sessions.create("op", "operator")
    for _ in range(5):  # a person opening pages keeps it alive
        clock.now += 30
        assert client.get("/alerts").status_code == 200
    assert client.get("/api/cameras").status_code == 200


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _ws_scope(origin: str | None, cookie: str) -> dict[str, Any]:
    headers = [(b"host", b"cc.local:8501"), (b"cookie", f"{COOKIE}={cookie}".encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "path": "/_stcore/stream", "headers": headers, "scheme": "ws",
            "query_string": b"", "client": ("127.0.0.1", 5000)}  # fmt: skip


async def _streaming_app(scope: Any, receive: Any, send: Any) -> None:
    """Accepts, then sends a frame every 50 ms until the client disconnects."""
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})

    async def frames() -> None:
        while True:
            await send({"type": "websocket.send", "bytes": b"camera states"})
            await asyncio.sleep(0.05)

    task = asyncio.ensure_future(frames())
    while (await receive())["type"] != "websocket.disconnect":
        pass
    task.cancel()


def _open_websocket(
    sessions: SessionStore, origin: str | None, cookie: str, revoke_after_s: float | None
) -> list[dict[str, Any]]:
    gate = AuthGate(_streaming_app, lambda: sessions, check_every_s=0.1)
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await inbox.put({"type": "websocket.connect"})

        async def send(message: Any) -> None:
            sent.append(dict(message))
            if message["type"] == "websocket.close":
                await inbox.put({"type": "websocket.disconnect", "code": 1008})

        async def revoke() -> None:
            if revoke_after_s is None:
                await asyncio.sleep(1.0)
                await inbox.put({"type": "websocket.disconnect", "code": 1000})
                return
            await asyncio.sleep(revoke_after_s)
            sessions.revoke(cookie)

        side = asyncio.ensure_future(revoke())
        await asyncio.wait_for(gate(_ws_scope(origin, cookie), inbox.get, send), timeout=10)
        side.cancel()

    _run(main())
    return sent


def test_a_websocket_closes_within_a_second_of_revocation() -> None:
    sessions = SessionStore()
    cookie = sessions.create("op", "operator")
    sent = _open_websocket(sessions, "http://cc.local:8501", cookie, revoke_after_s=0.5)
    kinds = [m["type"] for m in sent]
    assert kinds[0] == "websocket.accept" and kinds[-1] == "websocket.close"
    assert sent[-1]["code"] == 1008
    frames = kinds.count("websocket.send")
    assert 3 <= frames <= 14  # ~10 in the 0.5 s before, none after the close


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        ("http://cc.local:8501", True),
        ("http://cc.local:9999", False),  # another port of the same host
        ("https://cc.local:8501", False),  # another scheme
        ("http://evil.example", False),
        (None, False),
    ],
)
def test_a_websocket_needs_this_servers_exact_origin(origin: str | None, accepted: bool) -> None:
    sessions = SessionStore()
    cookie = sessions.create("op", "operator")
    sent = _open_websocket(sessions, origin, cookie, revoke_after_s=None)
    assert (sent[0]["type"] == "websocket.accept") is accepted
    if not accepted:
        assert sent == [{"type": "websocket.close", "code": 1008}]


def test_logout_needs_the_sessions_token() -> None:
    from urllib.parse import urlencode

    from lawangjabo.auth.access import Auth

    sessions = SessionStore()
    auth = Auth(UserStore(Path("/nonexistent/users.json")), sessions)
    cookie = sessions.create("op", "operator")
    session = sessions.get(cookie)
    assert session is not None

    def post(token: str) -> int:
        body = urlencode({"csrf": token}).encode()
        scope, receive = _login_scope(body)
        scope["path"] = "/logout"
        scope["headers"] = [*scope["headers"], (b"cookie", f"{COOKIE}={cookie}".encode())]
        return int(_run(auth.logout(Request(scope, receive))).status_code)

    assert post("forged") == 403
    assert sessions.get(cookie) is not None
    assert post(session.csrf) == 303
    assert sessions.get(cookie) is None


def test_only_the_feed_path_lets_a_bearer_token_past_the_gate() -> None:
    """An agency system's token opens /api/incidents (whose route checks it), nothing else:
    not another API route, not a page."""

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    sessions = SessionStore()
    inner = Starlette(
        routes=[
            Route("/api/incidents", ok, methods=["POST"]),
            Route("/api/thing", ok, methods=["POST", "GET"]),
            Route("/page", ok, methods=["GET"]),
        ]
    )
    client = GatedClient(AuthGate(inner, lambda: sessions), None)
    bearer = {"Authorization": "Bearer ljt_anything"}
    assert client.post("/api/incidents", bearer).status_code == 200  # reaches the route
    assert client.post("/api/incidents").status_code == 401
    assert client.post("/api/thing", bearer).status_code == 401
    assert client.get("/api/thing", bearer).status_code == 401
    assert client.get("/page", bearer).status_code == 303  # to the login page
