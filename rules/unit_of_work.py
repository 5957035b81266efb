"""Keyed units of work: one database transaction per operation, idempotent, retried on conflict.

The Transaction row is inserted *first*: on PostgreSQL a second writer with the same key then
blocks on the unique index until the first commits, and fails with a unique violation that we
answer with the stored Decision. Everything the operation writes commits together with its
Transaction row or not at all (the session rolls back unless the body returns).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, DateTime, Engine, Executable, Row, bindparam, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from rules.db import reader, session_factory, single_read
from rules.decision import Decision
from rules.schema import Transaction

_INSERT_TXN = text(
    'INSERT INTO transactions ("key", kind, purpose, created_at, result)'
    " VALUES (:key, :kind, :purpose, :now, :result) RETURNING id"
).bindparams(bindparam("now", type_=DateTime), bindparam("result", type_=JSON))
_FINISH_TXN = text(
    "UPDATE transactions SET result = :result, amount_fen = :amount, cash_fen = :cash,"
    # NULL rather than a foreign-key error when the operation named an unknown person
    " person_id = (SELECT id FROM people WHERE id = :person_id) WHERE id = :id"
).bindparams(bindparam("result", type_=JSON))

_STORED = select(Transaction.result, Transaction.kind).where(Transaction.key == bindparam("key"))

# PostgreSQL SQLSTATEs worth another attempt: serialization failure, deadlock, lock timeout.
_RETRY_PGCODES = {"40001", "40P01", "55P03"}


class Conflict(Exception):
    """A guarded write found the row changed under it; the whole operation is retried."""


class AlreadyClaimed(Exception):
    """A single-use token was spent by someone else (another press, a 取消): nothing ran."""


class KeyClash(Exception):
    """An idempotency key was first used by a different kind of operation: its result is
    not replayed as if it were this one's."""


class Claim(Protocol):
    """A single-use token taken in the same transaction as the operation it authorises."""

    def take(self, s: Session) -> None:
        """Mark the token used; raise :class:`AlreadyClaimed` when it already was."""

    def record(self, s: Session, decision: Decision) -> None:
        """Store what the operation decided with the token, still in the same transaction."""


@dataclass
class TxnContext:
    """What an operation body knows about its own Transaction row."""

    id: int
    key: str
    now: datetime
    person_id: int | None = None  # whom the operation was for (patient, beneficiary)
    cash_fen: int | None = None
    amount_fen: int | None = None


Body = Callable[[Session, TxnContext], Decision]


def _retryable(exc: DBAPIError) -> bool:
    """Conflicts, and connections lost mid-transaction (failover, admin shutdown): retrying
    under the same key is safe, since a commit that did happen is replayed, not repeated."""
    if exc.connection_invalidated:
        return True
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in _RETRY_PGCODES or (code or "").startswith("08") or code == "57P01":
        return True
    return "database is locked" in str(exc.orig)


class UnitOfWork:
    """Runs bodies in ``sessionmaker.begin()`` blocks; one per process, shared by threads."""

    def __init__(self, engine: Engine, *, retries: int = 5,
                 sessions: sessionmaker[Session] | None = None) -> None:
        self.engine = engine
        # the process's one sessionmaker (bot/app.py passes it); its own only when used alone
        self.sessions: sessionmaker[Session] = sessions or session_factory(engine)
        self._reader = reader(engine)
        self.retries = retries

    def read(self, fn: Callable[[Session], Any]) -> Any:
        """A read-only unit: nothing it does is committed (on SQLite it takes no write lock)."""
        with self.sessions(bind=self._reader) as s:
            try:
                return fn(s)
            finally:
                s.rollback()

    def rows(self, statement: Executable, params: dict[str, Any]) -> list[Row[Any]]:
        """The rows of one read-only statement, without a Session (cheaper than :meth:`read`
        for the frequent single-statement reads, such as balances)."""
        with single_read(self.engine) as conn:
            return list(conn.execute(statement, params))

    def stored(self, key: str, kind: str | None = None) -> Decision | None:
        """The Decision first stored under ``key``; with ``kind``, raises :class:`KeyClash`
        when the key belongs to another kind of operation."""
        row = next(iter(self.rows(_STORED, {"key": key})), None)
        if not row or not row[0]:
            return None
        if kind is not None and row.kind != kind:
            raise KeyClash(key)
        return Decision.from_json(row[0])

    def run(self, key: str, kind: str, person_id: int | None, now: datetime, body: Body,
            *, purpose: str | None = None) -> Decision:
        """Apply ``body`` once under ``key``; a replay returns the first Decision unchanged."""
        for attempt in range(self.retries + 1):
            try:
                return self._attempt(key, kind, person_id, now, body, purpose)
            except IntegrityError:
                first = self.stored(key, kind)
                if first is not None:
                    return replace(first, replayed=True)
                if attempt >= self.retries:
                    raise
            except Conflict:
                if attempt >= self.retries:
                    raise
            except DBAPIError as exc:
                if not _retryable(exc) or attempt >= self.retries:
                    raise
                first = self.stored(key, kind)
                if first is not None:
                    return replace(first, replayed=True)
            # Jittered exponential backoff: colliding transactions must not collide again.
            time.sleep(random.uniform(0.001, 0.005 * 2 ** attempt))
        raise AssertionError("unreachable")

    def _attempt(self, key: str, kind: str, person_id: int | None, now: datetime, body: Body,
                 purpose: str | None) -> Decision:
        with self.sessions.begin() as s:
            conn = s.connection()
            txn_id = conn.execute(_INSERT_TXN, {
                "key": key, "kind": kind, "purpose": purpose, "now": now, "result": {},
            }).scalar_one()
            ctx = TxnContext(id=txn_id, key=key, now=now, person_id=person_id)
            decision = body(s, ctx)
            conn.execute(_FINISH_TXN, {
                "result": decision.to_json(), "amount": ctx.amount_fen, "cash": ctx.cash_fen,
                "person_id": ctx.person_id, "id": txn_id,
            })
        return decision
