"""Running the poller: embedded in the app process or as its own worker process.

``PollerRuntime`` wires the capture targets (the registry's streams, or the simulator's in demo
mode), the snapshot store, the outcome spool, the heartbeat and the fast-lane request folder.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from lawangjabo.cameras.capture import CaptureSource, configure_portals, grab
from lawangjabo.cameras.ledger import SpoolWriter, write_heartbeat
from lawangjabo.cameras.poller import Outcome, Poller, SweepStats, Target
from lawangjabo.cameras.registry import Camera
from lawangjabo.cameras.simulator import CameraSimulator, SimCamera
from lawangjabo.cameras.snapshots import SnapshotStore
from lawangjabo.config import Settings
from lawangjabo.fileio import free_mb

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 2.0


def snapshot_store(settings: Settings) -> SnapshotStore:
    cams = settings.cameras
    return SnapshotStore(
        settings.paths.snapshots, cams.history_per_camera, cams.history_total_mb * 1024 * 1024
    )


def simulated_cameras(settings: Settings, cameras: list[Camera]) -> list[SimCamera]:
    sim = settings.simulator
    return [
        SimCamera(c.id, c.props.name, sim.protocols.get(c.id, "mjpeg"), sim.faults.get(c.id))
        for c in cameras
    ]


def poll_targets(cameras: list[Camera], simulator: CameraSimulator | None) -> list[Target]:
    """Where to capture each camera: the simulator's address, or the registry's stream."""
    targets = []
    for camera in cameras:
        if simulator is not None:
            url, protocol = simulator.stream_for(camera.id)
            targets.append(Target(camera.id, url, protocol,
                                  *(simulator.sharp_for(camera.id) or (None, None))))  # fmt: skip
        elif camera.props.stream is not None:
            stream = camera.props.stream
            sweep, sharp = stream.source(), stream.source(sharp=True)
            targets.append(Target(camera.id, *sweep, *(sharp if sharp != sweep else (None, None))))
    return targets


def request_refresh(folder: Path, camera_id: str) -> None:
    """Ask an external poller for a fast-lane capture (it watches ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / camera_id).touch()


