"""Fault injection against a running server (``streamlit run app.py``), its state folder on a
small tmpfs: poison spool lines, a full and then a read-only disk, the accounts file deleted and
truncated, 100 concurrent refreshes, a 1 MB user name. Each test asserts what a person would see,
that the server recovers by itself, and that nothing already committed is lost.

Each test appends a row (fault, what was seen, recovered after, data lost) to
``test-artifacts/faults.json``: the closing note's table comes from it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..browser import ARTIFACTS
from ..e2e.conftest import Server, csrf_token, sign_in, start_server, stop
from ..test_cli import run

TABLE = ARTIFACTS / "faults.json"
MIN_FREE_MB = 6


@dataclass
class Faulty:
    server: Server
    state: Path
    mount: Path


def _mount_tmpfs(where: Path, size_mb: int) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _read_only(folder: Path) -> None:
    """Make ``folder`` read-only for everyone, root included (a read-only bind mount)."""
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True, timeout=30)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, timeout=30)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    mount = tmp_path_factory.mktemp("tmpfs")
    if not _mount_tmpfs(mount, 64):
        pytest.skip("cannot mount a tmpfs here (needs root): the disk faults need one")
    state = mount / "state"
    state.mkdir()
    try:
        process, server = start_server(
            state,
            mount.parent / "faults-server.log",
            LAWANGJABO_CAMERAS__INTERVAL_S="2",
            LAWANGJABO_CAMERAS__TIMEOUT_S="2",
            LAWANGJABO_CAMERAS__HISTORY_TOTAL_MB="4",
            LAWANGJABO_INCIDENTS__DEMO_HISTORY_DAYS="30",
            LAWANGJABO_STORAGE__MIN_FREE_MB=str(MIN_FREE_MB),
            LAWANGJABO_AUTH__REFRESHES_PER_MINUTE="30",
        )
        try:
            _wait(lambda: _health(server)["poller"]["alive"], 60, "the poller to start")
            yield Faulty(server, state, mount)
        finally:
            stop(process)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


# -- helpers --------------------------------------------------------------------------------


def _get(server: Server, path: str, cookie: str | None = None) -> tuple[int, Any]:
    headers = {"Cookie": f"lj_session={cookie or server.cookie}"}
    request = urllib.request.Request(f"{server.url}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _health(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/api/health", timeout=30) as reply:
        data: dict[str, Any] = json.loads(reply.read())
        return data


def _kinds(server: Server) -> set[str]:
    return {p["kind"] for p in _health(server)["problems"]}


def _wait(check: Callable[[], Any], timeout_s: float, what: str) -> float:
    """Seconds until ``check()`` is truthy (fails the test after ``timeout_s``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"waited {timeout_s} s for {what}")


