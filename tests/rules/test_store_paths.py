"""Store paths the other tests did not walk: a patient's own swipe paid at once, pinned
contributions paid exactly or PLAN_CHANGED, credits called below the service's checks, and
the family's wallet places (rules/settlement.py, rules/credit.py, rules/wallets.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from rules import credit, settlement
from rules.audit import audit
from rules.codes import Reason
from rules.decision import Decision
from rules.planning import ContributionPlan
from rules.schema import LedgerEntry
from rules.unit_of_work import TxnContext, UnitOfWork, _retryable
from tests.rules.factories import World
from tests.rules.test_wallets import Family, cheap_kdf  # noqa: F401  (autouse fixture)

NOW = datetime(2026, 11, 1, 2, 0)


class Pins:
    def __init__(self) -> None:
        self.plans: list[Any] = []

    def __call__(self, s: Session, plan: Any) -> str:
        assert isinstance(s, Session)  # the token is stored in the operation's transaction
        self.plans.append(plan)
        return f"t{len(self.plans)}"


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(LedgerEntry)).scalar_one())


# ---- settle_direct -------------------------------------------------------------------------

def test_a_patients_own_swipe_is_paid_at_once_without_a_summary(engine: Engine) -> None:
    w = World(engine)
    h = w.householder("jinan", balance=50_000)
    r = w.person(place="jinan", scheme="resident", balance=5_000)
    w.bound(h, r, "子女")
    pins = Pins()
    d = w.svc.settle_direct(r, 1_200, "outpatient", key="tg:1", pin=pins)
    assert d.ok and "needs_confirm" not in d.facts and pins.plans == []
    assert (d.facts["own_fen"], d.facts["family_fen"], d.facts["balance_fen"]) == (1_200, 0, 3_800)
    assert d.facts["payers_after"] == [] and d.facts["linked"] == {}
    assert (w.balance(r), w.balance(h)) == (3_800, 50_000)
    assert audit(engine) == []


def test_always_confirm_pins_even_an_own_money_plan(engine: Engine) -> None:
    w = World(engine)
    r = w.person(place="jinan", scheme="resident", balance=5_000)
    pins = Pins()
    d = w.svc.settle_direct(r, 1_200, "outpatient", key="tg:1", pin=pins, always_confirm=True)
    assert d.ok and d.facts["needs_confirm"] is True and d.facts["token"] == "t1"
    assert (d.facts["own_fen"], d.facts["amount_fen"], d.facts["cash_fen"]) == (1_200, 1_200, 0)
    assert [p.own_fen for p in pins.plans] == [1_200]
    assert w.balance(r) == 5_000 and _rows(engine) == 0


def test_a_family_plan_is_pinned_with_its_summary(engine: Engine) -> None:
    w = World(engine)
    h = w.householder("jinan", balance=50_000)
    r = w.person(place="jinan", scheme="resident", balance=1_000)
    w.bound(h, r, "子女")
    pins = Pins()
    d = w.svc.settle_direct(r, 5_000, "outpatient", key="tg:1", pin=pins)
    assert d.facts["needs_confirm"] is True and d.facts["token"] == "t1"
    assert (d.facts["own_fen"], d.facts["family_fen"], d.facts["cash_fen"]) == (1_000, 4_000, 0)
    assert [leg["householder_id"] for leg in d.facts["legs"]] == [h]
    assert pins.plans[0].facts() == {k: v for k, v in d.facts.items()
                                     if k not in ("needs_confirm", "token")}
    assert (w.balance(r), w.balance(h)) == (1_000, 50_000)


# ---- pinned contributions ------------------------------------------------------------------

def _household(engine: Engine) -> tuple[World, int, int]:
    w = World(engine)
    h = w.householder("jinan", balance=10_000)
    r = w.person(place="jinan", scheme="resident", balance=0, name="李四")
    w.bound(h, r, "子女")
    return w, h, r


def _pin(w: World, h: int, amount: int) -> tuple[Decision, ContributionPlan]:
    pins = Pins()
    d = w.svc.pin_contribution(h, "1", amount, key=w.key(), pin=pins)
    assert d.ok, d
    return d, pins.plans[0]


def test_a_pinned_contribution_shows_everything_and_pays_nothing_yet(engine: Engine) -> None:
    w, h, r = _household(engine)
    d, plan = _pin(w, h, 2_500)
    assert d.facts == {"needs_confirm": True, "token": "t1", **plan.facts()}
    assert (d.facts["relative_id"], d.facts["amount_fen"], d.facts["balance_fen"]) == \
        (r, 2_500, 7_500)
    assert d.facts["name"] == "李四" and d.facts["id_number"] == w.id_number(r)
    assert w.balance(h) == 10_000 and _rows(engine) == 0


def test_a_pinned_contribution_is_paid_exactly(engine: Engine) -> None:
    w, h, r = _household(engine)
    _d, plan = _pin(w, h, 2_500)
    done = w.svc.execute_contribution(plan, key="confirm")
    assert done.ok and done.facts["balance_fen"] == 7_500 and done.facts["relative_id"] == r
    assert w.balance(h) == 7_500
    assert w.svc.family(h).relatives[0].used_fen == 2_500
    assert audit(engine) == []


@pytest.mark.parametrize("pin_refusal", [
    ("limit", Reason.LIMIT_EXCEEDED), ("balance", Reason.FAMILY_FUNDS_INSUFFICIENT),
    ("unbind", Reason.NOT_BOUND),
])
def test_a_pinned_contribution_that_no_longer_fits_is_plan_changed(
        engine: Engine, pin_refusal: tuple[str, Reason]) -> None:
    change, code = pin_refusal
    w, h, _r = _household(engine)
    _d, plan = _pin(w, h, 2_500)
    if change == "limit":
        assert w.svc.set_limit(h, "1", 2_499, key="lim").ok
    elif change == "balance":
        assert w.svc.contribute(h, "1", 7_501, key="spent").ok
    else:
        assert w.svc.unbind(h, "1", key="u").ok
    before = w.balance(h)
    d = w.svc.execute_contribution(plan, key="confirm")
    assert d.code == Reason.PLAN_CHANGED
    assert d.facts["refusal"]["code"] == code.value
    assert (d.facts["amount_fen"], d.facts["purpose"]) == (2_500, "resident_contribution")
    assert w.balance(h) == before
    assert audit(engine) == []


def test_pinning_a_contribution_refuses_what_contribute_refuses(engine: Engine) -> None:
    w, h, _r = _household(engine)
    pins = Pins()
    assert w.svc.pin_contribution(h, "1", 10_001, key="p", pin=pins).code == \
        Reason.FAMILY_FUNDS_INSUFFICIENT
    assert w.svc.pin_contribution(h, "2", 1, key="q", pin=pins).code == Reason.NOT_BOUND
    assert w.svc.pin_contribution(h, "1", 0, key="r", pin=pins).code == Reason.INVALID_AMOUNT
    assert pins.plans == []


# ---- credits below the service -------------------------------------------------------------

def _credit(engine: Engine, month: str, key: str) -> Decision:
    return UnitOfWork(engine).run(key, "credit", None, NOW,
                                  lambda s, ctx: credit.credit_month(s, ctx, month))


def test_credit_month_itself_refuses_a_month_not_allowed(engine: Engine) -> None:
    w = World(engine)
    worker = w.person(monthly_credit=300, balance=0)
    d = _credit(engine, "2026-12", "c")
    assert d == Decision.refuse(Reason.INVALID_MONTH, month="2026-12",
                                allowed=["2026-11", "2026-10"])
    assert w.balance(worker) == 0 and _rows(engine) == 0


def test_a_person_added_after_a_credit_run_is_credited_by_the_next_run(engine: Engine) -> None:
    w = World(engine)
    first = w.person(monthly_credit=300, balance=0)
    d = _credit(engine, "2026-11", "c1")
    assert d == Decision.allow(month="2026-11", credited=1, total_fen=300, skipped=0)
    late = w.person(monthly_credit=500, balance=0)
    again = _credit(engine, "2026-11", "c2")
    assert again == Decision.allow(month="2026-11", credited=1, total_fen=500, skipped=1)
    assert (w.balance(first), w.balance(late)) == (300, 500)
    with engine.connect() as conn:
        rows = conn.execute(select(LedgerEntry.binding_id, LedgerEntry.period)
                            .where(LedgerEntry.kind == "credit")).all()
    assert [tuple(r) for r in rows] == [(None, "2026-11"), (None, "2026-11")]
    assert audit(engine) == []


# ---- the unit of work's retry test for a psycopg2-style error ------------------------------

class _Pg2(Exception):
    pgcode = "40001"


def test_a_driver_that_names_the_state_pgcode_is_retried_too() -> None:
    assert _retryable(DBAPIError("SELECT 1", {}, _Pg2("x"))) is True


# ---- the wallet store ----------------------------------------------------------------------

def test_family_places_name_every_other_province_once(engine: Engine) -> None:
    f = Family(engine)
    assert f.confirm(f.ask(10_000)).ok  # 济南 → 成都 (wallet money)
    places = f.w.svc.wallets.family_places(f.payer)
    assert places == (("山东省", True), (("四川省", True),))
    assert f.w.svc.wallets.family_places(f.mother) == (("四川省", True), (("山东省", True),))
    assert f.w.svc.wallets.family_places(999_999) is None


def test_family_places_include_bound_family_and_say_which_opened(engine: Engine) -> None:
    w = World(engine)
    h = w.householder("jinan", balance=1_000)
    for place in ("jinan", "qingdao"):
        w.bound(h, w.person(place=place, scheme="resident"), "子女")
    assert w.svc.wallets.family_places(h) == (("山东省", True), ())
    j = w.householder("jian", balance=1_000)
    w.bound(j, w.person(place="jian", scheme="resident"), "子女")
    assert w.svc.wallets.family_places(j) == (("江西省", False), ())


def test_a_wallet_contribution_for_nobody_is_unknown_person(engine: Engine) -> None:
    w = World(engine)
    assert w.svc.wallets.contribute(999_999, 100, key="c") == \
        Decision.refuse(Reason.UNKNOWN_PERSON)



def test_a_body_failing_after_it_paid_rolls_the_whole_operation_back(engine: Engine) -> None:
    w = World(engine)
    r = w.person(place="jinan", scheme="resident", balance=5_000)

    def pay_then_fail(s: Session, ctx: TxnContext) -> Decision:
        _settle_1000(s, ctx, w, r)
        raise RuntimeError("after the payment")

    with pytest.raises(RuntimeError):
        w.svc.uow.run("k", "settle", r, NOW, pay_then_fail)
    assert w.balance(r) == 5_000 and _rows(engine) == 0


def _settle_1000(s: Session, ctx: TxnContext, w: World, r: int) -> Decision:
    return settlement.settle(s, ctx, w.policies, r, 1_000, "outpatient")
