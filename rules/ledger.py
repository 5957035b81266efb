"""Money movement: guarded balance updates plus the append-only ledger row, always together.

Balances only change here. Each debit is a conditional UPDATE (``balance >= :x``) so no
interleaving can drive a balance negative even where row locks are unavailable; a guard that
misses raises Conflict and the whole operation is retried.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from rules.schema import Binding, LedgerEntry, Person
from rules.unit_of_work import Conflict

# Ledger kinds whose (negative) amounts count against a binding's cumulative limit.
FAMILY_KINDS = ("settle_family", "contribute")


def lock_people(s: Session, ids: Iterable[int]) -> None:
    """Row-lock people in ascending id order (PostgreSQL). On SQLite, BEGIN IMMEDIATE already
    serialises writers and FOR UPDATE is a no-op, so this costs one cheap query."""
    wanted = sorted(set(ids))
    if not wanted or s.get_bind().dialect.name == "sqlite":
        return
    s.execute(select(Person.id).where(Person.id.in_(wanted)).order_by(Person.id).with_for_update())


def lock_household(s: Session, householder_id: int) -> None:
    """Lock a householder with all their active relatives, in one id-ordered pass, so that
    unbind/limit/contribute take locks in the same order as settlements do."""
    q = select(Binding.relative_id).where(Binding.householder_id == householder_id,
                                          Binding.removed_at.is_(None))
    lock_people(s, [householder_id, *s.execute(q).scalars()])


def lock_bindings(s: Session, ids: Iterable[int]) -> None:
    wanted = sorted(set(ids))
    if not wanted or s.get_bind().dialect.name == "sqlite":
        return
    s.execute(select(Binding.id).where(Binding.id.in_(wanted)).order_by(Binding.id).with_for_update())


def debit(s: Session, txn_id: int, person_id: int, fen: int, kind: str, now: datetime,
          binding_id: int | None = None) -> None:
    """Take ``fen`` from a person's balance and record it; never below zero."""
    if fen <= 0:
        return
    res = s.execute(
        update(Person).where(Person.id == person_id, Person.balance >= fen)
        .values(balance=Person.balance - fen).execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raise Conflict(f"balance of person {person_id} changed")
    if binding_id is not None:
        use_binding(s, binding_id, fen)
    _entry(s, txn_id, person_id, -fen, kind, now, binding_id)


def use_binding(s: Session, binding_id: int, fen: int) -> None:
    """Count ``fen`` against a binding's cumulative limit, guarded like a debit."""
    within = (Binding.limit_fen.is_(None)) | (Binding.used_fen + fen <= Binding.limit_fen)
    res = s.execute(
        update(Binding).where(Binding.id == binding_id, Binding.removed_at.is_(None), within)
        .values(used_fen=Binding.used_fen + fen).execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raise Conflict(f"binding {binding_id} changed")


def _entry(s: Session, txn_id: int, person_id: int, delta: int, kind: str, now: datetime,
           binding_id: int | None, period: str | None = None) -> None:
    s.execute(insert(LedgerEntry).values(
        txn_id=txn_id, person_id=person_id, binding_id=binding_id, delta_fen=delta,
        kind=kind, period=period, created_at=now,
    ))
