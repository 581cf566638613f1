"""The layers' boundary: nothing in ``handlers/`` imports ``storage`` or ``bot`` (docs/ARCHITECTURE.md).
Handlers reach storage through the Protocols in ``handlers/ports.py``; every import counts, also one
inside a function or under ``TYPE_CHECKING``."""

import ast
from pathlib import Path

HANDLERS = Path(__file__).resolve().parent.parent / "handlers"
OUTER = ("storage", "bot")


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _outer(module: str) -> bool:
    return module.split(".")[0] in OUTER


def test_no_handler_module_imports_storage_or_bot():
    files = sorted(HANDLERS.glob("*.py"))
    assert len(files) > 20  # the walk found the handlers
    leaks = [
        f"handlers/{path.name}:{line}: imports {module}"
        for path in files
        for line, module in _imported(ast.parse(path.read_text(), str(path)))
        if _outer(module)
    ]
    assert leaks == []


def test_the_check_sees_imports_inside_functions_and_under_type_checking():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from bot.config import Config\n"
        "def f():\n    import storage.db\n    from storage.models import Lead\n"
        "import handlers.ports\n"
    )
    assert [m for _, m in _imported(ast.parse(source)) if _outer(m)] == ["bot.config", "storage.db", "storage.models"]
