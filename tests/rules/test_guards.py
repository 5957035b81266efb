"""The store's last defences, each on its own: guarded debits and binding updates called
directly with amounts that break them, and pinned plans executed after what they assumed
changed (rules/ledger.py, rules/settlement.py ``execute``)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from rules.audit import audit
from rules.codes import Reason
from rules.decision import Decision
from rules.ledger import debit, use_binding
from rules.planning import Leg, SettlePlan
from rules.schema import Binding, LedgerEntry, Person, Transaction
from rules.unit_of_work import Conflict, TxnContext, UnitOfWork
from tests.rules.factories import World

NOW = datetime(2026, 11, 1, 2, 0)


def _ledger_rows(engine: Engine, *where: object) -> list[tuple[int, int, str]]:
    with engine.connect() as conn:
        q = select(LedgerEntry.person_id, LedgerEntry.delta_fen, LedgerEntry.kind) \
            .where(*where).order_by(LedgerEntry.id)  # type: ignore[arg-type]
        return [tuple(r) for r in conn.execute(q)]  # type: ignore[misc]


def _used(engine: Engine, binding_id: int) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(Binding.used_fen).where(Binding.id == binding_id))
                   .scalar_one())


def _txns(engine: Engine, key: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Transaction)
                                .where(Transaction.key == key)).scalar_one())


def _run(engine: Engine, key: str, write) -> Decision:  # type: ignore[no-untyped-def]
    """Run ``write(s, ctx)`` in a keyed unit of work that does not retry a conflict."""
    def body(s: Session, ctx: TxnContext) -> Decision:
        write(s, ctx)
        return Decision.allow()
    return UnitOfWork(engine, retries=0).run(key, "settle", None, NOW, body)


# ---- debit: never below zero ---------------------------------------------------------------

def test_debit_above_the_balance_is_a_conflict_and_writes_nothing(engine: Engine) -> None:
    w = World(engine)
    p = w.person(balance=1_000)
    with pytest.raises(Conflict):
        _run(engine, "over", lambda s, ctx: debit(s, ctx.id, p, 1_001, "settle_own", ctx.now))
    assert w.balance(p) == 1_000
    assert _ledger_rows(engine) == []
    assert _txns(engine, "over") == 0  # the whole unit rolled back


def test_debit_of_exactly_the_balance_empties_it(engine: Engine) -> None:
    w = World(engine)
    p = w.person(balance=1_000)
    _run(engine, "exact", lambda s, ctx: debit(s, ctx.id, p, 1_000, "settle_own", ctx.now))
    assert w.balance(p) == 0
    assert _ledger_rows(engine) == [(p, -1_000, "settle_own")]
    assert audit(engine) == []


def test_debit_of_an_unknown_person_is_a_conflict(engine: Engine) -> None:
    with pytest.raises(Conflict):
        _run(engine, "ghost", lambda s, ctx: debit(s, ctx.id, 999_999, 1, "settle_own", ctx.now))
    assert _ledger_rows(engine) == []


@pytest.mark.parametrize("fen, rows", [(0, []), (-5, []), (1, [-1]), (2, [-2])])
def test_debit_writes_a_row_only_for_a_positive_amount(engine: Engine, fen: int,
                                                       rows: list[int]) -> None:
    w = World(engine)
    p = w.person(balance=0 if fen <= 0 else 10)
    before = w.balance(p)
    _run(engine, "d", lambda s, ctx: debit(s, ctx.id, p, fen, "settle_own", ctx.now))
    assert [delta for _p, delta, _k in _ledger_rows(engine)] == rows
    assert w.balance(p) == before + sum(rows)
    assert audit(engine) == []


# ---- use_binding: never past the limit, never on a removed binding ------------------------

def _bound_with_limit(w: World, limit: int | None, used: int = 0) -> tuple[int, int, int]:
    h = w.householder("jinan", balance=100_000)
    r = w.person(place="jinan", scheme="resident", balance=0)
    b = w.bound(h, r, "子女")
    if limit is not None:
        assert w.svc.set_limit(h, "1", limit, key=w.key()).ok
    if used:
        assert w.svc.contribute(h, "1", used, key=w.key()).ok
    return h, r, b


def test_use_binding_up_to_exactly_the_limit(engine: Engine) -> None:
    w = World(engine)
    _h, _r, b = _bound_with_limit(w, 5_000, used=4_000)
    _run(engine, "use", lambda s, _ctx: use_binding(s, b, 1_000))
    assert _used(engine, b) == 5_000


def test_use_binding_one_fen_past_the_limit_is_a_conflict(engine: Engine) -> None:
    w = World(engine)
    _h, _r, b = _bound_with_limit(w, 5_000, used=4_000)
    with pytest.raises(Conflict):
        _run(engine, "use", lambda s, _ctx: use_binding(s, b, 1_001))
    assert _used(engine, b) == 4_000


def test_use_binding_without_a_limit_counts_anything(engine: Engine) -> None:
    w = World(engine)
    _h, _r, b = _bound_with_limit(w, None)
    _run(engine, "use", lambda s, _ctx: use_binding(s, b, 7_000_000))
    assert _used(engine, b) == 7_000_000


def test_use_binding_on_a_removed_binding_is_a_conflict(engine: Engine) -> None:
    w = World(engine)
    h, _r, b = _bound_with_limit(w, None)
    assert w.svc.unbind(h, "1", key="u").ok
    with pytest.raises(Conflict):
        _run(engine, "use", lambda s, _ctx: use_binding(s, b, 1))
    assert _used(engine, b) == 0


def test_a_family_debit_past_the_limit_takes_nothing_at_all(engine: Engine) -> None:
    """The balance guard passes, the limit guard misses: the debit before it rolls back too."""
    w = World(engine)
    h, _r, b = _bound_with_limit(w, 3_000)
    with pytest.raises(Conflict):
        _run(engine, "fam", lambda s, ctx: debit(s, ctx.id, h, 3_001, "settle_family", ctx.now,
                                                  binding_id=b))
    assert w.balance(h) == 100_000
    assert _used(engine, b) == 0
    assert _ledger_rows(engine, LedgerEntry.kind == "settle_family") == []


def test_a_family_debit_counts_against_the_binding_it_names(engine: Engine) -> None:
    w = World(engine)
    h, _r, b = _bound_with_limit(w, 3_000)
    _run(engine, "fam", lambda s, ctx: debit(s, ctx.id, h, 3_000, "settle_family", ctx.now,
                                              binding_id=b))
    assert (w.balance(h), _used(engine, b)) == (97_000, 3_000)
    with engine.connect() as conn:
        row = conn.execute(select(LedgerEntry.binding_id, LedgerEntry.delta_fen)
                           .where(LedgerEntry.kind == "settle_family")).one()
    assert tuple(row) == (b, -3_000)


# ---- execute: a pinned plan is paid exactly as it was, or not at all -----------------------

class Pins:
    """A ``pin`` that remembers every plan it was given."""

    def __init__(self) -> None:
        self.plans: list[SettlePlan] = []

    def __call__(self, _s: Session, plan: SettlePlan) -> str:
        self.plans.append(plan)
        return f"t{len(self.plans)}"


def _pinned(w: World, patient: int, amount: int, purpose: str = "outpatient") -> SettlePlan:
    pins = Pins()
    d = w.svc.settle_direct(patient, amount, purpose, key=w.key(), pin=pins)
    assert d.facts.get("needs_confirm"), d
    return pins.plans[0]


def _jinan_family(engine: Engine) -> tuple[World, int, int]:
    w = World(engine)
    h = w.householder("jinan", balance=50_000)
    r = w.person(place="jinan", scheme="resident", balance=1_000)
    w.bound(h, r, "子女")
    return w, h, r


def _money(w: World, *people: int) -> tuple[int, ...]:
    return tuple(w.balance(p) for p in people)


def test_an_unchanged_plan_is_paid_exactly(engine: Engine) -> None:
    w, h, r = _jinan_family(engine)
    plan = _pinned(w, r, 5_000)
    pins = Pins()
    d = w.svc.execute_settlement(plan, key="confirm", pin=pins)
    assert d.ok and (d.facts["own_fen"], d.facts["family_fen"], d.facts["cash_fen"]) == \
        (1_000, 4_000, 0)
    assert d.facts["balance_fen"] == 0
    assert d.facts["payers_after"] == [{"householder_id": h, "balance_fen": 46_000,
                                        "remaining_fen": None}]
    assert _money(w, r, h) == (0, 46_000) and pins.plans == []
    assert audit(engine) == []


def _changed(w: World, d: Decision, *people_before: tuple[int, int]) -> None:
    assert d.code == Reason.PLAN_CHANGED, d
    for pid, balance in people_before:
        assert w.balance(pid) == balance


def test_a_payer_balance_change_that_keeps_every_charge_still_pays_as_shown(
        engine: Engine) -> None:
    """The payer's balance moved but still covers the leg: every charge is as the summary
    showed, so 确认 pays it (against the fresh balances, never the pinned ones)."""
    w, h, r = _jinan_family(engine)
    plan = _pinned(w, r, 5_000)
    with engine.begin() as conn:  # e.g. a credit arrived (opening moves too: audit stays sound)
        conn.execute(update(Person).where(Person.id == h).values(
            balance=Person.balance + 1, opening_balance=Person.opening_balance + 1))
    pins = Pins()
    d = w.svc.execute_settlement(plan, key="confirm", pin=pins)
    assert d.ok and d.facts["family_fen"] == 4_000 and pins.plans == []
    assert d.facts["payers_after"][0]["balance_fen"] == 46_001
    assert _money(w, r, h) == (0, 46_001)
    assert audit(engine) == []


def test_a_payer_who_can_no_longer_cover_the_leg_gives_plan_changed(engine: Engine) -> None:
    """One fen short of the pinned leg: nothing is paid, the fresh plan is pinned."""
    w, h, r = _jinan_family(engine)
    plan = _pinned(w, r, 5_000)
    with engine.begin() as conn:
        conn.execute(update(Person).where(Person.id == h).values(
            balance=3_999, opening_balance=Person.opening_balance - Person.balance + 3_999))
    pins = Pins()
    d = w.svc.execute_settlement(plan, key="confirm", pin=pins)
    _changed(w, d, (r, 1_000), (h, 3_999))
    assert d.facts["token"] == "t1"
    assert (d.facts["family_fen"], d.facts["cash_fen"]) == (3_999, 1)
    assert _ledger_rows(engine) == []
    assert w.svc.execute_settlement(pins.plans[0], key="again", pin=Pins()).ok  # fresh plan pays
    assert _money(w, r, h) == (0, 0)
    assert audit(engine) == []


def test_a_payer_who_cannot_pay_any_more_gives_plan_changed_with_the_fresh_plan(
        engine: Engine) -> None:
    w, h, r = _jinan_family(engine)
    plan = _pinned(w, r, 5_000)
    assert w.svc.set_limit(h, "1", 2_500, key="lim").ok
    pins = Pins()
    d = w.svc.execute_settlement(plan, key="confirm", pin=pins)
    _changed(w, d, (r, 1_000), (h, 50_000))
    assert (d.facts["family_fen"], d.facts["cash_fen"]) == (2_500, 1_500)
    assert [leg.amount_fen for leg in pins.plans[0].legs] == [2_500]


def test_a_removed_binding_gives_plan_changed(engine: Engine) -> None:
    w, h, r = _jinan_family(engine)
    plan = _pinned(w, r, 5_000)
    assert w.svc.unbind(h, "1", key="u").ok
    d = w.svc.execute_settlement(plan, key="confirm", pin=Pins())
    _changed(w, d, (r, 1_000), (h, 50_000))
    assert (d.facts["family_fen"], d.facts["cash_fen"]) == (0, 4_000)


def test_a_patient_balance_change_gives_plan_changed(engine: Engine) -> None:
    w, h, r = _jinan_family(engine)
    plan = _pinned(w, r, 5_000)
    assert w.svc.settle(r, 400, "outpatient", key="own").ok  # the patient spent some
    d = w.svc.execute_settlement(plan, key="confirm", pin=Pins())
    _changed(w, d, (r, 600), (h, 50_000))
    assert (d.facts["own_fen"], d.facts["family_fen"]) == (600, 4_400)


def test_a_new_payer_order_gives_plan_changed(engine: Engine) -> None:
    w = World(engine)
    a, b = w.householder("jinan", balance=3_000), w.householder("jinan", balance=50_000)
    r = w.person(place="jinan", scheme="resident", balance=0)
    w.bound(a, r, "子女")
    w.bound(b, r, "子女")
    plan = _pinned(w, r, 5_000)
    assert [leg.householder_id for leg in plan.legs] == [a, b]
    assert w.svc.set_order(r, ["2", "1"], key="order").ok
    d = w.svc.execute_settlement(plan, key="confirm", pin=Pins())
    _changed(w, d, (a, 3_000), (b, 50_000))
    assert [leg["householder_id"] for leg in d.facts["legs"]] == [b]


def test_a_forged_plan_on_a_true_snapshot_is_refused(engine: Engine) -> None:
    """Same snapshot, other legs: only the plan the planner makes may be paid."""
    w, h, r = _jinan_family(engine)
    plan = _pinned(w, r, 5_000)
    leg = plan.legs[0]
    forged = SettlePlan(plan.mode, plan.amount_fen, plan.purpose, plan.own_fen, plan.snapshot,
                        (Leg(leg.binding_id, leg.householder_id, leg.name, 4_001),))
    d = w.svc.execute_settlement(forged, key="confirm", pin=Pins())
    _changed(w, d, (r, 1_000), (h, 50_000))


def test_a_plan_that_is_now_refused_returns_the_refusal(engine: Engine) -> None:
    """Dongying: the window the plan relied on has expired; nothing is paid, nothing pinned."""
    w = World(engine)
    h = w.householder("dongying", balance=50_000)
    r = w.person(place="dongying", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    assert w.svc.settle(r, 5_000, "pharmacy", key="open").code == Reason.INSUFFICIENT_BALANCE
    plan = _pinned(w, r, 5_000, "pharmacy")
    assert plan.closes_window and [leg.amount_fen for leg in plan.legs] == [5_000]
    w.clock.advance(300)
    pins = Pins()
    d = w.svc.execute_settlement(plan, key="confirm", pin=pins)
    _changed(w, d, (h, 50_000))
    assert d.facts["refusal"]["code"] == Reason.INSUFFICIENT_BALANCE.value
    assert (d.facts["amount_fen"], d.facts["purpose"]) == (5_000, "pharmacy")
    assert pins.plans == [] and _ledger_rows(engine) == []


def test_a_plan_for_someone_gone_is_unknown_person(engine: Engine) -> None:
    w, _h, r = _jinan_family(engine)
    plan = _pinned(w, r, 5_000)
    ghost = SettlePlan(plan.mode, plan.amount_fen, plan.purpose, plan.own_fen,
                       type(plan.snapshot)(999_999, "jinan", "某", 0))
    assert w.svc.execute_settlement(ghost, key="confirm", pin=Pins()).code == \
        Reason.UNKNOWN_PERSON


def test_the_window_closes_when_its_plan_is_paid(engine: Engine) -> None:
    w = World(engine)
    h = w.householder("dongying", balance=50_000)
    r = w.person(place="dongying", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    assert w.svc.settle(r, 5_000, "pharmacy", key="open").code == Reason.INSUFFICIENT_BALANCE
    plan = _pinned(w, r, 5_000, "pharmacy")
    assert w.svc.execute_settlement(plan, key="confirm", pin=Pins()).ok
    assert w.balance(h) == 45_000
    # the window is used up: the next short swipe is refused and opens a new one
    assert w.svc.settle(r, 5_000, "pharmacy", key="next").code == Reason.INSUFFICIENT_BALANCE
    assert w.balance(h) == 45_000


def test_executing_a_plan_records_its_origin_and_goes_through_the_fault_seam(
        engine: Engine) -> None:
    stages: list[str] = []
    w, h, r = _jinan_family(engine)
    plan = _pinned(w, r, 5_000)
    w.svc.fault = stages.append
    d = w.svc.execute_settlement(plan, key="confirm", pin=Pins(), origin="tg:1:2:3")
    assert d.ok and d.facts["origin"] == "tg:1:2:3"
    assert stages == ["leg"]  # one family leg, one call between legs
    assert _money(w, r, h) == (0, 46_000)
