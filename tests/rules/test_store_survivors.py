"""Store behaviour that mutation testing (bench/mutation.py) found unpinned: each test names
the change it stops."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, event, insert, select, update
from sqlalchemy.orm import Session

import rules.ledger as ledger
import rules.wallets as wallets
from bot.state import Link
from rules.codes import Reason
from rules.decision import Decision
from rules.planning import SettlePlan
from rules.schema import LedgerEntry, Person, Transaction, Wallet
from rules.unit_of_work import Conflict, TxnContext
from rules.wallet_rules import LOCK_SECONDS, MAX_WRONG, TransferPlan, TransferRequest
from tests.rules.factories import World, new_id_number
from tests.rules.test_wallets import PASSWORD, Family, cheap_kdf  # noqa: F401  (autouse fixture)


def test_wallet_moves_are_newest_first_by_time_not_by_row_order(engine: Engine) -> None:
    """A clock set back (a corrected server clock) books a later row at an earlier time: the
    list still goes by time, and rows at one instant newest row first."""
    f = Family(engine)
    start = f.w.clock.now()
    f.w.clock.set(start + timedelta(hours=2))
    assert f.confirm(f.ask(1_000)).ok   # row 1, at +2 h
    f.w.clock.set(start + timedelta(hours=1))
    assert f.confirm(f.ask(2_000)).ok   # row 2, at +1 h
    assert f.confirm(f.ask(3_000)).ok   # row 3, at +1 h too
    moves = f.wallet(f.mother).facts["moves"]
    assert [m["delta_fen"] for m in moves] == [1_000, 3_000, 2_000]


# ---- 医保钱包 transfers: what a paid or changed transfer says and records ----------------------

def test_a_paid_transfer_says_what_it_paid_and_books_no_cash(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    plan = f.pins.plans[asked.facts["token"]]
    d = f.confirm(asked, key="pay")
    assert d.ok and d.facts == {"transferred": True, **plan.facts()}
    assert d.facts["balance_fen"] == 90_000 and d.facts["amount_fen"] == 10_000
    with engine.connect() as conn:
        row = conn.execute(select(Transaction.person_id, Transaction.amount_fen,
                                  Transaction.cash_fen).where(Transaction.key == "pay")).one()
    assert tuple(row) == (f.payer, 10_000, 0)


def test_a_refused_pinned_transfer_names_the_amount_and_that_it_was_a_transfer(
        engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    with engine.begin() as conn:
        conn.execute(update(Wallet).where(Wallet.person_id == f.mother).values(state="closed"))
    d = f.confirm(asked)
    assert d.code == Reason.PLAN_CHANGED
    assert set(d.facts) == {"refusal", "amount_fen", "transfer"}
    assert d.facts["amount_fen"] == 10_000 and d.facts["transfer"] is True


def test_a_changed_transfer_pins_the_fresh_plan_in_the_same_transaction(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    assert f.w.svc.settle(f.payer, 5_000, "pharmacy", key="spend").ok
    sessions: list[object] = []

    def pin(s: object, plan: TransferPlan) -> str:
        sessions.append(s)
        return f.pins(s, plan)

    d = f.svc.execute_transfer(f.pins.plans[asked.facts["token"]], PASSWORD, key="x", pin=pin)
    assert d.code == Reason.PLAN_CHANGED and d.facts["transfer"] is True
    fresh = f.pins.plans[d.facts["token"]]
    assert d.facts == {"token": d.facts["token"], "transfer": True, **fresh.facts()}
    assert len(sessions) == 1 and isinstance(sessions[0], Session)


def test_a_plan_whose_payer_is_gone_is_unknown_person(engine: Engine) -> None:
    """Called directly with a stale plan: the payer it names no longer exists."""
    f = Family(engine)
    plan = f.pins.plans[f.ask(10_000).facts["token"]]
    ghost = replace(plan, snapshot=replace(plan.snapshot, payer=replace(plan.snapshot.payer,
                                                                          id=999_999)))
    with Session(engine) as s, s.begin():
        ctx = TxnContext(id=1, key="k", now=f.w.clock.now())
        d = wallets._pay_if_unchanged(s, ctx, f.w.policies, f.svc.wallets, ghost, f.pins)
        assert d == Decision.refuse(Reason.UNKNOWN_PERSON)
        s.rollback()


def test_paying_into_a_wallet_that_vanished_or_closed_is_a_conflict(engine: Engine) -> None:
    """The guards under a stale plan: the payee's wallet row gone, or no longer active."""
    f = Family(engine)
    plan = f.pins.plans[f.ask(10_000).facts["token"]]
    with engine.begin() as conn:
        txn = conn.execute(insert(Transaction).values(
            key="t", kind="transfer", created_at=f.w.clock.now(), result={})
            .returning(Transaction.id)).scalar_one()
    ctx = TxnContext(id=txn, key="t", now=f.w.clock.now())
    with Session(engine) as s, s.begin():
        s.execute(delete(Wallet).where(Wallet.person_id == f.mother))
        with pytest.raises(Conflict, match=f"^wallet of person {f.mother} vanished$"):
            wallets._pay(s, ctx, plan)
        s.rollback()
    with Session(engine) as s, s.begin():
        w = wallets.wallet_of(s, f.mother)
        assert w is not None
        s.execute(update(Wallet).where(Wallet.id == w.id).values(state="closed"))
        with pytest.raises(Conflict, match=f"^wallet {w.id} changed$"):
            wallets._credit_wallet(s, txn, w, 1_000, ctx.now)
        s.rollback()
    assert f.w.balance(f.payer) == 100_000


