"""Portal HLS (issue 14, item 4): a city portal's restreamer that checks each camera's Referer and
a session cookie, paces requests (HTTP 429 when asked too fast), and one behind a self-signed TLS
certificate. Our client fetches the playlist and the newest segment itself and decodes only that
segment, so 32 cameras with 32 different headers captured at once never get each other's."""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lawangjabo.cameras.capture import CaptureError, configure_portals, grab
from lawangjabo.config import PortalProfile

from .streams import make_hls

CAMERAS = 32


@dataclass
class Portal:
    """What the double saw: (path, Referer, cookie, time) of every request."""

    folder: Path
    min_gap_s: float = 0.0
    cookie_uses: int = 1000  # a session cookie lasts this many requests
    seen: list[tuple[str, str, str, float]] = field(default_factory=list)
    sessions: dict[str, int] = field(default_factory=dict)
    last_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(portal: Portal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _reply(self, status: int, body: bytes = b"", kind: str = "text/plain",
                   cookie: str | None = None) -> None:  # fmt: skip
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if cookie:
                self.send_header("Set-Cookie", f"session={cookie}; Path=/")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            now = time.monotonic()
            referer = self.headers.get("Referer", "")
            cookie = (self.headers.get("Cookie") or "").removeprefix("session=")
            with portal.lock:
                portal.seen.append((self.path, referer, cookie, now))
                too_fast = now - portal.last_at < portal.min_gap_s
                portal.last_at = now
            if too_fast:
                self._reply(429)
                return
            if self.path == "/session":
                token = secrets.token_hex(8)
                with portal.lock:
                    portal.sessions[token] = portal.cookie_uses
                self._reply(200, b"ok", cookie=token)
                return
            parts = self.path.strip("/").split("/")  # live/<camera>/<file>
            if len(parts) != 3 or parts[0] != "live" or referer != f"https://{parts[1]}.portal/":
                self._reply(403)  # another camera's Referer (the race this guards against)
                return
            with portal.lock:
                left = portal.sessions.get(cookie, 0)
                portal.sessions[cookie] = left - 1
            if left <= 0:
                self._reply(403)
                return
            if parts[2] == "master.m3u8":
                body = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nindex.m3u8\n"
                self._reply(200, body, "application/vnd.apple.mpegurl")
                return
            target = portal.folder / parts[2]
            if not target.is_file():
                self._reply(404)
                return
            kind = "application/vnd.apple.mpegurl" if target.suffix == ".m3u8" else "video/mp2t"
            self._reply(200, target.read_bytes(), kind)

    return Handler


@pytest.fixture(scope="module")
def hls_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hls(tmp_path_factory.mktemp("portal")).parent


@contextmanager
def serving(portal: Portal, tls: Path | None = None) -> Iterator[str]:
    """The double on a free port (``tls``: a folder holding cert.pem and key.pem)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(portal))
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls / "cert.pem", tls / "key.pem")
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _profile(camera: str, **extra: object) -> PortalProfile:
    return PortalProfile.model_validate(
        {"headers": {"Referer": f"https://{camera}.portal/"}, "cookie_path": "/session", **extra}
    )


def test_thirty_two_cameras_with_their_own_headers_at_once_never_mix(hls_folder: Path) -> None:
    portal = Portal(hls_folder)
    names = [f"cam{k:02d}" for k in range(CAMERAS)]
    configure_portals({f"race-{n}": _profile(n) for n in names})
    with serving(portal) as base, ThreadPoolExecutor(CAMERAS) as pool:
        jobs = [pool.submit(grab, f"{base}/live/{n}/master.m3u8", f"portal-hls:race-{n}", 20.0)
                for n in names]  # fmt: skip
        frames = [job.result() for job in jobs]
    assert all(f.frame.size and f.frame.shape[1] == 320 for f in frames)
    live = [(path, referer) for path, referer, _, _ in portal.seen if path.startswith("/live/")]
    assert len(live) == 3 * CAMERAS  # master, media playlist, newest segment: each once
    for path, referer in live:
        assert referer == f"https://{path.split('/')[2]}.portal/"  # its own header, always
    segments = {path.rsplit("/", 1)[1] for path, _ in live if path.endswith(".ts")}
    newest = sorted(p.name for p in hls_folder.glob("*.ts"))[-1]
    assert segments == {newest}  # only the newest segment is fetched and decoded


def test_pacing_is_honoured_and_an_expired_cookie_is_renewed(hls_folder: Path) -> None:
    portal = Portal(hls_folder, min_gap_s=0.3, cookie_uses=4)
    # our pace leaves the portal's 0.3 s a margin: a busy machine may hold one request back
    # a little after its slot (the next then arrives early by as much), as a network may
    configure_portals({"paced": _profile("camp", min_interval_s=0.5)})
    with serving(portal) as base:
        for _ in range(3):
            grab(f"{base}/live/camp/index.m3u8", "portal-hls:paced", 10.0)
    times = [at for _, _, _, at in portal.seen]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.3, gaps  # never faster than the portal allows: no 429 ever
    sessions = [path for path, _, _, _ in portal.seen if path == "/session"]
    refused = len(portal.seen) - len(sessions) - 6  # 2 good requests per capture
    assert len(sessions) >= 2 and refused >= 1  # the cookie ran out and was renewed


def test_a_deadline_too_short_for_the_portals_pace_says_so(hls_folder: Path) -> None:
    configure_portals({"slow": _profile("cams", min_interval_s=5.0)})
    with serving(Portal(hls_folder)) as base, pytest.raises(CaptureError) as caught:
        grab(f"{base}/live/cams/index.m3u8", "portal-hls:slow", 3.0)
    assert caught.value.kind == "paced"


def test_a_self_signed_portal_is_refused_unless_its_profile_says_otherwise(
    hls_folder: Path, tmp_path: Path
) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed: no self-signed certificate to test with")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    configure_portals({"strict": _profile("camt"), "lenient": _profile("camt", verify_tls=False)})
    with serving(Portal(hls_folder), tls=tmp_path) as base:
        with pytest.raises(CaptureError) as caught:
            grab(f"{base}/live/camt/index.m3u8", "portal-hls:strict", 10.0)
        assert caught.value.kind == "tls" and "127.0.0.1" not in str(caught.value)
        got = grab(f"{base}/live/camt/index.m3u8", "portal-hls:lenient", 10.0)
    assert got.frame.size


def test_the_simulator_shows_a_portal_camera_that_wants_its_referer_and_cookie() -> None:
    """The demo's portal-HLS camera: our capture with its profile gets a picture; a client
    without the Referer and session cookie (OpenCV's own HLS, say) is refused."""
    import urllib.error
    import urllib.request

    from lawangjabo.cameras.simulator import CameraSimulator, SimCamera

    from .streams import need_ffmpeg

    need_ffmpeg()
    sim = CameraSimulator([SimCamera("portal-cam", "Portal", "portal")]).start()
    try:
        assert sim.wait_hls_ready()
        url, protocol = sim.stream_for("portal-cam")
        assert protocol == "portal-hls:lawangjabo-simulator"
        assert grab(url, protocol, 10.0).frame.shape[:2] == (360, 640)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 403
    finally:
        sim.stop()


def test_ffmpeg_options_per_open_never_leak_between_cameras(hls_folder: Path) -> None:
    """OpenCV's own HLS/RTSP opens with per-camera FFmpeg options (here a Referer header, as an
    RTSP transport would be): 24 cameras with 24 option sets at once, through the gate. The
    double refuses any request whose Referer is not its camera's; every open gets its own."""
    from lawangjabo.cameras.capture import ffmpeg_options, grab_video

    portal = Portal(hls_folder)
    names = [f"opt{k:02d}" for k in range(24)]
    for name in names:
        portal.sessions[name] = 10_000  # cookies are not what this test is about
    with serving(portal) as base, ThreadPoolExecutor(len(names)) as pool:
        jobs = [
            pool.submit(grab_video, f"{base}/live/{n}/index.m3u8", 20.0,
                        ffmpeg_options(headers={"Referer": f"https://{n}.portal/",
                                                "Cookie": f"session={n}"}))
            for n in names
        ]  # fmt: skip
        frames = [job.result() for job in jobs]
    assert all(f.size for f in frames)
    live = [(path, referer) for path, referer, _, _ in portal.seen if path.startswith("/live/")]
    assert len({p.split("/")[2] for p, _ in live}) == len(names)
    for path, referer in live:
        assert referer == f"https://{path.split('/')[2]}.portal/", (path, referer)
    assert os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS") in (None, "")  # nothing left behind


def test_an_rtsp_camera_can_insist_on_tcp(tmp_path: Path) -> None:
    from .streams import rtsp_camera

    with rtsp_camera(tmp_path) as url:
        assert grab(url, "rtsp-tcp", 10.0).frame.size
        assert grab(url, "rtsp", 10.0).frame.size  # and the default still works after it
