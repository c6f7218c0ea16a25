"""Sessions on both stores: in memory (the embedded default) and in PostgreSQL (cluster mode),
where two replicas share them: a revocation on one is honoured by the other at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from lawangjabo.auth.access import SessionStore
from lawangjabo.auth.shared_sessions import SharedSessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "postgresql"])
def stores(request: pytest.FixtureRequest) -> Iterator[tuple[SessionStore, SessionStore, Clock]]:
    """Two 'replicas' (the same store in memory; two stores on one database in PostgreSQL)."""
    clock = Clock()
    if request.param == "memory":
        store = SessionStore(idle_s=600, absolute_s=3600, clock=clock)
        yield store, store, clock
        return
    from lawangjabo.storage.pg import PgDatabase

    url = request.getfixturevalue("pg_url")
    one, two = PgDatabase(url), PgDatabase(url)
    one.execute("TRUNCATE sessions")
    yield (
        SharedSessionStore(one, idle_s=600, absolute_s=3600, clock=clock),
        SharedSessionStore(two, idle_s=600, absolute_s=3600, clock=clock),
        clock,
    )
    one.close()
    two.close()


def test_a_session_made_on_one_replica_works_on_the_other(stores: Any) -> None:
    first, second, _ = stores
    sid = first.create("ops1", "operator", ("dishub",))
    seen = second.get(sid)
    assert seen is not None and seen.user == "ops1" and seen.agencies == ("dishub",)
    assert seen.csrf == first.get(sid).csrf  # one token for both replicas
    assert second.get("forged") is None


def test_revocation_on_one_replica_is_honoured_by_the_other_at_once(stores: Any) -> None:
    first, second, _ = stores
    a, b = first.create("ops1", "operator"), first.create("ops2", "operator")
    second.revoke_user("ops1")
    assert first.get(a) is None and first.get(b) is not None
    first.revoke(b)
    assert second.get(b) is None


def test_idle_and_absolute_limits_and_background_reads(stores: Any) -> None:
    first, second, clock = stores
    sid = first.create("ops1", "operator")
    for _ in range(3):  # a person acting every 5 min keeps it alive
        clock.now += 300
        assert second.get(sid, touch=True) is not None
    clock.now += 400
    assert first.get(sid, touch=False) is not None  # 400 s idle < 600 s
    clock.now += 300
    assert first.get(sid, touch=False) is None  # background reads did not count: 700 s idle
    other = first.create("ops2", "operator")
    for _ in range(8):
        clock.now += 500
        still = second.get(other, touch=True)
    assert still is None  # 4,000 s > the 3,600 s absolute limit, however active


def test_two_app_replicas_share_sign_ins_through_postgresql(pg_url: str, tmp_path: Any) -> None:
    """Two Services (two replicas, each its own state folder) on one PostgreSQL: a session
    made by one is valid on the other, and a sign-out on the other ends it for both."""
    from lawangjabo.config import PathsConfig, StorageConfig, load_settings
    from lawangjabo.server.services import Services

    replicas = [
        Services(
            load_settings(
                paths=PathsConfig(state_dir=tmp_path / name),
                storage=StorageConfig(postgres_url=pg_url),
            )
        )
        for name in ("a", "b")
    ]
    a, b = replicas
    assert isinstance(a.sessions, SharedSessionStore)
    sid = a.sessions.create("ops1", "operator")
    assert b.sessions.get(sid) is not None
    b.sessions.revoke(sid)
    assert a.sessions.get(sid) is None
    for services in replicas:
        services.close()


def test_exactly_one_replica_runs_the_duties_and_another_takes_over(
    pg_url: str, tmp_path: Any
) -> None:
    """Alert rules, webhooks and retention run on one replica; when it goes away (its
    connection closes, as when the process is killed) the next replica to ask takes over."""
    from lawangjabo.config import PathsConfig, StorageConfig, load_settings
    from lawangjabo.server.services import Services

    a, b = (
        Services(load_settings(paths=PathsConfig(state_dir=tmp_path / name),
                               storage=StorageConfig(postgres_url=pg_url)))
        for name in ("a", "b")
    )  # fmt: skip
    assert a.runs_duties() is True
    assert b.runs_duties() is False and a.runs_duties() is True  # stable, not taken turns
    a.close()  # the leader shuts down: it gives the lead up at once
    assert b.runs_duties() is True
    # killed (kill -9), its connection just drops: the lock goes when PostgreSQL's backend has
    # ended, a moment later; the next replica to ask takes over then
    c = Services(load_settings(paths=PathsConfig(state_dir=tmp_path / "c2"),
                               storage=StorageConfig(postgres_url=pg_url)))  # fmt: skip
    assert c.runs_duties() is False
    leader = b.leadership
    assert leader is not None and leader._conn is not None
    leader._conn.close()  # as the process's death does: no unlock, the connection goes
    deadline = time.monotonic() + 10
    while not c.runs_duties() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert c.runs_duties() is True
    b.close()
    c.close()
    embedded = Services(load_settings(paths=PathsConfig(state_dir=tmp_path / "c")))
    assert embedded.runs_duties() is True  # one process: it always runs them
    embedded.close()


def test_a_replica_starts_and_refuses_calmly_while_postgresql_is_away(tmp_path: Any) -> None:
    """PostgreSQL unreachable: the replica still starts, /api/health names the fault, requests
    are refused with 503 (not a crash, not a hang) and a sign-in is refused, not a 500."""
    import asyncio
    import socket
    import time
    from concurrent.futures import ThreadPoolExecutor

    from starlette.applications import Starlette

    from lawangjabo.auth.access import AuthGate
    from lawangjabo.config import PathsConfig, StorageConfig, load_settings
    from lawangjabo.server.services import Services

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    services = Services(
        load_settings(paths=PathsConfig(state_dir=tmp_path / "s"),
                      storage=StorageConfig(postgres_url=f"postgresql://x@127.0.0.1:{port}/db"))
    )  # fmt: skip
    kinds = {p["kind"]: p["message"] for p in services.problems()}
    assert "central database (PostgreSQL) unreachable" in kinds["database"]
    assert "unreachable" in kinds["accounts"]
    assert services.auth.users.verify("ops1", "a-long-password") is None  # refused, no raise
    assert services.runs_duties() is False
    gate = AuthGate(Starlette(), lambda: services.sessions)
    sent: list[dict[str, Any]] = []

    async def call() -> None:
        scope = {"type": "http", "method": "GET", "path": "/alerts", "query_string": b"",
                 "headers": [(b"cookie", b"lj_session=abc")], "client": ("127.0.0.1", 1),
                 "scheme": "http", "server": ("x", 80)}  # fmt: skip

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            sent.append(dict(message))

        await gate(scope, receive, send)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, call()).result(timeout=60)
    assert sent[0]["status"] == 503
    assert time.monotonic() - started < 40  # bounded waits, no hang
    services.close()


def test_people_at_work_keep_their_session_through_a_postgresql_outage(pg_url: str) -> None:
    """Seen valid by this replica within the grace: still valid while PostgreSQL is away (a
    restart must not throw the operators out); never seen, or seen too long ago: refused."""
    from lawangjabo.auth.access import SessionsUnavailableError
    from lawangjabo.storage.pg import PgDatabase

    clock = Clock()
    db = PgDatabase(pg_url)
    try:
        store = SharedSessionStore(db, idle_s=600, absolute_s=3600, clock=clock)
        seen, unseen, gone = (store.create(f"ops{n}", "operator") for n in range(3))
        assert store.get(seen) is not None and store.get(gone) is not None
        store.revoke(gone)
        away = PgDatabase("postgresql://postgres@127.0.0.1:9/none", timeout_s=0.3)  # nobody
        store.db = away
        clock.now += 60
        held = store.get(seen)
        assert held is not None and held.user == "ops0"
        with pytest.raises(SessionsUnavailableError):
            store.get(unseen)  # never confirmed here: cannot tell, so refused
        with pytest.raises(SessionsUnavailableError):
            store.get(gone)  # signed out before the outage: stays out
        clock.now += store.grace_s
        with pytest.raises(SessionsUnavailableError):
            store.get(seen)  # confirmed too long ago
        away.close()
    finally:
        db.close()
