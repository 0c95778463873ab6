"""The layering DESIGN.md asks for, checked on the source: accounts never depends on tracking."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_accounts_never_imports_tracking_or_the_pages():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] in {"tracking", "frontend"}
        )
        for path in (ROOT / "accounts").rglob("*.py")
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_the_domain_never_imports_the_pages():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] == "frontend"
        )
        for path in (ROOT / "tracking").rglob("*.py")
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}