class PollerRuntime:
    def __init__(
        self,
        settings: Settings,
        cameras: list[Camera],
        capture: CaptureSource = grab,
        mode: str = "embedded",
        cameras_source: Callable[[], list[Camera]] | None = None,
    ) -> None:
        self.settings = settings
        self.cameras = cameras
        # Where the current registry comes from (checked every 2 s; None: fixed at start).
        self.cameras_source = cameras_source
        self.capture = capture
        self.mode = mode
        self.simulator: CameraSimulator | None = None
        self.poller: Poller | None = None
        self.spool = SpoolWriter(settings.paths.spool)
        self.store = snapshot_store(settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.faults: dict[str, str] = {}
        self._ignored: set[str] = set()

    def start(self) -> PollerRuntime:
        cfg = self.settings.cameras
        configure_portals(self.settings.portals)
        if cfg.simulate:
            self.simulator = CameraSimulator(
                simulated_cameras(self.settings, self.cameras),
                host=self.settings.simulator.host,
                timezone=self.settings.city.timezone,
                tamper_after_s=self.settings.simulator.tamper_after_s,
            ).start()
            self.simulator.wait_hls_ready()
        targets = poll_targets(self.cameras, self.simulator)
        self.poller = Poller(
            targets,
            self.store,
            self.spool,
            capture=self.capture,
            interval_s=cfg.interval_s,
            timeout_s=cfg.timeout_s,
            workers=cfg.workers,
            fast_workers=cfg.fast_workers,
            frozen_after_polls=cfg.frozen_after_polls,
            max_backoff_s=cfg.max_backoff_s,
            auth_backoff_s=cfg.auth_backoff_s,
            thumb_width=cfg.thumb_width,
            history_every_s=cfg.history_every_s,
            tamper_checks=cfg.tamper_checks,
        )
        self.spool.start()
        self.poller.start()
        self._beat()
        self._thread = threading.Thread(
            target=self._housekeeping, name="poller-housekeeping", daemon=True
        )
        self._thread.start()
        log.info(
            "poller (%s) started: %d cameras%s",
            self.mode,
            len(targets),
            " from the simulator" if self.simulator else "",
        )
        return self

    def _housekeeping(self) -> None:
        """Heartbeat, fast-lane requests from other processes, history budget. Each step
        survives I/O errors (a full disk, a read-only folder) and is tried again next tick."""
        ticks = 0
        while not self._stop.wait(0.2):
            ticks += 1
            self._step("refresh requests", self._take_refresh_requests)
            if ticks % int(HEARTBEAT_EVERY_S / 0.2) == 0:
                self._step("heartbeat", self._beat)
                if self.cameras_source is not None:
                    self._step("registry reload", self._follow_registry)
            if ticks % 300 == 0 or (ticks % 25 == 0 and self.disk_low()):
                self._step("history pruning", self._prune)

    def _step(self, name: str, work: Callable[[], object]) -> None:
        try:
            work()
        except Exception as exc:
            if name not in self.faults:
                log.error("poller %s failing (will retry): %s", name, exc)
            self.faults[name] = f"{name}: {exc}"
        else:
            if self.faults.pop(name, None) is not None:
                log.info("poller %s works again", name)

    def _take_refresh_requests(self) -> None:
        folder = self.settings.paths.refresh_requests
        if not folder.is_dir():
            return
        for request in folder.iterdir():
            if not request.is_file():  # not ours: never let it block the folder
                if request.name not in self._ignored:
                    log.warning("refresh folder: ignoring %s (not a request file)", request.name)
                    self._ignored.add(request.name)
                continue
            request.unlink(missing_ok=True)
            if self.poller and request.name in self.poller.targets:
                self.poller.refresh(request.name)

    def _follow_registry(self) -> None:
        """Cameras added, removed or changed in the registry reach the poller (no restart)."""
        assert self.cameras_source is not None
        cameras = self.cameras_source()
        if cameras is self.cameras or self.poller is None:
            return
        if self.simulator is not None:
            self.simulator.add(simulated_cameras(self.settings, cameras))
        self.cameras = cameras
        changes = self.poller.set_targets(poll_targets(cameras, self.simulator))
        if any(changes.values()):
            log.info("registry changed: poller now has %d cameras (%s)",
                     len(self.poller.targets), changes)  # fmt: skip

    def disk_low(self) -> bool:
        return free_mb(self.settings.paths.state) < self.settings.storage.min_free_mb

    def _prune(self) -> None:
        """Keep the history within budget; with the disk nearly full, halve the history."""
        if self.disk_low():
            removed = self.store.prune_total(fraction=0.5)
            if removed:
                log.warning("disk nearly full: removed %d history pictures", removed)
        else:
            self.store.prune_total()

    def problems(self) -> list[str]:
        """What is failing in this poller right now (empty when all is well)."""
        found = list(self.faults.values())
        if self.spool.fault:
            found.append(self.spool.fault)
        if self.poller is not None and self.poller.store_fault:
            found.append(self.poller.store_fault)
        return found

    def _beat(self) -> None:
        last: SweepStats | None = self.poller.last_sweep if self.poller else None
        write_heartbeat(
            self.settings.paths.heartbeat_file,
            mode=self.mode,
            simulated=self.simulator is not None,
            cameras=len(self.poller.targets) if self.poller else 0,
            interval_s=self.settings.cameras.interval_s,
            last_round=None if last is None else last.summary(),
            problems=self.problems(),
        )

    def refresh(self, camera_id: str) -> Future[Outcome] | None:
        if self.poller is None or camera_id not in self.poller.targets:
            return None
        return self.poller.refresh(camera_id)

    def stop(self) -> None:
        self._stop.set()
        if self.poller:
            self.poller.stop()
        self.spool.stop()
        if self.simulator:
            self.simulator.stop()
        if self._thread:
            self._thread.join(timeout=5)
