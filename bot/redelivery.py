"""The ``processed_updates`` table: which updates already ran to the end (no telegram here).

A marker (bot.context.update_marker: the update's key hashed into 63 bits) is recorded once an
update's handlers have finished, replies sent, in one batched transaction for concurrent
updates. Never earlier, with the effect: a replica that dies between committing a payment and
sending its receipt must leave the update to be redelivered, and the redelivery replays the
effect's first Decision by its key instead of paying again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, bindparam, delete, select

from bot.state import ProcessedUpdate
from rules.db import is_sqlite, single_read

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

    from bot.context import Services

KEEP = timedelta(days=7)
PRUNE_EVERY = 1000
_SEEN = select(ProcessedUpdate.update_id).where(
    ProcessedUpdate.update_id.in_(bindparam("ids", expanding=True)))


def _record(engine: Engine | Connection) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING update_id (SQLite ≥ 3.35 and PostgreSQL)."""
    dialect = engine.dialect.name
    # Each dialect has its own Insert class; both spell ON CONFLICT DO NOTHING the same way.
    upsert: sqlite.Insert | postgresql.Insert
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        upsert = sqlite_insert(ProcessedUpdate)
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert
        upsert = postgresql_insert(ProcessedUpdate)
    else:  # pragma: no cover — the bot supports SQLite and PostgreSQL only
        raise RuntimeError(f"unsupported database: {dialect}")
    return (upsert.on_conflict_do_nothing(index_elements=["update_id"])
            .returning(ProcessedUpdate.update_id))


def processed_among(svc: Services, update_ids: list[int]) -> list[bool]:
    """For each update_id, whether it already ran to the end (one query for all)."""
    with single_read(svc.engine) as conn:
        seen = set(conn.scalars(_SEEN, {"ids": sorted(set(update_ids))}))
    return [i in seen for i in update_ids]


def processed(svc: Services, update_id: int) -> bool:
    """Whether this update_id already ran to the end."""
    return processed_among(svc, [update_id])[0]


def remember_all(svc: Services, update_ids: list[int]) -> list[bool]:
    """Record finished update_ids in one transaction; per id, False when another delivery
    recorded it first (an earlier one, or the same id earlier in this batch)."""
    now = svc.clock.now()
    fresh = sorted(set(update_ids))
    with svc.engine.begin() as conn:  # Core: this runs for every update
        if not is_sqlite(svc.engine):
            # A marker lost in a server crash only lets a redelivery run again (keyed).
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        inserted = set(conn.scalars(_record(svc.engine),
                                    [{"update_id": i, "at": now} for i in fresh]))
        if any(i % PRUNE_EVERY == 0 for i in fresh):
            conn.execute(delete(ProcessedUpdate).where(ProcessedUpdate.at < now - KEEP))
    result = []
    for i in update_ids:
        result.append(i in inserted)
        inserted.discard(i)
    return result


def remember(svc: Services, update_id: int) -> bool:
    """Record a finished update_id; False when another delivery recorded it first."""
    return remember_all(svc, [update_id])[0]
