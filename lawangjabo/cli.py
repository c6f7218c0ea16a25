"""Command line: ``python -m lawangjabo COMMAND``. Exit status 1 when anything was rejected."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lawangjabo.cameras.registry import Camera, import_cameras, load_registry
from lawangjabo.cameras.synthetic import synthetic_registry
from lawangjabo.config import Settings, load_settings
from lawangjabo.geo.districts import import_boundaries, load_district_layer
from lawangjabo.i18n import LANGUAGES
from lawangjabo.storage import audit as audit_log
from lawangjabo.storage.audit import SIGN_OUT_AFTER, cli_actor, spool_entry

log = logging.getLogger("lawangjabo.cli")


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


def _validate(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    districts = load_district_layer(settings.city, settings.paths.districts_file)
    path = Path(args.registry) if args.registry else settings.paths.registry_file
    result = load_registry(path, settings, districts)
    if args.json:
        _out(
            json.dumps(
                {
                    "file": str(path),
                    "loaded": [c.id for c in result.cameras],
                    "rejected": [
                        {"index": r.index, "id": r.camera_id, "reason": r.reason}
                        for r in result.rejects
                    ],
                    "warnings": result.warnings,
                },
                indent=1,
            )
        )
    else:
        _out(f"{path}: {len(result.cameras)} cameras valid, {len(result.rejects)} rejected")
        for reject in result.rejects:
            _out(f"  REJECT {reject}")
        for warning in result.warnings:
            _out(f"  WARN   {warning}")
    return 1 if result.rejects else 0


def _import_cameras(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    districts = load_district_layer(settings.city, settings.paths.districts_file)
    registry = Path(args.registry) if args.registry else settings.paths.registry_file
    mapping = None
    if args.mapping:
        from lawangjabo.cameras.registry import load_mapping

        try:
            mapping = load_mapping(Path(args.mapping))
        except ValueError as exc:
            _err(str(exc))
            return 2
    outcome = import_cameras(
        Path(args.file), registry, settings, districts, allow_partial=args.partial,
        mapping=mapping,
    )  # fmt: skip
    incoming = outcome.incoming
    _out(f"{args.file}: {len(incoming.cameras)} valid, {len(incoming.rejects)} rejected")
    for reject in incoming.rejects:
        _out(f"  REJECT {'line' if args.file.lower().endswith('.csv') else 'feature'} {reject}")
    spool_entry(
        settings.paths.audit_spool,
        cli_actor(),
        "registry_import",
        {
            "file": Path(args.file).name,
            "registry": str(registry),
            "written": bool(outcome.written),
            "added": sorted(outcome.added),
            "updated": sorted(outcome.updated),
            "rejected": len(incoming.rejects),
        },
    )
    if outcome.written:
        _out(f"{registry}: {len(outcome.added)} added, {len(outcome.updated)} updated")
    else:
        _out(
            f"{registry}: unchanged (nothing imported"
            f"{'; use --partial to import the valid records' if incoming.cameras else ''})"
        )
    return 1 if incoming.rejects else 0


def _print_import(
    name: str, written: int, valid: int, rejects: list[dict[str, Any]], notes: list[str],
    problems: int,
) -> None:  # fmt: skip
    """What an import found and did; ``problems`` counts them all (``rejects`` may list only
    the first ones)."""
    _out(f"{name}: {valid} valid, {problems} rejected; {written} written")
    for note in notes:
        _out(f"  NOTE   {note}")
    for r in rejects:
        _out(f"  REJECT row {r['row']} {r['field']}: {r['reason']}")
    if not written and valid and problems:
        _out("  nothing written: all rows or none (--partial writes the valid ones)")


def _import_incidents(args: argparse.Namespace) -> int:
    """Import an incident file while the app runs or not: in cluster mode straight into
    PostgreSQL; embedded into the DuckDB file, or — when the running app holds that file —
    through the app's inbox, waiting for its outcome."""
    from lawangjabo.incidents.files import import_incidents, read_incidents
    from lawangjabo.incidents.inbox import inbox_folder, submit, wait_for_result
    from lawangjabo.incidents.store import Enricher, IncidentStore
    from lawangjabo.storage.db import Database

    settings = load_settings(args.config)
    path = Path(args.file)
    if not path.is_file():
        _err(f"{path}: no such file")
        return 2
    districts = load_district_layer(settings.city, settings.paths.districts_file)
    cameras = load_registry(settings.paths.registry_file, settings, districts).cameras
    enricher = Enricher(settings, districts, cameras)
    actor = cli_actor()
    url = settings.storage.postgres_url

    def write_into(db: Any) -> int:
        """Import into ``db`` (it is both read and written), audit, report; the exit code."""
        try:
            store = IncidentStore(db, settings, enricher, writer=db)
            result = import_incidents(store, path, actor, args.source, args.partial)
            audit_log.append(db, datetime.now(UTC), actor, "incidents_imported",
                             {"file": path.name, "via": "cli", "written": result.written,
                              "rejected": result.problems})  # fmt: skip
        finally:
            db.close()
        rejects = [r.as_dict() for r in result.rejects]
        _print_import(path.name, result.written, result.valid, rejects, result.notes,
                      result.problems)  # fmt: skip
        return 1 if result.problems else 0

    if url is not None:  # cluster: every replica reads it at its next pull (about a second)
        from lawangjabo.storage.pg import PgDatabase

        return write_into(PgDatabase(url))
    try:
        db = Database(settings.paths.database_file)
    except Exception as exc:  # the running app holds the file: hand the import to it
        if "lock" not in str(exc).lower():
            raise
        checked = read_incidents(path, settings, None, args.source, keep_items=False)
        if checked.problems and not args.partial:  # refused before bothering the app
            rejects = [r.as_dict() for r in checked.rejects]
            _print_import(path.name, 0, checked.valid, rejects, checked.notes, checked.problems)
            return 1
        folder = inbox_folder(settings.paths.state)
        name = submit(folder, path, actor, args.source, args.partial)
        _out(f"{path.name}: the app is running; handed to it (job {name}), waiting …")
        outcome = wait_for_result(folder, name, args.wait)
        if outcome is None:
            _out(f"  not taken within {args.wait:.0f} s; the app imports it when it runs "
                 f"(outcome: {folder / 'done' / name}.json)")  # fmt: skip
            return 3
        if "error" in outcome:
            _err(f"{path.name}: not imported: {outcome['error']}")
            return 1
        problems = int(outcome.get("problems", len(outcome["rejects"])))
        _print_import(path.name, outcome["written"], outcome["valid"], outcome["rejects"],
                      outcome.get("notes", []), problems)  # fmt: skip
        return 1 if problems else 0
    return write_into(db)


