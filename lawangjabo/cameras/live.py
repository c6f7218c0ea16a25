"""Live video: one upstream connection per camera, relayed to every viewer.

A video camera (HLS, RTSP) is opened with PyAV and its H.264 is *remuxed*, not transcoded, into
fragmented MP4 (one fragment per frame) that a browser plays through Media Source Extensions.
Cameras that only give pictures (MJPEG, JPEG, vendor snapshot endpoints, ONVIF snapshots, city
portals) go out as a stream of JPEG pictures. A viewer whose browser cannot play the camera's
codec (H.265 on most browsers, no MSE on older iPhones) gets JPEG pictures decoded from the same
upstream. However many people watch, a camera has one upstream; it closes a few seconds after
its last viewer leaves.

Pure core: no web framework here. A viewer is a callback that takes :class:`Piece` objects; the
server's websocket bridges it into its event loop.
"""

from __future__ import annotations

import io
import logging
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from lawangjabo.cameras.capture import CaptureError, CaptureSource, grab, redact, resolve_url
from lawangjabo.cameras.imaging import encode_jpeg

log = logging.getLogger(__name__)

Mode = Literal["mse", "jpeg"]
VIDEO_PROTOCOLS = frozenset({"hls", "rtsp", "rtsp-tcp", "rtsp-udp"})
# Segment kinds in the binary messages (first byte): the MP4 init segment, a media fragment, a
# JPEG picture. Then the server's clock when the frame arrived (float64, Unix seconds).
INIT, MEDIA, JPEG = 0, 1, 2
HEADER = struct.Struct(">Bd")
# A slow viewer's backlog beyond this many pieces is dropped up to the next keyframe.
MAX_BACKLOG = 90
LONG_KEYFRAME_S = 2.0  # a first live frame may wait this long for a keyframe: named as such


