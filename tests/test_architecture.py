"""The shape holds: rules/ and knowledge/ never import telegram; every public command exists
and is documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

CONTRACT_BOT_COMMANDS = (
    "start help me balance open bind unbind leave limit order family settle pay contribute history "
    "ask why cancel lookup settle_for credit audit unanswered stats"
).split()
CLI_COMMANDS = ["run", "console", "ask", "people import", "db upgrade", "audit"]


def test_rules_and_knowledge_never_import_telegram() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import rules, knowledge\n"
        "for pkg in (rules, knowledge):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if '.migrations' not in m.name:  # Alembic scripts run only inside Alembic\n"
        "            importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'telegram')\n"
        "print(len([m for m in sys.modules if m.startswith(('rules.', 'knowledge.'))]))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) >= 10  # the walk really imported the packages


def test_every_contract_bot_command_is_registered() -> None:
    from telegram.ext import CommandHandler

    from bot.app import build_application
    from bot.loopback import LoopbackRequest
    from bot.settings import load_settings

    app = build_application(load_settings(REPO / "config.yaml"), request=LoopbackRequest())
    registered = {
        c for handlers in app.handlers.values() for h in handlers
        if isinstance(h, CommandHandler) for c in h.commands
    }
    missing = [c for c in CONTRACT_BOT_COMMANDS if c not in registered]
    assert not missing, missing


def _registered_commands() -> set[str]:
    from telegram.ext import CommandHandler

    from bot.app import build_application
    from bot.loopback import LoopbackRequest
    from bot.settings import load_settings

    app = build_application(load_settings(REPO / "config.yaml"), request=LoopbackRequest())
    return {c for handlers in app.handlers.values() for h in handlers
            if isinstance(h, CommandHandler) for c in h.commands}


def test_the_command_catalog_is_what_is_registered() -> None:
    """Menus, /help and usage texts come from bot/commands.py: a command registered but not in
    the catalog (or the reverse) would be missing from one of them."""
    from bot.commands import BY_NAME

    assert _registered_commands() == set(BY_NAME)


def test_every_catalog_command_is_documented() -> None:
    from bot.commands import CATALOG
    from bot.handlers.help import HELP, STAFF_HELP

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for command in CATALOG:
        assert f"/{command.name}" in HELP + STAFF_HELP, command.name
        for name in command.names:
            assert f"| /{name}" in readme or f" /{name} " in readme, f"/{name} not in README"


@pytest.mark.parametrize("command", CLI_COMMANDS)
def test_every_cli_command_is_documented_and_answers_help(command: str) -> None:
    assert f"python -m bot {command}" in (REPO / "README.md").read_text(encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bot", *command.split(), "--help"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and "usage" in done.stdout


def test_one_sessionmaker_per_process(tmp_path: Path) -> None:
    """The bot's services and the rules engine's units of work share one sessionmaker."""
    from bot.app import create_services
    from bot.settings import Settings
    from rules.clock import SystemClock

    svc = create_services(Settings().with_db(f"sqlite:///{tmp_path}/one.db"), SystemClock())
    try:
        assert svc.family.uow.sessions is svc.sessions
    finally:
        svc.engine.dispose()


def _import_graph() -> dict[str, set[str]]:
    """Project module → project modules it imports, *including* imports inside functions
    (a cycle hidden behind a function-local import is still a cycle)."""
    import ast

    modules: dict[str, Path] = {}
    for package in ("bot", "knowledge", "rules"):
        for path in (REPO / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from pkg import sub`` imports the submodule; ``from mod import name`` the
                # module (a package's own __init__ is not an edge to each of its submodules)
                names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                         else node.module for a in node.names]
            for name in names:
                target = resolve(name)
                if target and target != module:
                    graph[module].add(target)
    return graph


def test_no_import_cycles_even_through_function_local_imports() -> None:
    graph = _import_graph()
    assert len(graph) > 50  # the walk really found the packages
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles[:3]


def test_handlers_hold_no_sql() -> None:
    """bot/handlers parse, call and render: no SQLAlchemy, no table classes (even imported
    inside a function); the bot's tables are read and written in bot/store.py and the
    dedicated stores it names."""
    import ast

    banned = ("sqlalchemy", "bot.state", "rules.schema")
    found: list[str] = []
    paths = sorted((REPO / "bot" / "handlers").glob("*.py"))
    assert len(paths) > 10  # the walk really found the handlers
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}:{node.lineno} {n}" for n in names
                      if n.split(".")[0] == "sqlalchemy" or n.startswith(banned[1:])]
    assert not found, found
