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


# The adapters' listeners translate, nothing more: a platform's request in, a handler called, its
# reply out. One that grows past this has taken on a rule or a decision that belongs in handlers/.
LISTENER_LINES = 20
ADAPTERS = [HANDLERS.parent / "bot" / "slack" / "app.py", HANDLERS.parent / "bot" / "teams" / "app.py"]


def _long_listeners(tree: ast.AST, name: str) -> list[str]:
    return [
        f"{name}:{node.lineno}: {node.name} is {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("on_")
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > LISTENER_LINES
    ]


def test_every_slack_and_teams_listener_is_at_most_twenty_lines():
    trees = {path.relative_to(HANDLERS.parent).as_posix(): ast.parse(path.read_text()) for path in ADAPTERS}
    listeners = [n for t in trees.values() for n in ast.walk(t) if str(getattr(n, "name", "")).startswith("on_")]
    assert len(listeners) >= 10  # the walk found the listeners (on_command, on_message, ...)
    assert [line for name, tree in trees.items() for line in _long_listeners(tree, name)] == []


def test_the_listener_check_counts_a_long_one():
    body = "\n".join(f"    x{i} = {i}" for i in range(LISTENER_LINES))
    assert _long_listeners(ast.parse(f"def on_thing(ack):\n{body}\n"), "f.py") == ["f.py:1: on_thing is 21 lines"]
