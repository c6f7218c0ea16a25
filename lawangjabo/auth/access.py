"""Access control at the ASGI layer: local accounts, server-side sessions, roles.

* Accounts live in ``var/users.json`` (argon2id hashes, roles, agency scope), written atomically,
  so the ``users`` CLI can manage them while the app runs.
* Sessions are server-side: a random id in an HttpOnly, SameSite=Strict cookie (Secure under
  https), with idle and absolute expiry, a new id at every login, and a logout that revokes it.
* :class:`AuthGate` refuses every HTTP request and websocket without a valid session — pages,
  ``/_stcore/stream``, static files, media, ``/api/*`` — except the health checks and the login
  page. Browsers are sent to ``/login``; API clients get 401; a websocket is closed before accept.
* Repeated failures lock an account for a while; logins and failures are audited.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import html
import ipaddress
import json
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lawangjabo.fileio import write_text_atomic
from lawangjabo.i18n import LANGUAGES, N_, Translator

log = logging.getLogger(__name__)

Role = Literal["leader", "planner", "operator", "admin"]
ROLES: tuple[Role, ...] = ("leader", "planner", "operator", "admin")
ROLE_NAMES = (N_("leader"), N_("planner"), N_("operator"), N_("admin"))  # for the catalog
COOKIE = "lj_session"
PUBLIC_PATHS = frozenset({"/api/health", "/login", "/_stcore/health", "/healthz"})
# Agency systems reach this path with a service token instead of a session (server.feed checks
# the token); with neither, it is refused here like any other route.
FEED_PATH = "/api/incidents"
IDLE_S = 30 * 60
ABSOLUTE_S = 12 * 3600
MAX_FAILURES = 5
LOCKOUT_S = 15 * 60
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Which pages and API routes each role may use (enforced on the server).
PAGES: dict[Role, frozenset[str]] = {
    "leader": frozenset(
        {"brief", "alerts", "operations_map", "camera_wall", "health", "analytics"}
    ),
    "planner": frozenset({"brief", "alerts", "operations_map", "health", "analytics", "registry"}),
    "operator": frozenset(
        {"brief", "alerts", "operations_map", "camera_wall", "health", "incidents", "registry"}
    ),
    "admin": frozenset(
        {
            "brief",
            "alerts",
            "operations_map",
            "camera_wall",
            "health",
            "incidents",
            "analytics",
            "registry",
            "audit",
        }
    ),
}
# The page each role lands on: the mayor's phone opens on the brief.
HOME_PAGE: dict[Role, str] = {
    "leader": "brief",
    "planner": "analytics",
    "operator": "operations_map",
    "admin": "operations_map",
}
# A leader signing in lands on the server-rendered brief (glance.py): no 1.3 MB frontend first.
GLANCE_PATH = "/glance"
CAN_ACKNOWLEDGE: frozenset[Role] = frozenset({"operator", "admin"})
CAN_REFRESH: frozenset[Role] = frozenset({"operator", "admin"})


def forwarded_allow_ips(config: Any) -> str:
    """uvicorn's ``FORWARDED_ALLOW_IPS`` for the ``trusted_proxies`` setting ("" trusts none)."""
    return ",".join(
        str(ipaddress.ip_network(item, strict=False)) if "/" in item else item
        for item in config.trusted_proxies
    )


def camera_visible(agencies: tuple[str, ...], owner: str, scope: str) -> bool:
    """Agency scope: an account limited to some agencies sees their cameras and public ones."""
    return not agencies or scope == "publik" or owner in agencies


@dataclass
class Session:
    user: str
    role: Role
    agencies: tuple[str, ...]
    created: float
    last_seen: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class SessionsUnavailableError(RuntimeError):
    """The session store cannot be reached (a shared database away): requests are refused."""


