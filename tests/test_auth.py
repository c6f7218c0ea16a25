"""Accounts and sessions: argon2 hashes, lockout, expiry, revocation, rotation; role tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lawangjabo.auth import MAX_FAILURES, PAGES, SessionStore, UserStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_passwords_are_stored_as_argon2_hashes(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "users.json")
    password = users.add("ops", "operator", agencies=["dishub"])
    text = (tmp_path / "users.json").read_text(encoding="utf-8")
    assert password not in text and "$argon2id$" in text
    assert (tmp_path / "users.json").stat().st_mode & 0o777 == 0o600
    account = users.verify("ops", password)
    assert account is not None and account.role == "operator" and account.agencies == ["dishub"]
    assert users.verify("ops", "wrong-password") is None
    assert users.verify("nobody", password) is None


def test_lockout_after_repeated_failures(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "users.json")
    password = users.add("ops", "operator")
    for _ in range(MAX_FAILURES):
        assert users.verify("ops", "wrong-password") is None
    assert users.locked("ops")
    assert users.verify("ops", password) is None  # even the right password, while locked


def test_reset_and_roles(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "users.json")
    old = users.add("ops", "operator")
    new = users.reset_password("ops")
    assert new != old and users.verify("ops", old) is None and users.verify("ops", new)
    users.set_role("ops", "planner")
    account = users.get("ops")
    assert account is not None and account.role == "planner"
    with pytest.raises(ValueError, match="role"):
        users.set_role("ops", "god")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exists"):
        users.add("ops", "leader")
    with pytest.raises(ValueError, match="10 characters"):
        users.add("short", "leader", "abc")
    assert json.loads((tmp_path / "users.json").read_text(encoding="utf-8"))["users"].keys() == {
        "ops"
    }


def test_sessions_expire_and_revoke() -> None:
    clock = Clock()
    sessions = SessionStore(idle_s=60, absolute_s=300, clock=clock)
    sid = sessions.create("ops", "operator")
    assert sessions.get(sid) is not None
    clock.now += 59
    assert sessions.get(sid) is not None  # activity keeps it alive
    clock.now += 61
    assert sessions.get(sid) is None  # idle too long
    sid = sessions.create("ops", "operator")
    for _ in range(6):
        clock.now += 55
        sessions.get(sid)
    assert sessions.get(sid) is None  # absolute limit, however active
    sid = sessions.create("ops", "operator")
    other = sessions.create("ops", "operator")
    assert sid != other
    sessions.revoke(sid)
    assert sessions.get(sid) is None and sessions.get(other) is not None
    sessions.revoke_user("ops")
    assert sessions.get(other) is None
    assert sessions.get("forged-id") is None and sessions.get(None) is None


def test_roles_reach_only_their_pages() -> None:
    assert "incidents" not in PAGES["leader"] and "incidents" not in PAGES["planner"]
    assert "analytics" not in PAGES["operator"]
    assert PAGES["admin"] >= PAGES["operator"] | PAGES["planner"] | PAGES["leader"]


@pytest.mark.parametrize(
    ("agencies", "owner", "scope", "visible"),
    [
        ((), "polrestabes", "internal", True),  # unrestricted account
        (("dishub",), "dishub", "internal", True),  # its own agency's internal camera
        (("dishub",), "diskominfo", "publik", True),  # anyone's public camera
        (("dishub",), "polrestabes", "internal", False),
    ],  # police-internal: hidden from Dishub
)
def test_agency_scope(agencies: tuple[str, ...], owner: str, scope: str, visible: bool) -> None:
    from lawangjabo.auth import camera_visible

    assert camera_visible(agencies, owner, scope) is visible
