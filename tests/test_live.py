"""Live relays against the camera simulator's real streams: H.264 over HLS (from ffmpeg) remuxed
to fragmented MP4 and decoded back with PyAV, MJPEG pictures, one upstream for many viewers, a
link cut mid-view and restored, the caps."""

from __future__ import annotations

import io
import shutil
import threading
import time
from collections.abc import Callable, Iterator

import av
import pytest

from lawangjabo.cameras.imaging import decode_jpeg
from lawangjabo.cameras.live import (
    HEADER,
    LiveHub,
    LiveRefusedError,
    Piece,
    codec_from_init,
    split_boxes,
)
from lawangjabo.cameras.simulator import HEIGHT, WIDTH, CameraSimulator, SimCamera

from .browser import gross

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (HLS)")

HLS, HLS2, MJPEG = "live-hls", "live-hls-2", "live-mjpeg"


class Collector:
    """A viewer: keeps what it is sent; waits for what a test expects."""

    def __init__(self) -> None:
        self.pieces: list[Piece] = []
        self._cond = threading.Condition()

    def __call__(self, piece: Piece) -> None:
        with self._cond:
            self.pieces.append(piece)
            self._cond.notify_all()

    def wait(self, test: Callable[[list[Piece]], bool], timeout_s: float = 20.0) -> list[Piece]:
        with self._cond:
            ok = self._cond.wait_for(lambda: test(self.pieces), timeout=timeout_s)
            last = [(p.kind, p.state, p.reason) for p in self.pieces][-8:]
            assert ok, f"not seen in {timeout_s} s: {last}"
            return list(self.pieces)

    def kinds(self) -> list[str]:
        with self._cond:
            return [p.kind for p in self.pieces]


def media(n: int) -> Callable[[list[Piece]], bool]:
    return lambda pieces: sum(p.kind == "media" for p in pieces) >= n


@pytest.fixture(scope="module")
def simulator() -> Iterator[CameraSimulator]:
    sim = CameraSimulator(
        [
            SimCamera(HLS, "Live HLS", "hls"),
            SimCamera(HLS2, "Second HLS", "hls"),
            SimCamera(MJPEG, "Live MJPEG", "mjpeg"),
        ]
    ).start()
    assert sim.wait_hls_ready(30)
    yield sim
    sim.stop()


def hub_for(sim: CameraSimulator, **options: float) -> LiveHub:
    settings = {"linger_s": 0.5, "read_timeout_s": 3.0, "open_timeout_s": 3.0, **options}
    return LiveHub(
        lambda cid: sim.stream_for(cid) if cid in sim.cameras else None,
        **settings,  # type: ignore[arg-type]
    )


def test_ten_viewers_share_one_upstream(simulator: CameraSimulator) -> None:
    hub = hub_for(simulator)
    try:
        viewers = [Collector() for _ in range(10)]
        keys = [hub.join(HLS, v)[0] for v in viewers]
        for viewer in viewers:
            viewer.wait(media(3))
        before = simulator.playlist_requests[HLS]
        time.sleep(4)
        reloads = simulator.playlist_requests[HLS] - before
        status = hub.status()
        assert status["upstreams"] == 1 and status["viewers"] == 10, status
        assert hub._channels[HLS].upstreams_opened == 1
        # one reader reloads the 1 s playlist about once a second; ten readers would be ~40
        assert 1 <= reloads <= 10, reloads
        assert hub.keyframe_interval(HLS) == pytest.approx(1.0, abs=0.25)  # -g 5 at 5 fps
        for key in keys:
            hub.leave(HLS, key)
    finally:
        hub.stop()


def test_a_late_viewer_gets_a_stream_a_decoder_plays(simulator: CameraSimulator) -> None:
    """What a browser is sent decodes: the init segment, then fragments from a keyframe."""
    hub = hub_for(simulator)
    try:
        first = Collector()
        hub.join(HLS, first)
        first.wait(media(8))
        late = Collector()
        hub.join(HLS, late)
        pieces = late.wait(media(6))
        kinds = [p.kind for p in pieces if p.kind != "state"]
        assert kinds[0] == "init" and kinds[1] == "media"
        init = next(p for p in pieces if p.kind == "init")
        assert init.codec == codec_from_init(init.data) and init.codec.startswith("avc1.")
        assert next(p for p in pieces if p.kind == "media").keyframe
        boxes, rest = split_boxes(init.data)
        assert [b[0] for b in boxes] == ["ftyp", "moov"] and rest == b""
        stream = init.data + b"".join(p.data for p in pieces if p.kind == "media")
        with av.open(io.BytesIO(stream), mode="r", format="mp4") as played:
            frames = list(played.decode(video=0))
        assert len(frames) >= 6 and (frames[0].width, frames[0].height) == (WIDTH, HEIGHT)
        # the binary message: kind, the server's arrival time, the bytes
        message = pieces[-1].message()
        assert message[HEADER.size :] == pieces[-1].data and message[0] == 1
    finally:
        hub.stop()


