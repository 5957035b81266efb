"""One engine and one session factory per process; SQLite tuned for concurrent writers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from rules.schema import Base


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10, **kw: Any) -> Engine:
    """Create the process's engine.

    SQLite: WAL, ``synchronous=NORMAL``, a busy timeout, and every transaction started with
    ``BEGIN IMMEDIATE`` so read-check-write sequences are serialised (``SELECT … FOR UPDATE``
    is a no-op there). PostgreSQL: a pool sized from config, pre-ping for dropped connections.
    """
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kw)
        _tune_sqlite(engine)
        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True, **kw
    )


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A reader (see ``reader``) takes no write lock: under WAL it runs beside the writer.
        deferred = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


READ_ONLY = "gongji_read_only"


def reader(engine: Engine) -> Engine:
    """The same engine (and pool) for read-only work: on SQLite its transactions begin
    DEFERRED, so reads do not queue behind writers; elsewhere nothing changes."""
    return engine.execution_options(**{READ_ONLY: True})


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def create_schema(engine: Engine) -> None:
    """Create every table registered on the shared metadata that is missing.

    Callers that also want the bot-side tables import ``bot.state`` first (the bot does).
    """
    Base.metadata.create_all(engine)
