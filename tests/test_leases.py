"""Poller leases in PostgreSQL (cluster mode): pollers of one zone share its cameras without
ever claiming one twice, a dead poller's cameras go to its twin when the leases run out, and only
the holder may release a camera."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from lawangjabo.cameras.leases import LeaseBook


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def book(pg_url: str) -> Iterator[tuple[LeaseBook, Clock, Any]]:
    from lawangjabo.storage.pg import PgDatabase

    db = PgDatabase(pg_url, max_size=12)
    db.execute("TRUNCATE camera_schedule")
    clock = Clock()
    yield LeaseBook(db, clock), clock, db
    db.close()


def test_two_pollers_share_a_zone_and_never_claim_a_camera_twice(book: Any) -> None:
    leases, _, _ = book
    leases.sync({f"cam-{n:04d}": "dishub" for n in range(2000)} | {"polda-1": "polda"})
    claimed: Counter[str] = Counter()
    lock = threading.Lock()

    def poller(owner: str) -> None:
        while True:
            batch = leases.claim("dishub", owner, 50, lease_s=60)
            if not batch:
                return
            with lock:
                claimed.update(batch)

    threads = [threading.Thread(target=poller, args=(f"p{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(claimed) == 2000 and max(claimed.values()) == 1  # all, each exactly once
    assert "polda-1" not in claimed  # another zone's camera is not theirs
    assert sum(leases.holders("dishub").values()) == 2000


def test_a_dead_pollers_cameras_go_to_its_twin_when_the_leases_run_out(book: Any) -> None:
    leases, clock, _ = book
    leases.sync({f"cam-{n}": "polda" for n in range(10)})
    assert len(leases.claim("polda", "a", 100, lease_s=30)) == 10
    assert leases.claim("polda", "b", 100, lease_s=30) == []  # held by a
    clock.now += 20
    assert leases.renew("a", 30) == 10  # a is alive: its heartbeat extends them
    clock.now += 40  # a died 40 s ago (no renewal), its leases ended 10 s ago
    taken = leases.claim("polda", "b", 100, lease_s=30)
    assert sorted(taken) == sorted(f"cam-{n}" for n in range(10))
    assert leases.finish("cam-0", "a", clock.now + 30) is False  # a's late answer is refused
    assert leases.finish("cam-0", "b", clock.now + 30) is True
    assert all(leases.finish(f"cam-{n}", "b", clock.now + 300) for n in range(1, 10))
    assert leases.claim("polda", "b", 100, lease_s=30) == []  # not due again yet
    clock.now += 31
    assert leases.claim("polda", "a", 100, lease_s=30) == ["cam-0"]  # due: a may take it


def test_the_schedule_follows_the_registry(book: Any) -> None:
    leases, _, db = book
    leases.sync({"cam-1": "dishub", "cam-2": "dishub"})
    assert sorted(leases.claim("dishub", "a", 10, lease_s=30)) == ["cam-1", "cam-2"]
    leases.sync({"cam-1": "dishub", "cam-2": "polda", "cam-3": "polda"})  # moved, added, kept
    rows = dict(db.execute("SELECT camera_id, lease_owner FROM camera_schedule"))
    assert rows == {"cam-1": "a", "cam-2": None, "cam-3": None}
    assert sorted(leases.claim("polda", "b", 10, lease_s=30)) == ["cam-2", "cam-3"]
    leases.sync({"cam-3": "polda"})
    assert [r[0] for r in db.execute("SELECT camera_id FROM camera_schedule")] == ["cam-3"]
