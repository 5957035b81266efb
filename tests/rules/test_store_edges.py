"""The store at its edges: contributions at exact balances and limits, payer order after
``/order``, the receipt's numbers, monthly credits' eligibility, and the unit of work's retry
(rules/settlement.py, rules/credit.py, rules/unit_of_work.py)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from rules.audit import audit
from rules.codes import Reason
from rules.credit import allowed_months, previous_month
from rules.decision import Decision
from rules.schema import LedgerEntry, Person, Transaction
from rules.unit_of_work import Conflict, KeyClash, TxnContext, UnitOfWork, _retryable
from tests.rules.factories import World

NOW = datetime(2026, 11, 1, 2, 0)


def _rows(engine: Engine, *where: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(LedgerEntry)
                                .where(*where)).scalar_one())  # type: ignore[arg-type]


# ---- contributions -------------------------------------------------------------------------

def _household(engine: Engine, *, balance: int = 10_000, limit: int | None = None,
               place: str = "jinan", scheme: str = "resident") -> tuple[World, int, int]:
    w = World(engine)
    h = w.householder(place, balance=balance)
    r = w.person(place=place, scheme=scheme, balance=0)
    w.bound(h, r, "子女")
    if limit is not None:
        assert w.svc.set_limit(h, "1", limit, key="lim").ok
    return w, h, r


@pytest.mark.parametrize("amount", [0, -1, -10_000])
def test_a_contribution_of_nothing_or_less_is_invalid_and_moves_nothing(engine: Engine,
                                                                       amount: int) -> None:
    w, h, _r = _household(engine)
    d = w.svc.contribute(h, "1", amount, key="c")
    assert d.code == Reason.INVALID_AMOUNT
    assert w.balance(h) == 10_000 and _rows(engine) == 0


def test_a_contribution_of_exactly_the_balance_empties_it(engine: Engine) -> None:
    w, h, r = _household(engine)
    d = w.svc.contribute(h, "1", 10_000, key="c")
    assert d.ok and d.facts["balance_fen"] == 0 and d.facts["relative_id"] == r
    assert d.facts["amount_fen"] == 10_000
    assert w.balance(h) == 0
    assert audit(engine) == []


def test_a_contribution_one_fen_over_the_balance_is_refused(engine: Engine) -> None:
    w, h, r = _household(engine)
    d = w.svc.contribute(h, "1", 10_001, key="c")
    assert d.code == Reason.FAMILY_FUNDS_INSUFFICIENT
    assert d.facts == {"relative_id": r, "amount_fen": 10_001,
                       "purpose": "resident_contribution"}
    assert w.balance(h) == 10_000 and _rows(engine) == 0


def test_a_contribution_of_exactly_the_room_fits(engine: Engine) -> None:
    w, h, _r = _household(engine, limit=4_000)
    assert w.svc.contribute(h, "1", 4_000, key="c").ok
    assert w.svc.family(h).relatives[0].used_fen == 4_000
    refused = w.svc.contribute(h, "1", 1, key="c2")
    assert refused.code == Reason.LIMIT_EXCEEDED and refused.facts["remaining_fen"] == 0


def test_a_contribution_one_fen_over_the_room_says_what_is_left(engine: Engine) -> None:
    w, h, _r = _household(engine, limit=4_000)
    d = w.svc.contribute(h, "1", 4_001, key="c")
    assert d.code == Reason.LIMIT_EXCEEDED and d.facts["remaining_fen"] == 4_000
    assert w.balance(h) == 10_000


def test_a_resident_contribution_for_an_employee_is_not_resident(engine: Engine) -> None:
    w, h, _r = _household(engine, scheme="employee")
    assert w.svc.contribute(h, "1", 100, key="c").code == Reason.NOT_RESIDENT


def test_a_care_contribution_for_an_employee_is_allowed_where_the_region_allows_it(
        engine: Engine) -> None:
    """Dongying's family money pays ltc_contribution for any bound relative."""
    w, h, _r = _household(engine, place="dongying", scheme="employee")
    d = w.svc.contribute(h, "1", 100, key="c", purpose="ltc_contribution")
    assert d.ok and d.facts["balance_fen"] == 9_900
    assert w.balance(h) == 9_900
    assert audit(engine) == []


def test_a_care_contribution_where_the_region_does_not_allow_it(engine: Engine) -> None:
    w, h, _r = _household(engine)
    d = w.svc.contribute(h, "1", 100, key="c", purpose="ltc_contribution")
    assert d.code == Reason.PURPOSE_NOT_ALLOWED and w.balance(h) == 10_000


