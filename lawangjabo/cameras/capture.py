"""One frame from a camera, with hard timeouts: HTTP-JPEG, MJPEG over HTTP, HLS and RTSP.

JPEG and MJPEG are read with our own HTTP client (a deadline on the whole exchange) and decoded
by OpenCV; HLS and RTSP go through OpenCV's FFmpeg backend with open/read timeouts and the
one-open-at-a-time lock removed (see ``cv.py``). Errors carry a kind and a message that never
contains the stream URL or its credentials.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import socket
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from lawangjabo.cameras.cv import cv2
from lawangjabo.cameras.imaging import Frame, decode_jpeg
from lawangjabo.config import PROJECT_ROOT, PortalProfile
from lawangjabo.i18n import N_

log = logging.getLogger(__name__)

MAX_JPEG_BYTES = 8 * 1024 * 1024
CHUNK = 64 * 1024


class CaptureError(Exception):
    """Why no frame came back. ``kind`` is stable (for the ledger); ``detail`` is for people."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Grab:
    frame: Frame
    latency_s: float
    jpeg: bytes | None = None  # the camera's own JPEG, when it sent one: stored as is


# Why a capture failed, as an operator reads it (catalog strings; translated where shown).
ERROR_LABELS: dict[str, str] = {
    "timeout": N_("timeout"),
    "refused": N_("connection refused"),
    "dns": N_("unknown host"),
    "network": N_("network error"),
    "open_failed": N_("stream could not be opened"),
    "no_frame": N_("no picture"),
    "not_image": N_("not a picture"),
    "decode_error": N_("broken picture"),
    "too_large": N_("picture too large"),
    "bad_url": N_("bad address"),
    "bad_protocol": N_("unsupported stream type"),
    "secret_missing": N_("stream secret missing"),
    "crashed": N_("capture crashed"),
    "error": N_("error"),
    "dark": N_("dark picture"),  # outages also start with a dark or frozen picture
    "frozen": N_("frozen picture"),
    "moved": N_("camera moved"),  # tamper checks: a good-looking picture, interfered with
    "blurred": N_("picture blurred"),
    "covered": N_("lens covered"),
    "auth_refused": N_("credentials refused"),
    "paced": N_("portal throttling"),
    "tls": N_("TLS certificate refused"),
    "not_playlist": N_("not an HLS playlist"),
    "onvif": N_("ONVIF discovery failed"),
    "locked_out": N_("account locked by the camera"),
}
# A camera that refused our credentials is not asked again for this long: a vendor camera locks
# the account after ~5 wrong passwords (Hikvision: for 30 minutes), so retrying on the usual
# backoff would lock it out for everyone.
AUTH_KINDS = frozenset({"auth_refused", "locked_out"})
VENDOR_PROTOCOLS = frozenset({"hikvision", "dahua"})


def error_label(kind: str | None) -> str:
    """The catalog string for an error kind (``http_404`` stays 'HTTP 404')."""
    if kind and kind.startswith("http_"):
        return "HTTP " + kind.removeprefix("http_")
    return ERROR_LABELS.get(kind or "error", kind or "error")


CaptureSource = Callable[[str, str, float], Grab]
"""(url, protocol, timeout_s) -> Grab, raising CaptureError. Injectable for the poller."""


