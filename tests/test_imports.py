"""The import contract: the core's subsystems point one way (like import-linter's layers).

Lower layers never import higher ones, so storage knows nothing of cameras, cameras nothing of
incidents, the domain nothing of the views or the server, and only the server and the CLI wire
everything together. Every import counts, function-level ones included.
"""

from __future__ import annotations

import ast

from lawangjabo.config import PROJECT_ROOT

CORE = PROJECT_ROOT / "lawangjabo"
# Lowest first; a module may import its own layer and the layers below it.
LAYERS: list[set[str]] = [
    {"lawangjabo", "lawangjabo.config", "lawangjabo.i18n", "lawangjabo.labels",
     "lawangjabo.fileio"},
    {"lawangjabo.storage", "lawangjabo.geo"},
    {"lawangjabo.cameras"},
    {"lawangjabo.incidents"},
    {"lawangjabo.alerts", "lawangjabo.auth"},
    {"lawangjabo.server.services"},
    {"lawangjabo.views"},
    {"lawangjabo.server.web", "lawangjabo.cli", "lawangjabo.__main__"},
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


def _module(path: object) -> str:
    relative = path.relative_to(CORE).with_suffix("")  # type: ignore[attr-defined]
    parts = [p for p in relative.parts if p != "__init__"]
    return ".".join(("lawangjabo", *parts))


def _imports(path: object) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))  # type: ignore[attr-defined]
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
