"""The rules tests' ``engine``: on SQLite a copy of one schema file built once per session.

Creating every table costs ~0.1 s per test on SQLite; copying a file with the same tables
costs ~2 ms. That is what makes the store and audit mutation runs (bench/mutation.py), which
repeat these tests for every mutant, fit their time budget. PostgreSQL is unchanged: a fresh
private schema per test (tests/conftest.py), tables created in it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from rules.db import create_schema, make_engine, sqlite_path


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import bot.state  # noqa: F401  (bot-side tables share the metadata)

    path = tmp_path_factory.mktemp("schema") / "template.db"
    eng = make_engine(f"sqlite:///{path}")
    create_schema(eng)
    eng.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture
def engine(db_url: str, _sqlite_template: Path) -> Iterator[Engine]:
    """An engine on a fresh database with every table created."""
    import bot.state  # noqa: F401

    path = sqlite_path(db_url)
    if path is not None and not path.exists():
        shutil.copyfile(_sqlite_template, path)
    eng = make_engine(db_url)
    create_schema(eng)  # a no-op on the copy; creates the tables on PostgreSQL
    yield eng
    eng.dispose()