# ---- settlements and contributions -----------------------------------------------------------

def test_a_preview_of_a_non_positive_amount_is_invalid_amount(engine: Engine) -> None:
    w = World(engine)
    r = w.person(scheme="resident")
    for amount in (0, -1):
        assert w.svc.preview_settlement(r, amount, "outpatient") == \
            Decision.refuse(Reason.INVALID_AMOUNT)


def test_a_changed_settlement_pins_the_fresh_plan_in_the_same_transaction(engine: Engine) -> None:
    w = World(engine)
    h = w.householder(balance=10_000)
    r = w.person(scheme="resident")
    w.bound(h, r, "子女")
    plans: dict[str, SettlePlan] = {}
    sessions: list[object] = []

    def pin(s: object, plan: SettlePlan) -> str:
        sessions.append(s)
        plans[f"p{len(plans)}"] = plan
        return f"p{len(plans) - 1}"

    first = w.svc.settle_direct(r, 5_000, "outpatient", key="ask", pin=pin, always_confirm=True)
    assert first.ok and first.facts["needs_confirm"]
    assert w.svc.contribute(h, "1", 6_000, key="spend").ok  # 4000 left: not all of 5000
    d = w.svc.execute_settlement(plans[first.facts["token"]], key="go", pin=pin)
    assert d.code == Reason.PLAN_CHANGED and d.facts["token"] in plans
    assert len(sessions) == 2 and all(isinstance(s, Session) for s in sessions)


def test_a_paid_contribution_names_the_relatives_linked_telegram_user(engine: Engine) -> None:
    w = World(engine)
    h = w.householder()
    r, other = w.person(scheme="resident"), w.person(scheme="resident")
    w.bound(h, r, "子女")
    w.bound(h, other, "子女")
    with engine.begin() as conn:
        conn.execute(insert(Link).values(user_id=4242, person_id=r, linked_at=f_now(w)))
        conn.execute(insert(Link).values(user_id=4343, person_id=h, linked_at=f_now(w)))
    d = w.svc.contribute(h, w.id_number(r), 1_000, key="c")
    assert d.ok and d.facts["linked"] == {str(r): 4242}
    d = w.svc.contribute(h, w.id_number(other), 1_000, key="c2")
    assert d.ok and d.facts["linked"] == {}


