"""Accounts on both stores: the file (embedded default) and PostgreSQL (cluster mode), where the
CLI and every replica share them and a CLI role change signs the account out everywhere."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lawangjabo.auth.access import UserStore

from .test_cli import run


@pytest.fixture(params=["file", "postgresql"])
def users(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UserStore]:
    if request.param == "file":
        yield UserStore(tmp_path / "users.json")
        return
    from lawangjabo.auth.shared_accounts import SharedUserStore
    from lawangjabo.storage.pg import PgDatabase

    db = PgDatabase(request.getfixturevalue("pg_url"))
    db.execute("TRUNCATE accounts")
    yield SharedUserStore(db)
    db.close()


def test_accounts_add_verify_change_and_remove(users: UserStore) -> None:
    assert users.trouble() is not None  # no accounts yet: nobody can sign in
    users.add("ops1", "operator", "ops1-password", ["dishub"])
    with pytest.raises(ValueError, match="exists"):
        users.add("ops1", "admin", "another-password")
    account = users.verify("ops1", "ops1-password")
    assert account is not None and account.role == "operator" and account.agencies == ["dishub"]
    assert users.verify("ops1", "wrong-password") is None
    users.set_role("ops1", "planner")
    users.set_language("ops1", "id")
    changed = users.get("ops1")
    assert changed is not None and (changed.role, changed.language) == ("planner", "id")
    users.reset_password("ops1", "new-password-1")
    kept = users.get("ops1")
    assert kept is not None and kept.language == "id"  # a reset keeps the language
    assert users.verify("ops1", "new-password-1") is not None
    users.remove("ops1")
    assert users.get("ops1") is None and users.names() == []


def test_concurrent_writers_lose_nothing(users: UserStore) -> None:
    """Eight writers add accounts at once (threads here; replicas and the CLI in a cluster)."""

    def add(n: int) -> None:
        users.add(f"user{n}", "operator", f"password-{n:04d}")

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert users.names() == sorted(f"user{n}" for n in range(8))


def test_the_cli_writes_accounts_that_every_replica_sees(pg_url: str, tmp_path: Path) -> None:
    from lawangjabo.config import PathsConfig, StorageConfig, load_settings
    from lawangjabo.server.services import Services

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run("users", *args, state=tmp_path / "cli", PW="cluster-password",
                   LAWANGJABO_STORAGE__POSTGRES_URL=pg_url)  # fmt: skip

    cli("remove", "clusterop")  # from an earlier run of this session's cluster, if any
    added = cli("add", "clusterop", "--role", "operator", "--password-env", "PW")
    assert added.returncode == 0, added.stdout + added.stderr
    replicas: list[Any] = [
        Services(load_settings(paths=PathsConfig(state_dir=tmp_path / name),
                               storage=StorageConfig(postgres_url=pg_url)))
        for name in ("a", "b")
    ]  # fmt: skip
    a, b = replicas
    assert a.auth.users.verify("clusterop", "cluster-password") is not None  # no file copied
    session = b.sessions.create("clusterop", "operator")
    assert a.sessions.get(session) is not None
    changed = cli("set-role", "clusterop", "--role", "planner")
    assert changed.returncode == 0, changed.stdout
    assert a.sessions.get(session) is None and b.sessions.get(session) is None  # at once
    account = b.auth.users.get("clusterop")
    assert account is not None and account.role == "planner"
    assert not (tmp_path / "cli" / "users.json").exists()  # nothing went to a file
    changes = a.audit_entries(datetime(2026, 1, 1, tzinfo=UTC), action="user_role_set")
    assert "clusterop" in " ".join(changes["detail"])  # one audit log, in PostgreSQL
    assert not list((tmp_path / "cli" / "audit-spool").glob("*.jsonl"))  # no spool needed
    for services in replicas:
        services.close()
