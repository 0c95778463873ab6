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


def _resolved_imports(path: Path) -> set[str]:
    """Every module a file imports, relative imports spelled out in full."""
    package = path.relative_to(ROOT).parent.parts
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join([*base, *([node.module] if node.module else [])])
            modules.add(module)
            if not node.module:
                modules.update(f"{module}.{alias.name}" for alias in node.names)
    return modules


def _importing(paths, forbidden: set[str]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        hits = sorted(
            m
            for m in _resolved_imports(path)
            if any(m == f or m.startswith(f + ".") for f in forbidden)
        )
        if hits:
            found[str(path.relative_to(ROOT))] = hits
    return found


def test_selectors_neither_reach_the_broker_nor_write_the_shared_cache():
    selectors = (ROOT / "tracking" / "selectors").glob("*.py")
    assert (
        _importing(selectors, {"mlplatform.celery", "celery", "kombu", "django.core.cache"}) == {}
    )


def test_the_search_grammar_and_parser_are_plain_python():
    modules = [ROOT / "tracking" / "search" / name for name in ("grammar.py", "parser.py")]
    assert _importing(modules, {"django", "rest_framework", "accounts", "mlplatform"}) == {}
    assert _importing(modules, {"tracking"}) == {
        "tracking/search/parser.py": ["tracking.search.grammar"]
    }


def test_account_services_do_not_depend_on_drf():
    services = [ROOT / "accounts" / "services.py"]
    assert _importing(services, {"rest_framework", "accounts.authentication"}) == {}
