"""The HTTP routes of the real server: states, images, caching, 404s, refresh; no stream URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from lawangjabo.cameras.imaging import decode_jpeg
from lawangjabo.config import PROJECT_ROOT

from .conftest import Server


def _get(
    server: Server, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={**server.headers(), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=15) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def test_cameras_route_has_states_and_no_stream_url(server: Server) -> None:
    status, headers, body = _get(server, f"{server.url}/api/cameras")
    assert status == 200 and headers["cache-control"] == "no-store"
    cameras: list[dict[str, Any]] = json.loads(body)["cameras"]
    states = {c["id"]: c["state"] for c in cameras}
    assert states["plg-cam14-punti-kayu"] == "offline"  # simulated dead
    assert states["plg-cam48-sp-soekarno-hatta"] == "offline"  # simulated hanging
    assert states["plg-cam45-sp-bandara"] == "dark"
    assert states["plg-cam3-sp-polda"] == "online"
    text = body.decode()
    for secret in ("stream.palembang.go.id", "m3u8", ".mjpg", "/hls/", "/cam/"):
        assert secret not in text


@pytest.mark.parametrize(("kind", "width"), [("snapshot", 640), ("thumb", 320)])
def test_images_are_jpeg_with_revalidation(server: Server, kind: str, width: int) -> None:
    url = f"{server.url}/api/cameras/plg-cam3-sp-polda/{kind}.jpg"
    status, headers, body = _get(server, url)
    assert status == 200 and headers["content-type"] == "image/jpeg"
    assert headers["cache-control"] == "private, no-cache"
    assert headers["x-content-type-options"] == "nosniff"
    frame = decode_jpeg(body)
    assert frame is not None and frame.shape[1] == width
    again, _, empty = _get(server, url, {"If-None-Match": headers["etag"]})
    assert again in (200, 304)  # 200 only if a new picture landed in between
    if again == 304:
        assert empty == b""


def test_unknown_camera_and_bad_time_are_refused(server: Server) -> None:
    assert _get(server, f"{server.url}/api/cameras/nope/snapshot.jpg")[0] == 404
    assert (
        _get(server, f"{server.url}/api/cameras/plg-cam3-sp-polda/snapshot.jpg?at=yesterday")[0]
        == 400
    )
    assert (
        _get(
            server, f"{server.url}/api/cameras/plg-cam3-sp-polda/snapshot.jpg?at=2026-11-27T14:05"
        )[0]
        == 400
    )


def test_history_answers_what_it_showed_at(server: Server) -> None:
    status, headers, body = _get(
        server,
        f"{server.url}/api/cameras/plg-cam3-sp-polda/snapshot.jpg?at=2100-01-01T00:00%2B07:00",
    )
    assert status == 200 and decode_jpeg(body) is not None
    assert "x-snapshot-taken-at" in headers


def test_failed_camera_has_no_picture(server: Server) -> None:
    status, _, body = _get(server, f"{server.url}/api/cameras/plg-cam14-punti-kayu/snapshot.jpg")
    assert status == 404 and b"no picture yet" in body


def test_refresh_goes_through_the_fast_lane(server: Server) -> None:
    before = json.loads(_get(server, f"{server.url}/api/cameras")[2])["cameras"]
    old = next(c for c in before if c["id"] == "plg-cam3-sp-polda")["last_good"]
    request = urllib.request.Request(
        f"{server.url}/api/cameras/plg-cam3-sp-polda/refresh",
        method="POST",
        headers=server.headers(write=True),
    )
    with urllib.request.urlopen(request, timeout=15) as reply:
        assert reply.status == 202
        result = json.loads(reply.read())
    assert result["finished"] is True and result["last_good"] >= old


def test_the_cli_imports_incidents_while_the_app_runs(server: Server, tmp_path: Path) -> None:
    """The app holds the DuckDB file: the CLI hands the file to it and reports its outcome."""
    state = server.log.parent
    incidents = tmp_path / "calls.csv"
    incidents.write_text(
        "occurred_at,category,priority,lat,lon,external_id\n"
        "2026-11-30T09:00:00+07:00,kebakaran,P1,-2.98883,104.76372,cli-inbox-1\n"
        "2026-11-30T09:05:00+07:00,kemacetan,P3,-2.97677,104.75434,cli-inbox-2\n",
        encoding="utf-8",
    )
    env = {**os.environ, "LAWANGJABO_PATHS__STATE_DIR": str(state)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: PLW1510 - the exit code is what is tested
            [sys.executable, "-m", "lawangjabo", "import-incidents", *args, "--wait", "30"],
            capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=60,
        )  # fmt: skip

    first = cli(str(incidents))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "the app is running; handed to it" in first.stdout
    assert "2 valid, 0 rejected; 2 written" in first.stdout
    again = cli(str(incidents))  # the app's database has them now: refused as duplicates
    assert again.returncode == 1 and "already imported from import" in again.stdout
    assert "0 written" in again.stdout
    inbox = state / "inbox" / "incidents"
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == []  # nothing left behind
    assert len(list((inbox / "done").glob("*.json"))) == 2


def test_refresh_waits_for_the_external_pollers_picture(tmp_path: Path) -> None:
    """With the poller in its own process (the layout from 500 cameras), a refresh answers when
    that process has stored a newer picture, so the card can swap it in at once."""
    import time

    from .conftest import start_server, stop, wait_for_first_round

    env = {
        "LAWANGJABO_CAMERAS__POLLER": "external",
        "LAWANGJABO_CAMERAS__INTERVAL_S": "60",  # no sweep brings the newer picture by chance
        "LAWANGJABO_CAMERAS__TIMEOUT_S": "2",
    }
    process, server = start_server(tmp_path, tmp_path / "server.log", **env)
    poller = subprocess.Popen(
        [sys.executable, "-m", "lawangjabo", "poller"],
        cwd=PROJECT_ROOT, env={**os.environ, "LAWANGJABO_PATHS__STATE_DIR": str(tmp_path), **env},
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "poller.log").open("wb"),
    )  # fmt: skip
    try:
        before = {c["id"]: c for c in wait_for_first_round(server, 90)}
        old = before["plg-cam3-sp-polda"]["last_good"]
        assert old is not None
        request = urllib.request.Request(
            f"{server.url}/api/cameras/plg-cam3-sp-polda/refresh",
            method="POST",
            headers=server.headers(write=True),
        )
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=30) as reply:
            assert reply.status == 202
            result = json.loads(reply.read())
        assert result["finished"] is True, result
        from datetime import datetime

        assert datetime.fromisoformat(result["last_good"]) > datetime.fromisoformat(str(old))
        assert time.monotonic() - started < 5 * (2 + 2)  # a gross guard on timeout + wait
    finally:
        stop(poller)
        stop(process)
