"""The poller on real simulated streams, plus scheduling rules with an injected capture."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from lawangjabo.cameras.capture import CaptureError, Grab
from lawangjabo.cameras.cv import cv2
from lawangjabo.cameras.poller import Outcome, Poller, Target
from lawangjabo.cameras.simulator import CameraSimulator, SimCamera, render_scene
from lawangjabo.cameras.snapshots import SnapshotStore


class ListSink:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)


def test_hanging_camera_never_delays_twenty_others(tmp_path: Path) -> None:
    cams = [SimCamera(f"cam-{i:02d}", f"Cam {i}", "jpeg" if i % 2 else "mjpeg") for i in range(20)]
    cams += [
        SimCamera("cam-hang", "Hang", fault="hang"),
        SimCamera("cam-dead", "Dead", fault="dead"),
    ]
    sim = CameraSimulator(cams).start()
    try:
        sink = ListSink()
        targets = [Target(c.id, *sim.stream_for(c.id)) for c in cams]
        poller = Poller(targets, SnapshotStore(tmp_path), sink, timeout_s=3.0, workers=8)
        finished_at: dict[str, float] = {}
        real_add = sink.add

        def timed(outcome: Outcome) -> None:
            finished_at[outcome.camera_id] = time.monotonic()
            real_add(outcome)

        sink.add = timed  # type: ignore[method-assign]
        started = time.monotonic()
        stats = poller.sweep()
        poller.stop()
    finally:
        sim.stop()
    assert stats.polled == 22 and stats.ok == 20
    assert stats.errors == {"timeout": 1, "refused": 1}
    good = [finished_at[c.id] - started for c in cams[:20]]
    # all 20 are done before the hanging camera gives up: it never held them back
    assert max(good) < finished_at["cam-hang"] - started, (good, finished_at["cam-hang"])
    hang = next(o for o in sink.outcomes if o.camera_id == "cam-hang")
    assert hang.latency_ms / 1000 >= 2.9  # it waited out its 3 s timeout
    assert hang.latency_ms / 1000 < 5 * 3.0  # a gross guard only: a busy machine is slow


def _frame(value: int) -> np.ndarray:
    rng = np.random.default_rng(value)
    return rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)


class ScriptedCapture:
    """A capture source that plays a script per camera (frames, errors, or a slow hang)."""

    def __init__(self, scripts: dict[str, list[object]]) -> None:
        self.scripts = scripts
        self.calls: dict[str, int] = {}

    def __call__(self, url: str, protocol: str, timeout_s: float) -> Grab:
        step = self.scripts[url]
        n = self.calls.get(url, 0)
        self.calls[url] = n + 1
        item = step[min(n, len(step) - 1)]
        if isinstance(item, str) and item == "hang":
            time.sleep(timeout_s)
            raise CaptureError("timeout", "scripted hang")
        if isinstance(item, str):
            raise CaptureError(item, "scripted")
        assert isinstance(item, np.ndarray)
        return Grab(item, 0.001)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_failing_camera_backs_off_exponentially(tmp_path: Path) -> None:
    clock = FakeClock()
    capture = ScriptedCapture({"u": ["refused"]})
    poller = Poller(
        [Target("cam", "u", "jpeg")],
        SnapshotStore(tmp_path),
        ListSink(),
        capture=capture,
        interval_s=10,
        max_backoff_s=60,
        clock=clock,
    )
    polled_at = []
    for _ in range(400):  # 400 simulated seconds
        if poller.sweep().polled:
            polled_at.append(clock.now - 1_800_000_000.0)
        clock.now += 1
    gaps = np.diff(polled_at).tolist()
    assert gaps[:5] == [10, 20, 40, 60, 60]
    poller.stop()


def test_frozen_after_n_unchanged_polls_and_recovery(tmp_path: Path) -> None:
    same, other = _frame(1), _frame(2)
    capture = ScriptedCapture({"u": [same, same, same, same, other]})
    sink = ListSink()
    poller = Poller(
        [Target("cam", "u", "jpeg")],
        SnapshotStore(tmp_path),
        sink,
        capture=capture,
        frozen_after_polls=3,
    )
    for _ in range(5):
        poller.poll("cam")
    assert [o.frozen for o in sink.outcomes] == [False, False, True, True, False]
    poller.stop()


def test_fast_lane_never_queues_behind_the_sweep(tmp_path: Path) -> None:
    scripts: dict[str, list[object]] = {f"hang-{i}": ["hang"] for i in range(8)}
    scripts["quick"] = [_frame(3)]
    capture = ScriptedCapture(scripts)
    targets = [Target(f"cam-{u}", u, "jpeg") for u in scripts]
    poller = Poller(
        targets,
        SnapshotStore(tmp_path),
        ListSink(),
        capture=capture,
        timeout_s=2.0,
        workers=2,
        fast_workers=1,
    )
    poller.sweep(wait=False)  # both sweep workers now hang; 7 captures queue behind them
    started = time.monotonic()
    outcome = poller.refresh("cam-quick").result(timeout=5)
    assert outcome.ok and outcome.lane == "fast"
    assert time.monotonic() - started < 0.5
    poller.stop()


def test_capture_crash_is_recorded_not_raised(tmp_path: Path) -> None:
    def broken(url: str, protocol: str, timeout_s: float) -> Grab:
        raise ZeroDivisionError

    sink = ListSink()
    poller = Poller([Target("cam", "u", "jpeg")], SnapshotStore(tmp_path), sink, capture=broken)
    outcome = poller.poll("cam")
    assert not outcome.ok and outcome.error_kind == "crash_ZeroDivisionError"
    poller.stop()


def test_good_frame_is_stored_with_thumbnail(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    noon = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)  # 12.00 WIB
    scene = render_scene(SimCamera("cam", "Cam"), noon, 1.0)
    big = cv2.resize(scene, (1280, 720))  # a real picture: a flat grey one is a covered lens
    poller = Poller(
        [Target("cam", "u", "jpeg")],
        store,
        ListSink(),
        capture=ScriptedCapture({"u": [big]}),
        thumb_width=320,
    )
    poller.poll("cam")
    meta = store.meta("cam")
    assert meta is not None and (meta.width, meta.height) == (1280, 720)
    assert meta.taken_at <= datetime.now(UTC)
    from lawangjabo.cameras.imaging import decode_jpeg

    thumb = store.latest_path("cam", thumb=True)
    assert thumb is not None
    small = decode_jpeg(thumb.read_bytes())
    assert small is not None and small.shape == (180, 320, 3)
    poller.stop()


@pytest.mark.parametrize("camera_id", ["nope"])
def test_refresh_of_unknown_camera_is_refused(tmp_path: Path, camera_id: str) -> None:
    poller = Poller([], SnapshotStore(tmp_path), ListSink())
    with pytest.raises(KeyError):
        poller.refresh(camera_id)
    poller.stop()


def test_background_rounds_count_the_polls_they_saw(tmp_path: Path) -> None:
    """The round report (log line and heartbeat) counts each poll in the round in which it
    finished. Cameras fall due on the same tick as the round rolls over, so counting them in
    the round they were submitted to reported '0 polled' while the poller was busy."""
    frame = np.zeros((90, 160, 3), dtype=np.uint8) + 100

    def slow(url: str, protocol: str, timeout_s: float) -> Grab:
        time.sleep(0.05)
        return Grab(frame, 1.0)

    reports: list[int] = []  # what each round said when it ended, as the log line says it
    targets = [Target(f"cam{i}", "u", "jpeg") for i in range(4)]
    poller = Poller(targets, SnapshotStore(tmp_path), ListSink(), capture=slow, interval_s=0.5)
    poller.on_sweep = lambda stats: reports.append(stats.polled)
    poller.start(tick_s=0.05)
    time.sleep(2.8)
    poller.stop()
    later = reports[1:]  # the first round may end before anything finished
    assert len(later) >= 3 and sum(later) >= 3 * len(targets), later
    assert all(n > 0 for n in later), later


def test_frozen_or_dark_frames_never_pass_for_a_fresh_picture(tmp_path: Path) -> None:
    """The store keeps the last *good* picture with the time it was first seen: a feed that
    repeats it, or goes dark, never makes it younger; the round counts each verdict."""
    clock = FakeClock()
    same, other = _frame(1), _frame(2)
    dark = np.zeros((90, 160, 3), dtype=np.uint8) + 5
    capture = ScriptedCapture(
        {"f": [same, same, same, same, same, other], "d": [other, dark, dark, dark]}
    )
    store = SnapshotStore(tmp_path)
    sink = ListSink()
    poller = Poller(
        [Target("frozen", "f", "jpeg"), Target("dark", "d", "jpeg")],
        store,
        sink,
        capture=capture,
        interval_s=10,
        frozen_after_polls=3,
        clock=clock,
    )
    t0 = datetime.fromtimestamp(clock.now, UTC)
    rounds = []
    for _ in range(5):
        rounds.append(poller.sweep())
        clock.now += 10
    for camera_id in ("frozen", "dark"):
        meta = store.meta(camera_id)
        assert meta is not None and meta.taken_at == t0, camera_id  # never younger
    frozen = [o for o in sink.outcomes if o.camera_id == "frozen"]
    assert [o.verdict for o in frozen] == ["ok", "ok", "frozen", "frozen", "frozen"]
    assert {o.picture_at for o in frozen} == {t0}
    dark_run = [o.verdict for o in sink.outcomes if o.camera_id == "dark"]
    assert dark_run == ["ok", "dark", "dark", "dark", "dark"]
    last = rounds[-1]
    assert (last.polled, last.ok, last.frozen, last.dark, last.failed) == (2, 0, 1, 1, 0)
    assert last.summary()["frozen"] == 1
    # The feed moves again: a new good picture, stamped now.
    poller.sweep()
    meta = store.meta("frozen")
    assert meta is not None and meta.taken_at == datetime.fromtimestamp(clock.now, UTC)
    poller.stop()


def test_restarted_poller_keeps_a_frozen_picture_old(tmp_path: Path) -> None:
    """After a restart the first frame is compared with the stored picture: the same picture
    keeps the time it was first seen and freezes on schedule, it is not 'new' again."""
    clock = FakeClock()
    same = _frame(7)
    store = SnapshotStore(tmp_path)
    first = Poller(
        [Target("cam", "u", "jpeg")],
        store,
        ListSink(),
        capture=ScriptedCapture({"u": [same]}),
        clock=clock,
    )
    first.poll("cam")
    first.stop()
    t0 = datetime.fromtimestamp(clock.now, UTC)
    clock.now += 3600
    sink = ListSink()
    second = Poller(
        [Target("cam", "u", "jpeg")],
        store,
        sink,
        capture=ScriptedCapture({"u": [same]}),
        frozen_after_polls=3,
        clock=clock,
    )
    for _ in range(2):
        second.poll("cam")
        clock.now += 30
    meta = store.meta("cam")
    assert meta is not None and meta.taken_at == t0
    assert [o.verdict for o in sink.outcomes] == ["ok", "frozen"]
    assert all(o.picture_at == t0 for o in sink.outcomes)
    second.stop()


def test_registry_changes_reach_a_running_poller(tmp_path: Path) -> None:
    """Cameras added to and removed from the registry file while the poller runs are polled
    (from the simulator) and dropped within seconds, without a restart."""
    import json
    import shutil

    from lawangjabo.cameras.registry import load_registry
    from lawangjabo.cameras.runtime import PollerRuntime
    from lawangjabo.config import PROJECT_ROOT, PathsConfig, load_settings
    from lawangjabo.geo.districts import approximate_districts

    registry = tmp_path / "cameras.geojson"
    shutil.copy(PROJECT_ROOT / "cameras.geojson", registry)
    settings = load_settings(paths=PathsConfig(registry=registry, state_dir=tmp_path / "s"))
    settings = settings.model_copy(
        update={"cameras": settings.cameras.model_copy(update={"interval_s": 1.0})}
    )
    districts = approximate_districts(settings.city)
    state = {"mtime": registry.stat().st_mtime_ns, "cameras": []}

    def cameras() -> list:  # type: ignore[type-arg]
        if state["mtime"] != registry.stat().st_mtime_ns or not state["cameras"]:
            state["mtime"] = registry.stat().st_mtime_ns
            state["cameras"] = load_registry(registry, settings, districts).cameras
        return state["cameras"]  # type: ignore[return-value]

    runtime = PollerRuntime(settings, cameras(), cameras_source=cameras).start()
    try:
        assert runtime.poller is not None
        data = json.loads(registry.read_text(encoding="utf-8"))
        removed = data["features"].pop(0)["properties"]["id"]
        new = json.loads(json.dumps(data["features"][0]))
        new["properties"]["id"] = "plg-added-while-running"
        new["properties"]["name"] = "Added while running"
        data["features"].append(new)
        time.sleep(0.05)
        registry.write_text(json.dumps(data), encoding="utf-8")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if runtime.store.meta("plg-added-while-running") is not None:
                break
            time.sleep(0.2)
        assert runtime.store.meta("plg-added-while-running") is not None  # polled, stored
        assert removed not in runtime.poller.targets
        assert len(runtime.poller.targets) == 12
    finally:
        runtime.stop()


def test_a_tampered_picture_is_named_and_never_passes_for_a_good_one(tmp_path: Path) -> None:
    """A camera learns what its good pictures look like; then a cover (the same flat picture
    poll after poll: named, not 'frozen'), a move and a blur are each a verdict of their own,
    the store keeps the last good picture, and the round counts them."""
    from lawangjabo.cameras.tamperset import render_tampered

    clock = FakeClock()
    camera = SimCamera("cam", "Simpang Charitas")
    noon = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)  # 12.00 WIB
    normal = [render_scene(camera, noon.replace(minute=m), m * 5.0) for m in range(8)]
    rng = np.random.default_rng(3)
    tampered = {
        kind: render_tampered(camera, noon.replace(minute=30), 99.0, kind, rng)
        for kind in ("covered", "moved", "blurred")
    }
    script: list[object] = [*normal, *[tampered["covered"]] * 4, tampered["moved"],
                            tampered["blurred"], normal[0]]  # fmt: skip
    store = SnapshotStore(tmp_path)
    sink = ListSink()
    poller = Poller([Target("cam", "u", "jpeg")], store, sink,
                    capture=ScriptedCapture({"u": script}), interval_s=10, frozen_after_polls=3,
                    tamper_learn_every_s=0, clock=clock)  # fmt: skip
    for _ in range(len(normal)):
        poller.sweep()
        clock.now += 10
    last_good = store.meta("cam")
    assert last_good is not None
    rounds = []
    for _ in range(7):
        rounds.append(poller.sweep())
        clock.now += 10
    poller.stop()
    said = [(o.verdict, o.tamper) for o in sink.outcomes]
    assert said[: len(normal)] == [("ok", None)] * len(normal)
    assert said[len(normal) :] == [
        *[("tampered", "covered")] * 4,  # a cover repeats itself: still 'covered', not frozen
        ("tampered", "moved"),
        ("tampered", "blurred"),
        ("ok", None),
    ]
    assert sum(r.tampered for r in rounds) == 6 and rounds[0].summary()["tampered"] == 1
    meta = store.meta("cam")
    assert meta is not None and meta.taken_at > last_good.taken_at  # only the good one after


def test_tamper_checks_can_be_switched_off(tmp_path: Path) -> None:
    flat = np.zeros((180, 320, 3), dtype=np.uint8) + 120
    sink = ListSink()
    poller = Poller([Target("cam", "u", "jpeg")], SnapshotStore(tmp_path), sink,
                    capture=ScriptedCapture({"u": [flat]}), tamper_checks=False)  # fmt: skip
    assert poller.poll("cam").verdict == "ok"
    on = Poller([Target("cam", "u", "jpeg")], SnapshotStore(tmp_path / "on"), ListSink(),
                capture=ScriptedCapture({"u": [flat]}))  # fmt: skip
    assert on.poll("cam").tamper == "covered"  # needs no reference
    poller.stop()
    on.stop()


def test_the_simulators_covered_camera_turns_tampered_over_http(tmp_path: Path) -> None:
    """Real JPEG over HTTP, decoded by OpenCV: the simulator's camera is normal long enough
    for its reference to be learnt, then covered; the poller says so and keeps the last good
    picture (the state, uptime and alerts follow from the ledger: test_ledger, test_alerts)."""
    cameras = [SimCamera("cam-cover", "Cover", "jpeg", fault="covered"),
               SimCamera("cam-fine", "Fine", "jpeg")]  # fmt: skip
    sim = CameraSimulator(cameras, tamper_after_s=3.0).start()
    try:
        sink = ListSink()
        targets = [Target(c, *sim.stream_for(c)) for c in ("cam-cover", "cam-fine")]
        poller = Poller(targets, SnapshotStore(tmp_path), sink, interval_s=0.4,
                        tamper_learn_every_s=0)  # fmt: skip
        poller.start(tick_s=0.1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            covered = [o for o in sink.outcomes if o.camera_id == "cam-cover" and o.tamper]
            if covered:
                break
            time.sleep(0.2)
        poller.stop()
    finally:
        sim.stop()
    first = [o.verdict for o in sink.outcomes if o.camera_id == "cam-cover"]
    assert first[0] == "ok" and covered and covered[0].tamper == "covered", first
    assert all(o.verdict == "ok" for o in sink.outcomes if o.camera_id == "cam-fine")
