"""Service tokens: how an agency's own system (a 112 dispatch system, a police CAD) sends
incidents to ``/api/incidents`` without a person signing in.

A token is ``ljt_<id>_<secret>``; only the SHA-256 of the secret is stored (the secret is 32
random bytes, so a fast hash is enough: there is nothing to guess), next to the agency the token
speaks for. Tokens are created and revoked with the CLI (``python -m lawangjabo tokens``) and
shown once. Embedded, they live in ``service-tokens.json`` in the state folder (the CLI writes it
while the app runs, under a file lock, as for accounts); in cluster mode in PostgreSQL
(``service_tokens``), so every replica knows a revocation at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from lawangjabo.fileio import write_text_atomic
from lawangjabo.storage.db import Gateway

log = logging.getLogger(__name__)

PREFIX = "ljt_"
_SHAPE = re.compile(r"^ljt_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class ServiceToken:
    id: str
    agency: str
    name: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How the audit log names what this token did."""
        return f"token:{self.name}"


class TokenError(ValueError):
    """A token request the rules refuse (unknown agency, name taken, no such token)."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split(presented: str) -> tuple[str, str] | None:
    """A presented token's id and secret, or None when it is not shaped like one of ours."""
    match = _SHAPE.match(presented.strip())
    return (match.group(1), match.group(2)) if match else None


def new_secret() -> tuple[str, str]:
    return secrets.token_hex(4), secrets.token_urlsafe(32)


class TokenStore(Protocol):
    def create(self, agency: str, name: str, actor: str) -> tuple[ServiceToken, str]: ...

    def revoke(self, token_id: str) -> ServiceToken: ...

    def listing(self) -> list[ServiceToken]: ...

    def verify(self, presented: str) -> ServiceToken | None: ...


class FileTokenStore:
    """Tokens in a JSON file (embedded mode); re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, Any]] | None = None

    def _read(self) -> dict[str, Any]:
        try:
            stamp = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            tokens = data["tokens"]
            if not isinstance(tokens, dict):
                raise ValueError("'tokens' is not an object")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error(
                "service tokens file %s unreadable (%s): no token is accepted", self.path, exc
            )
            return {}  # fail closed, and never overwritten by a read
        self._cache = (stamp, tokens)
        return tokens

    @contextmanager
    def _writing(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if self.path.exists():
                    try:
                        tokens = json.loads(self.path.read_text(encoding="utf-8"))["tokens"]
                    except (ValueError, KeyError, TypeError) as exc:
                        raise TokenError(
                            f"{self.path.name} cannot be read ({exc}); restore it first"
                        ) from exc
                else:
                    tokens = {}
                yield tokens
                write_text_atomic(self.path, json.dumps({"tokens": tokens}, indent=1))
                self.path.chmod(0o600)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _token(token_id: str, record: dict[str, Any]) -> ServiceToken:
        revoked = record.get("revoked_at")
        return ServiceToken(
            token_id,
            record["agency"],
            record["name"],
            datetime.fromisoformat(record["created_at"]),
            record["created_by"],
            datetime.fromisoformat(revoked) if revoked else None,
        )

    def create(self, agency: str, name: str, actor: str) -> tuple[ServiceToken, str]:
        token_id, secret = new_secret()
        now = datetime.now(UTC)
        with self._writing() as tokens:
            if any(t["name"] == name and not t.get("revoked_at") for t in tokens.values()):
                raise TokenError(f"a token named {name!r} exists; revoke it or pick another name")
            tokens[token_id] = {
                "agency": agency,
                "name": name,
                "hash": _digest(secret),
                "created_at": now.isoformat(),
                "created_by": actor,
                "revoked_at": None,
            }
        return self._token(token_id, tokens[token_id]), f"{PREFIX}{token_id}_{secret}"

    def revoke(self, token_id: str) -> ServiceToken:
        with self._writing() as tokens:
            record = tokens.get(token_id) or next(
                (dict(r, id=i) for i, r in tokens.items() if r["name"] == token_id), None
            )
            if record is None:
                raise TokenError(f"no token {token_id!r}")
            token_id = record.pop("id", token_id)
            tokens[token_id]["revoked_at"] = datetime.now(UTC).isoformat()
            return self._token(token_id, tokens[token_id])

    def listing(self) -> list[ServiceToken]:
        return [self._token(i, r) for i, r in self._read().items()]

    def verify(self, presented: str) -> ServiceToken | None:
        parts = split(presented)
        if parts is None:
            return None
        record = self._read().get(parts[0])
        if record is None or record.get("revoked_at"):
            return None
        if not hmac.compare_digest(str(record.get("hash", "")), _digest(parts[1])):
            return None
        return self._token(parts[0], record)


class SharedTokenStore:
    """Tokens in PostgreSQL (cluster mode): every replica and the CLI see the same ones."""

    _COLUMNS = "id, agency, name, created_at, created_by, revoked_at"

    def __init__(self, db: Gateway) -> None:
        self.db = db

    def create(self, agency: str, name: str, actor: str) -> tuple[ServiceToken, str]:
        token_id, secret = new_secret()
        now = datetime.now(UTC)
        taken = self.db.execute(
            "SELECT 1 FROM service_tokens WHERE name = ? AND revoked_at IS NULL", [name]
        )
        if taken:
            raise TokenError(f"a token named {name!r} exists; revoke it or pick another name")
        self.db.execute(
            "INSERT INTO service_tokens (id, agency, name, hash, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [token_id, agency, name, _digest(secret), now, actor],
        )
        return ServiceToken(token_id, agency, name, now, actor), f"{PREFIX}{token_id}_{secret}"

    def revoke(self, token_id: str) -> ServiceToken:
        rows = self.db.execute(
            "UPDATE service_tokens SET revoked_at = coalesce(revoked_at, ?) "
            f"WHERE id = ? OR name = ? RETURNING {self._COLUMNS}",
            [datetime.now(UTC), token_id, token_id],
        )
        if not rows:
            raise TokenError(f"no token {token_id!r}")
        return ServiceToken(*rows[0])

    def listing(self) -> list[ServiceToken]:
        rows = self.db.execute(f"SELECT {self._COLUMNS} FROM service_tokens ORDER BY created_at")
        return [ServiceToken(*r) for r in rows]

    def verify(self, presented: str) -> ServiceToken | None:
        parts = split(presented)
        if parts is None:
            return None
        rows = self.db.execute(
            f"SELECT {self._COLUMNS}, hash FROM service_tokens WHERE id = ? AND revoked_at IS NULL",
            [parts[0]],
        )
        if not rows or not hmac.compare_digest(str(rows[0][-1]), _digest(parts[1])):
            return None
        return ServiceToken(*rows[0][:-1])
