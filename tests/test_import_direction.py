"""Imports run one way: bench -> scenarios -> contexts. Read from the source (every import
statement, lazy ones inside functions included), so a back-edge fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"contexts": ("bench", "scenarios"), "scenarios": ("bench",)}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages ``path`` imports (absolute imports only: the lab has no relative ones)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.partition(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_runs_back_up(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, f"no modules under {package}/"
    back = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & set(FORBIDDEN[package]))
        for path in modules
    }
    assert {module: names for module, names in back.items() if names} == {}


def test_the_check_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from bench.runner import x\n    import scenarios.trace\n")
    assert imported_packages(module) == {"bench", "scenarios"}
