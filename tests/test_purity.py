"""The core package never imports streamlit: checked in the source and in a fresh interpreter."""

import ast
import subprocess
import sys
from pathlib import Path

from lawangjabo.config import PROJECT_ROOT

CORE = PROJECT_ROOT / "lawangjabo"


def test_no_streamlit_import_in_core_source() -> None:
    offenders = []
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 10
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "streamlit"]
    assert offenders == []


def test_importing_every_core_module_loads_no_streamlit() -> None:
    modules = [
        ".".join(("lawangjabo", *p.relative_to(CORE).with_suffix("").parts))
        for p in sorted(CORE.rglob("*.py"))
        if p.stem not in ("__init__", "__main__")
    ]
    assert len(modules) > 30
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] == 'streamlit'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True
    )
    assert out.stdout.strip() == "[]"


def test_pages_stay_thin() -> None:
    """Page scripts read widgets and render; they hold no SQL and no geometry code."""
    for page in (PROJECT_ROOT / "pages").glob("*.py"):
        source = page.read_text(encoding="utf-8")
        for forbidden in ("duckdb", "shapely", "pyproj", "SELECT ", "geopandas"):
            assert forbidden not in source, f"{page.name} uses {forbidden}"
        assert len(source.splitlines()) < 150, f"{page.name} is growing logic"


def test_core_files_compile() -> None:
    for path in CORE.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    assert Path(CORE / "__init__.py").is_file()
