"""Reads on PostgreSQL run in autocommit: no BEGIN/ROLLBACK round trips, and no ROLLBACK that
makes psycopg forget the connection's prepared statements (rules.db.reader)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from rules.db import make_engine
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