def _cli(state: Path, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    return run(*args, state=state, FAULT_PASSWORD=password)


def _record(fault: str, seen: str, recovered_s: float, lost: int) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    rows = json.loads(TABLE.read_text()) if TABLE.exists() else []
    rows = [r for r in rows if r["fault"] != fault]
    rows.append({"fault": fault, "seen": seen, "recovered_after_s": round(recovered_s, 1),
                 "data_lost": lost})  # fmt: skip
    TABLE.write_text(json.dumps(rows, indent=1))


def _last_polls(server: Server) -> dict[str, str]:
    status, body = _get(server, "/api/cameras")
    assert status == 200, body
    return {c["id"]: c["last_poll"] for c in body["cameras"]}


def _stored(server: Server) -> dict[str, int]:
    """Rows the server has stored (admin-only ``/api/stats``)."""
    status, body = _get(server, "/api/stats")
    assert status == 200, body
    return {k: int(v) for k, v in body.items()}


def _nothing_lost(before: dict[str, int], after: dict[str, int]) -> int:
    """Rows of ``before`` missing ``after`` (every table only grows here)."""
    return sum(max(0, before[k] - after[k]) for k in ("incidents", "poll_outcomes", "audit_log"))


# -- the faults -----------------------------------------------------------------------------


def test_poison_spool_lines_are_quarantined_and_later_files_go_in(faulty: Faulty) -> None:
    server, state = faulty.server, faulty.state
    assert _cli(state, "users", "add", "victim", "--role", "operator", "--password-env",
                "FAULT_PASSWORD", password="victim-password-1").returncode == 0  # fmt: skip
    victim = sign_in(server.url, "victim", "victim-password-1")
    assert _get(server, "/api/cameras", victim)[0] == 200
    good = {"camera_id": "x", "polled_at": "2026-11-30T00:00:00+00:00", "ok": True,
            "error_kind": None, "latency_ms": 1.0, "lane": "sweep", "dark": False,
            "low_detail": False, "frozen": False, "mean_luma": 1.0, "detail": 1.0,
            "dhash": 1}  # fmt: skip
    poison = {
        state / "spool" / "0000-list.jsonl": "[1, 2, 3]\n",
        state / "spool" / "0000-type.jsonl": json.dumps({**good, "polled_at": "not-a-time"}),
        state / "audit-spool" / "0000-list.jsonl": "[1]\n",
        state / "audit-spool" / "0000-type.jsonl": json.dumps(
            {"happened_at": "not-a-time", "actor": "x", "action": "y"}
        ),
    }
    for path, text in poison.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    # A role change made with the CLI after the poison: it must still sign the victim out.
    assert _cli(state, "users", "set-role", "victim", "--role", "planner").returncode == 0
    _wait(lambda: _get(server, "/api/cameras", victim)[0] == 401, 15, "the victim's sign-out")
    before = _last_polls(server)
    _wait(lambda: _last_polls(server) != before, 15, "new poll outcomes to be ingested")
    recovered = time.monotonic() - started
    health = _health(server)
    problem = next(p for p in health["problems"] if p["kind"] == "quarantine")
    assert health["status"] == "degraded" and problem["message"].startswith("4 spool file(s)")
    for path in poison:  # set aside with their reasons, not deleted
        held = path.parent / "quarantine" / path.name
        assert (
            held.exists() and "unreadable" in held.with_name(held.name + ".reason.txt").read_text()
        )
    listed = _cli(state, "spool", "list").stdout
    assert listed.count("0000-") == 4 and "not a JSON object" in listed
    assert _get(server, "/api/cameras")[0] == 200  # nothing answers 500
    for folder in ("spool", "audit-spool"):
        shutil.rmtree(state / folder / "quarantine")
    _wait(lambda: "quarantine" not in _kinds(server), 10, "the quarantine problem to clear")
    _record("poison lines in poll and audit spool (4 files)",
            "health degraded: 4 files quarantined; admins see them with reasons; "
            "later files ingested; the CLI role change still signed the account out",
            recovered, 0)  # fmt: skip


def test_a_full_disk_then_a_read_only_one_are_states_not_deaths(faulty: Faulty) -> None:
    server, mount = faulty.server, faulty.mount
    stored_before = _stored(server)
    filler = mount / "filler.bin"
    with filler.open("wb") as handle:  # fill the tmpfs to ENOSPC
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError:
            pass
    _wait(lambda: {"disk", "poller"} <= _kinds(server), 20, "the disk and poller problems")
    health = _health(server)
    assert health["status"] == "degraded"
    messages = " ".join(p["message"] for p in health["problems"])
    assert "nearly full" in messages and "No space left" in messages
    assert _get(server, "/api/cameras")[0] == 200
    token = csrf_token(server.url, server.cookie)
    camera = next(iter(_last_polls(server)))
    request = urllib.request.Request(
        f"{server.url}/api/cameras/{camera}/refresh",
        method="POST",
        headers={"Cookie": f"lj_session={server.cookie}", "X-CSRF-Token": token},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 202  # not 500: the capture runs, its picture waits for space
    time.sleep(4)  # outcomes pile up in memory while nothing can be written
    filler.unlink()
    started = time.monotonic()
    before = _last_polls(server)
    _wait(lambda: not {"disk", "poller", "ingest"} & _kinds(server), 30, "recovery from ENOSPC")
    _wait(lambda: _last_polls(server) != before, 15, "fresh outcomes after ENOSPC")
    full_recovered = time.monotonic() - started
    full_lost = _nothing_lost(stored_before, _stored(server))
    assert full_lost == 0

    # Read-only: the folders the poller writes become read-only bind mounts (the whole tmpfs
    # cannot be remounted while the database file is open for writing).
    folders = [faulty.state / "spool", faulty.state / "snapshots"]
    for folder in folders:
        _read_only(folder)
    try:
        _wait(lambda: "poller" in _kinds(server), 20, "the read-only problem")
        assert "Read-only" in " ".join(p["message"] for p in _health(server)["problems"])
        assert _get(server, "/api/cameras")[0] == 200
    finally:
        for folder in folders:
            subprocess.run(["umount", str(folder)], check=True, timeout=30)
    started = time.monotonic()
    before = _last_polls(server)
    _wait(lambda: not {"poller", "ingest"} & _kinds(server), 30, "recovery from read-only")
    _wait(lambda: _last_polls(server) != before, 15, "fresh outcomes after read-only")
    ro_recovered = time.monotonic() - started
    stored_after = _stored(server)
    ro_lost = _nothing_lost(stored_before, stored_after)
    assert ro_lost == 0 and stored_after["incidents"] == stored_before["incidents"]
    _record("state disk full (ENOSPC on tmpfs)",
            "health degraded: 'state disk nearly full', 'poll spool not writable: No space "
            "left'; banner for operators; refresh 202; pages keep working",
            full_recovered, full_lost)  # fmt: skip
    _record("spool and snapshot folders read-only (read-only bind mounts)",
            "health degraded: 'poll spool not writable: Read-only file system'; pages work",
            ro_recovered, ro_lost)  # fmt: skip


def test_accounts_file_deleted_then_truncated(faulty: Faulty) -> None:
    server, state = faulty.server, faulty.state
    assert _cli(state, "users", "add", "acct", "--role", "operator", "--password-env",
                "FAULT_PASSWORD", password="acct-password-1").returncode == 0  # fmt: skip
    users = state / "users.json"
    saved = users.read_bytes()

    def login_status() -> int:
        try:
            sign_in(server.url, "acct", "acct-password-1")
        except urllib.error.HTTPError as error:
            return error.code
        return 303

    users.unlink()
    assert login_status() == 401  # refused, not a 500
    assert "accounts" in _kinds(server)
    assert "missing" in " ".join(p["message"] for p in _health(server)["problems"])
    started = time.monotonic()
    users.write_bytes(saved)
    assert login_status() == 303
    deleted_recovered = time.monotonic() - started

    users.write_bytes(saved[: len(saved) // 2])  # truncated mid-write
    assert login_status() == 401
    assert "unreadable" in " ".join(p["message"] for p in _health(server)["problems"])
    refused = _cli(state, "users", "add", "late", "--role", "operator")
    assert refused.returncode == 1 and "cannot be read" in refused.stdout
    assert users.read_bytes() == saved[: len(saved) // 2]  # not overwritten: nothing lost
    started = time.monotonic()
    users.write_bytes(saved)
    assert login_status() == 303
    assert "accounts" not in _kinds(server)
    _record("accounts file deleted", "sign-in refused (401, no 500); health: accounts missing",
            deleted_recovered, 0)  # fmt: skip
    _record("accounts file truncated",
            "sign-in refused (401); health: accounts unreadable; the CLI refuses to overwrite it",
            time.monotonic() - started, 0)  # fmt: skip


def test_a_hundred_concurrent_refreshes_do_not_starve_the_api(faulty: Faulty) -> None:
    server = faulty.server
    token = csrf_token(server.url, server.cookie)
    camera = next(iter(_last_polls(server)))
    statuses: list[int] = []
    lock = threading.Lock()

    def refresh(_: int) -> None:
        request = urllib.request.Request(
            f"{server.url}/api/cameras/{camera}/refresh",
            method="POST",
            headers={"Cookie": f"lj_session={server.cookie}", "X-CSRF-Token": token},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                code = reply.status
        except urllib.error.HTTPError as error:
            code = error.code
        with lock:
            statuses.append(code)

    with ThreadPoolExecutor(100) as pool:
        futures = [pool.submit(refresh, n) for n in range(100)]
        time.sleep(0.2)  # the refreshes are in flight
        started = time.monotonic()
        status, _ = _get(server, "/api/cameras")
        api_s = time.monotonic() - started
        for future in futures:
            future.result()
    assert status == 200
    assert api_s < 3.0, f"/api/cameras took {api_s:.1f} s behind 100 refreshes"
    assert set(statuses) <= {202, 429} and 500 not in statuses
    assert statuses.count(429) >= 60  # 30 per minute per account
    _record("100 concurrent refreshes from one operator",
            f"{statuses.count(202)} accepted (202), {statuses.count(429)} told to wait "
            f"(429); /api/cameras answered in {api_s:.2f} s", 0.0, 0)  # fmt: skip


def test_a_rate_limited_flood_with_huge_names_stays_small(faulty: Faulty) -> None:
    """Last in this module: it uses up 127.0.0.1's sign-in attempts."""
    server = faulty.server
    before = _stored(server)
    huge = "u" * 1_000_000
    body = f"username={huge}&password=x&csrf=y".encode()
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/login")
    connection.putheader("Content-Type", "application/x-www-form-urlencoded")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        connection.send(body)  # the server answers and hangs up before reading it all
    status = connection.getresponse().status
    connection.close()
    assert status == 413
    for n in range(40):
        with contextlib.suppress(urllib.error.HTTPError):  # refused, as it should be
            sign_in(server.url, "x" * 5000 + str(n), "wrong-password")
    time.sleep(2)  # the audit rows are written
    after = _stored(server)
    rows = after["audit_log"] - before["audit_log"]
    grown = after["audit_chars"] - before["audit_chars"]
    assert rows <= 45, rows  # at most one per attempt (rate-limited ones: one per window)
    assert grown < 40 * 400, grown  # 40 × 5 KB names unbounded would be 200 KB
    _record("1 MB user name, then 40 sign-ins with 5 KB names",
            f"413 for the 1 MB form; names cut to 64 characters; one audit row per "
            f"rate-limited window; the audit log grew {rows} rows, {grown / 1024:.1f} KB",
            0.0, 0)  # fmt: skip
