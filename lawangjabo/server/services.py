"""Process-wide services: settings, database, districts and registry, reloaded when files change.

One instance per configuration per process (``get_services``). Both the ASGI routes and the UI
script use it, so the DuckDB file is opened once per process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lawangjabo import __version__
from lawangjabo.alerts.engine import AlertBook, deliver_due, evaluate_rules
from lawangjabo.auth.access import (
    Auth,
    FailureLimiter,
    RateLimiter,
    SessionStore,
    UserStore,
    camera_visible,
)
from lawangjabo.auth.tokens import FileTokenStore, SharedTokenStore, TokenStore
from lawangjabo.cameras.ledger import (
    CameraHealth,
    classify,
    cluster_health,
    cluster_outages,
    current_health,
    drop_days_before,
    outages,
    outcome_ingest,
    poll_count,
    read_heartbeat,
)
from lawangjabo.cameras.live import LiveHub
from lawangjabo.cameras.pictures import mirror
from lawangjabo.cameras.poller import Outcome
from lawangjabo.cameras.registry import Camera, RegistryLoad, load_registry
from lawangjabo.cameras.runtime import PollerRuntime, request_refresh, snapshot_store
from lawangjabo.cameras.snapshots import SnapshotStore
from lawangjabo.cameras.zones import out_of_contact, zone_contacts
from lawangjabo.cameras.zones import request_refresh as zone_refresh
from lawangjabo.config import Settings, current_settings, settings_problem
from lawangjabo.fileio import free_mb
from lawangjabo.geo.districts import DistrictLayer, load_district_layer, load_sublevel_layer
from lawangjabo.incidents.history import generate
from lawangjabo.incidents.inbox import IncidentInbox, inbox_folder
from lawangjabo.incidents.mirror import IncidentMirror
from lawangjabo.incidents.scope import CameraScope
from lawangjabo.incidents.store import Enricher, IncidentStore
from lawangjabo.incidents.turns import ImportTurns
from lawangjabo.storage import audit as audit_log
from lawangjabo.storage.audit import SIGN_OUT_AFTER, audit_ingest, bounded_detail, spool_entry
from lawangjabo.storage.db import Database
from lawangjabo.storage.spool import quarantined

log = logging.getLogger(__name__)
ALERT_LOOKBACK = timedelta(days=1)
MAX_ACTOR = 64  # characters of a user name or action stored (they may come from a login form)
POLLER_SILENT_S = 15.0
INCIDENT_COPY_FILE = "incidents-copy.duckdb"  # cluster mode: this replica's analytics copy
MIRROR_READ_S = 5.0  # a reader pulls if the copy is older (never waiting for a running pull)
MIRROR_BACKGROUND_S = 1.0
DB_RETRY_S = 10  # how often an unavailable database is tried again


def _mtime(path: Any) -> float | None:
    try:
        return float(path.stat().st_mtime_ns)
    except OSError:
        return None


@dataclass(frozen=True)
class Snapshot:
    """A consistent view of the data files at one moment."""

    districts: DistrictLayer
    registry: RegistryLoad
    sublevel: DistrictLayer | None = None  # the finer level (kelurahan), once installed


class Services:
    """Shared state of one configuration; thread-safe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._db: Database | None = None
        self._db_error: str | None = None
        self._scopes: dict[tuple[str, ...], CameraScope] = {}
        self._scopes_of: Snapshot | None = None
        self._db_retry_at = 0.0
        self._key: tuple[float | None, ...] | None = None
        self._snapshot: Snapshot | None = None
        self._ingest_lock = threading.Lock()
        self._outcomes = outcome_ingest(settings.paths.spool)
        self._audits = audit_ingest(settings.paths.audit_spool)
        self._last_retention = 0.0
        self._last_zone_health: dict[str, CameraHealth] = {}  # cluster mode, last read
        self._pictures_seen: datetime | None = None  # cluster mode: newest picture mirrored
        self.store: SnapshotStore = snapshot_store(settings)
        self.runtime: PollerRuntime | None = None  # set when the poller runs in this process
        self.live: LiveHub | None = None  # live video relays, made on the first viewer
        self._refreshes: dict[str, tuple[float, Future[Outcome] | None]] = {}
        self._refresh_limiter = RateLimiter(settings.auth.refreshes_per_minute, 60.0)
        self._incidents: IncidentStore | None = None
        self._incidents_key: Snapshot | None = None
        self._seed_lock = threading.Lock()
        self._seeded = False
        self._mirror: IncidentMirror | None = None  # cluster mode: this replica's copy
        self._shared_alerts: AlertBook | None = None  # cluster mode: one book, read-last cache
        self.import_turns = ImportTurns()  # one incident import at a time (bounded memory)
        self._inbox = IncidentInbox(inbox_folder(settings.paths.state), self.import_turns)
        self.started_at = datetime.now(UTC)
        self.places_waiting: int | None = None  # incidents still without their kelurahan
        self._places_done: str | None = None  # the finer-level file whose fill is finished
        self.shared = cluster_database(settings)  # PostgreSQL in cluster mode, else None
        self.leadership = duty_leadership(settings)
        users, self.sessions = account_stores(settings, self.shared)
        self.tokens = token_store(settings, self.shared)
        self.feed_limiter = RateLimiter(settings.auth.feed_requests_per_minute, 60.0)
        self.feed_refusals = RateLimiter(30, 60.0)  # wrong tokens per address: then 429
        self.feed_lock = threading.Lock()  # one feed write at a time in this process
        self.auth = Auth(
            users,
            self.sessions,
            self.audit,
            FailureLimiter(settings.auth.failures_per_address, settings.auth.failure_window_s),
            settings.city.language,
        )

    @property
    def db(self) -> Database | None:
        """The database, opened (and migrated) on first use; None if it cannot be opened."""
        with self._lock:
            due = self._db_error is None or time.monotonic() >= self._db_retry_at
            if self._db is None and due:
                try:
                    self._db = Database(self.settings.paths.database_file)
                except Exception as exc:  # a locked or corrupt file must not take the app down
                    if self._db_error is None:
                        log.error("database unavailable (retrying every %d s): %s",
                                  DB_RETRY_S, exc)  # fmt: skip
                    self._db_error = f"{type(exc).__name__}: {exc}"
                    self._db_retry_at = time.monotonic() + DB_RETRY_S
                else:
                    if self._db_error is not None:
                        log.info("database available again")
                    self._db_error = None
            return self._db

    def snapshot(self) -> Snapshot:
        """Districts and registry, reloaded when either file changed on disk."""
        paths = self.settings.paths
        key = (_mtime(paths.districts_file), _mtime(paths.registry_file),
               _mtime(paths.sublevel_file))  # fmt: skip
        with self._lock:
            if self._snapshot is None or key != self._key:
                districts = load_district_layer(self.settings.city, paths.districts_file)
                sublevel = load_sublevel_layer(self.settings.city, paths.sublevel_file)
                registry = load_registry(paths.registry_file, self.settings, districts)
                log.info(
                    "registry %s: %d cameras loaded, %d rejected; districts: %s",
                    paths.registry_file.name,
                    len(registry.cameras),
                    len(registry.rejects),
                    districts.source,
                )
                self._snapshot = Snapshot(districts, registry, sublevel)
                self._key = key
            return self._snapshot

    def snapshot_key(self) -> tuple[float | None, ...]:
        """What the current snapshot was loaded from (its files' times): it names a map."""
        self.snapshot()
        with self._lock:
            return self._key or ()

    def visible_cameras(self, agencies: tuple[str, ...] = ()) -> list[Camera]:
        """The registry's cameras an account limited to ``agencies`` may see (all if none)."""
        return [
            c
            for c in self.snapshot().registry.cameras
            if camera_visible(agencies, c.props.owner, c.props.scope)
        ]

    def may_see(self, agencies: tuple[str, ...], camera_id: str) -> bool:
        """Does the camera exist, and may an account limited to ``agencies`` see it?"""
        camera = self.snapshot().registry.by_id(camera_id)
        return camera is not None and camera_visible(agencies, camera.props.owner,
                                                     camera.props.scope)  # fmt: skip

    def camera_scope(self, agencies: tuple[str, ...] = ()) -> CameraScope:
        """What an account limited to ``agencies`` may know of cameras in incident fields
        (nearest camera, its distance): built once per registry load and agency set."""
        snap = self.snapshot()
        with self._lock:
            if self._scopes_of is not snap:  # the registry was reloaded
                self._scopes, self._scopes_of = {}, snap
            found = self._scopes.get(agencies)
        if found is None:
            seen = [c for c in snap.registry.cameras
                    if camera_visible(agencies, c.props.owner, c.props.scope)]  # fmt: skip
            found = CameraScope.of(seen, self.settings.city.metric_crs, bool(agencies))
            with self._lock:
                if self._scopes_of is snap:
                    self._scopes[agencies] = found
        return found

    # -- cameras: health, snapshots, refresh -------------------------------------------------
    def ingest(self) -> int:
        """Move poll outcomes from the spool into the ledger (one thread at a time); in a
        cluster, mirror the zone pollers' new pictures into this replica's store."""
        db = self.db
        if db is None:
            return 0
        with self._ingest_lock:
            if self.zones_mode:
                try:
                    self._pictures_seen = mirror(self.shared, self.store, self._pictures_seen)
                except Exception as exc:  # the database away: said on /api/health
                    log.debug("pictures not mirrored: %s", exc)
            for entry in self._audits.run(self.audit_db()):
                if entry.action in SIGN_OUT_AFTER and entry.detail.get("user"):
                    self.sessions.revoke_user(str(entry.detail["user"]))
                    log.info("signed out %s after %s", entry.detail["user"], entry.action)
            return len(self._outcomes.run(db))

    def quarantined(self) -> dict[str, list[Any]]:
        """Spool files set aside (by folder), with their reasons: for admins."""
        paths = self.settings.paths
        return {
            "poll": quarantined(paths.spool),
            "audit": quarantined(paths.audit_spool),
            "incidents": quarantined(self._inbox.folder),
        }

    def stored_counts(self) -> dict[str, int]:
        """Rows kept per table family (and the audit log's size): what a fault must not lose."""
        db = self.db
        store = self.incidents()
        if db is None or store is None:
            return {}
        audit_rows, audit_chars = audit_log.size(self.audit_db())
        return {
            "incidents": store.count(),
            "poll_outcomes": poll_count(db),
            "audit_log": audit_rows,
            "audit_chars": audit_chars,
        }

    def runs_duties(self) -> bool:
        """Does this process run the once-only duties (alert rules, webhooks, retention)?
        Always in the embedded default; in a cluster only the replica holding the lock."""
        return self.leadership is None or bool(self.leadership.held())

    def prune_audit(self, now: datetime | None = None) -> int:
        """Retention, at most once an hour: delete audit entries past theirs (returns how many)
        and, in a cluster, drop the poll ledger's day partitions past theirs."""
        if time.monotonic() - self._last_retention < 3600:
            return 0
        self._last_retention = time.monotonic()
        moment = now or datetime.now(UTC)
        removed = 0
        days, db = self.settings.storage.audit_retention_days, self.audit_db()
        if days and db is not None:
            removed = audit_log.prune(db, moment - timedelta(days=days))
            if removed:
                log.info("audit retention (%d days): deleted %d entries", days, removed)
        if self.shared is not None:
            keep = self.settings.storage.ledger_retention_days
            first_kept = (moment - timedelta(days=keep)).date()
            try:
                self.shared.transaction(
                    lambda db: self._log_dropped(drop_days_before(db, first_kept))
                )
            except Exception as exc:  # the database away: the next hour tries again
                log.warning("poll ledger retention skipped: %s", exc)
        return removed

    @staticmethod
    def _log_dropped(dropped: list[str]) -> None:
        if dropped:
            log.info("poll ledger retention: dropped %s", ", ".join(dropped))

    def camera_health(self, camera_ids: list[str] | None = None) -> dict[str, CameraHealth]:
        """State of every registry camera (or of ``camera_ids``) now (pending until polled)."""
        self.ingest()
        cams = self.settings.cameras
        known: dict[str, CameraHealth] = {}
        db = self.db
        if self.zones_mode:
            known = self._zone_health(camera_ids)
        elif db is not None:
            known = current_health(
                db, datetime.now(UTC), cams.interval_s, cams.offline_after_s, camera_ids
            )
        wanted = set(camera_ids) if camera_ids is not None else None
        result = {}
        for camera in self.snapshot().registry.cameras:
            if wanted is not None and camera.id not in wanted:
                continue
            if camera.id in known:
                result[camera.id] = known[camera.id]
            else:
                pollable = cams.simulate or camera.props.stream is not None
                state = "pending" if pollable and cams.poller != "off" else "unconfigured"
                result[camera.id] = CameraHealth(camera.id, state, None, None, None, None)
        return result

    @property
    def zones_mode(self) -> bool:
        """Cluster mode with pollers in the agencies' networks: cameras are theirs to poll,
        and their states, pictures and outages come through PostgreSQL."""
        return self.settings.cameras.poller == "zones" and self.shared is not None

    def _zone_health(self, camera_ids: list[str] | None) -> dict[str, CameraHealth]:
        """Cluster mode: the states the zone pollers reported. With the database away, the
        last ones read, classified now: their ages keep growing, nothing looks fresher."""
        cams, now = self.settings.cameras, datetime.now(UTC)
        try:  # only the cameras asked for: a details panel asks for one, every second
            read = cluster_health(
                self.shared, now, cams.interval_s, cams.offline_after_s, camera_ids
            )
        except Exception as exc:  # reported on /api/health as the cluster database
            log.debug("camera states unreadable: %s", exc)
            wanted = self._last_zone_health.keys() if camera_ids is None else camera_ids
            last = {c: self._last_zone_health[c] for c in wanted if c in self._last_zone_health}
            return {
                cid: CameraHealth(cid, classify(now, cams.interval_s, h.last_poll, h.last_ok,
                                                h.state == "dark", h.state == "frozen",
                                                cams.offline_after_s,
                                                h.last_error if h.state == "tampered" else None),
                                  h.last_poll, h.last_ok, h.last_error, h.latency_ms)
                for cid, h in last.items()
            }  # fmt: skip
        self._last_zone_health.update(read)
        return read

    def poller_status(self) -> dict[str, Any]:
        """Is anybody polling? Age of the poller's heartbeat, its mode and last round."""
        mode = self.settings.cameras.poller
        if mode == "zones":  # no poller here: the zones' silences are problems of their own
            return {"mode": mode, "alive": True, "age_s": None, "simulated": False,
                    "problems": []}  # fmt: skip
        beat = read_heartbeat(self.settings.paths.heartbeat_file)
        # In this process the poller's own faults are known first hand (its heartbeat may be
        # the very file the full disk refuses).
        problems = self.runtime.problems() if self.runtime is not None else None
        if beat is None:
            status: dict[str, Any] = {"mode": mode, "alive": False, "age_s": None}
            return {**status, "simulated": False, "problems": problems or []}
        age = (datetime.now(UTC) - beat["at"]).total_seconds()
        if problems is None:
            problems = beat.get("problems") if isinstance(beat.get("problems"), list) else []
        return {**beat, "mode": mode, "alive": age < POLLER_SILENT_S, "age_s": age,
                "problems": problems}  # fmt: skip

    def ledger_db(self) -> Any:
        """Where the poll ledger is: PostgreSQL's, filled by the zone pollers (zones mode), or
        this process's file (uptime and outages are read from it)."""
        return self.shared if self.zones_mode else self.db

    # -- alerts -------------------------------------------------------------------------------
    def alerts(self) -> AlertBook | None:
        """The alert book: this process's (embedded) or the cluster's, in PostgreSQL."""
        if self.shared is not None:
            with self._lock:
                if self._shared_alerts is None:
                    self._shared_alerts = AlertBook(self.shared, self.settings)
                return self._shared_alerts
        db = self.db
        return AlertBook(db, self.settings) if db is not None else None

    def evaluate_alerts(self, now: datetime | None = None) -> dict[str, Any]:
        """Run the alert rules, open/resolve alerts, then send the webhook deliveries due."""
        book = self.alerts()
        if book is None:
            return {}
        now = now or datetime.now(UTC)
        self.ingest()
        cameras = self.snapshot().registry.cameras
        names = {c.id: c.props.name for c in cameras}
        poller = self.poller_status()
        if poller["age_s"] is None:  # never heard from: silent since we started
            poller = {**poller, "age_s": (now - self.started_at).total_seconds()}
        if self.zones_mode:
            try:  # the zone pollers' cameras: from the cluster's per-camera state
                ongoing = cluster_outages(self.shared)
            except Exception as exc:  # unknown is not "all well": resolve nothing, try again
                log.warning("alert rules skipped, camera states unreadable: %s", exc)
                return {}
        else:
            # A day of the ledger: 0.8 s for 500 cameras polled every 30 s (10 M rows in the
            # table), against 2.5 s for a week; an outage older than that reads as 1 day.
            ledger = self.ledger_db()
            if ledger is None:
                return {}
            ongoing = [o for o in outages(ledger, now, ALERT_LOOKBACK) if o.end is None]
        store = self.incidents()
        conditions = evaluate_rules(
            book.db,
            self.settings,
            now,
            ongoing,
            names,
            {c.id: c.props.owner for c in cameras},
            poller,
            ledger=self.ledger_db(),
            incidents=store.db if store is not None else None,
        )
        changes = book.apply(conditions, now)
        sent = deliver_due(book.db, self.settings.alerts, now)
        return {**changes, **sent, "conditions": len(conditions)}

    def start_refresh(self, camera_id: str) -> Future[Outcome] | None:
        """Ask for a fast-lane capture of one camera. Asks for a camera already being captured
        join that capture (100 clicks cost one capture). Returns the capture to wait on (None
        when an external poller does it)."""
        if self.runtime is not None:
            with self._lock:
                asked = self._refreshes.get(camera_id)
                if asked is not None and asked[1] is not None and not asked[1].done():
                    return asked[1]
                future = self.runtime.refresh(camera_id)
                if future is None:
                    return None
                self._refreshes[camera_id] = (time.monotonic(), future)
            return future
        mode = self.settings.cameras.poller
        if mode in ("external", "zones") and not self.refreshing(camera_id):
            if mode == "zones" and self.shared is not None:
                try:
                    zone_refresh(self.shared, camera_id)
                except Exception as exc:  # the database away: said on /api/health
                    log.warning("refresh of %s not passed on: %s", camera_id, exc)
                    return None
            else:
                request_refresh(self.settings.paths.refresh_requests, camera_id)
            with self._lock:
                self._refreshes[camera_id] = (time.monotonic(), None)
        return None

    def refresh(self, camera_id: str, wait_s: float = 0.0) -> bool:
        """Fast-lane capture of one camera; with ``wait_s``, wait for it. True if it finished."""
        future = self.start_refresh(camera_id)
        if future is None or wait_s <= 0:
            return False
        try:
            future.result(timeout=wait_s)
        except FutureTimeout:
            return False
        return True

    def refresh_allowed(self, user: str) -> float:
        """Seconds ``user`` must wait before another refresh (0: go ahead); counts this one."""
        return self._refresh_limiter.take(user)

    def refreshing(self, camera_id: str) -> bool:
        """Is a fast-lane capture of this camera under way? (External poller: asked less than
        its timeout ago, as this process cannot see the other one's captures.)"""
        with self._lock:
            asked = self._refreshes.get(camera_id)
        if asked is None:
            return False
        started, future = asked
        if future is not None:
            return not future.done()
        return time.monotonic() - started < self.settings.cameras.timeout_s + 1

    # -- audit --------------------------------------------------------------------------------
    def audit_db(self) -> Any:
        """Where the audit log lives: this process's database, or PostgreSQL in a cluster
        (one audit log for every replica and the CLI)."""
        return self.shared if self.shared is not None else self.db

    def audit(self, actor: str, action: str, detail: dict[str, Any]) -> None:
        """Append to the audit log (never raises: a failing log must not block a login)."""
        db = self.audit_db()
        now = datetime.now(UTC)
        actor, action = actor[:MAX_ACTOR], action[:MAX_ACTOR]
        detail = bounded_detail(detail)
        try:
            if db is None:
                raise RuntimeError("database unavailable")
            audit_log.append(db, now, actor, action, detail)
        except Exception:
            log.exception("audit write failed; keeping the entry in the audit spool")
            try:
                spool_entry(self.settings.paths.audit_spool, actor, action, detail, now)
            except OSError:
                log.exception("audit entry lost: %s %s", actor, action)

    def audit_entries(
        self, since: datetime, actor: str = "", action: str = "", limit: int = 5000
    ) -> Any:
        """Audit entries since ``since`` (newest first) as a DataFrame; filters are exact."""
        db = self.audit_db()
        if db is None:
            return None
        return audit_log.entries(db, since, actor, action, limit)

    # -- incidents ----------------------------------------------------------------------------
    def incidents(self) -> IncidentStore | None:
        """The incident store (None without a database); an empty store in a demo config is
        seeded once with the synthetic history. In cluster mode it writes to PostgreSQL and
        reads this replica's copy, pulled at most every few seconds here (and every second in
        the background)."""
        db = self.db
        if db is None:
            return None
        snap = self.snapshot()
        mirror = self._incident_mirror()
        with self._lock:
            if self._incidents is None or self._incidents_key is not snap:
                self._incidents = IncidentStore(
                    mirror.local if mirror is not None else db,
                    self.settings,
                    Enricher(self.settings, snap.districts, snap.registry.cameras, snap.sublevel),
                    writer=self.shared if mirror is not None else None,
                    mirror=mirror,
                )
                self._incidents_key = snap
            store = self._incidents
        days = self.settings.incidents.demo_history_days
        with self._seed_lock:
            if days and not self._seeded:
                try:
                    loaded = store.seed_if_empty(
                        lambda: generate(self.settings, datetime.now(UTC), days)
                    )
                except Exception as exc:  # PostgreSQL away at start: seed when it is back
                    log.warning("demo incidents not seeded yet: %s", exc)
                else:
                    if loaded:
                        log.info("seeded %d synthetic incidents (%d days)", loaded, days)
                    self._seeded = True
        if mirror is not None:
            mirror.sync_if_older(MIRROR_READ_S)
        return store

    def _incident_mirror(self) -> IncidentMirror | None:
        """Cluster mode: this replica's DuckDB copy of PostgreSQL's incidents."""
        url = self.settings.storage.postgres_url
        if url is None:
            return None
        with self._lock:
            if self._mirror is None:
                local = Database(self.settings.paths.state / INCIDENT_COPY_FILE)
                self._mirror = IncidentMirror(url, local)
            return self._mirror

    def take_incident_files(self) -> list[dict[str, Any]]:
        """Import the incident files the CLI left for this running app (its inbox)."""
        if not self._inbox.folder.is_dir():
            return []
        store = self.incidents()
        if store is None:
            return []
        with self._ingest_lock:
            return self._inbox.take(store, self.audit)

    def sync_incidents(self) -> None:
        """Cluster mode, in the background: pull new and changed incidents into the copy."""
        if self.settings.storage.postgres_url is not None and self.incidents() is not None:
            mirror = self._mirror
            if mirror is not None:
                mirror.sync_if_older(MIRROR_BACKGROUND_S)

    def _database_status(self) -> dict[str, Any]:
        db = self.db
        return db.status() if db else {"status": "error", "error": "unavailable"}

    def problems(
        self, database: dict[str, Any] | None = None, poller: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """What is wrong now, for ``/api/health`` and the operators' banner: each with a
        ``kind`` (disk, database, ingest, quarantine, poller, accounts, registry), a message
        without file paths, and since when (if known). ``database`` and ``poller``: their
        statuses when the caller has them already."""
        found: list[dict[str, Any]] = []

        def add(kind: str, message: str, since: datetime | None = None) -> None:
            found.append(
                {"kind": kind, "message": message, "since": since.isoformat() if since else None}
            )

        settings = self.settings
        broken = settings_problem()
        if broken is not None:
            add("config", *broken)
        free = free_mb(settings.paths.state)
        if free < settings.storage.min_free_mb:
            add("disk", f"state disk nearly full: {free:.0f} MB free")
        database = database or self._database_status()
        if database["status"] != "ok":
            add("database", f"database {database.get('error', 'error')}")
        if self.shared is not None:
            cluster = self.shared.status()
            if cluster["status"] != "ok":
                since = cluster.get("since")
                add(
                    "database",
                    f"central database (PostgreSQL) unreachable ({cluster.get('error')}); "
                    "this replica shows what it last read",
                    datetime.fromisoformat(since) if since else None,
                )
            else:  # the pollers in the agencies' networks: silent zones
                for message in out_of_contact(zone_contacts(self.shared)):
                    add("poller", message)
            copy = self._mirror.problem() if self._mirror is not None else None
            if copy is not None:
                add("database", copy, self._mirror.error_since if self._mirror else None)
        for name, ingest in (("poll outcomes", self._outcomes), ("audit entries", self._audits)):
            if ingest.error:
                add("ingest", f"{name} not stored: the database refuses them", ingest.error_since)
        held = sum(len(v) for v in self.quarantined().values())
        if held:
            add("quarantine", f"{held} spool file(s) quarantined (unreadable); an admin must look")
        if settings.cameras.poller != "off":
            status = poller or self.poller_status()
            if not status["alive"]:
                age = status["age_s"]
                add("poller", "camera poller silent" + (f" for {age:.0f} s" if age else ""))
            for message in status.get("problems") or []:
                add("poller", str(message)[:200])
        if settings.auth.enabled:
            trouble = self.auth.users.trouble()
            if trouble:
                add("accounts", trouble)
        snap = self.snapshot()
        if snap.registry.rejects:
            add("registry", f"{len(snap.registry.rejects)} camera(s) rejected by the registry")
        return found

    def health(self) -> dict[str, Any]:
        snap = self.snapshot()
        database, poller = self._database_status(), self.poller_status()
        problems = self.problems(database, poller)
        return {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "version": __version__,
            "city": self.settings.city.name,
            "cameras": {
                "loaded": len(snap.registry.cameras),
                "rejected": len(snap.registry.rejects),
                "warnings": len(snap.registry.warnings),
            },
            "districts": {
                "official": snap.districts.official,
                "count": len(snap.districts.districts),
            },
            "sublevel": self.sublevel_status(snap),
            "database": database,
            "poller": {
                k: v for k, v in poller.items() if k in ("mode", "alive", "age_s", "simulated")
            },
            "live": self.live_status(),
        }

    def live_status(self) -> dict[str, Any]:
        """Live relays of this process (one upstream each), viewers, and how many cameras send
        keyframes so rarely that a first live frame waits for one (counts only: the health
        check is public; the health page names them to staff)."""
        status = self.live.status() if self.live is not None else None
        if status is None:  # no key says "stream": the health check is scanned for addresses
            return {"relays": 0, "viewers": 0, "long_keyframe_cameras": 0}
        return {
            "relays": status["upstreams"],
            "viewers": status["viewers"],
            "long_keyframe_cameras": len(status["long_keyframe_interval"]),
        }

    def sublevel_status(self, snap: Snapshot | None = None) -> dict[str, Any] | None:
        """The finer level (kelurahan): installed or not, and how many stored incidents still
        wait for their place (counted by the background fill; None: not counted yet)."""
        level = self.settings.city.sublevel
        if level is None:
            return None
        layer = (snap or self.snapshot()).sublevel
        return {
            "level": level.id,
            "installed": layer is not None,
            "count": len(layer.districts) if layer else 0,
            "incidents_waiting": self.places_waiting if layer else None,
        }

    def fill_places(self) -> int:
        """One step of giving stored incidents their place at the finer level once its
        boundaries are installed or replaced (new incidents get theirs as they enter). The
        progress is kept in this database's meta table: a restart goes on where it was."""
        snap, db = self.snapshot(), self.db
        store = self.incidents() if snap.sublevel is not None else None
        if snap.sublevel is None or store is None or db is None:
            return 0
        if self._places_done == snap.sublevel.source:  # finished for this file: no I/O
            return 0
        saved = json.loads(db.get_meta(PLACES_META) or "{}")
        mine = saved.get("signature") == snap.sublevel.source
        if mine and saved.get("done"):
            self.places_waiting = 0
            self._places_done = snap.sublevel.source
            return 0
        upto, left = store.fill_places(int(saved.get("upto", 0)) if mine else 0)
        db.set_meta(PLACES_META, json.dumps(
            {"signature": snap.sublevel.source, "upto": upto, "done": left == 0}))  # fmt: skip
        self.places_waiting = left
        if left == 0:
            log.info("every stored incident has its %s", self.settings.city.sublevel)
        return left

    def close(self) -> None:
        if self.leadership is not None:
            self.leadership.release()
        if self.shared is not None:
            self.shared.close()
        if self._mirror is not None:
            self._mirror.close()
            self._mirror.local.close()
            self._mirror = None
        if self.live is not None:
            self.live.stop()
            self.live = None
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def cluster_database(settings: Settings) -> Any:
    """The shared PostgreSQL database in cluster mode (``storage.postgres_url``), else None."""
    if settings.storage.postgres_url is None:
        return None
    from lawangjabo.storage.pg import PgDatabase

    return PgDatabase(settings.storage.postgres_url)


DUTIES_LOCK = 73101  # the advisory lock whose holder runs the once-only duties


def duty_leadership(settings: Settings) -> Any:
    """In cluster mode, the lock that picks the one replica running alerts and retention."""
    if settings.storage.postgres_url is None:
        return None
    from lawangjabo.storage.pg import Leadership

    return Leadership(settings.storage.postgres_url, DUTIES_LOCK)


def account_stores(settings: Settings, shared: Any) -> tuple[UserStore, SessionStore]:
    """Accounts and sessions: in a file and this process (embedded), or in the shared
    PostgreSQL database, where every replica and the CLI see the same ones (cluster)."""
    idle_s, absolute_s = settings.auth.idle_minutes * 60, settings.auth.absolute_hours * 3600
    if shared is None:
        return UserStore(settings.paths.users_file), SessionStore(idle_s, absolute_s)
    from lawangjabo.auth.shared_accounts import SharedUserStore
    from lawangjabo.auth.shared_sessions import SharedSessionStore

    return SharedUserStore(shared), SharedSessionStore(shared, idle_s, absolute_s)


PLACES_META = "sublevel_fill"  # app_meta: how far the finer level's fill has come


def token_store(settings: Settings, shared: Any) -> TokenStore:
    """Agency service tokens: a file (embedded) or the shared database (cluster)."""
    return (
        FileTokenStore(settings.paths.tokens_file) if shared is None else SharedTokenStore(shared)
    )


_registry_lock = threading.Lock()
_instances: dict[str, Services] = {}
_keys: dict[int, tuple[Settings, str]] = {}  # id → (settings, its JSON): dumped once each


def get_services(settings: Settings | None = None) -> Services:
    """The shared :class:`Services` for ``settings`` (default: the configured ones)."""
    settings = settings or current_settings()
    with _registry_lock:
        known = _keys.get(id(settings))
        if known is None or known[0] is not settings:
            known = _keys[id(settings)] = (settings, settings.model_dump_json())
        key = known[1]
        if key not in _instances:
            _instances[key] = Services(settings)
        return _instances[key]


def close_all() -> None:
    with _registry_lock:
        for services in _instances.values():
            services.close()
        _instances.clear()
        _keys.clear()