class LiveRefusedError(Exception):
    """Why a viewer cannot join (shown to the person)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Piece:
    """What a viewer receives: a media or picture piece (``data``) or a state change."""

    kind: Literal["init", "media", "jpeg", "state"]
    data: bytes = b""
    at: float = 0.0  # server clock when the frame arrived
    keyframe: bool = False
    codec: str = ""  # init: the MSE codec string, e.g. avc1.42c01e
    state: str = ""  # state: connecting, live, lost
    reason: str = ""  # lost: why (a capture error kind, see capture.ERROR_LABELS)

    def message(self) -> bytes:
        """The binary websocket message of a media, init or JPEG piece."""
        kind = {"init": INIT, "media": MEDIA, "jpeg": JPEG}[self.kind]
        return HEADER.pack(kind, self.at) + self.data


def source_kind(protocol: str) -> Literal["video", "pictures"]:
    """A stream we can remux (video) or one that only gives pictures."""
    return "video" if protocol in VIDEO_PROTOCOLS else "pictures"


def codec_string(name: str, extradata: bytes | None, profile_idc: int = 66, level: int = 30) -> str:
    """The RFC 6381 codec string MSE asks for. H.264: ``avc1.PPCCLL`` from the avcC record
    (its bytes 1–3), else from the profile and level; H.265: a generic ``hvc1`` string."""
    if name == "h264":
        if extradata and len(extradata) >= 4 and extradata[0] == 1:
            return "avc1." + extradata[1:4].hex()
        if extradata and extradata.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01")):
            start = 4 if extradata[2] == 0 else 3
            sps = extradata[start:]
            if len(sps) >= 4 and sps[0] & 0x1F == 7:
                return "avc1." + sps[1:4].hex()
        return f"avc1.{profile_idc:02x}00{level:02x}"
    if name == "hevc":
        return "hvc1.1.6.L93.B0"
    return name


def codec_from_init(init: bytes) -> str | None:
    """The codec string from the init segment's own decoder record (``avcC``: profile,
    compatibility, level), which is what the browser will be given."""
    at = init.find(b"avcC")
    if at >= 0 and len(init) >= at + 8 and init[at + 4] == 1:
        return "avc1." + init[at + 5 : at + 8].hex()
    if init.find(b"hvcC") >= 0:
        return "hvc1.1.6.L93.B0"
    return None


def split_boxes(data: bytes) -> tuple[list[tuple[str, bytes]], bytes]:
    """Whole top-level MP4 boxes at the start of ``data``, and the bytes left over."""
    boxes, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        if size < 8 or at + size > len(data):
            break
        boxes.append((kind.decode("latin-1"), data[at : at + size]))
        at += size
    return boxes, data[at:]


Viewer = Callable[[Piece], None]


@dataclass
class _Watcher:
    deliver: Viewer
    mode: Mode
    started: bool = False  # has it had the init segment and a keyframe (or a JPEG)?


@dataclass
class ChannelStatus:
    camera_id: str
    kind: str
    state: str
    viewers: int
    since: float
    codec: str = ""
    keyframe_interval_s: float | None = None
    reason: str = ""
    frames: int = 0


@dataclass
class Channel:
    """One camera's upstream and its viewers. The upstream runs in its own thread."""

    camera_id: str
    url: str
    protocol: str
    hub: LiveHub
    kind: Literal["video", "pictures"] = "video"
    watchers: dict[int, _Watcher] = field(default_factory=dict)
    state: str = "connecting"
    reason: str = ""
    since: float = field(default_factory=time.time)
    codec: str = ""
    init: bytes = b""
    gop: list[Piece] = field(default_factory=list)  # fragments since the last keyframe
    last_jpeg: Piece | None = None
    keyframe_interval_s: float | None = None
    frames: int = 0
    upstreams_opened: int = 0
    empty_since: float | None = None
    stopped: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None

    # -- viewers -----------------------------------------------------------------------------
    def add(self, key: int, deliver: Viewer, mode: Mode) -> bool:
        """Add a viewer (False: this channel is closing; open a new one)."""
        with self.lock:
            if self.stopped.is_set():
                return False
            watcher = _Watcher(deliver, self.mode_for(mode))
            self.watchers[key] = watcher
            self.empty_since = None
            # a late joiner starts at once: the stream's init and the frames since its keyframe
            state = Piece("state", state=self.state, reason=self.reason, at=self.since)
            backlog: list[Piece] = [state]
            if watcher.mode == "mse" and self.init and self.gop:
                backlog += [Piece("init", self.init, codec=self.codec), *self.gop]
                watcher.started = True
            elif watcher.mode == "jpeg" and self.last_jpeg is not None:
                backlog.append(self.last_jpeg)
                watcher.started = True
        for piece in backlog:
            deliver(piece)
        return True

    def mode_for(self, asked: Mode) -> Mode:
        return "jpeg" if self.kind == "pictures" else asked

    def remove(self, key: int) -> None:
        with self.lock:
            self.watchers.pop(key, None)
            if not self.watchers:
                self.empty_since = time.monotonic()

    def wants_jpeg(self) -> bool:
        with self.lock:
            return any(w.mode == "jpeg" for w in self.watchers.values())

    def _send(self, piece: Piece) -> None:
        with self.lock:
            targets = list(self.watchers.values())
            if piece.kind == "init":
                self.init, self.codec, self.gop = piece.data, piece.codec, []
            elif piece.kind == "media":
                if piece.keyframe:
                    self.gop = []
                self.gop.append(piece)
                self.frames += 1
            elif piece.kind == "jpeg":
                self.last_jpeg = piece
                self.frames += 1
            elif piece.kind == "state":
                self.state, self.reason, self.since = piece.state, piece.reason, piece.at
        for watcher in targets:
            if piece.kind in ("init", "media") and watcher.mode != "mse":
                continue
            if piece.kind == "jpeg" and watcher.mode != "jpeg":
                continue
            if piece.kind == "media" and not watcher.started:
                if not piece.keyframe or not self.init:
                    continue  # a viewer's first fragment must be a keyframe
                watcher.deliver(Piece("init", self.init, codec=self.codec))
                watcher.started = True
            if piece.kind == "init":
                watcher.started = False  # a new init (reconnected): wait for its keyframe
                continue
            if piece.kind == "jpeg":
                watcher.started = True
            watcher.deliver(piece)

    def set_state(self, state: str, reason: str = "") -> None:
        if state != self.state or reason != self.reason:
            self._send(Piece("state", state=state, reason=reason, at=time.time()))

    def status(self) -> ChannelStatus:
        with self.lock:
            return ChannelStatus(self.camera_id, self.kind, self.state, len(self.watchers),
                                 self.since, self.codec, self.keyframe_interval_s, self.reason,
                                 self.frames)  # fmt: skip

    # -- the upstream ------------------------------------------------------------------------
    def run(self) -> None:
        """Keep the upstream open while anyone watches; after a failure, try again with a
        growing pause (1 s … 10 s), saying so to every viewer."""
        pause = 1.0
        while not self.stopped.is_set():
            self.upstreams_opened += 1
            try:
                if self.kind == "video":
                    self._relay_video()
                else:
                    self._relay_pictures()
                pause = 1.0
            except Exception as exc:  # a fault is a state: the loop goes on
                kind = exc.kind if isinstance(exc, CaptureError) else "error"
                log.info("live %s: upstream lost (%s)", self.camera_id, _reason(exc))
                self.set_state("lost", kind)
            if self.stopped.wait(pause) or self._idle():  # nobody left: stop retrying
                break
            pause = min(10.0, pause * 2)

    def _relay_video(self) -> None:
        import av  # PyAV: FFmpeg's libraries in the wheel; imported where video is relayed

        hub = self.hub
        # probe little: a small probe is enough for H.264 (SPS, PPS, a keyframe); a large one
        # waited here for the next HLS segment (2 s before the first frame, measured)
        options = {"probesize": "32768", "analyzeduration": "0", "fpsprobesize": "0"}
        if self.protocol == "hls":
            options["live_start_index"] = "-1"  # from the newest segment, not three behind
        if self.protocol.startswith("rtsp"):
            options["rtsp_transport"] = "udp" if self.protocol == "rtsp-udp" else "tcp"
        opened = time.monotonic()
        try:
            source = av.open(
                resolve_url(self.url),
                options=options,
                timeout=(hub.open_timeout_s, hub.read_timeout_s),
            )
        except av.error.FFmpegError as exc:
            detail = f"stream could not be opened ({_reason(exc)})"
            raise CaptureError("open_failed", detail) from exc
        with source:
            if not source.streams.video:
                raise CaptureError("no_frame", "the stream has no video")
            video = source.streams.video[0]
            context = video.codec_context
            if context.name not in ("h264", "hevc"):
                raise CaptureError("bad_protocol", f"{context.name} video cannot be relayed")
            buffer = io.BytesIO()
            output = av.open(
                buffer, mode="w", format="mp4",
                options={"movflags": "empty_moov+default_base_moof+frag_every_frame"},
            )  # fmt: skip
            target = output.add_stream_from_template(video)
            fallback = codec_string(context.name, context.extradata)
            pending: list[tuple[bool, float]] = []  # (keyframe, arrival) of muxed packets
            last_key_pts: float | None = None
            decoding = False
            last_jpeg = 0.0
            leftover = b""
            for packet in source.demux(video):
                if self.stopped.is_set() or self._idle():
                    return
                if packet.dts is None or packet.size == 0:
                    continue
                now = time.time()
                keyframe = bool(packet.is_keyframe)
                if keyframe and packet.pts is not None and packet.time_base is not None:
                    pts_s = float(packet.pts * packet.time_base)
                    if last_key_pts is not None and pts_s > last_key_pts:
                        self.keyframe_interval_s = round(pts_s - last_key_pts, 2)
                    last_key_pts = pts_s
                if self.wants_jpeg():  # a viewer without MSE: decode, from a keyframe on
                    decoding = decoding or keyframe
                    if decoding:
                        for frame in context.decode(packet):
                            if now - last_jpeg >= 1 / hub.jpeg_fps:
                                last_jpeg = now
                                picture = encode_jpeg(frame.to_ndarray(format="bgr24"), 75)
                                self._send(Piece("jpeg", picture, at=now))
                else:
                    decoding = False
                packet.stream = target
                output.mux(packet)
                pending.append((keyframe, now))
                boxes, leftover = split_boxes(leftover + buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
                for kind, data in _pair(boxes):
                    if kind == "init":
                        codec = codec_from_init(data) or fallback
                        self._send(Piece("init", data, codec=codec, at=now))
                        self.set_state("live")
                    elif pending:
                        key, at = pending.pop(0)
                        if not self.frames:
                            log.info("live %s: first frame %.2f s after asking",
                                     self.camera_id, time.monotonic() - opened)  # fmt: skip
                        self._send(Piece("media", data, at=at, keyframe=key))
            raise CaptureError("no_frame", "the stream ended")

    def _relay_pictures(self) -> None:
        hub = self.hub
        every = 1 / hub.jpeg_fps
        while not self.stopped.is_set() and not self._idle():
            started = time.monotonic()
            got = hub.capture(self.url, self.protocol, hub.read_timeout_s)
            picture = got.jpeg or encode_jpeg(got.frame, 80)
            self._send(Piece("jpeg", picture, at=time.time()))
            self.set_state("live")
            self.stopped.wait(max(0.0, every - (time.monotonic() - started)))

    def _idle(self) -> bool:
        """No viewer for the hub's linger time: the upstream closes."""
        with self.lock:  # under the lock: no viewer joins a channel that is closing
            empty = self.empty_since
            if empty is not None and time.monotonic() - empty >= self.hub.linger_s:
                self.stopped.set()
        return self.stopped.is_set()


def _pair(boxes: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Group MP4 boxes into an init segment (ftyp + moov) and fragments (moof + mdat)."""
    out: list[tuple[str, bytes]] = []
    held = b""
    for kind, data in boxes:
        if kind in ("ftyp", "moof"):
            held = data
        elif kind == "moov":
            out.append(("init", held + data))
            held = b""
        elif kind == "mdat" and held:
            out.append(("media", held + data))
            held = b""
    return out


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return redact(text)[:200]


class LiveHub:
    """Every live channel of this process: joins, caps, and the upstream threads."""

    def __init__(
        self,
        resolve: Callable[[str], tuple[str, str] | None],
        max_viewers_per_camera: int = 10,
        max_viewers: int = 50,
        linger_s: float = 5.0,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        jpeg_fps: float = 4.0,
        capture: CaptureSource = grab,
    ) -> None:
        self.resolve = resolve  # camera id -> (url, protocol) to watch, server-side only
        self.max_viewers_per_camera = max_viewers_per_camera
        self.max_viewers = max_viewers
        self.linger_s = linger_s
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.jpeg_fps = jpeg_fps
        self.capture = capture
        self._channels: dict[str, Channel] = {}
        self._lock = threading.Lock()
        self._next = 0
        self.intervals: dict[str, float] = {}  # camera id -> keyframe interval last measured

    def join(self, camera_id: str, deliver: Viewer, mode: Mode = "mse") -> tuple[int, Mode]:
        """Add a viewer: its key for :meth:`leave` and what it will get (``jpeg`` from a camera
        that only gives pictures, whatever was asked). Raises :class:`LiveRefusedError`."""
        with self._lock:
            self._reap()
            total = sum(len(c.watchers) for c in self._channels.values())
            if total >= self.max_viewers:
                raise LiveRefusedError(
                    "busy", f"live video is at its limit of {self.max_viewers} viewers"
                )
            channel = self._channels.get(camera_id)
            if channel is not None and len(channel.watchers) >= self.max_viewers_per_camera:
                raise LiveRefusedError(
                    "camera_busy",
                    f"this camera already has {self.max_viewers_per_camera} viewers "
                    "(the most allowed)",
                )
            self._next += 1
            key = self._next
            if channel is not None and channel.add(key, deliver, mode):
                return key, channel.mode_for(mode)
            source = self.resolve(camera_id)
            if source is None:
                raise LiveRefusedError("no_stream", "this camera has no stream to watch")
            url, protocol = source
            channel = Channel(camera_id, url, protocol, self, kind=source_kind(protocol))
            channel.thread = threading.Thread(
                target=channel.run, name=f"live-{camera_id}", daemon=True
            )
            self._channels[camera_id] = channel
            channel.add(key, deliver, mode)
            channel.thread.start()
        return key, channel.mode_for(mode)

    def leave(self, camera_id: str, key: int) -> None:
        with self._lock:
            channel = self._channels.get(camera_id)
        if channel is not None:
            channel.remove(key)

    def _reap(self) -> None:
        for camera_id, channel in list(self._channels.items()):
            if channel.keyframe_interval_s is not None:
                self.intervals[camera_id] = channel.keyframe_interval_s
            if channel.stopped.is_set() and not channel.watchers:
                del self._channels[camera_id]

    def status(self) -> dict[str, Any]:
        """Channels, viewers, upstreams; cameras whose keyframes come rarely (a first frame
        waits for one)."""
        with self._lock:
            self._reap()
            channels = [c.status() for c in self._channels.values() if not c.stopped.is_set()]
            intervals = dict(self.intervals)
        for c in channels:
            if c.keyframe_interval_s is not None:
                intervals[c.camera_id] = c.keyframe_interval_s
        return {
            "upstreams": len(channels),
            "viewers": sum(c.viewers for c in channels),
            "channels": [c.__dict__ for c in channels],
            "long_keyframe_interval": {
                cid: s for cid, s in sorted(intervals.items()) if s > LONG_KEYFRAME_S
            },
            "keyframe_interval_s": intervals,
        }

    def keyframe_interval(self, camera_id: str) -> float | None:
        with self._lock:
            channel = self._channels.get(camera_id)
            if channel is not None and channel.keyframe_interval_s is not None:
                return channel.keyframe_interval_s
            return self.intervals.get(camera_id)

    def stop(self) -> None:
        with self._lock:
            channels = list(self._channels.values())
            self._channels.clear()
        for channel in channels:
            channel.stopped.set()
