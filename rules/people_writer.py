"""Writing the people registry: one transaction, the fastest path each backend offers.

SQLite goes through the raw DBAPI connection (``executemany`` in large batches inside
``BEGIN IMMEDIATE``, with a big page cache for the unique index); PostgreSQL uses psycopg's
COPY for new people. Used by rules/importer.py, which validates; this module only writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

BATCH = 20_000

# Stored columns compared to decide "updated" vs "unchanged" (never the balance).
FIELDS = (
    "name", "phone", "province", "city", "region", "scheme", "employment",
    "status", "lapsed_since", "monthly_credit",
)
_INSERT_COLUMNS = ("id_number", *FIELDS, "opening_balance", "balance")

_SELECT_EXISTING = f"SELECT id_number, {', '.join(FIELDS)}, balance FROM people"


class Writer:
    """Writes through the raw DBAPI connection inside one transaction (SQLite: qmark)."""

    mark = "?"

    def __init__(self, engine: Engine) -> None:
        self.active = False
        self.raw = engine.raw_connection()
        try:
            self.cur = self.raw.cursor()
            self.begin()
        except BaseException:
            self.raw.close()
            raise
        cols, marks = ", ".join(_INSERT_COLUMNS), ", ".join([self.mark] * len(_INSERT_COLUMNS))
        self.insert_sql = f"INSERT INTO people ({cols}) VALUES ({marks})"
        sets = ", ".join(f"{c} = {self.mark}" for c in FIELDS)
        self.update_sql = f"UPDATE people SET {sets} WHERE id_number = {self.mark}"

    def begin(self) -> None:
        # A big page cache for this import: a million random id_number keys go into the
        # unique index. Restored in close() so the pooled connection goes back as it was.
        self.cur.execute("PRAGMA cache_size")
        row = self.cur.fetchone()
        assert row is not None  # PRAGMA cache_size always returns one row
        self.cache_size = row[0]
        self.cur.execute("PRAGMA cache_size = -262144")
        self.cur.execute("BEGIN IMMEDIATE")
        self.active = True

    def existing(self) -> dict[str, tuple[int, int]]:
        """id_number → (hash of the compared fields, balance) of everyone already stored."""
        self.cur.execute(_SELECT_EXISTING)
        out: dict[str, tuple[int, int]] = {}
        while chunk := self.cur.fetchmany(BATCH):
            for r in chunk:
                out[r[0]] = (hash(tuple(r[1:-1])), r[-1])
        return out

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.cur.executemany(self.insert_sql, rows)

    def update(self, rows: list[tuple[Any, ...]]) -> None:
        for start in range(0, len(rows), BATCH):
            self.cur.executemany(self.update_sql, rows[start:start + BATCH])

    def commit(self) -> None:
        self.cur.execute("COMMIT")
        self.active = False

    def rollback(self) -> None:
        if self.active:
            self.active = False
            self.cur.execute("ROLLBACK")

    def close(self) -> None:
        try:
            self.cur.execute(f"PRAGMA cache_size = {int(self.cache_size)}")
            self.cur.close()
        finally:
            self.raw.close()


class _PostgresWriter(Writer):
    """psycopg 3: COPY for new people, pipelined executemany for updates."""

    mark = "%s"

    def begin(self) -> None:
        self.active = True  # psycopg opens the transaction on the first statement

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            sql = f"COPY people ({', '.join(_INSERT_COLUMNS)}) FROM STDIN"
            with self.cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)

    def commit(self) -> None:
        self.raw.commit()
        self.active = False

    def rollback(self) -> None:
        if self.active:
            self.active = False
            self.raw.rollback()

    def close(self) -> None:
        try:
            self.cur.close()
        finally:
            self.raw.close()


@contextmanager
def open_writer(engine: Engine) -> Iterator[Writer]:
    kind = {"sqlite": Writer, "postgresql": _PostgresWriter}.get(engine.dialect.name)
    if kind is None:
        raise NotImplementedError(f"people import: SQLite or PostgreSQL, not {engine.dialect.name}")
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        writer = kind(engine)
        try:
            yield writer
        except BaseException:
            with suppress(Exception):  # a dead connection must not hide the real error
                writer.rollback()
            raise
        finally:
            writer.close()
    except dbapi_error as exc:  # raw DBAPI errors reach callers as SQLAlchemy's, as usual
        raise DBAPIError.instance(None, None, exc, dbapi_error) from exc