def _import_districts(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    sub = settings.city.sublevel
    levels = [settings.city.district_label, *([sub.id] if sub else [])]
    level = args.level or levels[0]
    if level not in levels:
        _out(f"error: unknown level {level!r}; the city file declares {', '.join(levels)}")
        return 1
    sublevel = level != levels[0]
    result = import_boundaries(
        Path(args.file),
        settings.city,
        settings.paths.sublevel_file if sublevel else settings.paths.districts_file,
        name_field=args.name_field,
        code_field=args.code_field,
        layer=args.layer,
        assume_crs=args.assume_crs,
        allow_partial=args.partial,
        sublevel=sublevel,
    )
    _out(
        f"{args.file}: {len(result.districts)} {level} matched, "
        f"{len(result.rejects)} features rejected"
    )
    for reject in result.rejects:
        where = "file" if reject.feature < 0 else f"feature #{reject.feature}"
        _out(f"  REJECT {where}: {reject.reason}")
    for note in result.notes:
        _out(f"  NOTE   {note}")
    spool_entry(
        settings.paths.audit_spool,
        cli_actor(),
        "districts_import",
        {
            "file": Path(args.file).name,
            "level": level,
            "written": bool(result.written),
            "matched": len(result.districts),
            "rejected": len(result.rejects),
        },
    )
    if result.written and sublevel:
        _out(f"installed as {result.written}; the app fills in each incident's {level} "
             "in the background from now on")  # fmt: skip
    elif result.written:
        _out(f"installed as {result.written}; the app uses these districts from now on")
        registry = load_registry(
            settings.paths.registry_file,
            settings,
            load_district_layer(settings.city, result.written),
        )
        for warning in registry.warnings:
            _out(f"  WARN   {warning}")
    else:
        _out("nothing installed")
    return 0 if result.written and not result.rejects else 1


def _generate(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    synthetic_registry(settings, args.count, args.seed, Path(args.out))
    _out(f"wrote {args.count} synthetic cameras to {args.out} (benchmarks only)")
    return 0


def _poller(args: argparse.Namespace) -> int:
    """Run the snapshot poller as its own process until interrupted (SIGINT/SIGTERM)."""
    import signal
    import threading

    from lawangjabo.cameras.runtime import PollerRuntime

    logging.getLogger("lawangjabo").setLevel(logging.INFO)
    settings = load_settings(args.config)
    districts = load_district_layer(settings.city, settings.paths.districts_file)
    registry = load_registry(settings.paths.registry_file, settings, districts)
    for reject in registry.rejects:
        log.warning("registry: rejected %s", reject)
    if args.zone:
        return _zone_poller(settings, registry.cameras, args.zone, args.id)
    seen = [_mtime_ns(settings.paths.registry_file)]
    current = [registry.cameras]

    def cameras() -> list[Camera]:
        """The registry's cameras: the same list until the file changes (rejects logged)."""
        key = _mtime_ns(settings.paths.registry_file)
        if key != seen[0]:
            loaded = load_registry(settings.paths.registry_file, settings, districts)
            for reject in loaded.rejects:
                log.warning("registry: rejected %s", reject)
            seen[0], current[0] = key, loaded.cameras
        return current[0]

    runtime = PollerRuntime(
        settings, registry.cameras, mode="external", cameras_source=cameras
    ).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    _out(
        f"polling {len(runtime.poller.targets) if runtime.poller else 0} cameras; "
        "results go to the spool for the app to ingest. Ctrl-C stops."
    )
    done.wait()
    runtime.stop()
    return 0


def _zone_poller(settings: Settings, cameras: list[Camera], zone: str, name: str | None) -> int:
    """Cluster mode: poll one zone's cameras through the leases in PostgreSQL, storing and
    forwarding when the center is unreachable."""
    import os
    import signal
    import socket
    import threading

    from lawangjabo.cameras.runtime import poll_targets, simulated_cameras
    from lawangjabo.cameras.simulator import CameraSimulator
    from lawangjabo.cameras.zones import build_zone_poller, camera_zone
    from lawangjabo.storage.pg import PgDatabase

    url = settings.storage.postgres_url
    if url is None:
        _err("a zone poller needs cluster mode: set LAWANGJABO_STORAGE__POSTGRES_URL")
        return 2
    mine = [c for c in cameras if camera_zone(settings, c) == zone]
    if not mine:
        _err(f"no camera of the registry is in zone {zone!r}")
        return 2
    simulator = None
    if settings.cameras.simulate:
        simulator = CameraSimulator(
            simulated_cameras(settings, mine),
            timezone=settings.city.timezone,
            tamper_after_s=settings.simulator.tamper_after_s,
        ).start()
        simulator.wait_hls_ready()
    poller_id = name or f"{zone}-{socket.gethostname()}-{os.getpid()}"
    zone_poller = build_zone_poller(
        settings, PgDatabase(url), zone, poller_id, poll_targets(mine, simulator)
    ).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    _out(f"zone {zone}: poller {poller_id} polling {len(mine)} cameras. Ctrl-C stops.")
    done.wait()
    zone_poller.stop()
    if simulator is not None:
        simulator.stop()
    return 0


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _spool(args: argparse.Namespace) -> int:
    """List quarantined spool files with their reasons, or put them back for the app to read."""
    from lawangjabo.storage.spool import quarantined, requeue

    paths = load_settings(args.config).paths
    folders = {"poll": paths.spool, "audit": paths.audit_spool}
    if args.action == "list":
        for label, folder in folders.items():
            for item in quarantined(folder):
                _out(f"{label}\t{item.name}\t{item.at:%Y-%m-%d %H:%M}Z\t{item.reason}")
        return 0
    for label, folder in folders.items():
        _out(f"{label}: {requeue(folder)} file(s) put back")
    return 0


def _show_secret(state: Path, text: str) -> None:
    """Show a generated password to the person at the terminal, never to a log: stdout when it
    is a terminal, else the controlling terminal, else a 0600 file in the state folder."""
    if sys.stdout.isatty():
        _out(text)
        return
    try:
        with open("/dev/tty", "w", encoding="utf-8") as tty:
            tty.write(text + "\n")
        _out("(the password was shown on the terminal, not in this output)")
        return
    except OSError:
        pass
    state.mkdir(parents=True, exist_ok=True)
    path = state / "demo-password.txt"
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text + "\n", encoding="utf-8")
    _out(f"no terminal: the demo password is in {path} (readable by this user only)")


def _users(args: argparse.Namespace) -> int:
    """Manage local accounts (works while the app runs: they live in var/users.json). Every
    change is audited through the audit spool; a role change, password reset or removal signs
    the account out of the running app within seconds."""
    import os

    settings = load_settings(args.config)
    from lawangjabo.server.services import account_stores, cluster_database

    shared = cluster_database(settings)
    users, sessions = account_stores(settings, shared)
    password = os.environ.get(args.password_env) if args.password_env else None

    def audit(action: str, **detail: Any) -> None:
        entry = {"user": args.name, **detail}
        if shared is None:  # the app holds the database: leave the entry for it
            spool_entry(settings.paths.audit_spool, cli_actor(), action, entry)
            return
        audit_log.append(shared, datetime.now(UTC), cli_actor(), action, entry)
        if action in SIGN_OUT_AFTER:
            sessions.revoke_user(args.name)  # every replica, at once

    try:
        if args.action == "list":
            for name in users.names():
                account = users.get(name)
                assert account is not None
                _out(f"{name}\t{account.role}\t{','.join(account.agencies) or 'all agencies'}")
        elif args.action == "add":
            secret = users.add(args.name, args.role, password, args.agency or [])
            audit("user_added", role=args.role, agencies=args.agency or [])
            _out(
                f"created {args.name} ({args.role})" + ("" if password else f"; password: {secret}")
            )
        elif args.action == "set-role":
            users.set_role(args.name, args.role)
            audit("user_role_set", role=args.role)
            _out(f"{args.name} is now {args.role}")
        elif args.action == "reset-password":
            secret = users.reset_password(args.name, password)
            audit("user_password_reset")
            _out(f"password of {args.name} reset" + ("" if password else f": {secret}"))
        elif args.action == "set-language":
            if args.language not in LANGUAGES:
                raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
            users.set_language(args.name, args.language)
            audit("language_set", language=args.language)
            _out(f"{args.name} now sees the UI in {LANGUAGES[args.language]}")
        elif args.action == "remove":
            users.remove(args.name)
            audit("user_removed")
            _out(f"removed {args.name}")
        elif args.action == "demo":
            if users.get("demo") is not None:
                _out(
                    "demo user exists (reset with: python -m lawangjabo users reset-password demo)"
                )
            else:
                secret = users.add("demo", "admin", os.environ.get("LAWANGJABO_DEMO_PASSWORD"))
                spool_entry(
                    settings.paths.audit_spool,
                    cli_actor(),
                    "user_added",
                    {"user": "demo", "role": "admin", "agencies": []},
                )
                if os.environ.get("LAWANGJABO_DEMO_PASSWORD"):
                    _out("sign in as demo with the password in LAWANGJABO_DEMO_PASSWORD")
                else:
                    _show_secret(
                        settings.paths.state,
                        f"sign in as demo / {secret}  (shown once; admin role)",
                    )
    except ValueError as exc:
        _out(f"error: {exc}")
        return 1
    return 0


def _tokens(args: argparse.Namespace) -> int:
    """Agency service tokens for /api/incidents: create (shown once), list, revoke. Works while
    the app runs; every change is audited (through the audit spool when embedded)."""
    from lawangjabo.cameras.registry import agency_lookup
    from lawangjabo.geo.districts import normalise_name
    from lawangjabo.server.services import cluster_database, token_store

    settings = load_settings(args.config)
    shared = cluster_database(settings)
    tokens = token_store(settings, shared)

    def audit(action: str, **detail: Any) -> None:
        if shared is None:  # the app holds the database: leave the entry for it
            spool_entry(settings.paths.audit_spool, cli_actor(), action, detail)
        else:
            audit_log.append(shared, datetime.now(UTC), cli_actor(), action, detail)

    try:
        if args.action == "create":
            if not args.agency or not args.name:
                raise ValueError("create needs --agency and --name")
            agency = agency_lookup(settings).get(normalise_name(args.agency))
            if agency is None:
                known = ", ".join(a.id for a in settings.agencies)
                raise ValueError(f"unknown agency {args.agency!r}; known: {known}")
            token, secret = tokens.create(agency, args.name, cli_actor())
            audit("service_token_created", id=token.id, name=token.name, agency=agency)
            _out(f"token {token.name} ({token.id}) for {agency}; shown once, keep it secret:")
            _out(secret)
        elif args.action == "list":
            for token in tokens.listing():
                state = (
                    f"revoked {token.revoked_at:%Y-%m-%d %H:%M}Z" if token.revoked_at else "live"
                )
                _out(f"{token.id}\t{token.name}\t{token.agency}\t{state}")
        elif args.action == "revoke":
            if not args.name:
                raise ValueError("revoke needs the token's id or name")
            token = tokens.revoke(args.name)
            audit("service_token_revoked", id=token.id, name=token.name, agency=token.agency)
            _out(f"revoked {token.name} ({token.id}); it is refused from now on")
    except ValueError as exc:
        _out(f"error: {exc}")
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    # No prefix matching: ``--password`` must be an error, not taken as ``--password-env``.
    parser = argparse.ArgumentParser(
        prog="python -m lawangjabo", description=__doc__, allow_abbrev=False
    )
    parser.add_argument("--config", help="city TOML (default: $LAWANGJABO_CONFIG or Palembang)")
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate-registry", help="check a camera registry file")
    validate.add_argument("registry", nargs="?", help="GeoJSON registry (default: configured)")
    validate.add_argument("--json", action="store_true", help="machine-readable report")
    validate.set_defaults(run=_validate)

    cams = commands.add_parser("import-cameras", help="merge cameras from CSV or GeoJSON by id")
    cams.add_argument("file")
    cams.add_argument("--registry", help="target registry (default: configured)")
    cams.add_argument(
        "--mapping", help="TOML field mapping for another portal's export (data/mappings/)"
    )
    cams.add_argument(
        "--partial", action="store_true", help="import the valid records even if some are rejected"
    )
    cams.set_defaults(run=_import_cameras)

    incs = commands.add_parser(
        "import-incidents",
        help="import incidents from CSV or GeoJSON (also while the app runs)",
    )
    incs.add_argument("file")
    incs.add_argument("--source", default="import", help="where they come from (default import)")
    incs.add_argument(
        "--partial", action="store_true", help="write the valid rows even if some are rejected"
    )
    incs.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait for a running app's outcome"
    )
    incs.set_defaults(run=_import_incidents)

    dist = commands.add_parser(
        "import-districts", help="install official district boundaries (GeoJSON/GPKG/SHP)"
    )
    dist.add_argument("file")
    dist.add_argument("--name-field", help="attribute holding the district name (e.g. WADMKC)")
    dist.add_argument("--code-field", help="attribute holding the district code (e.g. KDCPUM)")
    dist.add_argument("--layer", help="layer name in a multi-layer file")
    dist.add_argument(
        "--level", help="which level the file holds: the districts (default) or the city "
        "file's [city.sublevel] (e.g. kelurahan)"
    )  # fmt: skip
    dist.add_argument("--assume-crs", help="CRS for a file that declares none, e.g. EPSG:4326")
    dist.add_argument(
        "--partial",
        action="store_true",
        help="install the matched districts even if some features are rejected",
    )
    dist.set_defaults(run=_import_districts)

    users = commands.add_parser(
        "users",
        help="local accounts: list, add, set-role, set-language, reset-password, remove, demo",
    )
    users.add_argument(
        "action",
        choices=["list", "add", "set-role", "set-language", "reset-password", "remove", "demo"],
    )
    users.add_argument("name", nargs="?")
    users.add_argument("--role", choices=["leader", "planner", "operator", "admin"])
    users.add_argument("--agency", action="append", help="limit to an agency (repeatable)")
    users.add_argument("--language", help="UI language for set-language: id or en")
    users.add_argument(
        "--password-env",
        help="read the password from this environment variable instead of generating one",
    )
    users.set_defaults(run=_users)

    tok = commands.add_parser(
        "tokens", help="agency service tokens for /api/incidents: create, list, revoke"
    )
    tok.add_argument("action", choices=["create", "list", "revoke"])
    tok.add_argument("name", nargs="?", help="the token's name (revoke: its name or id)")
    tok.add_argument("--agency", help="the agency the token speaks for (id, name or alias)")
    tok.set_defaults(run=_tokens)

    poll = commands.add_parser("poller", help="run the snapshot poller as its own process")
    poll.add_argument(
        "--zone", help="cluster mode: poll this zone's cameras (e.g. dishub) via PostgreSQL"
    )
    poll.add_argument("--id", help="this zone poller's name (default: zone-host-pid)")
    poll.set_defaults(run=_poller)

    gen = commands.add_parser("generate-registry", help="synthetic registry for benchmarks")
    gen.add_argument("--count", type=int, default=500)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--out", required=True)
    gen.set_defaults(run=_generate)

    spool = commands.add_parser(
        "spool", help="files set aside as unreadable: list them, or put them back in line"
    )
    spool.add_argument("action", choices=["list", "requeue"])
    spool.set_defaults(run=_spool)
    for sub in commands.choices.values():
        sub.allow_abbrev = False
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code