def test_a_contribution_is_recorded_as_balanced(engine: Engine) -> None:
    w, h, r = _household(engine)
    assert w.svc.contribute(h, "1", 2_500, key="c").ok
    with engine.connect() as conn:
        row = conn.execute(select(Transaction.amount_fen, Transaction.cash_fen,
                                  Transaction.person_id).where(Transaction.key == "c")).one()
    assert tuple(row) == (2_500, 0, r)


# ---- settlements through the store ---------------------------------------------------------

def test_a_payer_bound_after_the_order_pays_last(engine: Engine) -> None:
    w = World(engine)
    a, b = w.householder("jinan", balance=3_000), w.householder("jinan", balance=3_000)
    r = w.person(place="jinan", scheme="resident", balance=0)
    w.bound(a, r, "子女")
    w.bound(b, r, "子女")
    assert w.svc.set_order(r, ["2", "1"], key="order").ok
    late = w.householder("jinan", balance=50_000)
    w.bound(late, r, "子女")  # no rank: after every ranked payer
    d = w.svc.settle(r, 7_000, "outpatient", key="s")
    assert [(leg["householder_id"], leg["amount_fen"]) for leg in d.facts["legs"]] == \
        [(b, 3_000), (a, 3_000), (late, 1_000)]
    assert (w.balance(a), w.balance(b), w.balance(late)) == (0, 0, 49_000)


def test_the_receipt_reports_the_balance_after_the_own_leg(engine: Engine) -> None:
    w = World(engine)
    r = w.person(place="jinan", scheme="resident", balance=5_000)
    d = w.svc.settle(r, 1_200, "outpatient", key="s")
    assert d.ok and d.facts["balance_fen"] == 3_800 and d.facts["own_fen"] == 1_200
    assert _rows(engine, LedgerEntry.person_id == r) == 1