def test_a_viewer_without_mse_gets_pictures_decoded_from_the_same_upstream(
    simulator: CameraSimulator,
) -> None:
    hub = hub_for(simulator, jpeg_fps=4.0)
    try:
        video, pictures = Collector(), Collector()
        hub.join(HLS2, video)
        _, mode = hub.join(HLS2, pictures, "jpeg")
        assert mode == "jpeg"
        got = pictures.wait(lambda ps: sum(p.kind == "jpeg" for p in ps) >= 3)
        assert "media" not in [p.kind for p in got]
        frame = decode_jpeg(next(p for p in got if p.kind == "jpeg").data)
        assert frame is not None and frame.shape[:2] == (HEIGHT, WIDTH)
        video.wait(media(3))
        assert hub.status()["upstreams"] == 1
    finally:
        hub.stop()


def test_a_picture_camera_goes_out_as_jpeg(simulator: CameraSimulator) -> None:
    hub = hub_for(simulator)
    try:
        viewer = Collector()
        _, mode = hub.join(MJPEG, viewer, "mse")
        assert mode == "jpeg"
        got = viewer.wait(lambda ps: sum(p.kind == "jpeg" for p in ps) >= 2)
        assert decode_jpeg(next(p for p in got if p.kind == "jpeg").data) is not None
    finally:
        hub.stop()


@pytest.mark.parametrize("camera", [HLS, MJPEG])
def test_a_cut_link_is_said_and_the_view_recovers(simulator: CameraSimulator, camera: str) -> None:
    hub = hub_for(simulator, read_timeout_s=2.0)
    wanted = "media" if camera == HLS else "jpeg"
    try:
        viewer = Collector()
        hub.join(camera, viewer)
        viewer.wait(lambda ps: any(p.kind == wanted for p in ps))
        simulator.set_cut(camera)
        cut_at = time.monotonic()
        lost = viewer.wait(lambda ps: any(p.state == "lost" for p in ps), gross(6.0))
        said = next(p for p in lost if p.state == "lost")
        assert said.reason in ("timeout", "open_failed", "no_frame", "network", "refused"), said
        assert time.monotonic() - cut_at < gross(6.0)
        assert hub.status()["channels"][0]["state"] == "lost"
        seen = len(lost)
        simulator.set_cut(camera, False)
        back = viewer.wait(
            lambda ps: (
                any(p.state == "live" for p in ps[seen:])
                and any(p.kind == wanted for p in ps[seen:])
            ),
            gross(12.0),
        )
        assert back[-1].kind in (wanted, "state")
    finally:
        simulator.set_cut(camera, False)
        hub.stop()


def test_caps_refuse_with_the_reason(simulator: CameraSimulator) -> None:
    hub = hub_for(simulator, max_viewers_per_camera=2, max_viewers=3)
    try:
        hub.join(MJPEG, Collector())
        hub.join(MJPEG, Collector())
        with pytest.raises(LiveRefusedError) as full:
            hub.join(MJPEG, Collector())
        assert full.value.kind == "camera_busy"
        hub.join(HLS, Collector())
        with pytest.raises(LiveRefusedError) as busy:
            hub.join(HLS2, Collector())
        assert busy.value.kind == "busy"
        with pytest.raises(LiveRefusedError) as none:
            hub_for(simulator).join("no-such-camera", Collector())
        assert none.value.kind == "no_stream"
    finally:
        hub.stop()


def test_the_upstream_closes_after_its_last_viewer(simulator: CameraSimulator) -> None:
    hub = hub_for(simulator, linger_s=0.3)
    try:
        viewer = Collector()
        key, _ = hub.join(MJPEG, viewer)
        viewer.wait(lambda ps: any(p.kind == "jpeg" for p in ps))
        hub.leave(MJPEG, key)
        deadline = time.monotonic() + gross(3.0)
        while hub.status()["upstreams"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hub.status()["upstreams"] == 0
        again = Collector()
        hub.join(MJPEG, again)  # a new viewer opens a new upstream
        again.wait(lambda ps: any(p.kind == "jpeg" for p in ps))
        assert hub.status()["upstreams"] == 1
    finally:
        hub.stop()


def test_a_failing_upstream_stops_retrying_once_nobody_watches(
    simulator: CameraSimulator,
) -> None:
    hub = hub_for(simulator, linger_s=0.3, read_timeout_s=1.0)
    simulator.set_cut(HLS2)
    try:
        viewer = Collector()
        key, _ = hub.join(HLS2, viewer)
        viewer.wait(lambda ps: any(p.state == "lost" for p in ps), gross(6.0))
        hub.leave(HLS2, key)
        deadline = time.monotonic() + gross(3.0)
        while hub.status()["upstreams"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hub.status()["upstreams"] == 0  # no relay left knocking on a dead camera
    finally:
        simulator.set_cut(HLS2, False)
        hub.stop()