class SessionStore:
    """Server-side sessions, kept by the hash of their id (the id itself is only in the cookie)."""

    def __init__(
        self,
        idle_s: float = IDLE_S,
        absolute_s: float = ABSOLUTE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.idle_s, self.absolute_s, self.clock = idle_s, absolute_s, clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()

    def create(self, user: str, role: Role, agencies: tuple[str, ...] = ()) -> str:
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._sessions[self._key(session_id)] = Session(user, role, agencies, now, now)
        return session_id

    def get(self, session_id: object, touch: bool = True) -> Session | None:
        """The live session with this id; ``touch`` counts the request as the person acting
        (a page that refreshes itself passes False, so it cannot keep a session alive)."""
        if not isinstance(session_id, str) or not session_id:
            return None
        key = self._key(session_id)
        now = self.clock()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if now - session.last_seen > self.idle_s or now - session.created > self.absolute_s:
                del self._sessions[key]
                return None
            if touch:
                session.last_seen = now
            return session

    def revoke(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(self._key(session_id), None)

    def revoke_user(self, user: str) -> None:
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.user == user]:
                del self._sessions[key]


@dataclass
class Account:
    name: str
    role: Role
    password_hash: str
    agencies: list[str] = field(default_factory=list)
    language: str | None = None  # the UI language this person chose (None: the city's)


class AccountsUnreadableError(ValueError):
    """The accounts file exists but cannot be read: nobody signs in, and nothing overwrites it."""


class UserStore:
    """Local accounts in a JSON file (argon2id hashes); failed logins counted in memory.

    A missing file means no accounts (logged loudly; ``trouble`` says so for ``/api/health``);
    a file that cannot be read (truncated, not JSON) refuses every sign-in and every change
    until it is restored, rather than being overwritten. Changes from the app and the CLI take
    an exclusive lock on ``users.json.lock``, so two writers never lose each other's change.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hasher = PasswordHasher()
        self._lock = threading.Lock()
        self._failures: dict[str, list[float]] = {}
        self._reported: str | None = None

    def _read(self, writing: bool = False) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("users"), dict):
                raise ValueError("no 'users' object")
            if not all(isinstance(v, dict) for v in data["users"].values()):
                raise ValueError("an account is not an object")
        except FileNotFoundError:
            if not writing:  # the first account being created is no fault
                self._report("accounts file missing: nobody can sign in")
            return {"users": {}}
        except (OSError, ValueError) as exc:
            self._report(f"accounts file unreadable ({type(exc).__name__}): nobody can sign in")
            raise AccountsUnreadableError(
                f"the accounts file {self.path.name} cannot be read ({exc}); restore it"
            ) from exc
        self._report(None)
        return data

    def _report(self, trouble: str | None) -> None:
        if trouble != self._reported:
            if trouble:
                log.error("%s (%s)", trouble, self.path)
            else:
                log.info("accounts file %s readable", self.path)
            self._reported = trouble

    def trouble(self) -> str | None:
        """What is wrong with the accounts file (None: readable, with at least one account)."""
        try:
            users = self._read()["users"]
        except AccountsUnreadableError:
            return self._reported
        return None if users else (self._reported or "no accounts: nobody can sign in")

    @contextmanager
    def _writing(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write under the file lock (this process and others); the yielded data
        is written back when the block ends without error."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self._read(writing=True)
                yield data
                self._write(data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, data: dict[str, Any]) -> None:
        write_text_atomic(self.path, json.dumps(data, indent=1))
        self.path.chmod(0o600)

    def get(self, name: str) -> Account | None:
        record = self._read()["users"].get(name)
        if record is None:
            return None
        return Account(
            name,
            record["role"],
            record["hash"],
            list(record.get("agencies", [])),
            record.get("language"),
        )

    def lookup(self, name: str) -> Account | None:
        """:meth:`get`, but None while the accounts file is unreadable (pages keep working)."""
        try:
            return self.get(name)
        except AccountsUnreadableError:
            return None

    def names(self) -> list[str]:
        return sorted(self._read()["users"])

    def add(
        self,
        name: str,
        role: Role,
        password: str | None = None,
        agencies: list[str] | None = None,
        replace: bool = False,
    ) -> str:
        """Create (or with ``replace`` overwrite) an account; returns its password."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError("user names are letters, digits, '-', '_' and '.'")
        password = password or secrets.token_urlsafe(12)
        if len(password) < 10:
            raise ValueError("passwords need at least 10 characters")
        password_hash = self.hasher.hash(password)  # slow: outside the lock
        with self._writing() as data:
            if name in data["users"] and not replace:
                raise ValueError(f"user {name!r} exists")
            kept = {k: v for k, v in data["users"].get(name, {}).items() if k == "language"}
            data["users"][name] = {
                "role": role,
                "hash": password_hash,
                "agencies": agencies or [],
                **kept,
            }
        return password

    def _set(self, name: str, key: str, value: str) -> None:
        """Change one field of an existing account."""
        with self._writing() as data:
            if name not in data["users"]:
                raise ValueError(f"no user {name!r}")
            data["users"][name][key] = value

    def set_role(self, name: str, role: Role) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        self._set(name, "role", role)

    def set_language(self, name: str, language: str) -> None:
        self._set(name, "language", language)

    def remove(self, name: str) -> None:
        with self._writing() as data:
            if data["users"].pop(name, None) is None:
                raise ValueError(f"no user {name!r}")

    def reset_password(self, name: str, password: str | None = None) -> str:
        account = self.get(name)
        if account is None:
            raise ValueError(f"no user {name!r}")
        return self.add(name, account.role, password, account.agencies, replace=True)

    def locked(self, name: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        recent = [t for t in self._failures.get(name, []) if now - t < LOCKOUT_S]
        self._failures[name] = recent
        return len(recent) >= MAX_FAILURES

    def verify(self, name: str, password: str) -> Account | None:
        """The account if the password is right and the account not locked; else None."""
        if self.locked(name):
            return None
        try:
            account = self.get(name)
        except AccountsUnreadableError:
            account = None  # logged and on /api/health; the form says "wrong user or password"
        try:
            if account is None:
                self.hasher.hash(password)  # same cost whether or not the user exists
                raise VerifyMismatchError
            self.hasher.verify(account.password_hash, password)
        except (VerifyMismatchError, InvalidHashError):
            self._failures.setdefault(name, []).append(time.time())
            return None
        self._failures.pop(name, None)
        return account


AuditHook = Callable[[str, str, dict[str, Any]], None]


def _login_page(t: Translator, message: str = "", next_path: str = "/", csrf: str = "") -> str:
    _ = t.gettext
    note = f"<p class='err'>{html.escape(_(message))}</p>" if message else ""
    title, user, password, submit = (
        html.escape(_("sign in")),
        html.escape(_("User")),
        html.escape(_("Password")),
        html.escape(_("Sign in")),
    )
    other = "en" if t.lang == "id" else "id"
    switch = f"/login?lang={other}&next={quote(next_path)}"
    return f"""<!doctype html><html lang="{t.lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lawang Jabo — {title}</title>
<style>body{{font-family:sans-serif;background:#f4f5f7;display:flex;justify-content:center;
padding-top:12vh}}form{{background:#fff;padding:28px;border-radius:8px;width:300px;
box-shadow:0 1px 4px #0002}}input{{width:100%;padding:8px;margin:6px 0 14px;box-sizing:border-box}}
button{{width:100%;padding:10px;background:#c8102e;color:#fff;border:0;border-radius:4px}}
.err{{color:#b00}}.lang{{font-size:.85em;text-align:right}}</style></head><body>
<form method="post" action="/login">
<p class="lang"><a href="{html.escape(switch)}">{LANGUAGES[other]}</a></p>
<h2>Lawang Jabo</h2>{note}
<label>{user} <input name="username" autocomplete="username" required
autofocus></label>
<label>{password} <input name="password" type="password"
autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{html.escape(next_path)}">
<input type="hidden" name="lang" value="{t.lang}">
<input type="hidden" name="csrf" value="{html.escape(csrf)}">
<button type="submit">{submit}</button></form></body></html>"""


def _logout_page(t: Translator, csrf: str) -> str:
    _ = t.gettext
    title, button = html.escape(_("Sign out")), html.escape(_("Sign out"))
    return f"""<!doctype html><html lang="{t.lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lawang Jabo — {title}</title>
<style>body{{font-family:sans-serif;background:#f4f5f7;display:flex;justify-content:center;
padding-top:12vh}}form{{background:#fff;padding:28px;border-radius:8px;width:300px;
box-shadow:0 1px 4px #0002}}button{{width:100%;padding:10px;background:#c8102e;color:#fff;
border:0;border-radius:4px}}</style></head><body>
<form method="post" action="/logout"><h2>Lawang Jabo</h2>
<input type="hidden" name="csrf" value="{html.escape(csrf)}">
<button type="submit" autofocus>{button}</button></form></body></html>"""


MAX_NAME = 64
MAX_PASSWORD = 1024
MAX_NEXT = 512
MAX_FORM_BYTES = 8192


async def small_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str] | None:
    """An urlencoded form of at most ``limit`` bytes (None if larger: nothing more is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)


# Messages the sign-in form shows (translated there).
LOGIN_MESSAGES = (
    N_("The form expired; please try again."),
    N_("Too many failed attempts from here; try again later."),
    N_("Too many failed attempts; try again later."),
    N_("Wrong user name or password."),
)


class FailureLimiter:
    """Failed sign-ins per client address in a sliding window: account lockout stops guessing
    one password; this stops one address trying a few passwords on many accounts."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._failures: dict[str, list[float]] = {}
        self._refusals: dict[str, tuple[float | None, int]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(address, []) if now - t < self.window_s]
        if times:
            self._failures[address] = times
        else:
            self._failures.pop(address, None)
        return times

    def blocked_for(self, address: str) -> float:
        """Seconds until ``address`` may try again (0 when it may now)."""
        now = self.clock()
        with self._lock:
            times = self._recent(address, now)
            if len(times) < self.limit:
                return 0.0
            return self.window_s - (now - times[-self.limit])

    def failed(self, address: str) -> None:
        now = self.clock()
        with self._lock:
            self._failures[address] = [*self._recent(address, now), now]

    def note_refusal(self, address: str) -> int | None:
        """Count a refused attempt from a blocked ``address``. Returns how many were refused
        since the last audited one when this one should be audited (the first in each window),
        else None: a flood from one address writes one audit row per window, not one per try."""
        now = self.clock()
        with self._lock:
            last, count = self._refusals.get(address, (None, 0))
            if len(self._refusals) > 10_000:  # bounded under a spray of addresses
                self._refusals.clear()
            if last is None or now - last >= self.window_s:
                self._refusals[address] = (now, 0)
                return count
            self._refusals[address] = (last, count + 1)
            return None


class RateLimiter:
    """At most ``limit`` actions per key in a sliding window (e.g. camera refreshes per account)."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._times: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, key: str) -> bool:
        """Has ``key`` used up its window (nothing counted)?"""
        now = self.clock()
        with self._lock:
            return sum(now - t < self.window_s for t in self._times.get(key, [])) >= self.limit

    def take(self, key: str) -> float:
        """Count one action for ``key``; returns 0 if allowed, else the seconds to wait (the
        refused action is not counted)."""
        now = self.clock()
        with self._lock:
            times = [t for t in self._times.get(key, []) if now - t < self.window_s]
            if len(times) >= self.limit:
                self._times[key] = times
                return self.window_s - (now - times[0])
            times.append(now)
            self._times[key] = times
            return 0.0


class Auth:
    """Accounts, sessions and the login/logout routes for one app."""

    def __init__(
        self,
        users: UserStore,
        sessions: SessionStore,
        audit: AuditHook | None = None,
        limiter: FailureLimiter | None = None,
        language: str = "en",
    ) -> None:
        self.users, self.sessions = users, sessions
        self.language = language
        self.audit = audit or (lambda actor, action, detail: None)
        self.limiter = limiter or FailureLimiter(20, 600.0)

    @staticmethod
    def _safe_next(value: str | None) -> str:
        return value if value and value.startswith("/") and not value.startswith("//") else "/"

    def _translator(self, request: Request, form_lang: str | None = None) -> Translator:
        lang = form_lang or request.query_params.get("lang") or self.language
        return Translator(lang if lang in LANGUAGES else self.language)

    def _form(
        self,
        request: Request,
        message: str,
        next_path: str,
        status: int = 200,
        lang: str | None = None,
    ) -> Response:
        """The sign-in form with its CSRF token (cookie + hidden field). An existing token is
        kept: a browser loads other things (the favicon) through /login too, and a new token
        for each would break the form already on screen."""
        existing = request.cookies.get("lj_csrf", "")
        csrf = existing if len(existing) >= 20 else secrets.token_urlsafe(16)
        response = HTMLResponse(
            _login_page(self._translator(request, lang), message, next_path, csrf),
            status_code=status,
            headers=SECURITY_HEADERS,
        )
        response.set_cookie(
            "lj_csrf",
            csrf,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/login",
        )
        return response

    async def login_page(self, request: Request) -> Response:
        return self._form(request, "", self._safe_next(request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        form = await small_form(request)
        if form is None:
            return JSONResponse(
                {"error": "sign-in form too large"}, status_code=413, headers=SECURITY_HEADERS
            )
        # A user name is never longer than this; what a visitor sends is cut before it is
        # compared, stored or logged.
        name = form.get("username", "").strip()[:MAX_NAME]
        password = form.get("password", "")[:MAX_PASSWORD]
        next_path = self._safe_next(form.get("next", "/")[:MAX_NEXT])
        lang = form.get("lang", "")[:8] or None
        if not _same_token(form.get("csrf", "")[:100], request.cookies.get("lj_csrf", "-")):
            return self._form(request, "The form expired; please try again.", next_path, 400, lang)
        address = request.client.host if request.client else "unknown"
        wait_s = self.limiter.blocked_for(address)
        if wait_s > 0:
            suppressed = self.limiter.note_refusal(address)
            if suppressed is not None:  # one audit row per address and window
                self.audit(
                    name,
                    "login_rate_limited",
                    {"address": address, "refused_before": suppressed},
                )
            response = self._form(
                request,
                "Too many failed attempts from here; try again later.",
                next_path,
                429,
                lang,
            )
            response.headers["Retry-After"] = str(int(wait_s) + 1)
            return response
        if self.users.locked(name):
            self.audit(name, "login_locked", {})
            return self._form(
                request, "Too many failed attempts; try again later.", next_path, 429, lang
            )
        account = self.users.verify(name, password)
        if account is None:
            self.limiter.failed(address)
            self.audit(name, "login_failed", {"address": address})
            return self._form(request, "Wrong user name or password.", next_path, 401, lang)
        self.sessions.revoke(request.cookies.get(COOKIE))  # a new id at every login
        session_id = self.sessions.create(account.name, account.role, tuple(account.agencies))
        self.audit(account.name, "login", {"role": account.role})
        if next_path == "/" and account.role == "leader":
            next_path = GLANCE_PATH
        response = RedirectResponse(next_path, status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(
            COOKIE,
            session_id,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=int(self.sessions.absolute_s),
            path="/",
        )
        response.delete_cookie("lj_csrf", path="/login")
        return response

    async def logout_page(self, request: Request) -> Response:
        """``GET /logout``: a button that signs out (a link or an image elsewhere cannot)."""
        session = self.sessions.get(request.cookies.get(COOKIE), touch=False)
        t = self._translator(request)
        if session is None:
            return RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
        return HTMLResponse(_logout_page(t, session.csrf), headers=SECURITY_HEADERS)

    async def logout(self, request: Request) -> Response:
        """``POST /logout`` with the session's token: the session ends here and everywhere
        (open pages are closed within seconds)."""
        cookie = request.cookies.get(COOKIE)
        session = self.sessions.get(cookie, touch=False)
        form = await small_form(request)
        if session is not None:
            token = (form or {}).get("csrf", "") or request.headers.get(CSRF_HEADER, "")
            if not _same_token(token[:100], session.csrf):
                return JSONResponse(
                    {"error": "sign out needs the session's token"},
                    status_code=403,
                    headers=SECURITY_HEADERS,
                )
            self.sessions.revoke(cookie)
            self.audit(session.user, "logout", {})
        response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(COOKIE, path="/")
        return response


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not "no-referrer": under it a browser's form POST says ``Origin: null``, and the
    # cross-origin check could not tell our own login form from a foreign one.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    # Our own routes serve a plain form, JSON and JPEG: nothing may run, frame or load from afar.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
# Streamlit's own pages need their scripts: they get every header but these two.
_GLOBAL_HEADERS = {
    k: v
    for k, v in SECURITY_HEADERS.items()
    if k not in ("Cache-Control", "Content-Security-Policy")
}


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for part in bytes(value).decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return str(v)
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _bearer_given(scope: Scope) -> bool:
    return (_header(scope, b"authorization") or "")[:7].lower() == "bearer "


def _same_token(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes non-ASCII input (a crafted header) calmly."""
    return secrets.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def _cross_origin(scope: Scope) -> bool:
    """Does a state-changing request come from another site (its ``Origin`` is not our host)?"""
    origin = _header(scope, b"origin")
    if origin is None:
        return False  # not a browser's cross-site form or fetch (those always send Origin)
    return not _same_origin(scope, origin)


def _same_origin(scope: Scope, origin: str) -> bool:
    """Is ``origin`` exactly this server as the browser sees it: scheme, host and port?"""
    parts = urlsplit(origin)
    host = (_header(scope, b"host") or "").lower()
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme"))
    return parts.scheme == scheme and parts.netloc.lower() == host and bool(host)


# Requests a page makes by itself (pictures, JSON, scripts, its own timed refresh): they do not
# count as the person acting, so an unattended screen cannot keep a session alive.
_BACKGROUND_PREFIXES = ("/api/", "/_stcore/", "/static/", "/media/", "/component/")
_BACKGROUND_SUFFIXES = (".png", ".jpg", ".jpeg", ".js", ".css", ".ico", ".svg", ".woff2")


def _person_acting(scope: Scope) -> bool:
    if scope.get("method", "GET") in UNSAFE_METHODS:
        return True
    path = scope.get("path", "")
    if path.startswith(_BACKGROUND_PREFIXES) or path.endswith(_BACKGROUND_SUFFIXES):
        return False
    return b"auto=1" not in scope.get("query_string", b"")


WebsocketActivity = Callable[[bytes], bool]


def _never(_: bytes) -> bool:
    return False


_HEADER_BYTES = [(k.lower().encode(), v.encode()) for k, v in _GLOBAL_HEADERS.items()]


def _with_security_headers(send: Send) -> Send:
    """Add the security headers to every HTTP response that does not set them itself."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in _HEADER_BYTES if k not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


class AuthGate:
    """ASGI middleware: nothing but the public paths is served without a valid session.

    It also refuses state-changing requests from another origin, asks ``/api/*`` writes for the
    session's CSRF token (``X-CSRF-Token``, from ``GET /api/session``), and adds the security
    headers to every HTTP response, Streamlit's included.

    A websocket must come from this server's exact origin. While it is open its session is
    checked every second and on every message: once the session is revoked or expired the
    socket is closed (code 1008). ``websocket_activity`` tells, from a client message, whether
    a person acted (a click) or the page refreshed itself; only the former keeps the session
    from idling out."""

    def __init__(
        self,
        app: ASGIApp,
        sessions: Callable[[], SessionStore],
        websocket_activity: WebsocketActivity = _never,
        check_every_s: float = 1.0,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.websocket_activity = websocket_activity
        self.check_every_s = check_every_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            send = _with_security_headers(send)
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        if method in UNSAFE_METHODS and _cross_origin(scope):
            refused = JSONResponse(
                {"error": "cross-origin request refused"}, status_code=403, headers=SECURITY_HEADERS
            )
            await refused(scope, receive, send)
            return
        if path in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        cookie = _cookie(scope, COOKIE)
        try:
            await self._gate(scope, receive, send, path, method, cookie)
            return
        except SessionsUnavailableError:  # raised before anything was sent: fail closed
            log.error("sessions unavailable: refusing %s %s", method, path)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1011})
            return
        await JSONResponse(
            {"error": "sign-in is unavailable: its database cannot be reached"},
            status_code=503,
            headers=SECURITY_HEADERS,
        )(scope, receive, send)

    async def _gate(
        self, scope: Scope, receive: Receive, send: Send, path: str, method: str,
        cookie: str | None,
    ) -> None:  # fmt: skip
        if scope["type"] == "websocket":
            origin = _header(scope, b"origin")
            session = self.sessions().get(cookie, touch=False)
            if session is None or origin is None or not _same_origin(scope, origin):
                await send({"type": "websocket.close", "code": 1008})
                return
            scope.setdefault("state", {})["session"] = session
            await self._guarded_websocket(scope, receive, send, cookie or "")
            return
        session = self.sessions().get(cookie, touch=_person_acting(scope))
        if session is not None:
            if (
                method in UNSAFE_METHODS
                and path.startswith("/api/")
                and not _same_token(_header(scope, CSRF_HEADER.encode()) or "", session.csrf)
            ):
                refused = JSONResponse(
                    {"error": f"missing or wrong {CSRF_HEADER} header (see GET /api/session)"},
                    status_code=403,
                    headers=SECURITY_HEADERS,
                )
                await refused(scope, receive, send)
                return
            scope.setdefault("state", {})["session"] = session
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and path == FEED_PATH and _bearer_given(scope):
            await self.app(scope, receive, send)  # an agency system: the route checks its token
            return
        response: Response
        if path.startswith("/api/"):
            response = JSONResponse(
                {"error": "sign in required"}, status_code=401, headers=SECURITY_HEADERS
            )
        else:
            response = RedirectResponse(
                f"/login?next={quote(path)}", status_code=303, headers=SECURITY_HEADERS
            )
        await response(scope, receive, send)

    async def _guarded_websocket(
        self, scope: Scope, receive: Receive, send: Send, cookie: str
    ) -> None:
        """Run the app's websocket, closing it as soon as the session ends."""
        ended = asyncio.Event()
        send_lock = asyncio.Lock()
        pending: asyncio.Task[Message] | None = None

        async def close() -> None:
            if ended.is_set():
                return
            ended.set()
            async with send_lock:
                with suppress(Exception):  # the socket may already be gone
                    await send({"type": "websocket.close", "code": 1008})

        def alive(touch: bool = False) -> bool:
            try:
                return self.sessions().get(cookie, touch=touch) is not None
            except SessionsUnavailableError:
                return False  # cannot tell: close rather than stream on

        async def guarded_receive() -> Message:
            nonlocal pending
            if ended.is_set():
                return {"type": "websocket.disconnect", "code": 1008}
            if pending is None:
                pending = asyncio.ensure_future(receive())
            stop = asyncio.ensure_future(ended.wait())
            done, _ = await asyncio.wait({pending, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if pending not in done:
                return {"type": "websocket.disconnect", "code": 1008}
            message, pending = pending.result(), None
            if message["type"] == "websocket.receive":
                data = message.get("bytes") or b""
                acting = bool(data) and self.websocket_activity(data)
                if not alive(touch=acting):
                    await close()
                    return {"type": "websocket.disconnect", "code": 1008}
            return message

        async def guarded_send(message: Message) -> None:
            if ended.is_set():
                return
            if message["type"] == "websocket.send" and not alive():
                await close()
                return
            async with send_lock:
                await send(message)

        async def watch() -> None:
            while not ended.is_set():
                await asyncio.sleep(self.check_every_s)
                if not alive():
                    log.info("session ended: closing its open page")
                    await close()

        watcher = asyncio.ensure_future(watch())
        try:
            await self.app(scope, guarded_receive, guarded_send)
        finally:
            watcher.cancel()
            if pending is not None and ended.is_set():
                pending.cancel()


RouteHandler = Callable[[Request], Awaitable[Response]]


def session_of(request: Request) -> Session | None:
    session = request.scope.get("state", {}).get("session")
    return session if isinstance(session, Session) else None
