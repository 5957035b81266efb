"""Alembic environment, driven by rules/migrate.py (the URL and metadata come in
``config.attributes``; there is no alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from rules.db import make_engine
from rules.schema import Base

config = context.config
target_metadata = config.attributes.get("target_metadata", Base.metadata)
# Any number arbitrary but fixed: replicas that all run `db upgrade` at start-up take turns.
PG_LOCK_ID = 0x67_6F_6E_67  # "gong"


def run_migrations_offline() -> None:
    context.configure(
        url=config.attributes["url"], target_metadata=target_metadata, literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.attributes["url"])
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            context.configure(
                connection=connection, target_metadata=target_metadata,
                render_as_batch=sqlite,  # SQLite cannot ALTER most things: copy-and-move
                compare_type=True,
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # Wait for another migrator, but never forever (it fails, clearly, instead).
                    connection.execute(text("SET LOCAL lock_timeout = '120s'"))
                    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_ID})
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
