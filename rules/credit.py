"""Monthly credits, set-based: one statement writes every ledger row, one moves every balance.

A partial unique index (person_id, period) WHERE kind='credit' makes a second run of the same
month a no-op for everyone already paid, even when two runs race.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import and_, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session, aliased

from rules.clock import china_month
from rules.codes import Reason
from rules.decision import Decision
from rules.schema import LedgerEntry, Person
from rules.unit_of_work import TxnContext
from rules.views import PERSONAL_ACCOUNT_EMPLOYMENT

MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")  # used with fullmatch: no trailing junk


def previous_month(month: str) -> str:
    """The month before ``YYYY-MM``."""
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def allowed_months(now: datetime) -> tuple[str, str]:
    """The months a credit may run for at ``now``: the current China month and the one before.

    Any other month is refused, so a typo (``2062-11``) or a replayed old month can neither mint
    a month of credits in advance nor block a future month.
    """
    current = china_month(now)
    return current, previous_month(current)


def month_allowed(month: str, now: datetime) -> bool:
    return bool(MONTH.fullmatch(month)) and month in allowed_months(now)


def eligible():  # type: ignore[no-untyped-def]
    """Active employees with a personal account and a positive monthly credit."""
    return and_(Person.scheme == "employee", Person.employment.in_(PERSONAL_ACCOUNT_EMPLOYMENT),
                Person.status == "active", Person.monthly_credit > 0)


def _due(month: str):  # type: ignore[no-untyped-def]
    """Eligible people not yet credited for ``month``."""
    paid = aliased(LedgerEntry)
    already = exists().where(paid.person_id == Person.id, paid.period == month,
                             paid.kind == "credit")
    return and_(eligible(), ~already)


def refuse_month(month: str, now: datetime) -> Decision:
    current, previous = allowed_months(now)
    return Decision.refuse(Reason.INVALID_MONTH, month=month, allowed=[current, previous])


def preview_month(s: Session, now: datetime, month: str) -> Decision:
    """What ``credit_month`` would pay now (people, total), without writing; or INVALID_MONTH."""
    if not month_allowed(month, now):
        return refuse_month(month, now)
    people, total = s.execute(
        select(func.count(), func.coalesce(func.sum(Person.monthly_credit), 0))
        .where(_due(month))).one()
    return Decision.allow(month=month, people=int(people), total_fen=int(total))


def credit_month(s: Session, ctx: TxnContext, month: str,
                 pinned: tuple[int, int] | None = None) -> Decision:
    """Credit everyone due for ``month``. With ``pinned`` (people, total_fen as a summary showed
    them), anything else is PLAN_CHANGED and nothing is written: 确认 pays what was shown."""
    if not month_allowed(month, ctx.now):
        return refuse_month(month, ctx.now)
    if pinned is not None:
        due = preview_month(s, ctx.now, month).facts
        if (due["people"], due["total_fen"]) != tuple(pinned):
            return Decision.refuse(Reason.PLAN_CHANGED, **due)
    rows = select(
        literal(ctx.id), Person.id, literal(None), Person.monthly_credit, literal("credit"),
        literal(month), literal(ctx.now),
    ).where(_due(month))
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
