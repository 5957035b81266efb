"""Reads on PostgreSQL run in autocommit: no BEGIN/ROLLBACK round trips, and no ROLLBACK that
makes psycopg forget the connection's prepared statements (rules.db.reader)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool

from rules.db import make_engine, reader, single_read
from rules.schema import Transaction
from rules.unit_of_work import UnitOfWork


@pytest.fixture
def one_connection(engine: Engine) -> Iterator[Engine]:
    """The test's database through a pool of exactly one connection."""
    if engine.dialect.name == "sqlite":
        pytest.skip("prepared statements and autocommit reads are PostgreSQL's")
    single = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1,
                         max_overflow=0)
    yield single
    single.dispose()


def test_a_read_is_not_in_a_transaction(one_connection: Engine) -> None:
    uow = UnitOfWork(one_connection)
    assert uow.read(lambda s: s.execute(text("SELECT now() = statement_timestamp()")).scalar())
    assert uow.read(lambda s: s.connection().connection.dbapi_connection.autocommit)


def test_reads_between_writes_keep_the_prepared_statements(one_connection: Engine) -> None:
    uow = UnitOfWork(one_connection)
    count = text("SELECT count(*) FROM transactions WHERE kind = :kind")
    for _ in range(8):  # psycopg prepares a statement on its 5th execution on a connection
        with uow.sessions.begin() as s:
            s.execute(count, {"kind": "x"})
        uow.read(lambda s: s.query(Transaction).count())
    with one_connection.connect() as conn:
        prepared = conn.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
    assert any("kind = $1" in sql for sql in prepared), prepared


@pytest.fixture
def sqlite_file(tmp_path) -> Iterator[tuple[Engine, str]]:
    """An SQLite engine whose one pooled connection waits for no lock (busy timeout 0)."""
    path = tmp_path / "reads.db"
    eng = make_engine(f"sqlite:///{path}", poolclass=StaticPool)
    with eng.begin() as conn:
        conn.exec_driver_sql("PRAGMA busy_timeout = 0")
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    yield eng, str(path)
    eng.dispose()


def test_sqlite_single_statement_reads_open_no_transaction(sqlite_file) -> None:
    eng, _ = sqlite_file
    with single_read(eng) as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
        assert not conn.connection.driver_connection.in_transaction
    with reader(eng).connect() as conn:  # several statements: one deferred transaction
        conn.exec_driver_sql("SELECT count(*) FROM t")
        assert conn.connection.driver_connection.in_transaction
    with eng.connect() as conn:  # a write: BEGIN IMMEDIATE, the write lock from the start
        conn.exec_driver_sql("SELECT 1")
        assert conn.connection.driver_connection.in_transaction
        assert _locked_for_writers(sqlite_file[1])
        conn.rollback()


def test_sqlite_begin_that_finds_the_database_locked_is_sqlalchemys_error(sqlite_file) -> None:
    """BEGIN IMMEDIATE goes straight to the driver, yet a lock still surfaces as SQLAlchemy's
    OperationalError, the error the unit of work retries on."""
    eng, path = sqlite_file
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"), eng.begin() as conn:
            conn.exec_driver_sql("SELECT 1")
        with single_read(eng) as conn:  # a reader is not held up by the writer
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    finally:
        other.rollback()
        other.close()


def _locked_for_writers(path: str) -> bool:
    probe = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()
    return False
