"""The audit's credit checks (review H3): valid months only, and every staff credit confirmed."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, insert, select, update

from rules.audit import audit, credit_periods_valid, staff_credits_confirmed
from rules.schema import LedgerEntry, Note, Person, Transaction
from tests.rules.factories import World

NOW = datetime(2026, 11, 1, 2, 0)  # 2026-11 in China


def _credited(engine: Engine, *, key: str | None = None) -> tuple[World, int]:
    w = World(engine, start=NOW)
    worker = w.person(monthly_credit=500, balance=0)
    assert w.svc.credit_month("2026-11", key=key).facts["credited"] == 1
    return w, worker


def _rewrite_period(engine: Engine, period: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(update(LedgerEntry).where(LedgerEntry.kind == "credit")
                     .values(period=period))


def test_sound_credits_pass(engine: Engine) -> None:
    _credited(engine)
    with engine.connect() as conn:
        assert credit_periods_valid(conn, NOW) == [] and staff_credits_confirmed(conn) == []
    assert audit(engine) == []


@pytest.mark.parametrize("period", ["2026-12", "2099-06", "9999-12", "2026-13", "26-11", None])
def test_a_credit_for_an_invalid_month_fails_the_audit(engine: Engine, period: str | None,
                                                       ) -> None:
    _credited(engine)
    _rewrite_period(engine, period)
    with engine.connect() as conn:
        found = credit_periods_valid(conn, NOW)
    assert found == [f"credit for an invalid month: {period!r} (1 credits; now 2026-11)"]
    if period != "2026-12":  # the system clock is past 2026-11 already
        assert [v.split(" (")[0] for v in audit(engine)] == \
            [f"credit for an invalid month: {period!r}"]


def test_the_current_china_month_is_valid_at_the_month_boundary(engine: Engine) -> None:
    _credited(engine)
    _rewrite_period(engine, "2026-12")
    with engine.connect() as conn:  # 17:00 UTC on 30 November is 1 December in China
        assert credit_periods_valid(conn, datetime(2026, 11, 30, 17, 0)) == []
        assert credit_periods_valid(conn, datetime(2026, 11, 30, 15, 59)) != []


def _note(engine: Engine, actor: str, action: str, details: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Note).values(at=NOW, actor=actor, action=action, details=details))


KEY = "staff:confirm:tok1"


def _unconfirmed(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        txn = conn.execute(select(Transaction.id).where(Transaction.key == KEY)).scalar_one()
    return [f"staff credit without 确认: transaction {txn} ({KEY})"]


def test_a_staff_credit_without_its_confirmation_fails_the_audit(engine: Engine) -> None:
    _credited(engine, key=KEY)
    assert audit(engine) == _unconfirmed(engine)
    _note(engine, "tg:9", "staff_credit", "2026-11 people=1 total=¥5.00 token=tok1")
    assert audit(engine) == _unconfirmed(engine)  # asked, never confirmed
    _note(engine, "tg:9", "staff_credit_confirmed", f"2026-11 token=tok1 key={KEY} ok=True")
    assert audit(engine) == []


def test_a_confirmation_by_someone_else_or_for_another_summary_fails(engine: Engine) -> None:
    _credited(engine, key=KEY)
    _note(engine, "tg:9", "staff_credit", "2026-11 people=1 total=¥5.00 token=tok1")
    _note(engine, "tg:8", "staff_credit_confirmed", f"2026-11 token=tok1 key={KEY} ok=True")
    unconfirmed = _unconfirmed(engine)
    with engine.connect() as conn:
        assert staff_credits_confirmed(conn) == unconfirmed
    with engine.begin() as conn:
        conn.execute(update(Note).where(Note.action == "staff_credit_confirmed")
                     .values(actor="tg:9", details=f"token=tok2 key={KEY}"))
    with engine.connect() as conn:
        assert staff_credits_confirmed(conn) == unconfirmed


def test_unkeyed_runs_and_refusals_are_not_staff_credits(engine: Engine) -> None:
    w, worker = _credited(engine)
    assert w.svc.credit_month("2099-06", key="staff:confirm:x").ok is False
    with engine.connect() as conn:
        assert conn.execute(select(Transaction.key).where(
            Transaction.key == "staff:confirm:x")).first() is None
        assert conn.execute(select(Person.balance).where(Person.id == worker)).scalar_one() == 500
    assert audit(engine) == []
