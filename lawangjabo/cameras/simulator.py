"""The camera simulator: every registry camera as a real stream on localhost, with scripted faults.

Part of the product: the demo and the tests use it so a new user sees live pictures with no
internet. Scenes are drawn with OpenCV (a road with moving vehicles, day or night by the city's
clock, the camera's name and time burned in, a "SIMULATED" mark). Protocols: MJPEG over HTTP and
single JPEG from Python, HLS through ffmpeg where it is installed, and vendor snapshot endpoints
behind HTTP Digest (Hikvision ISAPI and Dahua CGI paths; the account locks after 5 wrong
passwords for 30 minutes, as Hikvision's does). Faults: ``dead`` (connection refused), ``hang``
(accepts, never answers), ``frozen`` (the same picture forever), ``dark``, ``badauth`` (the
poller is given a wrong password).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np

from lawangjabo.cameras.capture import (
    PORTAL_PREFIX,
    StreamAccount,
    configure_portals,
    register_secret,
)
from lawangjabo.cameras.cv import cv2
from lawangjabo.cameras.imaging import Frame, decode_jpeg, encode_jpeg
from lawangjabo.config import PortalProfile

log = logging.getLogger(__name__)

Fault = Literal["dead", "hang", "frozen", "dark", "badauth", "moved", "blurred", "covered"]
TAMPERS = ("moved", "blurred", "covered")
VENDOR_SWEEP = {"hikvision": "/ISAPI/Streaming/channels/102/picture",
                "dahua": "/cgi-bin/snapshot.cgi?channel=1"}  # fmt: skip
VENDOR_SHARP = {"hikvision": "/ISAPI/Streaming/channels/101/picture"}
LOCK_AFTER, LOCK_S = 5, 1800.0
# A city portal's restreamer: HLS that wants this Referer and a session cookie, and its profile.
SIM_PORTAL = "lawangjabo-simulator"
SIM_REFERER = "https://cctv.simulated.portal/"
WIDTH, HEIGHT = 640, 360
ROAD_TOP, ROAD_BOTTOM = int(HEIGHT * 0.55), int(HEIGHT * 0.9)
MJPEG_FPS = 4.0
MJPEG_MAX_SECONDS = 120.0


@dataclass(frozen=True)
class SimCamera:
    id: str
    name: str
    protocol: Literal["mjpeg", "jpeg", "hls", "hikvision", "dahua", "onvif", "portal"] = "mjpeg"
    fault: Fault | None = None


def _seed(camera_id: str) -> int:
    return zlib.crc32(camera_id.encode())


def _text(
    frame: Frame,
    text: str,
    origin: tuple[int, int],
    scale: float,
    colour: tuple[int, int, int],
    thickness: int,
) -> None:
    cv2.putText(
        frame, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA
    )


@lru_cache(maxsize=4096)
def _background(camera_id: str, daylight_step: int) -> Frame:
    """The still part of a camera's scene (sky, buildings, ground, road) for a light level."""
    daylight = daylight_step / 20
    night = daylight < 0.15
    rng = np.random.default_rng(_seed(camera_id))
    sky = np.array([235, 206, 135]) * (0.25 + 0.75 * daylight)
    ground = np.array([70, 110, 80]) * (0.3 + 0.7 * daylight)
    frame = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    frame[: HEIGHT // 3] = sky.astype(np.uint8)
    frame[HEIGHT // 3 :] = ground.astype(np.uint8)
    x = 0
    while x < WIDTH:  # buildings along the horizon, different per camera
        w = int(rng.integers(30, 90))
        h = int(rng.integers(30, 100))
        shade = int(rng.integers(90, 170) * (0.35 + 0.65 * daylight))
        cv2.rectangle(frame, (x, HEIGHT // 3 - h), (x + w - 4, HEIGHT // 3), (shade,) * 3, -1)
        if night:
            for wy in range(HEIGHT // 3 - h + 6, HEIGHT // 3 - 6, 12):
                cv2.rectangle(frame, (x + 6, wy), (x + 12, wy + 5), (80, 200, 255), -1)
        x += w
    asphalt = int(60 * (0.5 + 0.5 * daylight)) + 20
    cv2.rectangle(frame, (0, ROAD_TOP), (WIDTH, ROAD_BOTTOM), (asphalt,) * 3, -1)
    frame.setflags(write=False)
    return frame


@lru_cache(maxsize=4096)
def _vehicles(camera_id: str) -> tuple[tuple[float, float, int, int, tuple[int, int, int]], ...]:
    """(speed px/s, phase, length, lane, colour) of the camera's six vehicles."""
    rng = np.random.default_rng(_seed(camera_id) + 1)
    result = []
    for i in range(6):
        lane = i % 2
        speed = float(rng.uniform(40, 140)) * (1 if lane == 0 else -1)
        colour = tuple(int(c) for c in rng.integers(40, 255, size=3))
        result.append(
            (
                speed,
                float(rng.uniform(0, WIDTH + 200)),
                int(rng.integers(40, 90)),
                lane,
                (colour[0], colour[1], colour[2]),
            )
        )
    return tuple(result)


def render_scene(camera: SimCamera, when: datetime, t: float) -> Frame:
    """A road scene for ``camera`` at wall-clock ``when`` and animation time ``t`` seconds."""
    return overlay(camera, when, road_view(camera.id, when, t))


def road_view(scene_id: str, when: datetime, t: float) -> Frame:
    """What the lens sees (no on-screen text): the scene of ``scene_id`` at ``when``, ``t``."""
    hour = when.hour + when.minute / 60
    daylight = max(0.0, math.sin(math.pi * (hour - 6) / 12)) if 6 <= hour <= 18 else 0.0
    night = daylight < 0.15
    frame = _background(scene_id, round(daylight * 20)).copy()
    middle = (ROAD_TOP + ROAD_BOTTOM) // 2
    dash = int((t * 80) % 60)
    for lx in range(-60 + dash, WIDTH, 60):
        cv2.rectangle(frame, (lx, middle - 2), (lx + 30, middle + 2), (220, 220, 220), -1)
    for speed, phase, length, lane, colour in _vehicles(scene_id):
        vx = int((phase + speed * t) % (WIDTH + 200)) - 100
        vy = ROAD_TOP + 10 + lane * ((ROAD_BOTTOM - ROAD_TOP) // 2)
        cv2.rectangle(frame, (vx, vy), (vx + length, vy + 26), colour, -1)
        if night:
            front = vx + length if speed > 0 else vx
            cv2.circle(frame, (front, vy + 13), 6, (200, 255, 255), -1)
    return frame


def overlay(camera: SimCamera, when: datetime, frame: Frame) -> Frame:
    """The camera's on-screen text, drawn after the lens: it stays put whatever the lens sees."""
    _text(frame, camera.name[:42], (10, 24), 0.6, (255, 255, 255), 2)
    stamp = when.strftime("%Y-%m-%d %H:%M:%S WIB")
    _text(frame, stamp, (10, HEIGHT - 12), 0.55, (255, 255, 255), 2)
    _text(frame, "SIMULATED", (WIDTH - 175, 30), 0.8, (40, 40, 230), 3)
    return frame


def render_dark(camera: SimCamera, t: float) -> Frame:
    """A camera that sees (almost) nothing: a covered lens or a dead IR lamp at night."""
    rng = np.random.default_rng(int(t * 10) & 0xFFFF)
    frame = rng.integers(0, 9, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    _text(frame, camera.name[:42], (10, 24), 0.6, (40, 40, 40), 1)
    return frame


class _Hanger:
    """A TCP listener that accepts connections and never says a word."""

    def __init__(self, host: str) -> None:
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.running = True
        threading.Thread(target=self._loop, name="sim-hang", daemon=True).start()

    def _loop(self) -> None:
        self.sock.settimeout(0.5)
        while self.running:
            try:
                conn, _ = self.sock.accept()
                self.held.append(conn)
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self.running = False
        for conn in self.held:
            conn.close()
        self.sock.close()


class DigestGuard:
    """Server side of HTTP Digest (RFC 2617, MD5, qop=auth) for one simulated camera, with a
    vendor's lockout: ``LOCK_AFTER`` wrong answers in a row lock the account for ``LOCK_S``,
    during which even the right password is refused (Hikvision's behaviour)."""

    realm = "IP Camera(LawangJabo)"

    def __init__(
        self, user: str, password: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.user, self.password, self.clock = user, password, clock
        self._nonces: set[str] = set()
        self.failures = 0  # wrong answers in a row
        self.failures_total = 0
        self.locked_until = 0.0
        self.lock = threading.Lock()

    def challenge(self) -> str:
        nonce = secrets.token_hex(16)
        with self.lock:
            self._nonces.add(nonce)
        return f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", algorithm=MD5'

    def check(self, method: str, header: str | None) -> str:
        """``ok``, ``challenge`` (no or stale credentials: not a failure), ``wrong`` or
        ``locked``."""
        with self.lock:
            if self.clock() < self.locked_until:
                return "locked"
        if not header or not header.lower().startswith("digest "):
            return "challenge"
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
        with self.lock:
            if fields.get("nonce") not in self._nonces:
                return "challenge"
            ha1 = _md5(f"{fields.get('username')}:{self.realm}:{self.password}")
            ha2 = _md5(f"{method}:{fields.get('uri')}")
            expected = _md5(f"{ha1}:{fields['nonce']}:{fields.get('nc')}:{fields.get('cnonce')}"
                            f":{fields.get('qop')}:{ha2}")  # fmt: skip
            if fields.get("username") == self.user and hmac.compare_digest(
                expected, fields.get("response", "")
            ):
                self.failures = 0
                return "ok"
            self.failures += 1
            self.failures_total += 1
            if self.failures >= LOCK_AFTER:
                self.locked_until = self.clock() + LOCK_S
                return "locked"
            return "wrong"


def _account(camera: SimCamera) -> str:
    """The simulated camera's user name: ``admin``; an ONVIF camera's is its id (the one
    device service tells its cameras apart by it)."""
    return camera.id if camera.protocol == "onvif" else "admin"


_SOAP_NS = ('xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
            'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
            'xmlns:tt="http://www.onvif.org/ver10/schema" '
            'xmlns:ter="http://www.onvif.org/ver10/error"')  # fmt: skip


def _soap(body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {_SOAP_NS}><s:Body>{body}'
            "</s:Body></s:Envelope>").encode()  # fmt: skip


def _soap_fault(code: str, reason: str) -> bytes:
    return _soap(
        "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>"
        f'{code}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">{reason}'
        "</s:Text></s:Reason></s:Fault>"
    )


def _ws_password_ok(body: str, password: str) -> bool:
    """WS-Security UsernameToken: PasswordDigest = Base64(SHA-1(nonce + created + password))."""
    found = {k: re.search(rf"{k}[^>]*>([^<]+)<", body) for k in ("Password", "Nonce", "Created")}
    if not all(found.values()):
        return False
    given, nonce, created = (m.group(1) for m in found.values() if m)
    digest = hashlib.sha1(base64.b64decode(nonce) + created.encode() + password.encode())
    return hmac.compare_digest(base64.b64encode(digest.digest()).decode(), given)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (the live relay closing, a poller's timeout) is normal here."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("simulator: client %s went away", client_address)
        else:
            super().handle_error(request, client_address)


class CameraSimulator:
    """Serves ``cameras`` on ``host``; :meth:`stream_for` gives each one's URL and protocol."""

    def __init__(
        self,
        cameras: list[SimCamera],
        host: str = "127.0.0.1",
        port: int = 0,
        timezone: str = "Asia/Jakarta",
        tamper_after_s: float = 120.0,
    ) -> None:
        self.cameras = {c.id: c for c in cameras}
        # a tampered camera looks normal first (so its reference is learnt), then tampered
        self.tamper_from = time.time() + tamper_after_s
        self.host = host
        self.tz = ZoneInfo(timezone)
        self._frozen: dict[str, bytes] = {}
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()
        self._hls: dict[str, subprocess.Popen[bytes]] = {}
        self._hls_dir: Path | None = None
        self._dead = socket.socket()  # bound, never listening: connections are refused
        self._dead.bind((host, 0))
        self._hanger = _Hanger(host)
        self._password = secrets.token_urlsafe(12)  # the simulated vendor cameras' account
        self._sessions: set[str] = set()  # the simulated portal's session cookies
        self.guards = {c.id: DigestGuard(_account(c), self._password) for c in cameras
                       if c.protocol in VENDOR_SWEEP or c.protocol == "onvif"}  # fmt: skip
        self.cut: set[str] = set()  # cameras whose link is cut now (see set_cut)
        self.playlist_requests: Counter[str] = Counter()  # HLS playlists served, per camera
        self._server = _QuietServer((host, port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._stopping = threading.Event()

    # -- frames ---------------------------------------------------------------------------
    def jpeg(self, camera_id: str) -> bytes:
        """The camera's current picture as JPEG (re-rendered at most 8 times a second)."""
        camera = self.cameras[camera_id]
        now = time.time()
        with self._lock:
            if camera.fault == "frozen" and camera_id in self._frozen:
                return self._frozen[camera_id]
            cached = self._cache.get(camera_id)
            if cached and now - cached[0] < 0.125:
                return cached[1]
        when = datetime.fromtimestamp(now, self.tz)
        if camera.fault == "dark":
            frame = render_dark(camera, now)
        elif camera.fault in TAMPERS and now >= self.tamper_from:
            from lawangjabo.cameras.tamperset import render_tampered  # it draws on our scenes

            rng = np.random.default_rng(_seed(camera_id))  # the same move, cover, blur each time
            frame = render_tampered(camera, when, now, camera.fault, rng)  # type: ignore[arg-type]
        else:
            frame = render_scene(camera, when, now)
        data = encode_jpeg(frame, 80)
        with self._lock:
            self._cache[camera_id] = (now, data)
            if camera.fault == "frozen":
                self._frozen.setdefault(camera_id, data)
                return self._frozen[camera_id]
        return data

    def add(self, cameras: list[SimCamera]) -> None:
        """Serve cameras added to the registry while running (as MJPEG or JPEG)."""
        with self._lock:
            for camera in cameras:
                self.cameras.setdefault(camera.id, camera)
                if camera.protocol in VENDOR_SWEEP or camera.protocol == "onvif":
                    self.guards.setdefault(camera.id, DigestGuard(_account(camera), self._password))

    def set_cut(self, camera_id: str, cut: bool = True) -> None:
        """Cut (or restore) a camera's link while running: every request for it is dropped
        unanswered, and a stream being served stops."""
        with self._lock:
            (self.cut.add if cut else self.cut.discard)(camera_id)

    # -- addresses ------------------------------------------------------------------------
    def stream_for(self, camera_id: str) -> tuple[str, str]:
        """(url, protocol) where the poller finds this camera. Server-side only."""
        camera = self.cameras[camera_id]
        if camera.fault == "dead":
            return f"http://{self.host}:{self._dead.getsockname()[1]}/cam/{camera_id}.mjpg", "mjpeg"
        if camera.fault == "hang":
            return f"http://{self.host}:{self._hanger.port}/cam/{camera_id}.mjpg", "mjpeg"
        base = f"http://{self.host}:{self.port}"
        if camera.protocol in VENDOR_SWEEP:
            return self._vendor_base(camera) + VENDOR_SWEEP[camera.protocol], camera.protocol
        if camera.protocol == "onvif":  # the camera's address only: it says where to look
            return self._onvif_base(camera), "onvif"
        if camera.protocol == "portal" and camera_id in self._hls:
            return f"{base}/portal/{camera_id}/index.m3u8", f"{PORTAL_PREFIX}{SIM_PORTAL}"
        if camera.protocol == "hls" and camera_id in self._hls:
            return f"{base}/hls/{camera_id}/index.m3u8", "hls"
        if camera.protocol == "jpeg":
            return f"{base}/cam/{camera_id}.jpg", "jpeg"
        return f"{base}/cam/{camera_id}.mjpg", "mjpeg"

    def sharp_for(self, camera_id: str) -> tuple[str, str] | None:
        """A sharper source for clicks (a vendor camera's main stream), if it has one."""
        camera = self.cameras[camera_id]
        if camera.fault in ("dead", "hang"):
            return None
        if camera.protocol == "onvif":
            return self._onvif_base(camera), "onvif-main"
        if camera.protocol not in VENDOR_SHARP:
            return None
        return self._vendor_base(camera) + VENDOR_SHARP[camera.protocol], camera.protocol

    def _password_for(self, camera: SimCamera) -> str:
        return "wrong-" + self._password if camera.fault == "badauth" else self._password

    def _secret_ref(self, camera: SimCamera) -> str:
        """The camera's account as a real deployment keeps it: a ``secret://`` reference
        (here in this process's memory), never written into a URL."""
        account = StreamAccount(f"http://{self.host}:{self.port}", _account(camera),
                                self._password_for(camera))  # fmt: skip
        return register_secret(f"lawangjabo-simulator-{camera.id}", account)

    def _vendor_base(self, camera: SimCamera) -> str:
        return f"{self._secret_ref(camera)}/vendor/{camera.id}"

    def _onvif_base(self, camera: SimCamera) -> str:
        return self._secret_ref(camera)

    def onvif_reply(self, path: str, body: str) -> tuple[int, bytes]:
        """A minimal ONVIF device and media service (SOAP 1.2): GetServices, GetCapabilities,
        GetProfiles (main and sub) and GetSnapshotUri, behind WS-Security UsernameToken
        (PasswordDigest); the user name is the camera id. Anything else is a SOAP fault."""
        user = re.search(r"Username>([^<]+)<", body)
        camera = self.cameras.get(user.group(1)) if user else None
        if (
            camera is None
            or camera.protocol != "onvif"
            or not _ws_password_ok(body, self._password)
        ):
            return 400, _soap_fault("ter:NotAuthorized", "Sender not authorized")  # fmt: skip
        action = re.search(r"<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)", body)
        name = action.group(1) if action else ""
        base = f"http://{self.host}:{self.port}"
        device, media = f"{base}/onvif/device_service", f"{base}/onvif/{camera.id}/media_service"
        version = "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>"
        if name == "GetServices":
            services = "".join(
                f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{addr}</tds:XAddr>"
                f"{version}</tds:Service>"
                for ns, addr in (("http://www.onvif.org/ver10/device/wsdl", device),
                                 ("http://www.onvif.org/ver10/media/wsdl", media))
            )  # fmt: skip
            return 200, _soap(f"<tds:GetServicesResponse>{services}</tds:GetServicesResponse>")
        if name == "GetCapabilities":
            return 200, _soap(
                "<tds:GetCapabilitiesResponse><tds:Capabilities>"
                f"<tt:Device><tt:XAddr>{device}</tt:XAddr></tt:Device>"
                f"<tt:Media><tt:XAddr>{media}</tt:XAddr></tt:Media>"
                "</tds:Capabilities></tds:GetCapabilitiesResponse>"
            )
        if name == "GetProfiles" and path.endswith("/media_service"):
            profiles = "".join(
                f'<trt:Profiles token="{token}" fixed="true"><tt:Name>{token}</tt:Name>'
                "</trt:Profiles>"
                for token in ("main", "sub")
            )
            return 200, _soap(f"<trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse>")
        if name == "GetSnapshotUri" and path.endswith("/media_service"):
            main = "<tt:ProfileToken>main<" in body.replace("trt:", "tt:") or ">main<" in body
            channel = "101" if main else "102"
            uri = f"{base}/vendor/{camera.id}/ISAPI/Streaming/channels/{channel}/picture"
            return 200, _soap(
                f"<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>{uri}</tt:Uri>"
                "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
                "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S"
                "</tt:Timeout></trt:MediaUri></trt:GetSnapshotUriResponse>"
            )
        return 400, _soap_fault("ter:ActionNotSupported", f"{name or 'this'} is not simulated")

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> CameraSimulator:
        threading.Thread(
            target=self._server.serve_forever, name="camera-simulator", daemon=True
        ).start()
        wanted = [c for c in self.cameras.values()
                  if c.protocol in ("hls", "portal") and c.fault is None]  # fmt: skip
        if any(c.protocol == "portal" for c in wanted):
            configure_portals({SIM_PORTAL: PortalProfile(
                headers={"Referer": SIM_REFERER}, cookie_path="/portal/session",
                min_interval_s=0.1)})  # fmt: skip
        if wanted and shutil.which("ffmpeg"):
            self._hls_dir = Path(tempfile.mkdtemp(prefix="lawangjabo-hls-"))
            for camera in wanted:
                self._start_hls(camera)
        elif wanted:
            log.warning("ffmpeg not installed: %d HLS cameras served as MJPEG", len(wanted))
        log.info(
            "camera simulator on %s:%d with %d cameras", self.host, self.port, len(self.cameras)
        )
        return self

    def _start_hls(self, camera: SimCamera) -> None:
        assert self._hls_dir is not None
        out = self._hls_dir / camera.id
        out.mkdir()
        fps = 5
        process = subprocess.Popen(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "bgr24",
                "-s",
                f"{WIDTH}x{HEIGHT}",
                "-r",
                str(fps),
                "-i",
                "-",
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
                "-g",
                str(fps),
                "-f",
                "hls",
                "-hls_time",
                "1",
                "-hls_list_size",
                "4",
                "-hls_flags",
                "delete_segments+omit_endlist",
                str(out / "index.m3u8"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._hls[camera.id] = process

        def feed() -> None:
            while not self._stopping.is_set() and process.poll() is None:
                now = time.time()
                frame = render_scene(camera, datetime.fromtimestamp(now, self.tz), now)
                try:
                    assert process.stdin is not None
                    process.stdin.write(frame.tobytes())
                except (BrokenPipeError, ValueError):
                    return
                time.sleep(1 / fps)

        threading.Thread(target=feed, name=f"sim-hls-{camera.id}", daemon=True).start()

    def wait_hls_ready(self, timeout_s: float = 15.0) -> bool:
        """Block until every HLS camera has a playlist with segments."""
        if self._hls_dir is None:
            return True
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready = all(
                (self._hls_dir / cid / "index.m3u8").is_file()
                and len(list((self._hls_dir / cid).glob("*.ts"))) >= 2
                for cid in self._hls
            )
            if ready:
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        for process in self._hls.values():
            if process.stdin:
                process.stdin.close()
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._hls_dir is not None:
            shutil.rmtree(self._hls_dir, ignore_errors=True)
        self._hanger.close()
        self._dead.close()

    # -- HTTP -----------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                parts = path.strip("/").split("/")
                camera = parts[1] if len(parts) > 1 else ""
                if parts[0] == "cam":
                    camera = camera.rpartition(".")[0]
                if camera in simulator.cut:  # the link is down: no answer at all
                    self.close_connection = True
                    return
                if path.endswith(".m3u8"):
                    with simulator._lock:
                        simulator.playlist_requests[camera] += 1
                if path.startswith("/vendor/"):
                    self._vendor(path)
                    return
                if path.startswith("/hls/") and simulator._hls_dir is not None:
                    self._file(simulator._hls_dir, path.removeprefix("/hls/"))
                    return
                if path.startswith("/portal/"):
                    self._portal(path.removeprefix("/portal/"))
                    return
                name = path.removeprefix("/cam/")
                camera_id, _, ext = name.rpartition(".")
                if not path.startswith("/cam/") or camera_id not in simulator.cameras:
                    self.send_error(404)
                    return
                if ext == "jpg":
                    self._send(simulator.jpeg(camera_id), "image/jpeg")
                elif ext == "mjpg":
                    self._mjpeg(camera_id)
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1024 * 1024)).decode("utf-8", "replace")
                if not self.path.startswith("/onvif/"):
                    self.send_error(404)
                    return
                status, reply = simulator.onvif_reply(self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def _portal(self, rest: str) -> None:
                """A restreamer's checks: a session cookie from /portal/session, the Referer."""
                if rest == "session":
                    token = secrets.token_hex(8)
                    with simulator._lock:
                        simulator._sessions.add(token)
                    self.send_response(200)
                    self.send_header("Set-Cookie", f"session={token}; Path=/portal")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                cookie = (self.headers.get("Cookie") or "").removeprefix("session=")
                with simulator._lock:
                    known = cookie in simulator._sessions
                if self.headers.get("Referer") != SIM_REFERER or not known:
                    self.send_error(403)
                    return
                if simulator._hls_dir is None:
                    self.send_error(404)
                    return
                self._file(simulator._hls_dir, rest)

            def _vendor(self, path: str) -> None:
                camera_id, _, endpoint = path.removeprefix("/vendor/").partition("/")
                camera = simulator.cameras.get(camera_id)
                guard = simulator.guards.get(camera_id)
                if camera is None or guard is None:
                    self.send_error(404)
                    return
                verdict = guard.check("GET", self.headers.get("Authorization"))
                if verdict != "ok":
                    lock = "lock" if verdict == "locked" else "unlock"
                    left = max(0, LOCK_AFTER - guard.failures)
                    body = (f"<userCheck><statusValue>401</statusValue><lockStatus>{lock}"
                            f"</lockStatus><retryLoginTime>{left}</retryLoginTime>"
                            "</userCheck>").encode()  # fmt: skip
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", guard.challenge())
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                sharp = endpoint.endswith("/101/picture")
                data = simulator.jpeg(camera_id)
                if sharp:  # the main stream: twice the sub-stream's size
                    frame = decode_jpeg(data)
                    if frame is not None:
                        big = cv2.resize(frame, (WIDTH * 2, HEIGHT * 2),
                                         interpolation=cv2.INTER_CUBIC)  # fmt: skip
                        data = encode_jpeg(big, 85)
                self._send(data, "image/jpeg")

            def _send(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _file(self, root: Path, relative: str) -> None:
                target = (root / relative).resolve()
                if root.resolve() not in target.parents or not target.is_file():
                    self.send_error(404)
                    return
                kind = "application/vnd.apple.mpegurl" if target.suffix == ".m3u8" else "video/mp2t"
                try:
                    self._send(target.read_bytes(), kind)
                except FileNotFoundError:
                    self.send_error(404)

            def _mjpeg(self, camera_id: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                started = time.monotonic()
                try:
                    while (
                        not simulator._stopping.is_set()
                        and time.monotonic() - started < MJPEG_MAX_SECONDS
                        and camera_id not in simulator.cut
                    ):
                        data = simulator.jpeg(camera_id)
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\n"
                            + f"Content-Length: {len(data)}\r\n\r\n".encode()
                            + data
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        time.sleep(1 / MJPEG_FPS)
                except (BrokenPipeError, ConnectionResetError):
                    return
                self.close_connection = True

        return Handler