def test_an_empty_own_account_writes_no_own_row(engine: Engine) -> None:
    w = World(engine)
    h = w.householder("jinan", balance=50_000)
    r = w.person(place="jinan", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    d = w.svc.settle(r, 1_000, "outpatient", key="s")
    assert (d.facts["own_fen"], d.facts["family_fen"]) == (0, 1_000)
    assert _rows(engine, LedgerEntry.person_id == r) == 0
    assert _rows(engine, LedgerEntry.person_id == h) == 1


def test_a_one_fen_bill_is_charged(engine: Engine) -> None:
    w = World(engine)
    r = w.person(place="jinan", scheme="resident", balance=1)
    assert w.svc.settle(r, 1, "outpatient", key="s").ok
    assert w.balance(r) == 0 and _rows(engine, LedgerEntry.delta_fen == -1) == 1
    assert audit(engine) == []


def test_dongying_exact_balance_with_a_payer_is_paid_by_the_patient(engine: Engine) -> None:
    w = World(engine)
    h = w.householder("dongying", balance=50_000)
    r = w.person(place="dongying", scheme="resident", balance=5_000)
    w.bound(h, r, "子女")
    d = w.svc.settle(r, 5_000, "pharmacy", key="s")
    assert d.ok and (d.facts["own_fen"], d.facts["family_fen"]) == (5_000, 0)
    assert (w.balance(r), w.balance(h)) == (0, 50_000)


def test_a_refused_swipe_outside_a_window_opens_one_for_exactly_its_seconds(
        engine: Engine) -> None:
    w = World(engine)
    h = w.householder("dongying", balance=50_000)
    r = w.person(place="dongying", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    assert w.svc.settle(r, 5_000, "pharmacy", key="open").code == Reason.INSUFFICIENT_BALANCE
    w.clock.advance(299)
    assert w.svc.settle(r, 5_000, "pharmacy", key="in").ok
    assert w.svc.settle(r, 5_000, "pharmacy", key="open2").code == Reason.INSUFFICIENT_BALANCE
    w.clock.advance(300)  # exactly at expiry: closed, refused again, a new window opens
    assert w.svc.settle(r, 5_000, "pharmacy", key="late").code == Reason.INSUFFICIENT_BALANCE
    assert w.balance(h) == 45_000


# ---- monthly credits: who is eligible ------------------------------------------------------

def test_only_active_employees_with_an_account_and_a_credit_are_credited(engine: Engine) -> None:
    w = World(engine)
    worker = w.person(monthly_credit=300, balance=0)
    zero = w.person(monthly_credit=0, balance=0)
    resident = w.person(scheme="resident", balance=0)
    with engine.begin() as conn:  # a resident row carrying an employment and a credit
        conn.execute(update(Person).where(Person.id == resident)
                     .values(employment="employed", monthly_credit=400))
    preview = w.svc.preview_credit("2026-11")
    assert (preview.facts["people"], preview.facts["total_fen"]) == (1, 300)
    d = w.svc.credit_month("2026-11")
    assert (d.facts["credited"], d.facts["total_fen"], d.facts["skipped"]) == (1, 300, 2)
    assert (w.balance(worker), w.balance(zero), w.balance(resident)) == (300, 0, 0)
    assert _rows(engine, LedgerEntry.kind == "credit") == 1
    assert audit(engine) == []


@pytest.mark.parametrize("month, before", [("2026-01", "2025-12"), ("2026-12", "2026-11"),
                                          ("2026-10", "2026-09")])
def test_previous_month(month: str, before: str) -> None:
    assert previous_month(month) == before


def test_allowed_months_follow_china_time() -> None:
    assert allowed_months(datetime(2026, 11, 30, 15, 59)) == ("2026-11", "2026-10")
    assert allowed_months(datetime(2026, 11, 30, 16, 0)) == ("2026-12", "2026-11")


# ---- the unit of work: conflicts are retried, replays are not re-run ---------------------

class Flaky:
    """A body that raises ``exc`` on its first ``fails`` attempts, then debits nothing."""

    def __init__(self, fails: int, exc: Exception) -> None:
        self.fails, self.exc, self.calls = fails, exc, 0

    def __call__(self, s: Session, ctx: TxnContext) -> Decision:
        self.calls += 1
        if self.calls <= self.fails:
            raise self.exc
        ctx.amount_fen = 7
        return Decision.allow(attempt=self.calls)


def test_a_conflict_is_retried_until_it_goes_through(engine: Engine) -> None:
    body = Flaky(2, Conflict("changed"))
    d = UnitOfWork(engine, retries=2).run("k", "settle", None, NOW, body)
    assert d.ok and d.facts["attempt"] == 3 and body.calls == 3
    with engine.connect() as conn:
        assert conn.execute(select(Transaction.amount_fen)).scalars().all() == [7]


def test_a_conflict_past_the_retries_is_raised_and_nothing_stays(engine: Engine) -> None:
    body = Flaky(3, Conflict("changed"))
    with pytest.raises(Conflict):
        UnitOfWork(engine, retries=2).run("k", "settle", None, NOW, body)
    assert body.calls == 3
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Transaction)).scalar_one() == 0


def _locked() -> OperationalError:
    return OperationalError("UPDATE", {}, Exception("database is locked"))


def test_a_locked_database_is_retried(engine: Engine) -> None:
    body = Flaky(1, _locked())
    d = UnitOfWork(engine, retries=1).run("k", "settle", None, NOW, body)
    assert d.ok and body.calls == 2


def test_another_database_error_is_not_retried(engine: Engine) -> None:
    body = Flaky(1, OperationalError("UPDATE", {}, Exception("disk I/O error")))
    with pytest.raises(OperationalError):
        UnitOfWork(engine, retries=3).run("k", "settle", None, NOW, body)
    assert body.calls == 1


def test_a_replay_returns_the_first_decision_without_running(engine: Engine) -> None:
    uow = UnitOfWork(engine)
    first = uow.run("k", "settle", None, NOW, Flaky(0, Conflict()))
    again = Flaky(0, Conflict())
    d = uow.run("k", "settle", None, NOW, again)
    assert d == first and d.replayed and again.calls == 0
    assert uow.stored("k", "settle") == first
    with pytest.raises(KeyClash):
        uow.stored("k", "bind")
    assert uow.stored("nothing") is None


class _Orig(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("x")
        self.sqlstate = sqlstate


@pytest.mark.parametrize("sqlstate, retry", [
    ("40001", True), ("40P01", True), ("55P03", True), ("08006", True), ("57P01", True),
    ("23505", False), ("42P01", False), (None, False),
])
def test_which_postgresql_errors_are_retried(sqlstate: str | None, retry: bool) -> None:
    assert _retryable(DBAPIError("SELECT 1", {}, _Orig(sqlstate))) is retry


def test_a_lost_connection_is_retried() -> None:
    exc = DBAPIError("SELECT 1", {}, _Orig(None), connection_invalidated=True)
    assert _retryable(exc) is True
