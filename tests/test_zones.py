"""Pollers in the agencies' networks (cluster mode), against a real PostgreSQL and the camera
simulator: zones share their cameras through leases, a dead poller's cameras go to its twin,
and a cut link to the center loses nothing (store and forward)."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lawangjabo.cameras.ledger import SpoolWriter, drop_days_before, forwarding_ingest
from lawangjabo.cameras.poller import Outcome, Poller, Target
from lawangjabo.cameras.simulator import CameraSimulator, SimCamera
from lawangjabo.cameras.snapshots import SnapshotStore
from lawangjabo.cameras.zones import ZonePoller, out_of_contact, zone_contacts

DISHUB = [f"dishub-{n}" for n in range(6)]
POLDA = [f"polda-{n}" for n in range(3)]


class LinkProxy:
    """A TCP relay between a poller and PostgreSQL whose link can be cut and restored."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._sockets: list[socket.socket] = []
        self._server: socket.socket | None = None
        self._lock = threading.Lock()

    def up(self) -> LinkProxy:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.close()

    def cut(self) -> None:
        """The link fails: no new connections, and every open one is closed."""
        if self._server is not None:
            # a shutdown wakes the accepting thread (a close alone leaves it listening on Linux)
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass
            self._sockets.clear()


class CountingSpool(SpoolWriter):
    """The real spool writer, counting every outcome the poller produced."""

    def __init__(self, spool: Path) -> None:
        super().__init__(spool, flush_every_s=0.5)
        self.produced: list[Outcome] = []

    def add(self, outcome: Outcome) -> None:
        self.produced.append(outcome)
        super().add(outcome)


@pytest.fixture(scope="module")
def simulator() -> Iterator[CameraSimulator]:
    sim = CameraSimulator([SimCamera(c, c, "jpeg") for c in DISHUB + POLDA]).start()
    yield sim
    sim.stop()


@pytest.fixture
def center(pg_url: str) -> Iterator[Any]:
    from lawangjabo.storage.pg import PgDatabase

    db = PgDatabase(pg_url)
    db.execute(
        "TRUNCATE camera_schedule, pollers, poll_outcomes, ingested_files, camera_state, "
        "refresh_requests"
    )
    yield db
    db.close()


def _zone_poller(
    url: str, zone: str, poller_id: str, cameras: list[str], sim: CameraSimulator, tmp: Path,
    lease_s: float = 30.0,
) -> ZonePoller:  # fmt: skip
    from lawangjabo.storage.pg import PgDatabase

    targets = [Target(c, *sim.stream_for(c)) for c in cameras]
    spool = CountingSpool(tmp / poller_id / "spool")
    poller = Poller(targets, SnapshotStore(tmp / poller_id / "snapshots"), spool,
                    interval_s=2.0, timeout_s=2.0, workers=4)  # fmt: skip
    db = PgDatabase(url, max_size=4, timeout_s=1.0)
    return ZonePoller(db, zone, poller_id, poller, spool, lease_s=lease_s, tick_s=0.2, workers=4)


def _polls(center: Any, cameras: list[str]) -> dict[str, list[datetime]]:
    rows = center.execute(
        "SELECT camera_id, polled_at FROM poll_outcomes WHERE camera_id = ANY(?) "
        "ORDER BY polled_at",
        [cameras],
    )
    found: dict[str, list[datetime]] = {c: [] for c in cameras}
    for camera_id, polled_at in rows:
        found[camera_id].append(polled_at)
    return found


def test_pollers_of_a_zone_share_its_cameras_and_zones_stay_apart(
    pg_url: str, center: Any, simulator: CameraSimulator, tmp_path: Path
) -> None:
    pollers = [
        _zone_poller(pg_url, "dishub", "dishub-a", DISHUB, simulator, tmp_path),
        _zone_poller(pg_url, "dishub", "dishub-b", DISHUB, simulator, tmp_path),
        _zone_poller(pg_url, "polda", "polda-a", POLDA, simulator, tmp_path),
    ]
    for zone_poller in pollers:
        zone_poller.start()
    time.sleep(7)
    for zone_poller in pollers:
        zone_poller.stop()
    dishub = _polls(center, DISHUB)
    a, b, polda = (len(p.spool.produced) for p in pollers)  # type: ignore[attr-defined]
    assert a > 0 and b > 0, (a, b)  # both dishub pollers did part of the work
    assert sum(len(v) for v in dishub.values()) == a + b  # everything delivered, once
    assert sum(len(v) for v in _polls(center, POLDA).values()) == polda > 0
    for camera, times in dishub.items():
        gaps = [(t2 - t1).total_seconds() for t1, t2 in itertools.pairwise(times)]
        # one capture per 2 s cadence: two pollers never took the same camera at once
        assert times and min(gaps, default=2.0) >= 1.5, (camera, gaps)
    contacts = {c.zone: c for c in zone_contacts(center)}
    assert contacts["dishub"].pollers == 2 and contacts["polda"].pollers == 1


