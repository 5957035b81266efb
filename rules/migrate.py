"""Schema migrations: Alembic, configured in code (no alembic.ini), scripts in rules/migrations.

``upgrade(url)`` brings any database to the newest revision. A database that was created
before migrations existed (``create_all`` by the console or ``people import``) and already
matches the models is *stamped* instead of migrated, so ``db upgrade`` is always safe to run.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect

from rules.db import make_engine
from rules.schema import Base

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
# Alembic's command API keeps its context in module globals: one command at a time per process.
_ALEMBIC = threading.Lock()


class MigrationError(RuntimeError):
    """The database cannot be brought up to date automatically; the message says why."""


def alembic_config(url: str, *, metadata: MetaData | None = None) -> Config:
    """An Alembic Config built in code. The URL travels in ``attributes`` (not the ini
    options) so that ``%`` in it, e.g. ``options=-csearch_path%3D…``, is never interpolated."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    cfg.attributes["target_metadata"] = metadata if metadata is not None else Base.metadata
    return cfg


def head() -> str:
    """The newest revision in rules/migrations."""
    rev = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert rev is not None, "no migration scripts"
    return rev


def current(url: str) -> str | None:
    """The database's revision, or None when it is not under migration control."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def schema_diffs(conn: Connection, metadata: MetaData | None = None) -> list[object]:
    """Alembic's differences between the live schema and the models (empty: identical)."""
    md = metadata if metadata is not None else Base.metadata
    ctx = MigrationContext.configure(conn, opts={
        "compare_type": True, "include_name": _ignore_version_table,
    })
    return list(compare_metadata(ctx, md))


def _ignore_version_table(name: str | None, type_: str, _parent: object) -> bool:
    return not (type_ == "table" and name == VERSION_TABLE)


def upgrade(url: str, revision: str = "head", *, metadata: MetaData | None = None) -> str:
    """Migrate the database at ``url`` to ``revision``; returns the revision reached.

    Pass ``metadata`` holding every table (the bot imports ``bot.state`` first) so an
    unversioned database can be checked against the whole model before it is stamped.
    """
    with _ALEMBIC:
        return _upgrade(url, revision, metadata)


def _upgrade(url: str, revision: str, metadata: MetaData | None) -> str:
    cfg = alembic_config(url, metadata=metadata)
    if _unversioned_with_tables(url):
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                diffs = schema_diffs(conn, metadata)
        finally:
            engine.dispose()
        if diffs:
            raise MigrationError(
                "the database has tables but no migration history, and they differ from the "
                f"models ({len(diffs)} differences, first: {diffs[0]!r}); back it up and "
                "migrate it by hand, or start from an empty database"
            )
        command.stamp(cfg, "head")
    else:
        command.upgrade(cfg, revision)
    reached = current(url)
    return reached or ""


def _unversioned_with_tables(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    return bool(names) and VERSION_TABLE not in names
