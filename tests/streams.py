"""Real test streams: ffmpeg-made HLS served over HTTP, and a GStreamer RTSP server.

Each helper skips the calling test (saying why) only when the tool is genuinely absent.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

TOOLS = Path(__file__).parent / "tools"
SYSTEM_PYTHON = "/usr/bin/python3"


def need_ffmpeg() -> str:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    return ffmpeg


def make_h264(folder: Path, seconds: int = 4) -> Path:
    """A short H.264 test clip (moving test pattern) made by ffmpeg."""
    ffmpeg = need_ffmpeg()
    clip = folder / "cam.mp4"
    subprocess.run(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=10",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "10",
            "-pix_fmt",
            "yuv420p",
            str(clip),
        ],
        check=True,
        timeout=60,
    )
    return clip


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def http_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on loopback; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def make_hls(folder: Path) -> Path:
    """A VOD HLS playlist of the test clip (1-s segments)."""
    ffmpeg = need_ffmpeg()
    clip = make_h264(folder)
    out = folder / "hls"
    out.mkdir()
    subprocess.run(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(clip),
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_list_size",
            "0",
            "-hls_playlist_type",
            "vod",
            str(out / "index.m3u8"),
        ],
        check=True,
        timeout=60,
    )
    return out / "index.m3u8"


def _gst_rtsp_available() -> bool:
    if not Path(SYSTEM_PYTHON).is_file():
        return False
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0');"
            "from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


@contextmanager
def rtsp_camera(folder: Path) -> Iterator[str]:
    """A GStreamer RTSP server playing the test clip; yields its rtsp:// URL."""
    if not _gst_rtsp_available():
        pytest.skip(
            "GStreamer RTSP server not installed (apt-get install python3-gi "
            "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good "
            "gstreamer1.0-plugins-ugly)"
        )
    clip = make_h264(folder)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [SYSTEM_PYTHON, str(TOOLS / "rtsp_server.py"), str(port), str(clip)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == "READY", process.stderr.read() if process.stderr else line
        yield f"rtsp://127.0.0.1:{port}/cam"
    finally:
        process.terminate()
        process.wait(timeout=10)