def test_a_settlement_names_only_the_linked_householders_who_paid(engine: Engine) -> None:
    """``linked`` says whom to notify: the householders whose money paid, never the patient
    (who sees the receipt), and nobody, with no query, when the own account paid it all."""
    w = World(engine)
    h, quiet = w.householder(balance=50_000), w.householder(balance=50_000)
    r = w.person(scheme="resident", balance=1_000)
    w.bound(h, r, "子女")
    with engine.begin() as conn:
        for user_id, person in ((5151, r), (5252, h), (5353, quiet)):
            conn.execute(insert(Link).values(user_id=user_id, person_id=person,
                                             linked_at=f_now(w)))
    link_reads: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM links" in statement:
            link_reads.append(statement)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        own = w.svc.settle(r, 500, "pharmacy", key="own")
        assert own.ok and own.facts["family_fen"] == 0 and own.facts["linked"] == {}
        assert link_reads == []
        family = w.svc.settle(r, 3_000, "pharmacy", key="family")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert family.ok and family.facts["family_fen"] == 2_500
    assert family.facts["linked"] == {str(h): 5252} and len(link_reads) == 1


def f_now(w: World) -> datetime:
    return w.clock.now()


# ---- credits ----------------------------------------------------------------------------------

def test_a_credit_preview_with_nobody_due_totals_zero(engine: Engine) -> None:
    w = World(engine)
    w.person(monthly_credit=0, scheme="resident")
    d = w.svc.preview_credit("2026-11")
    assert d.ok and (d.facts["people"], d.facts["total_fen"]) == (0, 0)
    w.person(monthly_credit=300)
    d = w.svc.preview_credit("2026-11")
    assert (d.facts["people"], d.facts["total_fen"]) == (1, 300)


# ---- 医保钱包: the payer's own wallet, the password lock, the claim ----------------------------

