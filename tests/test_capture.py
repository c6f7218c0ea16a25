"""Capture from real streams: the simulator (MJPEG, JPEG), ffmpeg HLS, a GStreamer RTSP server,
and the failures a command center meets (refused, hanging, 404, not an image)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lawangjabo.cameras.capture import CaptureError, grab, redact, resolve_url
from lawangjabo.cameras.simulator import CameraSimulator, SimCamera

from .streams import http_folder, make_hls, rtsp_camera


@pytest.fixture(scope="module")
def simulator() -> Iterator[CameraSimulator]:
    cams = [
        SimCamera("mj", "MJPEG cam"),
        SimCamera("jp", "JPEG cam", "jpeg"),
        SimCamera("dead", "Dead", fault="dead"),
        SimCamera("hang", "Hang", fault="hang"),
    ]
    sim = CameraSimulator(cams).start()
    yield sim
    sim.stop()


@pytest.mark.parametrize("camera_id", ["mj", "jp"])
def test_simulator_protocols_yield_a_frame(simulator: CameraSimulator, camera_id: str) -> None:
    url, protocol = simulator.stream_for(camera_id)
    got = grab(url, protocol, 3.0)
    assert got.frame.shape == (360, 640, 3)
    assert got.latency_s < 1.0


def test_hls_yields_a_frame(tmp_path: Path) -> None:
    playlist = make_hls(tmp_path)
    with http_folder(playlist.parent) as base:
        got = grab(f"{base}/index.m3u8", "hls", 5.0)
    assert got.frame.shape == (240, 320, 3)
    assert got.frame.std() > 10  # a test pattern, not a blank frame


def test_rtsp_yields_a_frame(tmp_path: Path) -> None:
    with rtsp_camera(tmp_path) as url:
        got = grab(url, "rtsp", 8.0)
    assert got.frame.shape == (240, 320, 3)
    assert got.frame.std() > 10


def test_refused_fails_fast(simulator: CameraSimulator) -> None:
    url, protocol = simulator.stream_for("dead")
    started = time.monotonic()
    with pytest.raises(CaptureError) as error:
        grab(url, protocol, 3.0)
    assert error.value.kind == "refused"
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("protocol", ["mjpeg", "jpeg"])
def test_hanging_camera_fails_within_its_timeout(simulator: CameraSimulator, protocol: str) -> None:
    url, _ = simulator.stream_for("hang")
    started = time.monotonic()
    with pytest.raises(CaptureError) as error:
        grab(url, protocol, 1.5)
    elapsed = time.monotonic() - started
    assert error.value.kind == "timeout"
    assert elapsed >= 1.4  # it waited out its timeout rather than giving up early
    assert elapsed < 5 * 1.5  # and did not hang past it (a gross guard: a busy machine is slow)


def test_hanging_video_source_fails_within_its_timeout(simulator: CameraSimulator) -> None:
    url, _ = simulator.stream_for("hang")
    started = time.monotonic()
    with pytest.raises(CaptureError) as error:
        grab(url.replace(".mjpg", ".m3u8"), "hls", 2.0)
    assert error.value.kind in ("open_failed", "no_frame")
    assert time.monotonic() - started < 6.0


class _Odd(BaseHTTPRequestHandler):
    """A web server that is not a camera: 404s, HTML, and a stream that stalls after a frame."""

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        if self.path == "/html.jpg":
            body = b"<html><body>login</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/stall.mjpg":
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0partial")
            self.wfile.flush()
            time.sleep(5)
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def odd_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Odd)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(
    ("path", "protocol", "kind"),
    [
        ("/nothing.jpg", "jpeg", "http_404"),
        ("/html.jpg", "jpeg", "not_image"),
        ("/stall.mjpg", "mjpeg", "timeout"),
    ],
)
def test_bad_sources_are_named(odd_server: str, path: str, protocol: str, kind: str) -> None:
    with pytest.raises(CaptureError) as error:
        grab(odd_server + path, protocol, 1.5)
    assert error.value.kind == kind


def test_credentials_never_appear_in_errors(odd_server: str) -> None:
    secret_url = odd_server.replace("http://", "http://operator:s3cr3t@") + "/nothing.jpg"
    with pytest.raises(CaptureError) as error:
        grab(secret_url, "jpeg", 1.5)
    assert "s3cr3t" not in str(error.value) and "operator" not in str(error.value)
    assert redact(secret_url).startswith("http://***@127.0.0.1:")
    assert "s3cr3t" not in redact(secret_url)


def test_env_urls_resolve_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, simulator: CameraSimulator
) -> None:
    url, protocol = simulator.stream_for("jp")
    monkeypatch.setenv("LJ_TEST_CAM", url)
    assert resolve_url("env://LJ_TEST_CAM") == url
    assert grab("env://LJ_TEST_CAM", protocol, 3.0).frame.size
    with pytest.raises(CaptureError) as error:
        grab("env://LJ_MISSING_CAM", "jpeg", 1.0)
    assert error.value.kind == "secret_missing"


def test_secret_urls_resolve_from_the_secrets_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, simulator: CameraSimulator
) -> None:
    url, protocol = simulator.stream_for("jp")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[streams]\ncam1 = "{url}"\n', encoding="utf-8")
    secrets.chmod(0o600)
    monkeypatch.setenv("LAWANGJABO_SECRETS_FILE", str(secrets))
    assert resolve_url("secret://cam1") == url
    assert grab("secret://cam1", protocol, 3.0).frame.size
    with pytest.raises(CaptureError) as missing:
        grab("secret://cam2", "jpeg", 1.0)
    assert missing.value.kind == "secret_missing" and "cam2" in str(missing.value)
    secrets.write_text('[streams]\ncam1 = "rtsp://op:s3cr3t@10.0.0.9/x\n', encoding="utf-8")
    with pytest.raises(CaptureError) as broken:  # unterminated string: the parser quotes it
        grab("secret://cam1", "rtsp", 1.0)
    assert "unreadable" in str(broken.value) and "s3cr3t" not in str(broken.value)
    # An account kept apart from the address: a password with '@' and ':' needs no quoting.
    secrets.write_text('[streams.cam3]\nurl = "http://10.0.0.9/snap.jpg"\nuser = "op"\n'
                       'password = "p@ss:word"\n', encoding="utf-8")  # fmt: skip
    assert resolve_url("secret://cam3") == "http://op:p%40ss%3Aword@10.0.0.9/snap.jpg"


LEAK_PROBE = """
import logging, sys
logging.basicConfig(level=logging.DEBUG)
from lawangjabo.cameras.capture import CaptureError, grab
for url, protocol in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        grab(url, protocol, 3.0)
        logging.getLogger("probe").info("grabbed one frame")
    except CaptureError as error:
        logging.getLogger("probe").error("capture failed: %s", error)
"""


def test_credentials_never_reach_a_log_line(tmp_path: Path) -> None:
    """Everything a capturing process writes (our logging, OpenCV's and FFmpeg's own stderr)
    for good and failing HLS/RTSP/JPEG URLs with credentials: no password in it."""
    import subprocess
    import sys

    from lawangjabo.config import PROJECT_ROOT

    playlist = make_hls(tmp_path)
    with http_folder(playlist.parent) as base:
        with_creds = base.replace("http://", "http://operator:s3cr3t@")
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                LEAK_PROBE,
                f"{with_creds}/index.m3u8",
                "hls",
                f"{with_creds}/missing.m3u8",
                "hls",
                "rtsp://operator:s3cr3t@127.0.0.1:1/stream",
                "rtsp",
                f"{with_creds}/missing.jpg",
                "jpeg",
            ],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    output = probe.stdout + probe.stderr
    assert probe.returncode == 0, output
    assert "grabbed one frame" in output and output.count("capture failed") == 3  # it did log
    assert "s3cr3t" not in output and "operator:" not in output