def redact(url: str) -> str:
    """The URL with any user:password replaced, for the rare place a URL must be shown."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, "", ""))


SECRETS_ENV = "LAWANGJABO_SECRETS_FILE"


def secrets_file() -> Path:
    """The stream secrets file: ``$LAWANGJABO_SECRETS_FILE``, else ``var/secrets.toml``."""
    return Path(os.environ.get(SECRETS_ENV) or PROJECT_ROOT / "var" / "secrets.toml")


def _from_secrets_file(name: str) -> str:
    path = secrets_file()
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise CaptureError("secret_missing", f"secrets file {path} does not exist") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        # The decoder's message may quote the file's text: never pass it on.
        raise CaptureError("secret_missing", f"secrets file {path} is unreadable") from exc
    if path.stat().st_mode & 0o077:
        log.warning("secrets file %s is readable by other users; chmod 600 it", path)
    value = table.get("streams", {}).get(name)
    if isinstance(value, dict):  # [streams.NAME] url, user, password
        account = StreamAccount.parse(value)
        if account is not None:
            return account.url_with_account()
    if not isinstance(value, str) or not value:
        raise CaptureError("secret_missing", f"no [streams] {name} (a URL, or a table with "
                           f"url, user, password) in {path}")  # fmt: skip
    return value


@dataclass(frozen=True)
class StreamAccount:
    """A camera's address and account kept apart (``[streams.NAME]`` with ``url``, ``user``,
    ``password`` in the secrets file, or registered in memory): a password with ``@`` or ``:``
    needs no URL quoting by hand, and the account is joined to the address only at capture."""

    url: str
    user: str
    password: str

    @classmethod
    def parse(cls, table: dict[str, Any]) -> StreamAccount | None:
        url, user, password = (table.get(k) for k in ("url", "user", "password"))
        if not (isinstance(url, str) and url and isinstance(user, str)
                and isinstance(password, str)):  # fmt: skip
            return None
        return cls(url, user, password)

    def url_with_account(self) -> str:
        parts = urlsplit(self.url)
        account = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return urlunsplit((parts.scheme, f"{account}@{parts.netloc}", parts.path, parts.query,
                           ""))  # fmt: skip


_in_memory: dict[str, StreamAccount] = {}  # secret://NAME held by this process only


def register_secret(name: str, account: StreamAccount) -> str:
    """Keep a camera's account in this process's memory (never on disk, never in a URL of a
    file): ``secret://NAME`` resolves to it before the secrets file is read. Returns the
    reference."""
    if "/" in name:
        raise ValueError("a secret name has no '/'")
    _in_memory[name] = account
    return f"secret://{name}"


def resolve_url(url: str) -> str:
    """The real URL (with its credentials) of a registry stream URL.

    ``env://NAME`` reads the environment variable ``NAME``; ``secret://NAME`` reads ``NAME``
    from this process's registered secrets, else the ``[streams]`` table of the secrets file.
    Errors name the reference, never a value.
    """
    for scheme in ("env://", "secret://"):
        if url.startswith(scheme):
            # A vendor camera's snapshot path follows the reference: secret://NAME/ISAPI/…
            name, slash, path = url.removeprefix(scheme).partition("/")
            if scheme == "env://":
                value = os.environ.get(name)
                if not value:
                    raise CaptureError("secret_missing", f"environment variable {name} is not set")
            elif name in _in_memory:
                value = _in_memory[name].url_with_account()
            else:
                value = _from_secrets_file(name)
            return value.rstrip("/") + slash + path if slash else value
    return url


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise CaptureError("timeout", "no complete frame before the deadline")
        return remaining


def _http_open(
    url: str, deadline: _Deadline
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CaptureError("bad_url", "expected an http(s) URL")
    conn_cls = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_cls(parts.hostname, parts.port, timeout=deadline.left())
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = {"User-Agent": "LawangJabo/0.1", "Accept": "image/jpeg, multipart/x-mixed-replace"}
    if parts.username:
        import base64

        token = f"{parts.username}:{parts.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
    try:
        conn.request("GET", path, headers=headers)
        if conn.sock is not None:
            conn.sock.settimeout(deadline.left())
        response = conn.getresponse()
    except CaptureError:
        conn.close()
        raise
    except ConnectionRefusedError as exc:
        conn.close()
        raise CaptureError("refused", "connection refused") from exc
    except TimeoutError as exc:
        conn.close()
        raise CaptureError("timeout", "no answer before the deadline") from exc
    except socket.gaierror as exc:
        conn.close()
        raise CaptureError("dns", "host name does not resolve") from exc
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise CaptureError("network", type(exc).__name__) from exc
    if response.status != 200:
        conn.close()
        raise CaptureError(f"http_{response.status}", f"HTTP {response.status} {response.reason}")
    return conn, response


def _read_some(
    response: http.client.HTTPResponse, conn: http.client.HTTPConnection, deadline: _Deadline
) -> bytes:
    if conn.sock is not None:
        conn.sock.settimeout(deadline.left())
    try:
        return response.read1(CHUNK)
    except TimeoutError as exc:
        raise CaptureError("timeout", "stream stalled") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise CaptureError("network", type(exc).__name__) from exc


def grab_jpeg(url: str, timeout_s: float) -> tuple[Frame, bytes]:
    """A single-image (snapshot URL) camera."""
    deadline = _Deadline(timeout_s)
    conn, response = _http_open(url, deadline)
    try:
        data = bytearray()
        while True:
            chunk = _read_some(response, conn, deadline)
            if not chunk:
                break
            data += chunk
            if len(data) > MAX_JPEG_BYTES:
                raise CaptureError("too_large", "image larger than 8 MB")
    finally:
        conn.close()
    frame = decode_jpeg(bytes(data))
    if frame is None:
        kind = response.getheader("Content-Type", "unknown")
        raise CaptureError("not_image", f"response is not an image ({kind})")
    return frame, bytes(data)


def grab_mjpeg(url: str, timeout_s: float) -> tuple[Frame, bytes]:
    """The first complete JPEG of a ``multipart/x-mixed-replace`` (MJPEG) stream."""
    deadline = _Deadline(timeout_s)
    conn, response = _http_open(url, deadline)
    try:
        buffer = bytearray()
        while True:
            chunk = _read_some(response, conn, deadline)
            if not chunk:
                raise CaptureError("no_frame", "stream ended before a complete frame")
            buffer += chunk
            start = buffer.find(b"\xff\xd8")
            if start < 0:
                if len(buffer) > MAX_JPEG_BYTES:
                    raise CaptureError("not_image", "no JPEG in the stream")
                continue
            end = buffer.find(b"\xff\xd9", start + 2)
            if end >= 0:
                data = bytes(buffer[start : end + 2])
                frame = decode_jpeg(data)
                if frame is None:
                    raise CaptureError("decode_error", "corrupt JPEG in the stream")
                return frame, data
            if len(buffer) - start > MAX_JPEG_BYTES:
                raise CaptureError("too_large", "frame larger than 8 MB")
    finally:
        conn.close()


_LOCKED = re.compile(rb"<lockStatus>\s*lock\s*</lockStatus>|\blocked\b", re.IGNORECASE)


def grab_vendor(url: str, timeout_s: float) -> tuple[Frame, bytes]:
    """A vendor snapshot endpoint (Hikvision ISAPI, Dahua CGI) behind HTTP Digest.

    ``requests`` answers the camera's Digest challenge (MD5, SHA-256, SHA-512; the standard
    library knows only MD5 and SHA-1). A fresh authenticator per poll sends the credentials
    exactly once: a second 401 is ``auth_refused``, a lockout reply (Hikvision's
    ``<lockStatus>lock</lockStatus>``) is ``locked_out``; the poller then waits (AUTH_KINDS)."""
    import requests
    from requests.auth import HTTPDigestAuth

    deadline = _Deadline(timeout_s)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CaptureError("bad_url", "expected an http(s) URL")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    bare = urlunsplit((parts.scheme, host, parts.path or "/", parts.query, ""))
    auth = (
        HTTPDigestAuth(unquote(parts.username), unquote(parts.password or ""))
        if parts.username
        else None
    )
    headers = {"User-Agent": "LawangJabo/0.1", "Accept": "image/jpeg"}
    left = deadline.left()
    with (
        _requests_errors(),
        requests.get(
            bare,
            auth=auth,
            headers=headers,
            stream=True,
            allow_redirects=False,
            timeout=(left, left),
        ) as response,
    ):
        if response.status_code in (401, 403):
            body = response.raw.read(4096, decode_content=True) or b""
            if _LOCKED.search(body):
                raise CaptureError("locked_out", "the camera locked this account after "
                                   "wrong passwords; not asked again for a while")  # fmt: skip
            if response.status_code == 401:
                raise CaptureError("auth_refused", "credentials refused; not asked again "
                                   "for a while (a lockout guard)")  # fmt: skip
        data = _body(response, deadline, MAX_JPEG_BYTES)
        kind = response.headers.get("Content-Type", "unknown")
    frame = decode_jpeg(data)
    if frame is None:
        raise CaptureError("not_image", f"response is not an image ({kind})")
    return frame, bytes(data)


# -- ONVIF: ask the camera once where its snapshot is, then poll that JPEG ------------------

ONVIF_PROTOCOLS = frozenset({"onvif", "onvif-main"})  # sweep: the last profile; click: the first
_onvif_uris: dict[tuple[str, bool], str] = {}


def _discover_snapshot_uri(url: str, main: bool, timeout_s: float) -> str:
    """GetProfiles, then GetSnapshotUri of the first (main) or last (sub) profile, with
    onvif-zeep-async (the maintained ONVIF client, used by Home Assistant): it speaks the
    WS-Security and the device quirks we would otherwise learn one camera at a time."""
    import asyncio

    from onvif import ONVIFCamera

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CaptureError("bad_url", "expected an http(s) URL")

    async def ask() -> str | None:
        camera = ONVIFCamera(parts.hostname, parts.port or 80, unquote(parts.username or ""),
                             unquote(parts.password or ""), no_cache=True)  # fmt: skip
        try:
            await camera.update_xaddrs()
            media = await camera.create_media_service()
            profiles = await media.GetProfiles()
            if not profiles:
                return None
            chosen = profiles[0] if main else profiles[-1]
            uri: str | None = await camera.get_snapshot_uri(chosen.token)
            return uri
        finally:
            await camera.close()

    def run() -> str | None:
        return asyncio.run(asyncio.wait_for(ask(), timeout_s))

    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a poller thread: no event loop here
            found = run()
        else:  # called from async code: its own thread, its own loop
            with ThreadPoolExecutor(1) as pool:
                found = pool.submit(run).result()
    except TimeoutError as exc:
        raise CaptureError("timeout", "the camera did not answer ONVIF in time") from exc
    except CaptureError:
        raise
    except Exception as exc:  # zeep/aiohttp raise many kinds; their text may hold the address
        if "authoriz" in str(exc).lower():  # a WS-Security refusal counts toward a lockout too
            raise CaptureError("auth_refused", "the camera refused the ONVIF account") from exc
        raise CaptureError("onvif", f"ONVIF discovery failed ({type(exc).__name__})") from exc
    if not found:
        raise CaptureError("onvif", "the camera announces no snapshot URI")
    return found


def grab_onvif(url: str, main: bool, timeout_s: float) -> tuple[Frame, bytes]:
    """An ONVIF camera's snapshot: the URI discovered once (and again after a failure), then
    read like a vendor endpoint (Digest, one credentialed attempt, lockout-safe)."""
    deadline = _Deadline(timeout_s)
    key = (url, main)
    with _portal_lock:
        known = _onvif_uris.get(key)
    if known is None:
        known = _discover_snapshot_uri(url, main, deadline.left())
        with _portal_lock:
            _onvif_uris[key] = known
    parts, announced = urlsplit(url), urlsplit(known)
    account = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    snapshot = urlunsplit((announced.scheme, account + announced.netloc, announced.path,
                           announced.query, ""))  # fmt: skip
    try:
        return grab_vendor(snapshot, deadline.left())
    except CaptureError as exc:
        if exc.kind not in AUTH_KINDS:  # the URI may have moved: ask again next time
            with _portal_lock:
                _onvif_uris.pop(key, None)
        raise


# -- portal HLS: our own HTTP client, so headers and cookies are per camera, never global ---

PORTAL_PREFIX = "portal-hls:"  # + profile name: the protocol of an HLS stream behind a portal
_portals: dict[str, PortalProfile] = {}
_portal_cookies: dict[tuple[str, str], dict[str, str]] = {}  # (profile, host) → cookies
_next_request: dict[str, float] = {}  # host → monotonic time its next request may go
_portal_lock = threading.Lock()
MAX_SEGMENT_BYTES = 16 * 1024 * 1024


def configure_portals(profiles: dict[str, PortalProfile]) -> None:
    """The portal profiles of this process (the settings' ``[portals]``), set once at start."""
    with _portal_lock:
        _portals.update(profiles)
    lenient = sorted(name for name, p in profiles.items() if not p.verify_tls)
    if lenient:
        import urllib3

        # Said once here, not on every poll: these portals' certificates are known bad.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        log.warning("TLS certificates not checked for portal profile(s): %s", ", ".join(lenient))


def _pace(host: str, min_interval_s: float, deadline: _Deadline) -> None:
    """Wait for this host's next slot (the portal's throttle), or fail if it is past the
    deadline. Slots are reserved under the lock, slept outside it."""
    if min_interval_s <= 0:
        return
    with _portal_lock:
        now = time.monotonic()
        slot = max(now, _next_request.get(host, 0.0))
        if slot - now >= deadline.left():
            raise CaptureError("paced", f"the portal allows one request per {min_interval_s:g} s")
        _next_request[host] = slot + min_interval_s
    time.sleep(max(0.0, slot - now))


def _portal_get(
    url: str, name: str, profile: PortalProfile, deadline: _Deadline, limit: int
) -> bytes:
    """One paced GET with the profile's headers and cookies; a refusal refreshes the session
    cookie once. Errors name no URL."""
    import requests

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CaptureError("bad_url", "expected an http(s) URL")
    jar = (name, parts.netloc)
    for attempt in (0, 1):
        with _portal_lock:
            need_cookie = profile.cookie_path and (attempt or jar not in _portal_cookies)
        if need_cookie:
            assert profile.cookie_path is not None
            origin = urlunsplit((parts.scheme, parts.netloc, profile.cookie_path, "", ""))
            _pace(parts.netloc, profile.min_interval_s, deadline)
            with _requests_errors():
                got = requests.get(origin, headers=profile.headers, verify=profile.verify_tls,
                                   timeout=deadline.left(), allow_redirects=False)  # fmt: skip
            with _portal_lock:
                _portal_cookies[jar] = {c.name: c.value or "" for c in got.cookies}
        with _portal_lock:
            cookies = dict(_portal_cookies.get(jar, {}))
        _pace(parts.netloc, profile.min_interval_s, deadline)
        with _requests_errors(), requests.get(
            url, headers=profile.headers, cookies=cookies, verify=profile.verify_tls,
            timeout=deadline.left(), stream=True, allow_redirects=False,
        ) as response:  # fmt: skip
            if response.status_code in (401, 403) and profile.cookie_path and not attempt:
                continue  # the session ran out: a new cookie, then once more
            if response.status_code == 429:
                raise CaptureError("paced", "the portal asks us to slow down (HTTP 429)")
            return _body(response, deadline, limit)
    raise CaptureError("http_403", "refused even with a new session cookie")


def _body(response: Any, deadline: _Deadline, limit: int) -> bytes:
    """A 200 response's body, read within the deadline and ``limit`` bytes."""
    if response.status_code != 200:
        raise CaptureError(f"http_{response.status_code}",
                           f"HTTP {response.status_code} {response.reason}")  # fmt: skip
    data = bytearray()
    for chunk in response.iter_content(CHUNK):
        deadline.left()
        data += chunk
        if len(data) > limit:
            raise CaptureError("too_large", f"response larger than {limit // 1024 // 1024} MB")
    return bytes(data)


@contextmanager
def _requests_errors() -> Iterator[None]:
    """requests' exceptions as capture errors (their text may hold the URL: not passed on)."""
    import requests

    try:
        yield
    except requests.exceptions.SSLError as exc:
        reason = "TLS certificate refused (a known-bad portal: verify_tls = false)"
        raise CaptureError("tls", reason) from exc
    except requests.exceptions.Timeout as exc:
        raise CaptureError("timeout", "no answer before the deadline") from exc
    except requests.exceptions.ConnectionError as exc:
        refused = "refused" in str(exc).lower()
        raise CaptureError("refused" if refused else "network", "connection failed") from exc
    except requests.exceptions.RequestException as exc:
        raise CaptureError("network", type(exc).__name__) from exc


def _newest_segment(playlist: str, base: str) -> tuple[str, bool]:
    """The URL of the newest media segment, or of the first variant of a master playlist
    (the bool says which)."""
    lines = [line.strip() for line in playlist.splitlines()]
    if not lines or lines[0] != "#EXTM3U":
        raise CaptureError("not_playlist", "not an HLS playlist")
    uris = [line for line in lines if line and not line.startswith("#")]
    if not uris:
        raise CaptureError("no_frame", "the playlist lists no segment")
    if any(line.startswith("#EXT-X-STREAM-INF") for line in lines):
        return urljoin(base, uris[0]), True
    return urljoin(base, uris[-1]), False


def grab_portal_hls(url: str, name: str, timeout_s: float) -> Frame:
    """One frame of a portal's HLS stream: the playlist and its newest segment fetched with
    the profile's headers, cookies and pacing by our own client, then only that segment
    decoded from a private temporary file. Nothing process-wide is set, so cameras with
    different headers never race (OpenCV's own HLS reads headers from one environment
    variable shared by every thread)."""
    with _portal_lock:
        profile = _portals.get(name)
    if profile is None:
        raise CaptureError("bad_protocol", f"no portal profile {name!r}")
    deadline = _Deadline(timeout_s)
    playlist_url = url
    for _ in range(2):  # a master playlist names a media playlist: one level down
        text = _portal_get(playlist_url, name, profile, deadline, 1024 * 1024)
        target, is_variant = _newest_segment(text.decode("utf-8", "replace"), playlist_url)
        if not is_variant:
            break
        playlist_url = target
    else:
        raise CaptureError("not_playlist", "playlists nested too deep")
    segment = _portal_get(target, name, profile, deadline, MAX_SEGMENT_BYTES)
    with tempfile.NamedTemporaryFile(suffix=".ts") as handle:
        handle.write(segment)
        handle.flush()
        frame = grab_video(handle.name, max(0.5, deadline.left()))
    return frame


FFMPEG_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"


class _OptionGate:
    """OpenCV passes FFmpeg options (RTSP transport, HTTP headers) only through one process-wide
    environment variable, read at each open. Opens therefore go through this gate: any number
    at once with the same options (the variable holds them meanwhile), a different set waits
    until those opens are done; a waiting set stops newcomers of the current one, so no set
    starves. Reads run outside the gate. Without options the variable is unset, as before."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._current: str | None = None
        self._active = 0
        self._waiting: list[str] = []

    @contextmanager
    def opening(self, options: str, deadline: _Deadline) -> Iterator[None]:
        with self._cond:
            self._waiting.append(options)
            try:
                while not (self._active == 0 or (
                    self._current == options and all(w == options for w in self._waiting)
                )):  # fmt: skip
                    self._cond.wait(min(0.5, deadline.left()))
            finally:
                self._waiting.remove(options)
            if self._active == 0 and self._current != options:
                if options:
                    os.environ[FFMPEG_OPTIONS_ENV] = options
                else:
                    os.environ.pop(FFMPEG_OPTIONS_ENV, None)
                self._current = options
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                if self._active == 0 and self._current:  # left as OpenCV's default
                    os.environ.pop(FFMPEG_OPTIONS_ENV, None)
                    self._current = ""
                self._cond.notify_all()


_option_gate = _OptionGate()


def ffmpeg_options(transport: str | None = None, headers: dict[str, str] | None = None) -> str:
    """The option string OpenCV hands FFmpeg (``key;value|key;value``)."""
    parts = [f"rtsp_transport;{transport}"] if transport else []
    if headers:
        parts.append("headers;" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()))
    return "|".join(parts)


def grab_video(url: str, timeout_s: float, options: str = "") -> Frame:
    """One decoded frame of an HLS or RTSP stream through OpenCV/FFmpeg; ``options`` are FFmpeg
    options for this open only (see :class:`_OptionGate`)."""
    deadline = _Deadline(timeout_s)
    ms = int(timeout_s * 1000)
    with _option_gate.opening(options, deadline):
        capture = cv2.VideoCapture(
            url,
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms],
        )
    try:
        if not capture.isOpened():
            raise CaptureError("open_failed", "stream could not be opened")
        ok, frame = capture.read()
        if not ok or frame is None or not frame.size:
            raise CaptureError("no_frame", "stream opened but gave no frame")
        return frame
    finally:
        capture.release()


def grab(url: str, protocol: str, timeout_s: float) -> Grab:
    """One frame by protocol; raises :class:`CaptureError`. The default capture source."""
    started = time.monotonic()
    real = resolve_url(url)
    jpeg: bytes | None = None
    if protocol == "jpeg":
        frame, jpeg = grab_jpeg(real, timeout_s)
    elif protocol == "mjpeg":
        frame, jpeg = grab_mjpeg(real, timeout_s)
    elif protocol in VENDOR_PROTOCOLS:
        frame, jpeg = grab_vendor(real, timeout_s)
    elif protocol in ONVIF_PROTOCOLS:
        frame, jpeg = grab_onvif(real, protocol == "onvif-main", timeout_s)
    elif protocol.startswith(PORTAL_PREFIX):
        frame = grab_portal_hls(real, protocol.removeprefix(PORTAL_PREFIX), timeout_s)
    elif protocol in ("hls", "rtsp"):
        frame = grab_video(real, timeout_s)
    elif protocol in ("rtsp-tcp", "rtsp-udp"):  # a camera that needs one RTSP transport
        frame = grab_video(real, timeout_s, ffmpeg_options(protocol.removeprefix("rtsp-")))
    else:
        raise CaptureError("bad_protocol", f"unknown protocol {protocol!r}")
    return Grab(frame, time.monotonic() - started, jpeg)
