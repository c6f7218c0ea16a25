"""The command line, run as a user would: ``python -m lawangjabo ...``; exit 1 on rejects."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lawangjabo.config import PROJECT_ROOT

from .conftest import DATA

BAD = DATA / "registries"


def run(*args: str, state: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m lawangjabo ARGS`` with its own state folder (and ``extra`` environment)."""
    env = {**os.environ, "LAWANGJABO_PATHS__STATE_DIR": str(state), **extra}
    return subprocess.run(  # noqa: PLW1510 - the exit code is what is tested
        [sys.executable, "-m", "lawangjabo", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
        timeout=120,
    )


def test_validate_clean_registry(tmp_path: Path) -> None:
    out = run("validate-registry", state=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "12 cameras valid, 0 rejected" in out.stdout


def test_validate_reports_each_reject_and_fails(tmp_path: Path) -> None:
    out = run("validate-registry", str(BAD / "non_numeric_heading.geojson"), state=tmp_path)
    assert out.returncode == 1
    assert out.stdout.count("REJECT") == 3
    assert "#1 (north): heading_deg" in out.stdout


def test_validate_json_output(tmp_path: Path) -> None:
    out = run("validate-registry", "--json", str(BAD / "duplicate_ids.geojson"), state=tmp_path)
    report = json.loads(out.stdout)
    assert out.returncode == 1
    assert report["loaded"] == ["ok-1", "ok-2"]
    assert report["rejected"] == [
        {"index": 2, "id": "ok-1", "reason": "duplicate id (first at #0)"}
    ]


def test_import_cameras_csv_rejects_by_line_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "cameras.geojson"
    shutil.copy(PROJECT_ROOT / "cameras.geojson", target)
    before = target.read_bytes()
    out = run(
        "import-cameras", str(BAD / "bad_rows.csv"), "--registry", str(target), state=tmp_path
    )
    assert out.returncode == 1
    assert "REJECT line #3 (csv-badlat)" in out.stdout
    assert "unchanged" in out.stdout and target.read_bytes() == before


def test_import_cameras_geojson_adds(tmp_path: Path) -> None:
    target = tmp_path / "cameras.geojson"
    shutil.copy(PROJECT_ROOT / "cameras.geojson", target)
    source = tmp_path / "new.geojson"
    data = json.loads((BAD / "duplicate_ids.geojson").read_text(encoding="utf-8"))
    data["features"] = data["features"][:2]
    source.write_text(json.dumps(data), encoding="utf-8")
    out = run("import-cameras", str(source), "--registry", str(target), state=tmp_path)
    assert out.returncode == 0, out.stdout
    assert "2 added, 0 updated" in out.stdout
    assert len(json.loads(target.read_text(encoding="utf-8"))["features"]) == 14


def test_generate_registry(tmp_path: Path) -> None:
    out_file = tmp_path / "syn.geojson"
    out = run(
        "generate-registry", "--count", "500", "--seed", "3", "--out", str(out_file), state=tmp_path
    )
    assert out.returncode == 0
    assert len(json.loads(out_file.read_text(encoding="utf-8"))["features"]) == 500
    assert run("validate-registry", str(out_file), state=tmp_path).returncode == 0


def test_import_districts_bad_field_fails(tmp_path: Path) -> None:
    out = run(
        "import-districts",
        str(BAD / "duplicate_ids.geojson"),
        "--name-field",
        "NAMA",
        state=tmp_path,
    )
    assert out.returncode == 1
    assert "nothing installed" in out.stdout


def test_import_districts_big(tmp_path: Path, big_kecamatan: Path) -> None:
    out = run(
        "import-districts",
        str(big_kecamatan),
        "--name-field",
        "WADMKC",
        "--code-field",
        "KDCPUM",
        state=tmp_path,
    )
    assert out.returncode == 0, out.stdout
    assert "18 kecamatan matched, 0 features rejected" in out.stdout
    assert "WARN" not in out.stdout
    assert (tmp_path / "districts.geojson").is_file()


def test_import_the_finer_level(tmp_path: Path) -> None:
    """--level kelurahan installs beside the districts (never over them); an unknown level and
    a bad feature are said, the latter with its feature number."""
    sample = PROJECT_ROOT / "tests" / "data" / "boundaries" / "kelurahan_sample.geojson"
    args = ["import-districts", str(sample), "--name-field", "WADMKD", "--code-field", "KDEPUM"]
    out = run(*args, "--level", "desa", state=tmp_path)
    assert out.returncode == 1 and "declares kecamatan, kelurahan" in out.stdout
    out = run(*args, "--level", "kelurahan", state=tmp_path)
    assert out.returncode == 1 and "REJECT feature #33" in out.stdout, out.stdout
    assert "nothing installed" in out.stdout
    out = run(*args, "--level", "kelurahan", "--partial", state=tmp_path)
    assert "32 kelurahan matched, 4 features rejected" in out.stdout, out.stdout
    assert (tmp_path / "boundaries-sublevel.geojson").is_file()
    assert not (tmp_path / "districts.geojson").exists()


@pytest.mark.parametrize("args", [[], ["frobnicate"]])
def test_usage_errors(tmp_path: Path, args: list[str]) -> None:
    assert run(*args, state=tmp_path).returncode == 2


def test_external_poller_process_feeds_the_spool(tmp_path: Path) -> None:
    """`python -m lawangjabo poller` polls (simulated) cameras in its own process."""
    import signal
    import time

    env = {
        **os.environ,
        "LAWANGJABO_PATHS__STATE_DIR": str(tmp_path),
        "LAWANGJABO_CAMERAS__POLLER": "external",
        "LAWANGJABO_CAMERAS__INTERVAL_S": "2",
        "LAWANGJABO_CAMERAS__TIMEOUT_S": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "lawangjabo", "poller"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if (
                (tmp_path / "snapshots" / "plg-cam3-sp-polda" / "latest.jpg").is_file()
                and list((tmp_path / "spool").glob("*.jsonl"))
                and (tmp_path / "poller.json").is_file()
            ):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the worker produced no snapshot, spool file or heartbeat")
        heartbeat = json.loads((tmp_path / "poller.json").read_text(encoding="utf-8"))
        assert heartbeat["mode"] == "external" and heartbeat["simulated"] is True
        assert heartbeat["cameras"] == 12
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "polling 12 cameras" in out


def test_no_prefix_matching_of_options(tmp_path: Path) -> None:
    """``--password`` is not silently taken as ``--password-env`` (a password in shell history
    and read as a variable name)."""
    out = run("users", "add", "ops9", "--role", "operator", "--password", "x", state=tmp_path)
    assert out.returncode == 2
    assert "unrecognized arguments: --password" in out.stderr
    assert not (tmp_path / "users.json").exists()


def test_readme_account_commands_work_as_written(tmp_path: Path) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    prefix = ".venv/bin/python -m lawangjabo "
    commands = [
        line.split("#")[0].strip()[len(prefix) :].split()
        for line in readme.splitlines()
        if line.startswith(prefix + "users ")
    ]
    assert len(commands) >= 4
    for args in commands:
        out = run(*args, state=tmp_path)
        assert out.returncode == 0, (args, out.stdout, out.stderr)


def test_demo_password_is_not_written_to_captured_output(tmp_path: Path) -> None:
    out = run("users", "demo", state=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "sign in as demo /" not in out.stdout + out.stderr
    note = tmp_path / "demo-password.txt"
    if note.exists():  # no terminal here: the password went to a private file
        assert note.stat().st_mode & 0o077 == 0
        assert "sign in as demo /" in note.read_text()


def test_spool_list_and_requeue(tmp_path: Path) -> None:
    place = tmp_path / "spool" / "quarantine"
    place.mkdir(parents=True)
    (place / "0001.jsonl").write_text("[1]\n")
    (place / "0001.jsonl.reason.txt").write_text("unreadable: line 1: not a JSON object\n")
    listed = run("spool", "list", state=tmp_path)
    assert listed.returncode == 0
    assert "poll\t0001.jsonl" in listed.stdout and "not a JSON object" in listed.stdout
    back = run("spool", "requeue", state=tmp_path)
    assert "poll: 1 file(s) put back" in back.stdout
    assert (tmp_path / "spool" / "0001.jsonl").exists()


def test_import_incidents_writes_all_or_nothing_when_no_app_runs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    bad = run("import-incidents", str(DATA / "incidents" / "bad_rows.csv"), state=state)
    assert bad.returncode == 1
    assert "0 written" in bad.stdout and "REJECT row 2 occurred_at" in bad.stdout
    good = run("import-incidents", str(DATA / "incidents" / "good.csv"), state=state)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "4 valid, 0 rejected; 4 written" in good.stdout.splitlines()[0]
    again = run("import-incidents", str(DATA / "incidents" / "good.csv"), state=state)
    assert again.returncode == 1 and "already imported from import" in again.stdout
    from lawangjabo.storage.db import Database

    db = Database(state / "lawangjabo.duckdb")
    try:
        assert db.execute("SELECT count(*) FROM incidents WHERE source = 'import'")[0][0] == 4
        audit = db.execute(
            "SELECT actor, detail FROM audit_log WHERE action = 'incidents_imported'"
        )
        assert len(audit) == 3 and all(a[0].startswith("cli:") for a in audit)
    finally:
        db.close()


def test_import_incidents_into_postgresql_directly(tmp_path: Path, pg_url: str) -> None:
    state = tmp_path / "state"
    env = {"LAWANGJABO_STORAGE__POSTGRES_URL": pg_url}
    good = run("import-incidents", str(DATA / "incidents" / "good.csv"), state=state, **env)
    assert good.returncode == 0, good.stdout + good.stderr
    from lawangjabo.storage.pg import PgDatabase

    shared = PgDatabase(pg_url)
    try:
        rows = shared.execute("SELECT external_id, created_by FROM incidents "
                              "WHERE external_id LIKE '112-000%' ORDER BY 1")  # fmt: skip
        assert [r[0] for r in rows] == ["112-0001", "112-0002", "112-0003", "112-0004"]
        assert all(r[1].startswith("cli:") for r in rows)
    finally:
        shared.close()
    assert not (state / "lawangjabo.duckdb").exists()  # nothing local in cluster mode


def test_import_cameras_with_a_portal_mapping(tmp_path: Path) -> None:
    target = tmp_path / "cameras.geojson"
    shutil.copy(PROJECT_ROOT / "cameras.geojson", target)
    mapping = str(PROJECT_ROOT / "data" / "mappings" / "city-portal.toml")
    export = str(DATA / "portal" / "portal_export.csv")
    refused = run("import-cameras", export, "--registry", str(target), "--mapping", mapping,
                  state=tmp_path / "state")  # fmt: skip
    assert refused.returncode == 1 and "unchanged" in refused.stdout
    assert "REJECT line #4" in refused.stdout and "env://NAME" in refused.stdout
    assert "rahasia" not in refused.stdout + refused.stderr
    partial = run("import-cameras", export, "--registry", str(target), "--mapping", mapping,
                  "--partial", state=tmp_path / "state")  # fmt: skip
    assert "2 added, 0 updated" in partial.stdout, partial.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text("[fields\n")
    bad = run("import-cameras", export, "--registry", str(target), "--mapping", str(broken),
              state=tmp_path / "state")  # fmt: skip
    assert bad.returncode == 2 and "cannot read mapping broken.toml" in bad.stderr


def test_import_incidents_says_what_it_found_in_a_112_export(tmp_path: Path) -> None:
    done = run("import-incidents", str(DATA / "incidents" / "call_112_excel.csv"), "--partial",
               state=tmp_path / "state")  # fmt: skip
    assert done.returncode == 1  # one row refused (an unknown category word)
    assert "3 valid, 1 rejected; 3 written" in done.stdout
    assert "NOTE   CSV, UTF-8, separated by semicolon" in done.stdout
    assert "REJECT row 5 category: unknown category 'UFO mendarat'" in done.stdout
