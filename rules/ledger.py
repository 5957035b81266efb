"""Money movement: guarded balance updates plus the append-only ledger row, always together.

Balances only change here. Each debit is a conditional UPDATE (``balance >= :x``) so no
interleaving can drive a balance negative even where row locks are unavailable; a guard that
misses raises Conflict and the whole operation is retried.

The hot statements are plain SQL compiled once (``text()`` with typed parameters): building
ORM expressions per call cost more than the database work itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import DateTime, bindparam, select, text
from sqlalchemy.orm import Session

from rules.schema import Binding, Person
from rules.unit_of_work import Conflict

# Ledger kinds whose (negative) amounts count against a binding's cumulative limit.
FAMILY_KINDS = ("settle_family", "contribute")

_DEBIT = text("UPDATE people SET balance = balance - :fen WHERE id = :id AND balance >= :fen")
_USE = text(
    "UPDATE bindings SET used_fen = used_fen + :fen WHERE id = :id AND removed_at IS NULL"
    " AND (limit_fen IS NULL OR used_fen + :fen <= limit_fen)"
)
_ENTRY = text(
    "INSERT INTO ledger (txn_id, person_id, binding_id, delta_fen, kind, period, created_at)"
    " VALUES (:txn_id, :person_id, :binding_id, :delta, :kind, :period, :now)"
).bindparams(bindparam("now", type_=DateTime))


def is_sqlite(s: Session) -> bool:
    return s.get_bind().dialect.name == "sqlite"


# The lock statements are built once (they run in every settlement on PostgreSQL).
_LOCK_PEOPLE = (select(Person.id).where(Person.id.in_(bindparam("ids", expanding=True)))
                .order_by(Person.id).with_for_update())
_LOCK_BINDINGS = (select(Binding.id).where(Binding.id.in_(bindparam("ids", expanding=True)))
                  .order_by(Binding.id).with_for_update())
_RELATIVES = select(Binding.relative_id).where(Binding.householder_id == bindparam("householder"),
                                               Binding.removed_at.is_(None))


def lock_people(s: Session, ids: Iterable[int]) -> None:
    """Row-lock people in ascending id order (PostgreSQL). On SQLite BEGIN IMMEDIATE already
    serialises writers and FOR UPDATE does not exist, so nothing is done."""
    wanted = sorted(set(ids))
    if not wanted or is_sqlite(s):
        return
    s.connection().execute(_LOCK_PEOPLE, {"ids": wanted})


def lock_household(s: Session, householder_id: int) -> None:
    """Lock a householder with all their active relatives, in one id-ordered pass, so that
    unbind/limit/contribute take locks in the same order as settlements do."""
    if is_sqlite(s):
        return
    relatives = s.connection().execute(_RELATIVES, {"householder": householder_id}).scalars()
    lock_people(s, [householder_id, *relatives])


def lock_bindings(s: Session, ids: Iterable[int]) -> None:
    wanted = sorted(set(ids))
    if not wanted or is_sqlite(s):
        return
    s.connection().execute(_LOCK_BINDINGS, {"ids": wanted})


def debit(s: Session, txn_id: int, person_id: int, fen: int, kind: str, now: datetime,
          binding_id: int | None = None) -> None:
    """Take ``fen`` from a person's balance and record it; never below zero."""
    if fen <= 0:
        return
    conn = s.connection()
    if conn.execute(_DEBIT, {"fen": fen, "id": person_id}).rowcount != 1:
        raise Conflict(f"balance of person {person_id} changed")
    if binding_id is not None:
        use_binding(s, binding_id, fen)
    conn.execute(_ENTRY, {"txn_id": txn_id, "person_id": person_id, "binding_id": binding_id,
                          "delta": -fen, "kind": kind, "period": None, "now": now})


def use_binding(s: Session, binding_id: int, fen: int) -> None:
    """Count ``fen`` against a binding's cumulative limit, guarded like a debit."""
    if s.connection().execute(_USE, {"fen": fen, "id": binding_id}).rowcount != 1:
        raise Conflict(f"binding {binding_id} changed")
