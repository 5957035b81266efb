"""Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

import bot.state  # noqa: F401  (bot tables share the metadata)
from rules.db import create_schema, make_engine
from rules.migrate import MigrationError, alembic_config, current, head, schema_diffs, upgrade
from rules.schema import Base

ROOT = Path(__file__).resolve().parents[2]


def _diffs(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return schema_diffs(conn, Base.metadata)
    finally:
        engine.dispose()


def _partial_indexes(url: str) -> dict[str, str]:
    """Unique partial indexes on bindings and ledger: name → WHERE clause."""
    engine = make_engine(url)
    try:
        insp = inspect(engine)
        found = {}
        for table in ("bindings", "ledger"):
            for ix in insp.get_indexes(table):
                where = {k: v for k, v in ix.get("dialect_options", {}).items()
                         if k.endswith("_where")}
                if ix["unique"] and where:
                    found[str(ix["name"])] = str(next(iter(where.values())))
        return found
    finally:
        engine.dispose()


def test_upgrade_builds_todays_schema(db_url: str) -> None:
    assert upgrade(db_url, metadata=Base.metadata) == head()
    assert _diffs(db_url) == []
    partial = _partial_indexes(db_url)
    assert set(partial) == {"uq_bindings_active_pair", "uq_ledger_credit_once"}
    assert "removed_at IS NULL" in partial["uq_bindings_active_pair"]
    assert "credit" in partial["uq_ledger_credit_once"]
    assert upgrade(db_url, metadata=Base.metadata) == head()  # running it again is a no-op


def test_downgrade_to_base_and_back(db_url: str) -> None:
    upgrade(db_url)
    command.downgrade(alembic_config(db_url), "base")
    engine = make_engine(db_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(db_url)
    assert _diffs(db_url) == []


def test_a_create_all_database_is_stamped_not_rebuilt(db_url: str) -> None:
    engine = make_engine(db_url)
    create_schema(engine)
    engine.dispose()
    assert current(db_url) is None
    assert upgrade(db_url, metadata=Base.metadata) == head()
    assert _diffs(db_url) == []


def test_tables_made_by_create_all_after_an_older_upgrade_are_kept(db_url: str) -> None:
    """A database migrated to 0001, then given the newer tables by create_all (the console
    and `people import` create what is missing on SQLite): upgrading finishes the job."""
    command.upgrade(alembic_config(db_url), "0001")
    engine = make_engine(db_url)
    create_schema(engine)
    engine.dispose()
    assert current(db_url) == "0001"
    assert upgrade(db_url, metadata=Base.metadata) == head()
    assert _diffs(db_url) == []


def test_an_unknown_unversioned_schema_is_refused(db_url: str) -> None:
    engine = make_engine(db_url)
    Base.metadata.tables["people"].create(engine)
    engine.dispose()
    with pytest.raises(MigrationError, match="no migration history"):
        upgrade(db_url, metadata=Base.metadata)
    assert current(db_url) is None


def test_cli_db_upgrade(db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade", "--db", db_url],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert current(db_url) == head()
    assert _diffs(db_url) == []


def test_concurrent_upgrades_take_turns(pg_url: str) -> None:
    """Replicas that all run `db upgrade` at start-up: one migrates, the others wait on the
    advisory lock (rules/migrations/env.py), then find the schema at head."""
    procs = [subprocess.Popen([sys.executable, "-m", "bot", "db", "upgrade", "--db", pg_url],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(3)]
    try:
        codes = [p.wait(90) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert codes == [0, 0, 0], [p.stdout.read() if p.stdout else b"" for p in procs]
    assert current(pg_url) == head()
    assert _diffs(pg_url) == []
