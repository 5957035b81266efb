"""Monthly credits, set-based: one statement writes every ledger row, one moves every balance.

A partial unique index (person_id, period) WHERE kind='credit' makes a second run of the same
month a no-op for everyone already paid, even when two runs race.
"""

from __future__ import annotations

import re

from sqlalchemy import and_, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session, aliased

from rules.decision import Decision
from rules.schema import LedgerEntry, Person
from rules.unit_of_work import TxnContext
from rules.views import PERSONAL_ACCOUNT_EMPLOYMENT

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def eligible():  # type: ignore[no-untyped-def]
    """Active employees with a personal account and a positive monthly credit."""
    return and_(Person.scheme == "employee", Person.employment.in_(PERSONAL_ACCOUNT_EMPLOYMENT),
                Person.status == "active", Person.monthly_credit > 0)


def credit_month(s: Session, ctx: TxnContext, month: str) -> Decision:
    if not MONTH.match(month):
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    paid = aliased(LedgerEntry)
    already = exists().where(paid.person_id == Person.id, paid.period == month,
                             paid.kind == "credit")
    rows = select(
        literal(ctx.id), Person.id, literal(None), Person.monthly_credit, literal("credit"),
        literal(month), literal(ctx.now),
    ).where(eligible(), ~already)
    s.execute(insert(LedgerEntry).from_select(
        ["txn_id", "person_id", "binding_id", "delta_fen", "kind", "period", "created_at"], rows))
    mine = LedgerEntry.txn_id == ctx.id
    s.execute(
        update(Person).where(LedgerEntry.person_id == Person.id, mine)
        .values(balance=Person.balance + LedgerEntry.delta_fen)
        .execution_options(synchronize_session=False)
    )
    credited, total = s.execute(
        select(func.count(), func.coalesce(func.sum(LedgerEntry.delta_fen), 0)).where(mine)
    ).one()
    people = s.execute(select(func.count()).select_from(Person)).scalar_one()
    return Decision.allow(month=month, credited=int(credited), total_fen=int(total),
                          skipped=int(people) - int(credited))
