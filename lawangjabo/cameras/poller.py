"""The snapshot poller: sweeps every camera on an interval with bounded concurrency.

* A dead or hanging camera only ever occupies one worker until its own timeout; the sweep submits
  at most ``workers`` captures at once and never waits on a particular camera.
* Failing cameras back off: interval × 2^(failures−1), capped (default 15 min). A camera that
  refuses our credentials is not asked again for ``auth_backoff_s`` (30 min), not even by a
  click: vendor cameras lock an account after a few wrong passwords.
* An operator's click goes through a separate *fast lane* executor, so it never queues behind
  the sweep.
* Each outcome goes to the snapshot store (good pictures) and to an :class:`OutcomeSink`
  (see ``ledger.py``), which is how results reach the app's DuckDB across processes.

What counts as good, everywhere (states, ages, the wall, alerts, the brief): a frame that arrived,
is not dark, and is not frozen. A picture's time is when it was *first* seen (``picture_at``): a
feed that repeats an old picture does not make it younger, and once N polls in a row return the
same picture the camera is frozen and its last good picture is the last one that changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from lawangjabo.cameras.capture import AUTH_KINDS, CaptureError, CaptureSource, Grab, grab
from lawangjabo.cameras.imaging import (
    ImageChecks,
    check_frame,
    encode_jpeg,
    resize_to_width,
    unchanged,
)
from lawangjabo.cameras.snapshots import SnapshotMeta, SnapshotStore
from lawangjabo.cameras.tamper import Reference
from lawangjabo.cameras.tamper import classify as classify_tamper
from lawangjabo.cameras.tamper import features as tamper_features

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """What the poller needs to reach a camera. Holds the stream URL: server-side only."""

    camera_id: str
    url: str
    protocol: str
    sharp_url: str | None = None  # a sharper source for an operator's click (main stream)
    sharp_protocol: str | None = None


@dataclass(frozen=True)
class Outcome:
    camera_id: str
    polled_at: datetime
    ok: bool
    error_kind: str | None
    latency_ms: float
    lane: str  # "sweep" or "fast"
    dark: bool = False
    low_detail: bool = False
    frozen: bool = False
    mean_luma: float | None = None
    detail: float | None = None
    dhash: int | None = None
    picture_at: datetime | None = None  # when the picture in this frame was first seen
    tamper: str | None = None  # 'moved', 'blurred' or 'covered' (cameras/tamper.py)

    @property
    def verdict(self) -> str:
        """'ok' (a good picture), 'dark', 'frozen', 'tampered' or 'failed' (no frame)."""
        if not self.ok:
            return "failed"
        if self.dark:
            return "dark"
        if self.frozen:
            return "frozen"
        if self.tamper:
            return "tampered"
        return "ok"


class OutcomeSink(Protocol):
    def add(self, outcome: Outcome) -> None: ...


@dataclass
class _CameraState:
    failures: int = 0
    next_due: float = 0.0
    in_flight: bool = False
    previous: ImageChecks | None = None
    picture_at: datetime | None = None  # when ``previous``'s picture was first seen
    unchanged_polls: int = 0
    seeded: bool = False  # ``previous`` read back from the store (after a restart)
    auth_until: float = 0.0  # credentials refused: not asked again (sweep or click) until then
    auth_kind: str | None = None
    reference: Reference = field(default_factory=Reference)  # what its good pictures look like
    learnt_at: float = 0.0  # when a picture last went into the reference
    tamper: str | None = None  # the tamper verdict on ``previous``


@dataclass
class SweepStats:
    started: float
    finished: float = 0.0
    polled: int = 0
    ok: int = 0  # good pictures
    dark: int = 0
    frozen: int = 0
    tampered: int = 0  # moved, blurred or covered
    failed: int = 0
    skipped_backoff: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    def count(self, outcome: Outcome) -> None:
        self.polled += 1
        verdict = outcome.verdict
        setattr(self, verdict, getattr(self, verdict) + 1)
        if verdict == "failed":
            kind = outcome.error_kind or "error"
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def summary(self) -> dict[str, object]:
        """What the heartbeat and the log say about a round."""
        return {
            "polled": self.polled,
            "ok": self.ok,
            "frozen": self.frozen,
            "dark": self.dark,
            "tampered": self.tampered,
            "failed": self.failed,
            "backing_off": self.skipped_backoff,
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
        }


class Poller:
    def __init__(
        self,
        targets: list[Target],
        store: SnapshotStore,
        sink: OutcomeSink,
        capture: CaptureSource = grab,
        interval_s: float = 30.0,
        timeout_s: float = 5.0,
        workers: int = 32,
        fast_workers: int = 2,
        frozen_after_polls: int = 3,
        max_backoff_s: float = 900.0,
        auth_backoff_s: float = 1800.0,
        thumb_width: int = 320,
        history_every_s: float = 60.0,
        tamper_checks: bool = True,
        tamper_learn_every_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.targets = {t.camera_id: t for t in targets}
        self.store = store
        self.sink = sink
        self.capture = capture
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.frozen_after_polls = frozen_after_polls
        self.max_backoff_s = max_backoff_s
        self.auth_backoff_s = auth_backoff_s
        self.thumb_width = thumb_width
        self.history_every_s = history_every_s
        self.tamper_checks = tamper_checks
        self.tamper_learn_every_s = tamper_learn_every_s
        self.clock = clock
        self._states = {cid: _CameraState() for cid in self.targets}
        self._last_history: dict[str, float] = {}
        self._lock = threading.Lock()
        self._sweep_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep")
        self._fast_pool = ThreadPoolExecutor(max_workers=fast_workers, thread_name_prefix="fast")
        self._workers = workers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_sweep: SweepStats | None = None
        self.on_sweep: Callable[[SweepStats], None] | None = None
        self._round = SweepStats(started=clock())  # the background loop's current round
        self.store_fault: str | None = None  # the snapshot store's last write error, while it lasts

    def set_targets(self, targets: list[Target]) -> dict[str, int]:
        """Follow a changed registry without a restart: new cameras are polled at once,
        removed ones no longer (a capture under way finishes), a changed stream starts afresh.
        Returns how many were added, removed and changed."""
        wanted = {t.camera_id: t for t in targets}
        with self._lock:
            added = [cid for cid in wanted if cid not in self.targets]
            removed = [cid for cid in self.targets if cid not in wanted]
            changed = [
                cid for cid, t in wanted.items() if cid in self.targets and self.targets[cid] != t
            ]
            for cid in removed:
                self._states.pop(cid, None)
                self._last_history.pop(cid, None)
            for cid in [*added, *changed]:
                self._states[cid] = _CameraState()
            self.targets = wanted
        return {"added": len(added), "removed": len(removed), "changed": len(changed)}

    # -- one camera -------------------------------------------------------------------------
    def poll(self, camera_id: str, lane: str = "sweep") -> Outcome:
        """Capture one camera now and record the outcome (any thread)."""
        target = self.targets.get(camera_id)
        if target is None:  # removed from the registry meanwhile
            raise KeyError(camera_id)
        now = self.clock()
        polled_at = datetime.fromtimestamp(now, UTC)
        with self._lock:
            state = self._states[camera_id]
            waiting = state.auth_kind if state.auth_until > now else None
        if waiting is not None:  # a click on a camera that refused us: no new attempt, not logged
            return Outcome(camera_id, polled_at, False, waiting, 0.0, lane)
        url, protocol = target.url, target.protocol
        if lane == "fast" and target.sharp_url and target.sharp_protocol:
            url, protocol = target.sharp_url, target.sharp_protocol
        try:
            got = self.capture(url, protocol, self.timeout_s)
        except CaptureError as exc:
            outcome = Outcome(
                camera_id, polled_at, False, exc.kind, (self.clock() - now) * 1000, lane
            )
        except Exception as exc:  # a capture bug must not kill the poller
            log.exception("capture of %s crashed", camera_id)
            outcome = Outcome(
                camera_id,
                polled_at,
                False,
                f"crash_{type(exc).__name__}",
                (self.clock() - now) * 1000,
                lane,
            )
        else:
            outcome = self._good_frame(camera_id, polled_at, got, lane)
        self._after(camera_id, outcome)
        self.sink.add(outcome)
        return outcome

    def _seed(self, camera_id: str) -> None:
        """After a restart, compare the first frame with the stored picture, so a feed frozen
        on that picture keeps its true age."""
        state = self._states[camera_id]
        if state.seeded:
            return
        meta = self.store.meta(camera_id)
        with self._lock:
            if state.seeded:
                return
            state.seeded = True
            if meta is not None and meta.dhash is not None and meta.signature:
                state.previous = ImageChecks(
                    meta.mean_luma or 0.0, meta.detail or 0.0, meta.dhash, meta.signature
                )
                state.picture_at = meta.taken_at

    def _good_frame(self, camera_id: str, polled_at: datetime, got: Grab, lane: str) -> Outcome:
        frame, latency_s = got.frame, got.latency_s
        checks = check_frame(frame)
        thumb = resize_to_width(frame, self.thumb_width)
        seen = tamper_features(thumb) if self.tamper_checks and not checks.dark else None
        self._seed(camera_id)
        with self._lock:
            state = self._states[camera_id]
            same = unchanged(state.previous, checks)
            state.unchanged_polls = state.unchanged_polls + 1 if same else 0
            state.previous = checks
            if not same or state.picture_at is None:
                state.picture_at = polled_at
            picture_at = state.picture_at
            tamper = state.tamper if same else None  # the same picture: the same verdict
            if seen is not None and not same:
                tamper = classify_tamper(seen, state.reference)
                due = polled_at.timestamp() - state.learnt_at >= self.tamper_learn_every_s
                if tamper is None and due:
                    state.reference.learn(seen)  # a good picture: what this camera looks like
                    state.learnt_at = polled_at.timestamp()
            state.tamper = tamper
            # a cover shows the same flat picture poll after poll: it is named, not 'frozen'
            frozen = state.unchanged_polls >= self.frozen_after_polls - 1 and same and not tamper
            # Only a new good picture enters the store: a repeat is the picture it already
            # holds, and a dark, frozen or tampered frame must never pass for a fresh one.
            store = not same and not checks.dark and tamper is None
            keep = False
            if store:
                last = self._last_history.get(camera_id, 0.0)
                keep = polled_at.timestamp() - last >= self.history_every_s or lane == "fast"
                if keep:
                    self._last_history[camera_id] = polled_at.timestamp()
        if store:
            height, width = frame.shape[:2]
            meta = SnapshotMeta(
                camera_id,
                polled_at,
                width,
                height,
                checks.low_detail,
                round(checks.mean_luma, 2),
                round(checks.detail, 2),
                checks.dhash,
                checks.signature,
            )
            try:
                self.store.save(
                    camera_id,
                    got.jpeg if got.jpeg is not None else encode_jpeg(frame, 85),
                    encode_jpeg(thumb, 75),
                    meta,
                    keep_history=keep,
                )
            except OSError as exc:  # a full disk: the outcome still counts, the picture waits
                if self.store_fault is None:
                    log.error("snapshot store not writable: %s", exc)
                self.store_fault = f"snapshots not writable: {exc.strerror or exc}"
                with self._lock:
                    state.previous = None  # store it as soon as the disk lets us
            else:
                self.store_fault = None
        return Outcome(
            camera_id,
            polled_at,
            True,
            None,
            latency_s * 1000,
            lane,
            dark=checks.dark,
            low_detail=checks.low_detail,
            frozen=frozen,
            mean_luma=round(checks.mean_luma, 2),
            detail=round(checks.detail, 2),
            dhash=checks.dhash,
            picture_at=picture_at,
            tamper=tamper,
        )

    def _after(self, camera_id: str, outcome: Outcome) -> None:
        with self._lock:
            state = self._states[camera_id]
            if outcome.ok:
                state.failures = 0
                state.next_due = outcome.polled_at.timestamp() + self.interval_s
            elif outcome.error_kind in AUTH_KINDS:  # never a retry loop into a lockout
                state.failures += 1
                state.auth_kind = outcome.error_kind
                state.auth_until = outcome.polled_at.timestamp() + self.auth_backoff_s
                state.next_due = state.auth_until
            else:
                state.failures += 1
                backoff = min(self.interval_s * 2 ** (state.failures - 1), self.max_backoff_s)
                state.next_due = outcome.polled_at.timestamp() + backoff

    # -- fast lane ---------------------------------------------------------------------------
    def refresh(self, camera_id: str) -> Future[Outcome]:
        """An operator asked for this camera now: the fast lane, never behind the sweep."""
        if camera_id not in self.targets:
            raise KeyError(camera_id)
        return self._fast_pool.submit(self.poll, camera_id, "fast")

    # -- sweeps ------------------------------------------------------------------------------
    def _due(self, now: float) -> tuple[list[str], int]:
        """Cameras due now, those that failed last time first: a camera that hangs then waits
        out its timeout while the healthy ones are captured, not after them."""
        due, backing_off = [], 0
        with self._lock:
            for cid, state in self._states.items():
                if state.in_flight:
                    continue
                if state.next_due <= now:
                    due.append(cid)
                elif state.failures:
                    backing_off += 1
            due.sort(key=lambda cid: -self._states[cid].failures)
        return due, backing_off

    def _run_one(self, camera_id: str, stats: SweepStats | None = None) -> None:
        """Poll and count the outcome in ``stats`` or, for the background loop, in the round
        that is running when the poll finishes (a poll may outlast the round it started in)."""
        try:
            outcome = self.poll(camera_id)
        except KeyError:  # removed from the registry while queued
            return
        finally:
            with self._lock:
                if camera_id in self._states:
                    self._states[camera_id].in_flight = False
        with self._lock:
            (stats if stats is not None else self._round).count(outcome)

    def submit(self, camera_ids: list[str]) -> dict[str, Future[None]]:
        """Poll these cameras now on the sweep pool (a zone poller's claimed cameras); those
        already in flight or unknown are skipped."""
        futures = {}
        for camera_id in camera_ids:
            with self._lock:
                state = self._states.get(camera_id)
                if state is None or state.in_flight:
                    continue
                state.in_flight = True
            futures[camera_id] = self._sweep_pool.submit(self._run_one, camera_id)
        return futures

    def due_now(self) -> list[str]:
        """The cameras due now by this poller's own cadence (not in flight), failing ones first."""
        return self._due(self.clock())[0]

    def next_due(self, camera_id: str) -> float:
        """When this camera is due again (its cadence, or its backoff after failures)."""
        with self._lock:
            state = self._states.get(camera_id)
            return state.next_due if state is not None else self.clock() + self.interval_s

    def busy(self) -> int:
        """Captures in flight now."""
        with self._lock:
            return sum(1 for s in self._states.values() if s.in_flight)

    def sweep(self, wait: bool = True) -> SweepStats:
        """Submit every due camera (bounded by the pool); ``wait``: return when all finished."""
        stats = SweepStats(started=self.clock())
        due, stats.skipped_backoff = self._due(stats.started)
        futures = []
        for camera_id in due:
            with self._lock:
                self._states[camera_id].in_flight = True
            futures.append(self._sweep_pool.submit(self._run_one, camera_id, stats))
        if wait:
            for future in futures:
                future.result()
        stats.finished = self.clock()
        self.last_sweep = stats
        if self.on_sweep:
            self.on_sweep(stats)
        return stats

    def start(self, tick_s: float = 0.25) -> Poller:
        """Poll in the background until :meth:`stop`.

        Every tick submits the cameras that are due and not already in flight, so each camera
        keeps its own cadence: a hanging one holds only its own worker, never the next round.
        """

        def loop() -> None:
            with self._lock:
                round_stats = self._round = SweepStats(started=self.clock())
            while not self._stop.is_set():
                try:
                    due, backing_off = self._due(self.clock())
                    for camera_id in due:
                        with self._lock:
                            self._states[camera_id].in_flight = True
                        self._sweep_pool.submit(self._run_one, camera_id)
                    if self.clock() - round_stats.started >= self.interval_s:
                        round_stats.finished = self.clock()
                        round_stats.skipped_backoff = backing_off
                        self.last_sweep = round_stats
                        if self.on_sweep:
                            self.on_sweep(round_stats)
                        log.info(
                            "last %.0f s: %d polled: %d ok, %d frozen, %d dark, %d tampered, "
                            "%d failed %s; %d backing off",
                            round_stats.seconds,
                            round_stats.polled,
                            round_stats.ok,
                            round_stats.frozen,
                            round_stats.dark,
                            round_stats.tampered,
                            round_stats.failed,
                            round_stats.errors,
                            round_stats.skipped_backoff,
                        )
                        with self._lock:
                            round_stats = self._round = SweepStats(started=self.clock())
                except RuntimeError:  # pool shut down while stopping
                    return
                except Exception:
                    log.exception("poller tick failed")
                self._stop.wait(tick_s)

        self._thread = threading.Thread(target=loop, name="poller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._sweep_pool.shutdown(wait=False, cancel_futures=True)
        self._fast_pool.shutdown(wait=False, cancel_futures=True)
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)
