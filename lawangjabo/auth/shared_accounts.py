"""Accounts in the database, for cluster mode: every replica and the CLI read and write the same
table, so there is no file to copy between machines and no cross-process file race.

The same calls and checks as the file-backed :class:`UserStore` (the embedded default keeps the
file). A change reads, modifies and writes back in one transaction holding an exclusive lock on
the table, so two writers (two replicas, a replica and the CLI) never lose each other's change.
The table ``accounts`` is owned here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from lawangjabo.auth.access import AccountsUnreadableError, UserStore
from lawangjabo.storage.db import Gateway
from lawangjabo.storage.pg import PgDatabase


class SharedUserStore(UserStore):
    """Local accounts (argon2id hashes) in PostgreSQL."""

    def __init__(self, db: PgDatabase) -> None:
        super().__init__(Path("accounts"))
        self.db = db

    @staticmethod
    def _load(db: Gateway) -> dict[str, Any]:
        users: dict[str, Any] = {}
        for name, role, password_hash, agencies, language in db.execute(
            "SELECT name, role, hash, agencies, language FROM accounts"
        ):
            record: dict[str, Any] = {"role": role, "hash": password_hash,
                                      "agencies": json.loads(agencies)}  # fmt: skip
            if language:
                record["language"] = language
            users[name] = record
        return {"users": users}

    def _read(self, writing: bool = False) -> dict[str, Any]:
        try:
            return self._load(self.db)
        except psycopg.Error as exc:  # sign-ins fail closed; health says why
            raise AccountsUnreadableError(f"accounts database unreachable ({exc})") from exc

    def trouble(self) -> str | None:
        try:
            users = self._read()["users"]
        except AccountsUnreadableError:
            return "accounts database unreachable: nobody can sign in"
        return None if users else "no accounts: nobody can sign in"

    @contextmanager
    def _writing(self) -> Iterator[dict[str, Any]]:
        with self._lock, self.db.begin() as db:
            db.execute("LOCK TABLE accounts IN EXCLUSIVE MODE")
            data = self._load(db)
            before = json.dumps(data, sort_keys=True)
            yield data  # the caller's checks and changes; an exception rolls back
            if json.dumps(data, sort_keys=True) != before:
                db.execute("DELETE FROM accounts")
                db.executemany(
                    "INSERT INTO accounts (name, role, hash, agencies, language) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [
                        [name, r["role"], r["hash"], json.dumps(r.get("agencies", [])),
                         r.get("language")]
                        for name, r in data["users"].items()
                    ],
                )  # fmt: skip
