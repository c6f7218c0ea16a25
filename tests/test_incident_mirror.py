"""Cluster mode incidents: PostgreSQL holds them, each replica reads its own DuckDB copy.

Two replicas here are two stores over one throwaway PostgreSQL, each with its own copy file."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lawangjabo.cameras.registry import load_registry
from lawangjabo.config import PROJECT_ROOT, Settings
from lawangjabo.geo.districts import approximate_districts
from lawangjabo.incidents.analytics import Filters, total
from lawangjabo.incidents.history import generate
from lawangjabo.incidents.mirror import IncidentMirror
from lawangjabo.incidents.store import Enricher, IncidentError, IncidentStore, NewIncident
from lawangjabo.storage.db import Database
from lawangjabo.storage.pg import PgDatabase

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
SPOT = (-2.98819, 104.76045)


@pytest.fixture
def cluster(pg_url: str) -> Iterator[str]:
    shared = PgDatabase(pg_url)
    shared.execute("TRUNCATE incidents, incident_events, incident_category_codes RESTART IDENTITY")
    shared.close()
    yield pg_url


def replica(url: str, settings: Settings, folder: Path) -> IncidentStore:
    districts = approximate_districts(settings.city)
    cameras = load_registry(PROJECT_ROOT / "cameras.geojson", settings, districts).cameras
    mirror = IncidentMirror(url, Database(folder / "copy.duckdb"))
    return IncidentStore(
        mirror.local, settings, Enricher(settings, districts, cameras), PgDatabase(url), mirror
    )


def close(*stores: IncidentStore) -> None:
    for store in stores:
        assert store.mirror is not None
        store.mirror.close()
        store.mirror.local.close()
        store.writer.close()  # type: ignore[attr-defined]


def everything() -> Filters:
    return Filters(NOW - timedelta(days=400), NOW + timedelta(days=1))


def test_a_write_on_one_replica_reaches_the_other_at_its_next_pull(
    cluster: str, settings: Settings, tmp_path: Path
) -> None:
    a, b = replica(cluster, settings, tmp_path / "a"), replica(cluster, settings, tmp_path / "b")
    try:
        new_id = a.create(NewIncident(NOW, "kebakaran", "P1", *SPOT), "op-a")
        assert a.get(new_id) is not None  # the writer reads its own write at once
        assert b.get(new_id) is None  # the other replica: not before it pulls
        assert b.mirror is not None and b.mirror.sync() == 1
        row = b.get(new_id)
        assert row is not None and row["kecamatan"] == "Bukit Kecil"
        assert total(b.db, everything()) == 1
        # A change (the update trigger restamps the row) travels the same way, once.
        a.transition(new_id, "dispatched", "op-a")
        assert b.mirror.sync() == 1
        assert b.get(new_id)["status"] == "dispatched"  # type: ignore[index]
        assert b.count() == 1
        assert b.mirror.sync() == 0  # nothing new: nothing pulled
        # The event log is read from PostgreSQL: the other replica sees it whole.
        assert [e["kind"] for e in b.events(new_id)] == ["created", "status"]
    finally:
        close(a, b)


def test_a_transaction_that_commits_late_is_not_skipped(
    cluster: str, settings: Settings, tmp_path: Path
) -> None:
    """The case a sequence number gets wrong: a transaction writes first and commits after a
    later one has been pulled."""
    a, b = replica(cluster, settings, tmp_path / "a"), replica(cluster, settings, tmp_path / "b")
    slow = psycopg.connect(cluster)
    try:
        first = a.create(NewIncident(NOW, "kemacetan", "P3", *SPOT), "op-a")
        with slow.transaction():
            slow.execute(
                "INSERT INTO incidents (occurred_at, reported_at, category, priority, status, "
                "lat, lon, h3_r7, h3_r8, h3_r9, local_hour, local_dow, lead_agency, source, "
                "created_by, updated_at, category_code) SELECT occurred_at, reported_at, "
                "category, priority, status, lat, lon, h3_r7, h3_r8, h3_r9, local_hour, "
                "local_dow, lead_agency, 'call_112', 'late', updated_at, category_code "
                "FROM incidents WHERE id = %s",
                [first],
            )
            later = a.create(NewIncident(NOW, "kebakaran", "P1", *SPOT), "op-a")
            assert b.mirror is not None
            b.mirror.sync()
            assert {r[0] for r in b.db.execute("SELECT id FROM incidents")} == {first, later}
        b.mirror.sync()  # the slow one has committed now
        rows = b.db.execute("SELECT created_by FROM incidents ORDER BY id")
        assert sorted(r[0] for r in rows) == ["late", "op-a", "op-a"]
    finally:
        slow.close()
        close(a, b)


def test_replicas_starting_together_seed_the_demo_history_once(
    cluster: str, settings: Settings, tmp_path: Path
) -> None:
    stores = [replica(cluster, settings, tmp_path / f"r{n}") for n in range(3)]
    loaded: list[int] = []
    history = generate(settings, NOW, 20, seed=3)
    barrier = threading.Barrier(len(stores))

    def start(store: IncidentStore) -> None:
        barrier.wait()
        loaded.append(store.seed_if_empty(lambda: history))

    try:
        threads = [threading.Thread(target=start, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(loaded) == [0, 0, len(history)]
        for store in stores:
            assert store.mirror is not None
            store.mirror.sync()
            assert store.count() == len(history)
        events = stores[0].writer.execute("SELECT count(*) FROM incident_events")[0][0]
        assert events == len(history)  # one 'created' event each, no more
    finally:
        close(*stores)


def test_two_replicas_moving_one_incident_at_once_take_turns(
    cluster: str, settings: Settings, tmp_path: Path
) -> None:
    a, b = replica(cluster, settings, tmp_path / "a"), replica(cluster, settings, tmp_path / "b")
    try:
        new_id = a.create(NewIncident(NOW, "kebakaran", "P1", *SPOT), "op-a")
        outcomes: list[str] = []
        barrier = threading.Barrier(2)

        def move(store: IncidentStore, to: str) -> None:
            barrier.wait()
            try:
                store.transition(new_id, to, "op")
                outcomes.append(f"ok {to}")
            except IncidentError as exc:
                outcomes.append(str(exc))

        threads = [
            threading.Thread(target=move, args=(a, "false_alarm")),
            threading.Thread(target=move, args=(b, "hoax")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(outcomes) == 2 and sum(o.startswith("ok ") for o in outcomes) == 1
        assert any(o.startswith("cannot go from") for o in outcomes)
        events = a.events(new_id)
        assert [e["kind"] for e in events] == ["created", "status"]  # one move, not two
    finally:
        close(a, b)


def test_the_same_external_id_twice_is_refused_whole(
    cluster: str, settings: Settings, tmp_path: Path
) -> None:
    a = replica(cluster, settings, tmp_path / "a")
    try:
        item = NewIncident(NOW, "kebakaran", "P1", *SPOT, source="call_112", external_id="112-7")
        a.insert([item], "import")
        other = NewIncident(NOW, "banjir_genangan", "P2", *SPOT, source="call_112")
        with pytest.raises(IncidentError, match="external id is already stored"):
            a.insert([other, item], "import")  # as a racing import of the same file would
        assert a.count() == 1
    finally:
        close(a)


def test_the_copy_answers_while_postgresql_is_away_and_says_so(
    cluster: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = replica(cluster, settings, tmp_path / "a")
    mirror: Any = a.mirror
    try:
        a.create(NewIncident(NOW, "kebakaran", "P1", *SPOT), "op-a")
        assert mirror.problem() is None
        mirror._disconnect()
        mirror.url = "postgresql://postgres@127.0.0.1:9/none?connect_timeout=1"  # nobody
        assert mirror.sync() is None and mirror.error is not None
        assert total(a.db, everything()) == 1  # the copy still answers
        assert mirror.problem() is None  # a blip is not yet worth saying
        monkeypatch.setattr(mirror, "_synced_mono", mirror._synced_mono - 600)
        assert mirror.problem() == "incidents: PostgreSQL unreachable, figures are 10 min old"
        mirror.url = cluster
        assert mirror.sync() == 0 and mirror.problem() is None  # back by itself
    finally:
        close(a)


def test_a_copy_of_another_database_is_started_afresh(
    cluster: str, settings: Settings, tmp_path: Path
) -> None:
    a = replica(cluster, settings, tmp_path / "a")
    try:
        a.create(NewIncident(NOW, "kebakaran", "P1", *SPOT), "op-a")
        assert a.count() == 1
        a.db.set_meta("incident_mirror_source", "another-cluster/1/lawangjabo")
        assert a.mirror is not None and a.mirror.sync() == 1  # emptied, pulled whole again
        assert a.count() == 1
    finally:
        close(a)


def test_an_agency_feed_replay_on_another_replica_is_answered_exists(
    cluster: str, settings: Settings, tmp_path: Path
) -> None:
    """Behind HAProxy an agency's retry may reach another replica before that replica's copy
    has pulled: the feed asks PostgreSQL, so the replay is answered with the stored id, and a
    status change there finds the incident too. Remembered category words are shared."""
    from lawangjabo.incidents import feed

    a, b = replica(cluster, settings, tmp_path / "a"), replica(cluster, settings, tmp_path / "b")
    try:
        item = {"external_id": "ATCS-9", "occurred_at": "2026-11-30T10:00:00+07:00",
                "category": "macet", "priority": "P3", "lat": SPOT[0], "lon": SPOT[1]}  # fmt: skip
        (made,) = feed.create(a, "dishub", "token:atcs", [item])
        (again,) = feed.create(b, "dishub", "token:atcs", [item])
        assert made.outcome == "created" and (again.outcome, again.id) == ("exists", made.id)
        (moved,) = feed.change(b, "dishub", "token:atcs", [{"external_id": "ATCS-9",
                                                             "status": "dispatched"}])  # fmt: skip
        assert (moved.outcome, moved.id) == ("updated", made.id)
        (other,) = feed.change(b, "polrestabes", "token:cad", [{"id": made.id,
                                                                "status": "resolved"}])  # fmt: skip
        assert other.outcome == "not_found"  # routed to Dishub, sent by Dishub
        a.remember_category_words({"kemacetan parah": "kemacetan"}, "op")
        assert b.category_words()["kemacetanparah"] == "kemacetan"
    finally:
        close(a, b)