def test_a_dead_pollers_cameras_are_taken_over_within_the_lease(
    pg_url: str, center: Any, simulator: CameraSimulator, tmp_path: Path
) -> None:
    lease_s = 4.0
    first = _zone_poller(pg_url, "dishub", "dishub-1", DISHUB, simulator, tmp_path, lease_s)
    first.start()
    time.sleep(1.5)  # it holds every camera of the zone now
    twin = _zone_poller(pg_url, "dishub", "dishub-2", DISHUB, simulator, tmp_path, lease_s)
    twin.start()
    first.stop(release=False)  # as if killed: its leases stay until they run out
    died = datetime.now(UTC)
    expected_s = lease_s + 2 * 2.0 + 1  # the lease, two cadences, a second of slack
    deadline = time.monotonic() + 5 * expected_s  # a gross guard: a busy machine is slow
    while time.monotonic() < deadline:
        after = {c: [t for t in ts if t > died] for c, ts in _polls(center, DISHUB).items()}
        if all(after.values()):
            break
        time.sleep(0.3)
    twin.stop()
    takeover = max(min(ts) for ts in after.values()) - died
    assert all(after.values()), after  # taken over (the twin polls every camera again)
    _report("takeover_after_kill_s", round(takeover.total_seconds(), 1), lease_s=lease_s)