def test_a_payee_wallet_moved_to_another_city_changes_the_plan(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    with engine.begin() as conn:
        conn.execute(update(Wallet).where(Wallet.person_id == f.mother).values(city="绵阳市"))
    d = f.confirm(asked)
    assert d.code == Reason.PLAN_CHANGED and d.facts["token"] in f.pins.plans
    assert f.w.balance(f.payer) == 100_000


@pytest.mark.parametrize("change", ["closed", "gone"])
def test_a_payer_wallet_closed_or_gone_refuses_on_the_payers_side(engine: Engine,
                                                                  change: str) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    with engine.begin() as conn:
        mine = Wallet.person_id == f.payer
        conn.execute(update(Wallet).where(mine).values(state="closed") if change == "closed"
                     else delete(Wallet).where(mine))
    assert f.confirm(asked) == Decision.refuse(Reason.WALLET_NOT_ACTIVE, side="self")
    assert f.w.balance(f.payer) == 100_000


def _wrong(f: Family, asked: Decision) -> Decision:
    return f.confirm(asked, password="000000")


def test_the_fifth_wrong_password_locks_until_an_hour_after_the_first(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    first = f.w.clock.now()
    until = (first + timedelta(seconds=LOCK_SECONDS)).isoformat()
    for remaining in range(MAX_WRONG - 1, 0, -1):
        assert _wrong(f, asked) == Decision.refuse(Reason.WALLET_PASSWORD_WRONG,
                                                   remaining=remaining)
        f.w.clock.advance(60)
    assert _wrong(f, asked) == Decision.refuse(Reason.WALLET_LOCKED, until=until)
    assert f.confirm(asked) == Decision.refuse(Reason.WALLET_LOCKED, until=until)  # right, locked
    f.w.clock.set(first + timedelta(seconds=LOCK_SECONDS - 1))
    assert f.confirm(asked) == Decision.refuse(Reason.WALLET_LOCKED, until=until)
    f.w.clock.set(first + timedelta(seconds=LOCK_SECONDS))  # the lock has ended exactly now
    assert f.confirm(asked).ok


def test_wrong_passwords_count_again_from_one_once_the_window_is_over(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    first = f.w.clock.now()
    assert _wrong(f, asked).facts["remaining"] == MAX_WRONG - 1
    f.w.clock.set(first + timedelta(seconds=LOCK_SECONDS - 1))
    assert _wrong(f, asked).facts["remaining"] == MAX_WRONG - 2  # still the same window
    f.w.clock.set(first + timedelta(seconds=LOCK_SECONDS))  # the first one's hour is over
    assert _wrong(f, asked).facts["remaining"] == MAX_WRONG - 1
    with engine.connect() as conn:
        since = conn.execute(select(Wallet.wrong_since).where(Wallet.person_id == f.payer)
                             ).scalar_one()
    assert since == first + timedelta(seconds=LOCK_SECONDS)


class _Claim:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object, object]] = []

    def take(self, s: Session) -> None:
        self.calls.append(("take", s, None))

    def record(self, s: Session, decision: Decision) -> None:
        self.calls.append(("record", s, decision))


def test_a_transfer_takes_and_records_its_claim_in_its_own_session(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    claim = _Claim()
    d = f.svc.execute_transfer(f.pins.plans[asked.facts["token"]], PASSWORD, key="x",
                               pin=f.pins, claim=claim)
    assert d.ok
    (take, s1, _), (record, s2, recorded) = claim.calls
    assert (take, record) == ("take", "record") and recorded == d
    assert isinstance(s1, Session) and s2 is s1


# ---- 医保钱包: what a transfer reads ----------------------------------------------------------

def test_the_china_day_starts_at_midnight_china_time_exactly() -> None:
    assert wallets.china_day_start(datetime(2026, 11, 1, 2, 30, 45, 123456)) == \
        datetime(2026, 10, 31, 16, 0)
    assert wallets.china_day_start(datetime(2026, 10, 31, 16, 0)) == datetime(2026, 10, 31, 16, 0)
    assert wallets.china_day_start(datetime(2026, 10, 31, 15, 59, 59, 999999)) == \
        datetime(2026, 10, 30, 16, 0)


def test_sent_today_counts_only_this_payers_transfers_since_china_midnight(
        engine: Engine) -> None:
    w = World(engine)
    payer, other = w.person(balance=10_000), w.person(balance=10_000)
    midnight = datetime(2026, 10, 31, 16, 0)  # 2026-11-01 00:00 in China
    with engine.begin() as conn:
        t = conn.execute(insert(Transaction).values(key="t", kind="transfer", created_at=midnight,
                                                    result={}).returning(Transaction.id)
                         ).scalar_one()
        for pid, delta, kind, at in [
                (payer, -1_000, "wallet_transfer_out", midnight),  # counted
                (payer, -20, "wallet_transfer_out", midnight - timedelta(microseconds=1)),
                (payer, -300, "settle_own", midnight + timedelta(hours=1)),  # not a transfer
                (other, -4_000, "wallet_transfer_out", midnight + timedelta(hours=1))]:
            conn.execute(insert(LedgerEntry).values(txn_id=t, person_id=pid, delta_fen=delta,
                                                    kind=kind, created_at=at))
    with Session(engine) as s:
        now = datetime(2026, 11, 1, 2, 30, 45, 123456)
        assert wallets.sent_today(s, payer, now) == 1_000
        assert wallets.sent_today(s, other, now) == 4_000


def test_a_transfer_to_an_unknown_id_number_is_refused_not_crashed(engine: Engine) -> None:
    f = Family(engine)
    req = TransferRequest(new_id_number(), "无名", "母亲", 1_000)
    d = f.svc.request_transfer(f.payer, req, key="unknown-payee", pin=f.pins)
    assert d == Decision.refuse(Reason.UNKNOWN_PERSON)
    assert f.svc.request_transfer(999_999, req, key="unknown-payer", pin=f.pins) == \
        Decision.refuse(Reason.UNKNOWN_PERSON)


def test_the_payees_own_account_balance_is_no_part_of_a_pinned_transfer(engine: Engine) -> None:
    f = Family(engine)
    sessions: list[object] = []

    def pin(s: object, plan: TransferPlan) -> str:
        sessions.append(s)
        return f.pins(s, plan)

    req = TransferRequest(f.w.id_number(f.mother), f.w.name(f.mother), "母亲", 10_000)
    asked = f.svc.request_transfer(f.payer, req, key="ask", pin=pin)
    assert asked.ok and len(sessions) == 1 and isinstance(sessions[0], Session)
    with engine.begin() as conn:
        conn.execute(update(Person).where(Person.id == f.mother)
                     .values(balance=Person.balance + 777,
                             opening_balance=Person.opening_balance + 777))
    assert f.confirm(asked).ok


def test_a_transfer_shows_where_the_payee_is_insured(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    assert (asked.facts["payee_province"], asked.facts["payee_city"]) == ("四川省", "成都市")
    assert asked.facts["payer_province"] == "山东省"


def test_activation_refuses_the_unknown_and_badly_shaped_passwords(engine: Engine) -> None:
    f = Family(engine, activate=False)
    assert f.svc.activate(999_999, PASSWORD, key="ghost") == Decision.refuse(Reason.UNKNOWN_PERSON)
    assert f.svc.activate(f.payer, "12345", key="short") == \
        Decision.refuse(Reason.WALLET_PASSWORD_WRONG, shape=True)
    assert f.svc.activate(f.payer, PASSWORD, key="open").facts["activated"]
    with engine.connect() as conn:
        assert conn.execute(select(Transaction.person_id).where(Transaction.key == "open")
                            ).scalar_one() == f.payer


def test_a_binding_guard_miss_is_a_conflict_naming_the_binding(engine: Engine) -> None:
    w = World(engine)
    h = w.householder()
    b = w.bound(h, w.person(scheme="resident"), "子女")
    assert w.svc.set_limit(h, "1", 1_000, key="lim").ok
    with Session(engine) as s, s.begin():
        with pytest.raises(Conflict, match=f"^binding {b} changed$"):
            ledger.use_binding(s, b, 1_001)
        s.rollback()


def test_a_patients_own_money_is_booked_as_settle_own(engine: Engine) -> None:
    w = World(engine)
    r = w.person(balance=5_000)
    assert w.svc.settle(r, 3_000, "outpatient", key="own").ok
    with engine.connect() as conn:
        rows = conn.execute(select(LedgerEntry.kind, LedgerEntry.delta_fen)
                            .where(LedgerEntry.person_id == r)).all()
    assert [tuple(x) for x in rows] == [("settle_own", -3_000)]


def test_a_payers_notice_shows_the_room_left_under_the_limit(engine: Engine) -> None:
    w = World(engine)
    h = w.householder(balance=100_000)
    r = w.person(scheme="resident")
    w.bound(h, r, "子女")
    assert w.svc.set_limit(h, "1", 10_000, key="lim").ok
    first = w.svc.settle(r, 3_000, "outpatient", key="s1")
    assert first.facts["payers_after"] == [
        {"householder_id": h, "balance_fen": 97_000, "remaining_fen": 7_000}]
    second = w.svc.settle(r, 2_000, "outpatient", key="s2")
    assert second.facts["payers_after"] == [
        {"householder_id": h, "balance_fen": 95_000, "remaining_fen": 5_000}]


def test_a_wallet_debit_of_one_fen_moves_one_fen_and_more_than_held_is_a_conflict(
        engine: Engine) -> None:
    f = Family(engine)
    assert f.confirm(f.ask(500)).ok
    with engine.begin() as conn:
        txn = conn.execute(insert(Transaction).values(
            key="d", kind="settle", created_at=f.w.clock.now(), result={})
            .returning(Transaction.id)).scalar_one()
    with Session(engine) as s, s.begin():
        wallets.debit_wallet(s, txn, f.mother, 1, "wallet_settle", f.w.clock.now())
        wallets.debit_wallet(s, txn, f.mother, 0, "wallet_settle", f.w.clock.now())
        with pytest.raises(Conflict, match=f"^wallet of person {f.mother} changed$"):
            wallets.debit_wallet(s, txn, f.mother, 500, "wallet_settle", f.w.clock.now())
    with engine.connect() as conn:
        assert conn.execute(select(Wallet.balance).where(Wallet.person_id == f.mother)
                            ).scalar_one() == 499
        assert conn.execute(select(LedgerEntry.delta_fen).where(LedgerEntry.txn_id == txn)
                            ).scalars().all() == [-1]


def test_a_family_leg_names_its_payer(engine: Engine) -> None:
    w = World(engine)
    h = w.householder(balance=100_000, name="王大明")
    r = w.person(scheme="resident", balance=0)
    b = w.bound(h, r, "子女")
    d = w.svc.settle(r, 3_000, "outpatient", key="s")
    assert [(leg["binding_id"], leg["householder_id"], leg["name"], leg["amount_fen"])
            for leg in d.facts["legs"]] == [(b, h, "王大明", 3_000)]


def test_settling_a_non_positive_amount_is_invalid_amount(engine: Engine) -> None:
    w = World(engine)
    r = w.person(balance=5_000)
    assert w.svc.settle(r, 0, "outpatient", key="zero") == Decision.refuse(Reason.INVALID_AMOUNT)


def test_each_payers_own_region_decides_what_their_money_may_pay_for(engine: Engine) -> None:
    """Health checks: a Dongying payer's money may pay for them, national rules' may not."""
    w = World(engine)
    h = w.householder("dongying", balance=100_000)
    r = w.person(place="jinan", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    d = w.svc.settle(r, 3_000, "health_check", key="s")
    assert d.ok and (d.facts["family_fen"], d.facts["purpose_blocked"]) == (3_000, False)


def test_a_pinned_settlement_keeps_the_patients_name(engine: Engine) -> None:
    w = World(engine)
    h = w.householder(balance=100_000)
    r = w.person(scheme="resident", balance=0, name="李小红")
    w.bound(h, r, "子女")
    plans: dict[str, SettlePlan] = {}

    def pin(_s: object, plan: SettlePlan) -> str:
        plans["t"] = plan
        return "t"

    d = w.svc.settle_direct(r, 2_000, "outpatient", key="ask", pin=pin, always_confirm=True)
    assert d.facts["token"] == "t" and plans["t"].snapshot.name == "李小红"


def test_a_window_left_open_by_a_payer_who_has_gone_is_not_used(engine: Engine) -> None:
    w = World(engine)
    h = w.householder("dongying", balance=100_000)
    r = w.person(place="dongying", scheme="resident", balance=1_000)
    w.bound(h, r, "子女")
    assert w.svc.settle(r, 5_000, "inpatient", key="a").code == Reason.INSUFFICIENT_BALANCE
    assert w.svc.unbind(h, w.id_number(r), key="gone").ok
    w.clock.advance(10)
    d = w.svc.settle(r, 5_000, "inpatient", key="b")  # inside the window: nobody to pay
    assert d.ok and (d.facts["own_fen"], d.facts["family_fen"], d.facts["cash_fen"]) == \
        (1_000, 0, 4_000)
    assert w.balance(h) == 100_000


def test_a_debit_guard_miss_is_a_conflict_naming_the_person(engine: Engine) -> None:
    w = World(engine)
    p = w.person(balance=500)
    with engine.begin() as conn:
        txn = conn.execute(insert(Transaction).values(
            key="d", kind="settle", created_at=w.clock.now(), result={})
            .returning(Transaction.id)).scalar_one()
    with Session(engine) as s, s.begin():
        with pytest.raises(Conflict, match=f"^balance of person {p} changed$"):
            ledger.debit(s, txn, p, 501, "settle_own", w.clock.now())
        s.rollback()
    assert w.balance(p) == 500


def test_a_settlement_books_each_leg_under_its_own_kind(engine: Engine) -> None:
    f = Family(engine)
    assert f.confirm(f.ask(5_000)).ok
    d = f.w.svc.settle(f.mother, 3_000, "pharmacy", key="wallet-pays")
    assert d.ok and (d.facts["wallet_fen"], d.facts["cash_fen"]) == (3_000, 0)
    assert d.facts["linked"] == {}
    h = f.w.householder(balance=10_000)
    r = f.w.person(scheme="resident", balance=0)
    b = f.w.bound(h, r, "子女")
    assert f.w.svc.settle(r, 2_000, "outpatient", key="family-pays").facts["family_fen"] == 2_000
    with engine.connect() as conn:
        rows = conn.execute(select(Transaction.key, LedgerEntry.person_id, LedgerEntry.kind,
                                   LedgerEntry.delta_fen, LedgerEntry.binding_id,
                                   LedgerEntry.wallet_id.is_not(None), LedgerEntry.created_at)
                            .join(Transaction, Transaction.id == LedgerEntry.txn_id)
                            .where(Transaction.key.in_(("wallet-pays", "family-pays")))
                            .order_by(LedgerEntry.id)).all()
    now = f.w.clock.now()
    assert [tuple(x) for x in rows] == [
        ("wallet-pays", f.mother, "wallet_settle", -3_000, None, True, now),
        ("family-pays", h, "settle_family", -2_000, b, False, now)]
    assert f.w.svc.settle(999_999, 1_000, "outpatient", key="nobody") == \
        Decision.refuse(Reason.UNKNOWN_PERSON)


def test_a_closed_wallet_is_never_debited_whatever_it_holds(engine: Engine) -> None:
    """The wallet debit's guard on its own: a stale plan that still counts on a wallet closed
    meanwhile (with money on it) gets a conflict, not the money."""
    f = Family(engine)
    assert f.confirm(f.ask(500)).ok
    with engine.begin() as conn:
        conn.execute(update(Wallet).where(Wallet.person_id == f.mother).values(state="closed"))
        txn = conn.execute(insert(Transaction).values(
            key="d", kind="settle", created_at=f.w.clock.now(), result={})
            .returning(Transaction.id)).scalar_one()
    with Session(engine) as s, s.begin():
        with pytest.raises(Conflict):
            wallets.debit_wallet(s, txn, f.mother, 100, "wallet_settle", f.w.clock.now())
        s.rollback()
    with engine.connect() as conn:
        assert conn.execute(select(Wallet.balance).where(Wallet.person_id == f.mother)
                            ).scalar_one() == 500


def test_a_right_password_clears_the_wrong_ones_and_their_window(engine: Engine) -> None:
    f = Family(engine)
    start = f.w.clock.now()
    first = f.ask(1_000)
    assert _wrong(f, first).facts["remaining"] == MAX_WRONG - 1
    f.w.clock.advance(10)
    assert f.confirm(first).ok  # right: the count and its window start again
    with engine.connect() as conn:
        row = conn.execute(select(Wallet.wrong_passwords, Wallet.wrong_since)
                           .where(Wallet.person_id == f.payer)).one()
    assert tuple(row) == (0, None)
    f.w.clock.set(start + timedelta(seconds=100))
    second = f.ask(1_000)
    for _ in range(MAX_WRONG - 1):
        _wrong(f, second)
    until = (start + timedelta(seconds=100 + LOCK_SECONDS)).isoformat()
    assert _wrong(f, second) == Decision.refuse(Reason.WALLET_LOCKED, until=until)
