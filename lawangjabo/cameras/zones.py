"""Pollers inside the agencies' networks (cluster mode): a zone each, work shared through leases,
and store and forward when the link to the center is down.

A zone poller claims its zone's due cameras from the schedule in PostgreSQL
(:class:`~lawangjabo.cameras.leases.LeaseBook`), captures them with the ordinary
:class:`~lawangjabo.cameras.poller.Poller`, releases each with its next due time, renews its
leases and its heartbeat row in ``pollers``. Outcomes always go to the poller's own spool first
(durable files on its disk); a forwarder moves each file into the central ledger exactly once,
whenever the link allows. When the center cannot be reached the poller keeps polling every
camera of its zone on its own cadence, the spool grows, and the center says "zone …: no contact
for N min"; when the link returns the backlog is delivered and the health history has no hole.

The table ``pollers`` is owned here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lawangjabo.cameras.capture import CaptureSource, configure_portals, grab
from lawangjabo.cameras.leases import LeaseBook
from lawangjabo.cameras.ledger import SpoolWriter, forwarding_ingest
from lawangjabo.cameras.pictures import upload_latest
from lawangjabo.cameras.poller import Poller, Target
from lawangjabo.cameras.registry import Camera
from lawangjabo.cameras.snapshots import SnapshotStore
from lawangjabo.config import Settings
from lawangjabo.storage.db import Gateway

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 2.0
NO_CONTACT_AFTER_S = 30.0  # a zone whose pollers were not heard from this long is out of contact


def camera_zone(settings: Settings, camera: Camera) -> str:
    """The zone (agency network) whose pollers capture ``camera``: its owner agency, or the
    zone the city file maps that agency to (``[cameras] zones = { satlantas = "polda" }``)."""
    owner = camera.props.owner
    return settings.cameras.zones.get(owner, owner)


@dataclass(frozen=True)
class ZoneContact:
    zone: str
    pollers: int
    silent_s: float  # since the zone's most recent heartbeat
    backlog_files: int  # spool files its pollers still hold (as of their last heartbeat)
    dropped_outcomes: int = 0  # outcomes its pollers dropped since they started (spool full)


def zone_contacts(db: Gateway) -> list[ZoneContact]:
    """Every zone that has had a poller, with how long it has been silent (the database's clock,
    so a poller's wrong clock cannot hide an outage)."""
    rows = db.execute(
        "SELECT zone, count(*), extract(epoch FROM now() - max(last_seen)), "
        "coalesce(sum(backlog_files), 0), coalesce(sum(dropped_outcomes), 0) "
        "FROM pollers GROUP BY zone ORDER BY zone"
    )
    return [ZoneContact(str(z), int(n), max(0.0, float(s)), int(b), int(d))
            for z, n, s, b, d in rows]  # fmt: skip


def out_of_contact(contacts: list[ZoneContact], after_s: float = NO_CONTACT_AFTER_S) -> list[str]:
    """Problem messages for the zones not heard from within ``after_s``."""
    found = []
    for contact in contacts:
        if contact.silent_s >= after_s:
            minutes = contact.silent_s / 60
            span = f"{minutes:.0f} min" if minutes >= 1 else f"{contact.silent_s:.0f} s"
            found.append(f"zone {contact.zone}: no contact for {span}")
        if contact.dropped_outcomes:
            found.append(
                f"zone {contact.zone}: {contact.dropped_outcomes} poll outcomes dropped (the "
                "poller's spool was full while cut off): a hole in its history"
            )
    return found


REFRESH_FRESH_FOR_S = 60  # an operator's click older than this (a zone out of contact) is moot


def request_refresh(db: Gateway, camera_id: str) -> None:
    """An operator clicked a camera: its zone's poller captures it at its next tick."""
    db.execute(
        "INSERT INTO refresh_requests (camera_id, requested_at) VALUES (?, now()) "
        "ON CONFLICT (camera_id) DO UPDATE SET requested_at = now()",
        [camera_id],
    )


class ZonePoller:
    """One poller process's zone work: claims, captures, leases, heartbeat, forwarding."""

    def __init__(
        self,
        db: Gateway,
        zone: str,
        poller_id: str,
        poller: Poller,
        spool: SpoolWriter,
        lease_s: float = 60.0,
        tick_s: float = 0.5,
        workers: int = 32,
        clock: Callable[[], float] = time.time,
        spool_max_bytes: int = 2048 * 1024 * 1024,
    ) -> None:
        self.db, self.zone, self.poller_id = db, zone, poller_id
        self.poller, self.spool = poller, spool
        self.lease_s, self.tick_s, self.workers, self.clock = lease_s, tick_s, workers, clock
        self.book = LeaseBook(db, clock)
        self.forward = forwarding_ingest(spool.spool, poller_id)
        self.started_at = datetime.now(UTC)
        self.contact_lost_since: datetime | None = None
        self.contact_error: str | None = None
        self.claimed_polls = 0  # captures of claimed cameras
        self.alone_polls = 0  # captures on our own cadence while the center was away
        self.spool_max_bytes = spool_max_bytes
        self.dropped_outcomes = 0  # dropped, oldest first, when the spool outgrew its bound
        self._synced = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_beat = 0.0
        self._renewed = 0.0
        self._pictures_lock = threading.Lock()
        self._sent_pictures: dict[str, datetime] = {}
        self._unsent_pictures: set[str] = set()

    # -- contact with the center ------------------------------------------------------------
    def _lost(self, exc: BaseException) -> None:
        if self.contact_lost_since is None:
            self.contact_lost_since = datetime.now(UTC)
            log.error("zone %s: center unreachable, polling on our own and spooling: %s",
                      self.zone, exc)  # fmt: skip
        self.contact_error = f"{type(exc).__name__}: {str(exc)[:200]}"

    def _regained(self) -> None:
        if self.contact_lost_since is not None:
            away = (datetime.now(UTC) - self.contact_lost_since).total_seconds()
            log.info("zone %s: center reachable again after %.0f s", self.zone, away)
        self.contact_lost_since, self.contact_error = None, None

    def backlog_files(self) -> int:
        try:
            return sum(1 for _ in self.spool.spool.glob("*.jsonl"))
        except OSError:
            return -1

    def beat(self) -> None:
        """Upsert this poller's heartbeat row (the center's clock stamps it)."""
        self.db.execute(
            "INSERT INTO pollers (poller_id, zone, started_at, last_seen, cameras, backlog_files, "
            "dropped_outcomes) VALUES (?, ?, ?, now(), ?, ?, ?) ON CONFLICT (poller_id) DO UPDATE "
            "SET zone = excluded.zone, last_seen = now(), cameras = excluded.cameras, "
            "backlog_files = excluded.backlog_files, dropped_outcomes = excluded.dropped_outcomes",
            [self.poller_id, self.zone, self.started_at, len(self.poller.targets),
             self.backlog_files(), self.dropped_outcomes],
        )  # fmt: skip

    def bound_spool(self) -> int:
        """Keep the spool within its bound: drop the oldest closed files past it (a long cut;
        the newest outcomes matter most to a command center). Returns outcomes dropped."""
        try:
            files = sorted(self.spool.spool.glob("*.jsonl"))
            sizes = [f.stat().st_size for f in files]
        except OSError:
            return 0
        total, dropped = sum(sizes), 0
        for path, size in zip(files, sizes, strict=True):
            if total <= self.spool_max_bytes:
                break
            try:
                with path.open("rb") as handle:
                    lines = sum(
                        chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 16), b"")
                    )
                path.unlink()
            except OSError:
                continue
            total -= size
            dropped += lines
        if dropped:
            self.dropped_outcomes += dropped
            log.error(
                "zone %s: spool over %d MB, dropped the %d oldest outcomes (%d so far)",
                self.zone, self.spool_max_bytes // 2**20, dropped, self.dropped_outcomes,
            )  # fmt: skip
        return dropped

    # -- one tick ---------------------------------------------------------------------------
    def step(self) -> list[str] | None:
        """Claim and start due cameras; without the center, poll the zone on our own cadence.
        Returns the cameras claimed (None: no contact)."""
        now = self.clock()
        try:
            if not self._synced:
                self.book.sync_zone(self.zone, sorted(self.poller.targets))
                self._synced = True
            if now - self._renewed >= self.lease_s / 3:
                self.book.renew(self.poller_id, self.lease_s)
                self._renewed = now
            free = self.workers - self.poller.busy()
            claimed = self.book.claim(self.zone, self.poller_id, free, self.lease_s) if free else []
        except Exception as exc:  # the link, the server, a refusal: all mean "no contact"
            self._lost(exc)
            self.alone_polls += len(self.poller.submit(self.poller.due_now()))
            return None
        self._regained()
        self._take_refresh_requests()
        for camera_id, future in self.poller.submit(claimed).items():
            future.add_done_callback(self._finisher(camera_id))
        self.claimed_polls += len(claimed)
        return claimed

    def _take_refresh_requests(self) -> None:
        """Operators' clicks on this zone's cameras, through the database: the fast lane."""
        try:
            rows = self.db.execute(
                "DELETE FROM refresh_requests WHERE camera_id = ANY(?) "
                f"RETURNING camera_id, requested_at > now() - interval '{REFRESH_FRESH_FOR_S} s'",
                [sorted(self.poller.targets)],
            )
        except Exception as exc:  # the next tick asks again; the requests wait in the table
            self._lost(exc)
            return
        for camera_id, fresh in rows:
            if fresh and camera_id in self.poller.targets:
                self.poller.refresh(camera_id)

    def _finisher(self, camera_id: str) -> Callable[[Future[None]], None]:
        return lambda _done: self._finish(camera_id)

    def _finish(self, camera_id: str) -> None:
        try:
            self.book.finish(camera_id, self.poller_id, self.poller.next_due(camera_id))
        except Exception as exc:  # the lease runs out by itself; the camera is claimed again
            self._lost(exc)
        self._send_picture(camera_id)

    def _send_picture(self, camera_id: str) -> None:
        """The camera's latest good picture to the center, if it is newer than the last sent;
        while the center is away only the newest per camera waits (not every one missed)."""
        try:
            meta = self.poller.store.meta(camera_id)
            if meta is None or self._sent_pictures.get(camera_id) == meta.taken_at:
                return
            sent = upload_latest(self.db, self.poller.store, camera_id)
        except Exception as exc:
            with self._pictures_lock:
                self._unsent_pictures.add(camera_id)
            self._lost(exc)
            return
        with self._pictures_lock:
            self._unsent_pictures.discard(camera_id)
            if sent is not None:
                self._sent_pictures[camera_id] = sent

    def _send_unsent_pictures(self) -> None:
        with self._pictures_lock:
            waiting = sorted(self._unsent_pictures)
        for camera_id in waiting:
            self._send_picture(camera_id)

    def forward_once(self) -> int:
        """Deliver spooled outcomes to the center; returns how many went in."""
        return len(self.forward.run(self.db))

    # -- the process ------------------------------------------------------------------------
    def start(self) -> ZonePoller:
        self.spool.start()
        for name, work, every in (
            ("zone-claims", self.step, self.tick_s),
            ("zone-forward", self._forward_and_beat, 1.0),
        ):
            thread = threading.Thread(target=self._loop, args=(work, every), name=name,
                                      daemon=True)  # fmt: skip
            thread.start()
            self._threads.append(thread)
        log.info("zone poller %s started: zone %s, %d cameras", self.poller_id, self.zone,
                 len(self.poller.targets))  # fmt: skip
        return self

    def _forward_and_beat(self) -> None:
        self.forward_once()  # refusals are kept by the ingest (error, error_since)
        self.bound_spool()
        self._send_unsent_pictures()
        if self.clock() - self._last_beat >= HEARTBEAT_EVERY_S:
            try:
                self.beat()
                self._last_beat = self.clock()
            except Exception as exc:
                self._lost(exc)

    def _loop(self, work: Callable[[], Any], every: float) -> None:
        while not self._stop.is_set():
            try:
                work()
            except Exception:  # never die: the next tick tries again
                log.exception("zone poller %s: tick failed", self.poller_id)
            self._stop.wait(every)

    def status(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "poller_id": self.poller_id,
            "contact": self.contact_lost_since is None,
            "contact_lost_since": (
                self.contact_lost_since.isoformat() if self.contact_lost_since else None
            ),
            "backlog_files": self.backlog_files(),
            "claimed_polls": self.claimed_polls,
            "alone_polls": self.alone_polls,
            "dropped_outcomes": self.dropped_outcomes,
            "forward_error": self.forward.error,
        }

    def stop(self, release: bool = True) -> None:
        """Stop; ``release``: hand the zone's cameras to its twins now (a clean stop)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.poller.stop()
        self.spool.stop()
        if release:
            try:
                self.book.release_all(self.poller_id)
                self.forward_once()
            except Exception as exc:
                log.warning("zone poller %s stopped without the center: %s", self.poller_id, exc)


def spool_folder(state: Path, poller_id: str) -> Path:
    """Where a zone poller keeps the outcomes not yet delivered."""
    return state / "zone-spool" / poller_id


def build_zone_poller(
    settings: Settings,
    db: Gateway,
    zone: str,
    poller_id: str,
    targets: list[Target],
    capture: CaptureSource = grab,
) -> ZonePoller:
    """A zone poller for ``targets`` (its zone's cameras) with the city file's poll settings;
    its spool and snapshots live in its own state folder."""
    cams = settings.cameras
    configure_portals(settings.portals)
    spool = SpoolWriter(spool_folder(settings.paths.state, poller_id))
    store = SnapshotStore(
        settings.paths.state / "zone-snapshots" / poller_id,
        cams.history_per_camera,
        cams.history_total_mb * 1024 * 1024,
    )
    poller = Poller(
        targets, store, spool, capture=capture, interval_s=cams.interval_s,
        timeout_s=cams.timeout_s, workers=cams.workers, fast_workers=cams.fast_workers,
        frozen_after_polls=cams.frozen_after_polls, max_backoff_s=cams.max_backoff_s,
        auth_backoff_s=cams.auth_backoff_s,
        thumb_width=cams.thumb_width, history_every_s=cams.history_every_s,
        tamper_checks=cams.tamper_checks,
    )  # fmt: skip
    lease_s = max(60.0, 2 * cams.timeout_s + 10)  # outlives any capture
    return ZonePoller(db, zone, poller_id, poller, spool, lease_s=lease_s, workers=cams.workers,
                      spool_max_bytes=cams.zone_spool_max_mb * 1024 * 1024)  # fmt: skip
