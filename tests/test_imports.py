"""The import contract: the core's subsystems point one way (like import-linter's layers).

Lower layers never import higher ones, so storage knows nothing of cameras, cameras nothing of
incidents, the domain nothing of the views or the server, and only the server and the CLI wire
everything together. Every import counts, function-level ones included.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from lawangjabo.config import PROJECT_ROOT

CORE = PROJECT_ROOT / "lawangjabo"
# Lowest first; a module may import its own layer and the layers below it.
LAYERS: list[set[str]] = [
    {"lawangjabo", "lawangjabo.config", "lawangjabo.i18n", "lawangjabo.labels",
     "lawangjabo.fileio", "lawangjabo.sheets"},
    {"lawangjabo.storage", "lawangjabo.geo"},
    {"lawangjabo.cameras"},
    {"lawangjabo.incidents"},
    {"lawangjabo.alerts", "lawangjabo.auth"},
    {"lawangjabo.server.services"},
    {"lawangjabo.views"},
    {"lawangjabo.server.web", "lawangjabo.server.feed", "lawangjabo.server.live", "lawangjabo.cli",
     "lawangjabo.__main__"},
]  # fmt: skip


def _layer(module: str) -> int:
    """The layer of ``module``: the longest matching prefix wins."""
    best, found = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    assert found >= 0, f"{module} is in no layer: add it to LAYERS"
    return found


def _module(path: Path) -> str:
    relative = path.relative_to(CORE).with_suffix("")
    parts = [p for p in relative.parts if p != "__init__"]
    return ".".join(("lawangjabo", *parts))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] == "lawangjabo"}


def test_the_core_uses_absolute_imports() -> None:
    relative = [
        f"{path.relative_to(CORE)}:{node.lineno}"
        for path in CORE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert relative == []  # one spelling per module keeps the contract checkable


def test_layers_point_one_way() -> None:
    broken = []
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 40
    for path in files:
        own = _module(path)
        for imported in _imports(path):
            if _layer(imported) > _layer(own):
                broken.append(f"{own} imports {imported}")
    assert broken == []


def test_the_contract_can_fail() -> None:
    """The check itself: a storage module importing a view is caught."""
    assert _layer("lawangjabo.views.mapview") > _layer("lawangjabo.storage.db")
    assert _layer("lawangjabo.server.web") > _layer("lawangjabo.server.services")
    assert _layer("lawangjabo.incidents.store") > _layer("lawangjabo.cameras.registry")


# Each table family has one owning module (two for incidents: writes and aggregations); all SQL
# on a table lives there, behind functions the rest of the code calls. The migrations in
# storage/db.py create every table.
OWNERS: dict[str, set[str]] = {
    "incidents": {
        "lawangjabo.incidents.store",
        "lawangjabo.incidents.analytics",
        "lawangjabo.incidents.mirror",
    },
    "incident_events": {"lawangjabo.incidents.store", "lawangjabo.incidents.mirror"},
    "incident_category_codes": {
        "lawangjabo.incidents.store",
        "lawangjabo.incidents.analytics",
        "lawangjabo.incidents.mirror",
    },
    "incident_category_words": {"lawangjabo.incidents.store"},
    "maintenance": {"lawangjabo.cameras.maintenance"},
    "poll_outcomes": {"lawangjabo.cameras.ledger"},
    "ingested_files": {"lawangjabo.storage.spool"},
    "audit_log": {"lawangjabo.storage.audit"},
    "alerts": {"lawangjabo.alerts.engine"},
    "alert_deliveries": {"lawangjabo.alerts.engine"},
    "app_meta": {"lawangjabo.storage.db"},
    "schema_migrations": {"lawangjabo.storage.db"},
    "sessions": {"lawangjabo.auth.shared_sessions"},  # cluster mode only
    "camera_schedule": {"lawangjabo.cameras.leases"},  # cluster mode only
    "pollers": {"lawangjabo.cameras.zones"},  # cluster mode only
    "poll_outcomes_other": {"lawangjabo.cameras.ledger"},  # the ledger's default partition
    "camera_state": {"lawangjabo.cameras.ledger"},  # cluster mode only
    "refresh_requests": {"lawangjabo.cameras.zones"},  # cluster mode only
    "camera_pictures": {"lawangjabo.cameras.pictures"},  # cluster mode only
    "accounts": {"lawangjabo.auth.shared_accounts"},  # cluster mode only
    "service_tokens": {"lawangjabo.auth.tokens"},  # cluster mode only
}
# The database gateways create the tables (migrations) for both backends.
GATEWAYS = {"storage/db.py", "storage/pg.py"}
_TABLE_USE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+([a-z_]+)", re.IGNORECASE)


def _sql_tables(path: Path) -> set[str]:
    """Tables named in the string literals (f-strings included) of one module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(m.lower() for m in _TABLE_USE.findall(node.value))
    return found & set(OWNERS)


def test_every_table_has_one_owner() -> None:
    created = {
        table
        for gateway in GATEWAYS
        for table in re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)",
                                (CORE / gateway).read_text())
    }  # fmt: skip
    assert created == set(OWNERS), "a new table needs its owner in OWNERS"
    strays = [
        f"{_module(path)} uses {table}"
        for path in sorted(CORE.rglob("*.py"))
        if path.relative_to(CORE).as_posix() not in GATEWAYS
        for table in _sql_tables(path)
        if _module(path) not in OWNERS[table]
    ]
    assert strays == []


def test_pages_and_ui_run_no_sql() -> None:
    ui = [PROJECT_ROOT / "uikit.py", PROJECT_ROOT / "uikit_incidents.py",
          PROJECT_ROOT / "uikit_map.py", PROJECT_ROOT / "home.py", PROJECT_ROOT / "app.py",
          *sorted((PROJECT_ROOT / "pages").glob("*.py"))]  # fmt: skip
    assert [str(p.name) for p in ui if _sql_tables(p)] == []