def test_a_cut_link_loses_nothing_and_the_center_says_so(
    pg_url: str, center: Any, simulator: CameraSimulator, tmp_path: Path
) -> None:
    port = int(pg_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    link = LinkProxy(port).up()
    via_link = pg_url.replace(f":{port}/", f":{link.port}/")
    zone_poller = _zone_poller(via_link, "polda", "polda-field", POLDA, simulator, tmp_path)
    zone_poller.start()
    time.sleep(3)
    assert zone_poller.status()["contact"]
    link.cut()
    cut_at = datetime.now(UTC)
    time.sleep(8)
    cut_for = datetime.now(UTC) - cut_at
    status = zone_poller.status()
    assert not status["contact"] and status["alone_polls"] > 0  # it kept polling
    assert status["backlog_files"] > 0  # … into its own spool
    silent = {c.zone: c.silent_s for c in zone_contacts(center)}["polda"]
    assert silent >= 5  # the center sees the silence, by its own clock
    problems = out_of_contact(zone_contacts(center), after_s=5)
    assert len(problems) == 1 and problems[0].startswith("zone polda: no contact for "), problems
    link.up()
    restored = time.monotonic()
    while zone_poller.backlog_files() > 0 and time.monotonic() - restored < 20:
        time.sleep(0.2)
    delivered_s = time.monotonic() - restored
    zone_poller.stop()
    produced = zone_poller.spool.produced  # type: ignore[attr-defined]
    stored = _polls(center, POLDA)
    assert sum(len(v) for v in stored.values()) == len(produced)  # nothing lost, nothing twice
    during = [t for ts in stored.values() for t in ts if cut_at <= t <= cut_at + cut_for]
    assert len(during) >= len(POLDA) * 3  # the history has no hole where the link was down
    _report("link_cut_backlog_delivered_s", round(delivered_s, 1), cut_s=round(
        cut_for.total_seconds(), 1), outcomes=len(produced), lost=0)  # fmt: skip


def test_a_full_spool_drops_its_oldest_outcomes_and_the_center_is_told(
    pg_url: str, center: Any, simulator: CameraSimulator, tmp_path: Path
) -> None:
    """A cut long enough to fill the poller's disk bound: the oldest outcomes go (the newest
    matter most), counted, and the center names the hole instead of showing a clean history."""
    zone_poller = _zone_poller(pg_url, "dishub", "dishub-full", DISHUB, simulator, tmp_path)
    folder = zone_poller.spool.spool
    folder.mkdir(parents=True, exist_ok=True)
    line = b'{"camera_id": "x"}\n'
    for n in range(5):  # five closed files of 1,000 outcomes, oldest first by name
        (folder / f"2026120{n}T000000-{n}.jsonl").write_bytes(line * 1000)
    zone_poller.spool_max_bytes = 3 * len(line) * 1000
    assert zone_poller.bound_spool() == 2000
    assert sorted(p.name[:9] for p in folder.glob("*.jsonl")) == ["20261202T", "20261203T",
                                                                   "20261204T"]  # fmt: skip
    assert zone_poller.bound_spool() == 0  # within the bound now
    zone_poller.beat()
    problems = out_of_contact(zone_contacts(center))
    assert problems == ["zone dishub: 2000 poll outcomes dropped (the poller's spool was full "
                        "while cut off): a hole in its history"]  # fmt: skip


def test_the_ledger_is_one_partition_per_day_and_old_days_drop_whole(
    center: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for back in (0, 1, 2, 40):
        moment = today - timedelta(days=back)
        line = {"camera_id": "polda-0", "polled_at": moment.isoformat(), "ok": True,
                "error_kind": None, "latency_ms": 5.0, "lane": "sweep", "dark": False,
                "low_detail": False, "frozen": False, "mean_luma": 90.0, "detail": 12.0,
                "dhash": 2**64 - 1, "picture_at": moment.isoformat()}  # fmt: skip
        (spool / f"file-{back:02d}.jsonl").write_text(json.dumps(line) + "\n")
    ingest = forwarding_ingest(spool, "polda-x")
    assert len(ingest.run(center)) == 4
    assert len(forwarding_ingest(spool, "polda-x").run(center)) == 0  # files gone, once only
    days = {
        r[0]
        for r in center.execute(
            "SELECT tableoid::regclass::text FROM poll_outcomes WHERE camera_id = 'polda-0'"
        )
    }
    assert days == {f"poll_outcomes_{(today - timedelta(days=b)):%Y%m%d}" for b in (0, 1, 2, 40)}
    assert center.execute("SELECT max(dhash) FROM poll_outcomes")[0][0] == 2**64 - 1
    dropped = drop_days_before(center, (today - timedelta(days=30)).date())
    assert dropped == [f"poll_outcomes_{(today - timedelta(days=40)):%Y%m%d}"]
    assert center.execute("SELECT count(*) FROM poll_outcomes")[0][0] == 3


def _report(key: str, value: Any, **detail: Any) -> None:
    """Figures for the closing note: test-artifacts/cluster.json."""
    path = Path(__file__).resolve().parent.parent / "test-artifacts" / "cluster.json"
    path.parent.mkdir(exist_ok=True)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = {"value": value, **detail}
    path.write_text(json.dumps(data, indent=1))


def test_the_cli_runs_a_zone_poller_and_stops_it_cleanly(
    pg_url: str, center: Any, tmp_path: Path
) -> None:
    """``python -m lawangjabo poller --zone diskominfo``: the demo registry's cameras polled
    from the simulator into the central ledger, its heartbeat seen, its leases handed back."""
    import os
    import signal
    import subprocess
    import sys

    from lawangjabo.config import PROJECT_ROOT

    env = {**os.environ, "LAWANGJABO_PATHS__STATE_DIR": str(tmp_path),
           "LAWANGJABO_STORAGE__POSTGRES_URL": pg_url, "LAWANGJABO_CAMERAS__SIMULATE": "true",
           "LAWANGJABO_CAMERAS__INTERVAL_S": "3"}  # fmt: skip
    command = [sys.executable, "-m", "lawangjabo", "poller"]
    refused = subprocess.run([*command, "--zone", "nowhere"], env=env, cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert refused.returncode == 2 and "no camera of the registry is in zone" in refused.stderr
    process = subprocess.Popen([*command, "--zone", "diskominfo", "--id", "kominfo-1"], env=env,
                               cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        polled = 0
        while time.monotonic() < deadline and polled < 12:
            polled = center.execute("SELECT count(DISTINCT camera_id) FROM poll_outcomes")[0][0]
            time.sleep(0.5)
        assert polled == 12  # every camera of the demo registry, through the ledger
        assert [c.zone for c in zone_contacts(center)] == ["diskominfo"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err[-2000:]
    held = center.execute("SELECT count(*) FROM camera_schedule WHERE lease_owner IS NOT NULL")
    assert held == [(0,)]  # a clean stop hands the cameras back at once


def test_a_silent_zone_is_a_problem_on_the_centers_health(
    pg_url: str, center: Any, tmp_path: Path
) -> None:
    from lawangjabo.config import PathsConfig, StorageConfig, load_settings
    from lawangjabo.server.services import Services

    center.execute(
        "INSERT INTO pollers VALUES ('dishub-9', 'dishub', now() - interval '2 hours', "
        "now() - interval '7 minutes', 40, 12), ('polda-9', 'polda', now(), now(), 9, 0)"
    )
    services = Services(load_settings(paths=PathsConfig(state_dir=tmp_path / "replica"),
                                      storage=StorageConfig(postgres_url=pg_url)))  # fmt: skip
    try:
        poller_problems = [p["message"] for p in services.problems() if p["kind"] == "poller"]
    finally:
        services.close()
    assert "zone dishub: no contact for 7 min" in poller_problems
    assert not any("polda" in m for m in poller_problems)  # heard from just now


def test_the_center_shows_what_the_zone_pollers_saw_and_passes_clicks_on(
    pg_url: str, center: Any, tmp_path: Path
) -> None:
    """An app replica in ``zones`` mode polls nothing itself: its camera states come from the
    zone pollers through PostgreSQL, and an operator's refresh reaches the right poller."""
    from lawangjabo.cameras.runtime import poll_targets, simulated_cameras
    from lawangjabo.cameras.zones import build_zone_poller, camera_zone
    from lawangjabo.config import CamerasConfig, PathsConfig, StorageConfig, load_settings
    from lawangjabo.server.services import Services
    from lawangjabo.storage.pg import PgDatabase

    settings = load_settings(
        paths=PathsConfig(state_dir=tmp_path / "replica"),
        storage=StorageConfig(postgres_url=pg_url),
        cameras=CamerasConfig(poller="zones", simulate=True, interval_s=3),
    )
    services = Services(settings)
    cameras = services.snapshot().registry.cameras
    assert {camera_zone(settings, c) for c in cameras} == {"diskominfo"}
    assert {h.state for h in services.camera_health().values()} == {"pending"}  # none yet
    sim = CameraSimulator(simulated_cameras(settings, cameras)).start()
    sim.wait_hls_ready()
    zone_poller = build_zone_poller(
        settings, PgDatabase(pg_url), "diskominfo", "kominfo-a", poll_targets(cameras, sim)
    ).start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = services.camera_health()
            if "pending" not in {h.state for h in states.values()}:
                break
            time.sleep(0.5)
        faults = settings.simulator.faults  # the demo's scripted dead, hanging, dark, frozen
        healthy = [c.id for c in cameras if c.id not in faults]
        assert all(states[c].state == "online" for c in healthy), states
        one = services.camera_health([healthy[0]])  # a details panel asks for one camera
        assert list(one) == [healthy[0]] and one[healthy[0]].state == "online"
        assert all(states[c].state in ("offline", "dark", "frozen", "online") for c in faults)
        for camera_id in healthy:  # their pictures, mirrored into the replica's own store
            here = services.store.meta(camera_id)
            there = zone_poller.poller.store.meta(camera_id)
            assert here is not None and there is not None, camera_id
            assert here.taken_at <= there.taken_at  # the poller may hold a newer one by now
            assert services.store.latest_path(camera_id, thumb=True) is not None
        from lawangjabo.cameras.ledger import cluster_outages

        down = {o.camera_id: o for o in cluster_outages(center)}
        assert down["plg-cam14-punti-kayu"].reason == "refused"  # the dead one
        assert down["plg-cam45-sp-bandara"].reason == "dark"
        assert not set(healthy) & set(down)
        later = datetime.now(UTC) + timedelta(minutes=settings.alerts.camera_down_minutes + 1)
        assert services.evaluate_alerts(later)["opened"]  # the rules see the zones' cameras
        book = services.alerts()
        assert book is not None
        subjects = {a.subject for a in book.active()}
        assert {"plg-cam14-punti-kayu", "plg-cam45-sp-bandara"} <= subjects, subjects
        camera = healthy[0]
        asked = datetime.now(UTC)
        services.start_refresh(camera)
        assert services.refreshing(camera)
        deadline = time.monotonic() + 10
        fast: list[Any] = []
        while time.monotonic() < deadline and not fast:
            fast = center.execute(
                "SELECT polled_at FROM poll_outcomes WHERE camera_id = ? AND lane = 'fast' "
                "AND polled_at >= ?",
                [camera, asked],
            )
            time.sleep(0.2)
        assert fast, "the click never reached the zone poller"
        _report("click_to_zone_capture_stored_s",
                round((fast[0][0] - asked).total_seconds(), 2))  # fmt: skip
        assert not [p for p in services.problems() if p["kind"] == "poller"]
    finally:
        zone_poller.stop()
        sim.stop()
        services.close()
