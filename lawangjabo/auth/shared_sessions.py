"""Sessions in the database, for cluster mode: every replica sees a sign-in, a sign-out or a
revocation (a CLI role change) at once, and a replica that dies loses no one's session.

The same calls as the in-memory :class:`SessionStore` (the embedded default keeps that: one
process). The table ``sessions`` is owned here; the id itself is never stored, only its hash.
"""

from __future__ import annotations

import json
import secrets
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
            return self._get(session_id, touch)
        except psycopg.Error as exc:
            raise SessionsUnavailableError(type(exc).__name__) from exc

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
            self.db.execute("DELETE FROM sessions WHERE key = ?", [self._key(session_id)])

    def revoke_user(self, user: str) -> None:
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
