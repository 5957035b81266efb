"""One engine and one session factory per process; SQLite tuned for concurrent writers."""

from __future__ import annotations

import select
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from rules.schema import Base


class DatabaseUrlError(Exception):
    """The database URL cannot be used: unparsable, an unknown or missing driver, or an SQLite
    file whose folder cannot be created. The message is one Chinese line for the operator."""


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (None for other databases and ``:memory:``)."""
    u = _parse(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except Exception as exc:  # ArgumentError, ValueError: both mean "not a URL"
        raise DatabaseUrlError("数据库地址无法解析：应为 sqlite:///文件路径.db 或 "
                               "postgresql+psycopg://用户@主机/库名") from exc


def _make_folder(path: Path) -> None:
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise DatabaseUrlError(f"无法创建 SQLite 数据库 {path}：{folder} 不是文件夹")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUrlError(f"无法创建 SQLite 数据库所在的文件夹 {folder}："
                               f"{exc.strerror or exc}") from exc


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10, **kw: Any) -> Engine:
    """Create the process's engine (DatabaseUrlError when the URL cannot be used).

    SQLite: WAL, ``synchronous=NORMAL``, a busy timeout, and every transaction started with
    ``BEGIN IMMEDIATE`` so read-check-write sequences are serialised (``SELECT … FOR UPDATE``
    is a no-op there). PostgreSQL: a pool sized from config; a pooled connection the server
    closed while it sat idle is replaced at checkout (see ``_drop_closed``), and TCP keepalives
    find peers that vanished without closing.
    """
    u = _parse(url)
    try:
        if u.get_backend_name() == "sqlite":
            path = sqlite_path(url)
            if path is not None:
                _make_folder(path)
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                                   **kw)
            _tune_sqlite(engine)
            return engine
        engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                               connect_args=_KEEPALIVES if u.get_backend_name() == "postgresql"
                               else {}, **kw)
        event.listen(engine, "checkout", _drop_closed)
        return engine
    except NoSuchModuleError as exc:
        raise DatabaseUrlError(f"不支持的数据库类型：{u.drivername}") from exc
    except ImportError as exc:
        raise DatabaseUrlError(f"缺少数据库驱动（{u.drivername}）：{exc.name or exc}") from exc


# libpq's TCP keepalives: a server or link that died silently is noticed within about a minute
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
               "keepalives_count": 3}


def _drop_closed(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Checkout guard: an idle pooled connection has nothing to read, so a readable socket
    means the server closed it (restart, failover, idle timeout, ``pg_terminate_backend``) or
    sent something unasked; either way the pool discards it and connects anew. This replaces
    ``pool_pre_ping``, which costs a round trip on every checkout (several per update)."""
    fileno = getattr(dbapi_conn, "fileno", None)
    if fileno is None:
        return
    try:
        fd = fileno()
    except Exception as exc:  # a connection already closed on our side
        raise DisconnectionError("the pooled connection is closed") from exc
    poll = select.poll()
    poll.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    if poll.poll(0):
        raise DisconnectionError("the server closed the pooled connection")


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
        # A reader (see ``reader``) takes no write lock: under WAL it runs beside the writer;
        # a single statement (``single_read``) needs no transaction at all.
        options = conn.get_execution_options()
        if options.get(SINGLE, False):
            return
        sql = "BEGIN" if options.get(READ_ONLY, False) else "BEGIN IMMEDIATE"
        # Straight to the driver: through exec_driver_sql this one statement cost ~5 % of a
        # console settlement's CPU. Errors are SQLAlchemy's, as exec_driver_sql would raise
        # them (a BEGIN IMMEDIATE that waited out the busy timeout is an OperationalError).
        try:
            conn.connection.driver_connection.execute(sql)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc


READ_ONLY = "gongji_read_only"
SINGLE = "gongji_single_statement"


def reader(engine: Engine) -> Engine:
    """The same engine (and pool) for read-only work.

    SQLite: its transactions begin DEFERRED, so reads do not queue behind writers.
    PostgreSQL: autocommit. Under READ COMMITTED every statement reads its own snapshot
    whether or not a transaction surrounds it, so a read loses nothing, and saves the BEGIN
    and ROLLBACK round trips. It also keeps the connection's prepared statements: psycopg
    forgets them all at every ROLLBACK, so reads that rolled back made the money path's
    statements be parsed and planned anew on every execution.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{READ_ONLY: True})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def single_read(engine: Engine) -> Connection:
    """A connection for a read of one statement (see :func:`reader`); on SQLite, outside any
    transaction (one statement is consistent by itself), so no BEGIN and no ROLLBACK."""
    single: Engine | None = getattr(engine, _SINGLE_ENGINE, None)
    if single is None:  # made once per engine (kept on it): an options engine is not free
        single = (engine.execution_options(**{READ_ONLY: True, SINGLE: True})
                  if engine.dialect.name == "sqlite" else reader(engine))
        setattr(engine, _SINGLE_ENGINE, single)
    return single.connect()


_SINGLE_ENGINE = "_gongji_single_read"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def create_schema(engine: Engine) -> None:
    """Create every table registered on the shared metadata that is missing.

    Callers that also want the bot-side tables import ``bot.state`` first (the bot does).
    """
    Base.metadata.create_all(engine)
