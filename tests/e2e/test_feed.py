"""The agency feed against the running server with a real HTTP client (issue 13, part 2):
tokens made with the CLI, batches judged item by item, replays answered not doubled, status
changes only of the agency's own incidents, wrong and revoked tokens, the rate limit, and the
OpenAPI description behind sign-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

from lawangjabo.auth.tokens import split
from lawangjabo.config import PROJECT_ROOT

from .conftest import Server


def _tokens(server: Server, *args: str) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "lawangjabo", "tokens", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "LAWANGJABO_PATHS__STATE_DIR": str(server.log.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    return made.stdout


def _new_token(server: Server, agency: str, name: str) -> str:
    printed = _tokens(server, "create", name, "--agency", agency)
    return printed.strip().splitlines()[-1]


def _call(
    server: Server, method: str, body: Any, token: str | None, raw: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{server.url}/api/incidents", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            status, head, text = reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        status, head, text = error.code, dict(error.headers), error.read()
    return status, {k.lower(): v for k, v in head.items()}, json.loads(text)


def _incident(external_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "occurred_at": "2026-11-30T19:40:00+07:00",
        "category": "macet",  # a synonym from the city file
        "priority": "P3",
        "lat": -2.97860,
        "lon": 104.74574,
        "description": "antrean di simpang",
        **changes,
    }


def test_a_batch_is_judged_item_by_item_and_a_replay_is_not_stored_twice(server: Server) -> None:
    token = _new_token(server, "DISHUB", "dishub-atcs-batch")  # case and alias do not matter
    batch = [
        _incident("ATCS-1"),
        _incident("ATCS-2", category="kebakaran", priority="P1"),
        _incident("ATCS-3", category="ufo", lat=104.7, lon=-2.9, colour="red"),
        _incident("ATCS-1"),  # the same report twice in one request
    ]
    status, _, body = _call(server, "POST", {"incidents": batch}, token)
    assert status == 207, body
    results = body["results"]
    assert [r["outcome"] for r in results] == ["created", "created", "rejected", "rejected"]
    assert (
        results[2]["errors"] == [{"field": "colour", "reason": results[2]["errors"][0]["reason"]}]
        and "unknown field" in results[2]["errors"][0]["reason"]
    )
    assert results[3]["errors"][0]["field"] == "external_id"
    ids = [results[0]["id"], results[1]["id"]]

    status, _, body = _call(server, "POST", batch[:2], token)  # the agency's retry
    assert status == 200, body
    assert [(r["outcome"], r["id"]) for r in body["results"]] == [("exists", i) for i in ids]

    bad = [_incident("ATCS-9", category="ufo", lat=104.7, lon=-2.9)]
    status, _, body = _call(server, "POST", bad, token)
    assert status == 422
    fields = {e["field"]: e["reason"] for e in body["results"][0]["errors"]}
    assert fields == {"category": "unknown category 'ufo'", "lat/lon": "lat/lon swapped"}

    status, _, body = _call(server, "POST", None, token, raw=b"{not json")
    assert status == 400 and "not JSON" in body["error"]


def test_status_changes_reach_only_the_agencys_own_incidents(server: Server) -> None:
    dishub = _new_token(server, "dishub", "dishub-atcs-status")
    police = _new_token(server, "polrestabes", "polrestabes-cad")
    status, _, body = _call(server, "POST", _incident("ATCS-50"), dishub)
    assert status == 201, body
    ours = body["results"][0]["id"]
    status, _, body = _call(server, "POST", _incident("LP-77", category="pencurian"), police)
    theirs = body["results"][0]["id"]  # routed to the police, not to Dishub

    changes = [
        {"external_id": "ATCS-50", "status": "dispatched", "note": "petugas ATCS"},
        {"external_id": "ATCS-50", "status": "new"},  # backwards: refused by the lifecycle
        {"id": theirs, "status": "resolved"},  # another agency's incident
        {"external_id": "LP-77", "status": "resolved"},  # their id, not ours
    ]
    status, _, body = _call(server, "PATCH", changes, dishub)
    assert status == 207, body
    outcomes = [(r["outcome"], r.get("id")) for r in body["results"]]
    assert outcomes == [("updated", ours), ("rejected", ours), ("not_found", None),
                        ("not_found", None)]  # fmt: skip
    assert "cannot go from dispatched to new" in body["results"][1]["errors"][0]["reason"]
    status, _, body = _call(server, "PATCH", {"id": theirs, "status": "dispatched"}, police)
    assert status == 200 and body["results"][0]["outcome"] == "updated"


def test_wrong_missing_and_revoked_tokens_are_refused(server: Server) -> None:
    status, head, body = _call(server, "POST", _incident("X-1"), None)
    assert status == 401  # no session, no token: the gate refuses
    status, head, body = _call(server, "POST", _incident("X-1"), "ljt_00000000_" + "a" * 43)
    assert status == 401 and "invalid_token" in head["www-authenticate"]
    status, _, _ = _call(server, "POST", _incident("X-1"), "not-even-shaped")
    assert status == 401

    token = _new_token(server, "bpbd", "bpbd-pusdalops")
    assert _call(server, "POST", _incident("BP-1", category="banjir"), token)[0] == 201
    listed = _tokens(server, "list")
    assert "bpbd-pusdalops\tbpbd\tlive" in listed and token not in listed  # never shown again
    _tokens(server, "revoke", "bpbd-pusdalops")
    status, _, body = _call(server, "POST", _incident("BP-2", category="banjir"), token)
    assert status == 401 and "revoked" in body["error"]
    stored = (server.log.parent / "service-tokens.json").read_text()
    parts = split(token)  # the secret may hold "_" itself: a run found a one-letter "tail"
    assert parts is not None and parts[1] not in stored  # only its hash


def test_a_token_over_its_rate_is_told_to_wait(server: Server) -> None:
    token = _new_token(server, "satpolpp", "satpolpp-burst")
    codes = [_call(server, "PATCH", [], token)[0] for _ in range(120)]
    assert set(codes) == {400}  # empty requests, but each one counted
    status, head, body = _call(server, "PATCH", [], token)
    assert status == 429 and int(head["retry-after"]) >= 1, body


def test_the_openapi_description_is_behind_sign_in(server: Server) -> None:
    anonymous = urllib.request.Request(f"{server.url}/api/openapi.json")
    try:
        urllib.request.urlopen(anonymous, timeout=15)
        raise AssertionError("served without sign-in")
    except urllib.error.HTTPError as error:
        assert error.code == 401
    signed_in = urllib.request.Request(f"{server.url}/api/openapi.json", headers=server.headers())
    with urllib.request.urlopen(signed_in, timeout=15) as reply:
        document = json.loads(reply.read())
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]["/api/incidents"]) == {"post", "patch"}
    assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
