"""Sessions in the database, for cluster mode: every replica sees a sign-in, a sign-out or a
revocation (a CLI role change) at once, and a replica that dies loses no one's session.

The same calls as the in-memory :class:`SessionStore` (the embedded default keeps that: one
process). The table ``sessions`` is owned here; the id itself is never stored, only its hash.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable

import psycopg

from lawangjabo.auth.access import (
    ABSOLUTE_S,
    IDLE_S,
    Role,
    Session,
    SessionStore,
    SessionsUnavailableError,
)
from lawangjabo.storage.db import Gateway

TOUCH_EVERY_S = 5.0  # last_seen is written at most this often per session (fewer writes)
# PostgreSQL away: a session this replica saw valid this recently stays valid here, so the
# people already at work keep their screens through a database restart. New sign-ins wait for
# the database, and a sign-out made on another replica meanwhile takes effect when it is back.
OUTAGE_GRACE_S = 600.0


class SharedSessionStore(SessionStore):
    """Server-side sessions in a shared database (PostgreSQL in cluster mode)."""

    def __init__(
        self,
        db: Gateway,
        idle_s: float = IDLE_S,
        absolute_s: float = ABSOLUTE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(idle_s, absolute_s, clock)
        self.db = db
        self.grace_s = OUTAGE_GRACE_S
        self._seen: dict[str, tuple[Session, float]] = {}  # key → (session, when confirmed)
        self._seen_lock = threading.Lock()

    def create(self, user: str, role: Role, agencies: tuple[str, ...] = ()) -> str:
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        self.db.execute(
            "INSERT INTO sessions (key, username, role, agencies, created, last_seen, csrf) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [self._key(session_id), user, role, json.dumps(list(agencies)), now, now,
             secrets.token_urlsafe(24)],
        )  # fmt: skip
        return session_id

    def get(self, session_id: object, touch: bool = True) -> Session | None:
        try:
            session = self._get(session_id, touch)
        except psycopg.Error as exc:
            held = self._held(session_id)
            if held is not None:
                return held
            raise SessionsUnavailableError(type(exc).__name__) from exc
        if isinstance(session_id, str) and session_id:
            key = self._key(session_id)
            with self._seen_lock:
                if session is None:
                    self._seen.pop(key, None)
                else:
                    if len(self._seen) > 10_000:
                        self._forget_old()
                    self._seen[key] = (session, self.clock())
        return session

    def _held(self, session_id: object) -> Session | None:
        """The session as this replica last confirmed it, if recently enough (and within its
        own limits); None otherwise."""
        if not isinstance(session_id, str) or not session_id:
            return None
        with self._seen_lock:
            seen = self._seen.get(self._key(session_id))
        if seen is None:
            return None
        session, confirmed = seen
        now = self.clock()
        if now - confirmed > self.grace_s or now - session.created > self.absolute_s:
            return None
        return session

    def _forget_old(self) -> None:
        cutoff = self.clock() - self.grace_s
        for key in [k for k, (_, at) in self._seen.items() if at < cutoff]:
            del self._seen[key]

    def _get(self, session_id: object, touch: bool) -> Session | None:
        if not isinstance(session_id, str) or not session_id:
            return None
        key = self._key(session_id)
        now = self.clock()
        rows = self.db.execute(
            "SELECT username, role, agencies, created, last_seen, csrf FROM sessions WHERE key = ?",
            [key],
        )
        if not rows:
            return None
        user, role, agencies, created, last_seen, csrf = rows[0]
        if now - last_seen > self.idle_s or now - created > self.absolute_s:
            self.db.execute("DELETE FROM sessions WHERE key = ?", [key])
            return None
        if touch and now - last_seen >= TOUCH_EVERY_S:
            self.db.execute("UPDATE sessions SET last_seen = ? WHERE key = ?", [now, key])
            last_seen = now
        return Session(user, role, tuple(json.loads(agencies)), created, last_seen, csrf)

    def revoke(self, session_id: str | None) -> None:
        if session_id:
            with self._seen_lock:
                self._seen.pop(self._key(session_id), None)
            self.db.execute("DELETE FROM sessions WHERE key = ?", [self._key(session_id)])

    def revoke_user(self, user: str) -> None:
        with self._seen_lock:
            for key in [k for k, (s, _) in self._seen.items() if s.user == user]:
                del self._seen[key]
        self.db.execute("DELETE FROM sessions WHERE username = ?", [user])

    def purge_expired(self) -> int:
        """Delete sessions past either limit (housekeeping); returns how many."""
        now = self.clock()
        return len(
            self.db.execute(
                "DELETE FROM sessions WHERE last_seen < ? OR created < ? RETURNING 1",
                [now - self.idle_s, now - self.absolute_s],
            )
        )
