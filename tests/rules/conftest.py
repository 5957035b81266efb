"""Fast fixtures for the rules tests (bench/mutation.py repeats them for every mutant).

``engine``: on SQLite a copy of one schema file built once per session.

Creating every table costs ~0.1 s per test on SQLite; copying a file with the same tables
costs ~2 ms. That is what makes the store and audit mutation runs (bench/mutation.py), which
repeat these tests for every mutant, fit their time budget. PostgreSQL is unchanged: a fresh
private schema per test (tests/conftest.py), tables created in it.

YAML: every World loads rules/regions.yaml, vocabulary.yaml and wallet.yaml again; parsing them
was a quarter of the store tests' time. ``yaml.safe_load`` of a text already parsed returns a
deep copy of the first parse (the same value, nothing shared); anything else parses as before.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from sqlalchemy import Engine

from rules.db import create_schema, make_engine, sqlite_path

T = TypeVar("T")


@pytest.fixture(scope="session", autouse=True)
def _parse_yaml_once() -> Iterator[None]:
    real = yaml.safe_load
    parsed: dict[str, object] = {}

    def safe_load(stream: object) -> object:
        if not isinstance(stream, str):
            return real(stream)
        if stream not in parsed:
            parsed[stream] = real(stream)
        return copy.deepcopy(parsed[stream])

    yaml.safe_load = safe_load
    yield
    yaml.safe_load = real


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


class Snapshots:
    """Scenes built once per session and copied into each test's SQLite database.

    ``restore(engine, db_url, name, build)`` gives the test's database the rows ``build(engine)``
    wrote (built on the first call, in a database of its own) and returns what ``build``
    returned; only plain values (ids) should be read from it, since any engine it holds is the
    build's. On PostgreSQL it simply builds the scene in the test's own schema."""

    def __init__(self, root: Path, template: Path) -> None:
        self.root, self.template = root, template
        self.built: dict[str, tuple[Path, object]] = {}

    def restore(self, engine: Engine, db_url: str, name: str,
                build: Callable[[Engine], T]) -> T:
        path = sqlite_path(db_url)
        if path is None:
            return build(engine)
        if name not in self.built:
            scene = self.root / f"{name}.db"
            shutil.copyfile(self.template, scene)
            eng = make_engine(f"sqlite:///{scene}")
            made = build(eng)
            eng.dispose()
            self.built[name] = (scene, made)
        scene, made = self.built[name]
        engine.dispose()  # no connection on the file while it is replaced
        for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            extra.unlink(missing_ok=True)
        shutil.copyfile(scene, path)
        return made  # type: ignore[return-value]


@pytest.fixture(scope="session")
def snapshots(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Snapshots:
    return Snapshots(tmp_path_factory.mktemp("scenes"), _sqlite_template)
