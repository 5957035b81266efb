"""医保钱包 on a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set):
activation, the password lock, transfers (pinned, exact or PLAN_CHANGED, idempotent),
spending at settlement and on the holder's own contribution, the audit, concurrency."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, select, update

from rules import wallet_secret
from rules.audit import audit
from rules.codes import Reason
from rules.decision import Decision
from rules.schema import LedgerEntry, Wallet
from rules.wallet_policy import WalletPolicy
from rules.wallet_rules import MAX_WRONG, TransferPlan, TransferRequest
from tests.rules.concurrency import race
from tests.rules.factories import World

PASSWORD = "135790"
_tokens = itertools.count(1)


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests hash thousands of passwords: a smaller scrypt cost (the format records it)."""
    monkeypatch.setattr(wallet_secret, "SCRYPT_N", 2 ** 8)


class Pins:
    """Stands in for the bot's confirmation table: token → pinned plan."""

    def __init__(self) -> None:
        self.plans: dict[str, TransferPlan] = {}

    def __call__(self, _s: Any, plan: TransferPlan) -> str:
        token = f"t{next(_tokens)}"
        self.plans[token] = plan
        return token


class Family:
    """A payer in 济南 (Shandong) and their mother in 成都 (Sichuan), both wallets active."""

    def __init__(self, engine: Engine, *, balance: int = 100_000, activate: bool = True,
                 wallets: WalletPolicy | None = None) -> None:
        self.w = World(engine, wallets=wallets)
        self.svc = self.w.svc.wallets
        self.pins = Pins()
        self.payer = self.w.person(place="jinan", balance=balance, name="王志强")
        self.mother = self.w.person(place="chengdu", scheme="resident", name="王桂英")
        if activate:
            for pid in (self.payer, self.mother):
                assert self.svc.activate(pid, PASSWORD, key=self.w.key()).facts["activated"]

    def ask(self, amount: int = 10_000, relation: str = "母亲", to: int | None = None
            ) -> Decision:
        to = self.mother if to is None else to
        req = TransferRequest(self.w.id_number(to), self.w.name(to), relation, amount)
        return self.svc.request_transfer(self.payer, req, key=self.w.key(), pin=self.pins)

    def confirm(self, d: Decision, password: str = PASSWORD, key: str | None = None) -> Decision:
        assert d.ok and d.facts["needs_confirm"], d
        return self.svc.execute_transfer(self.pins.plans[d.facts["token"]], password,
                                         key=key or self.w.key(), pin=self.pins)

    def wallet(self, pid: int) -> Decision:
        return self.svc.view(pid)


def test_activate_once_keeps_only_a_salted_hash(engine: Engine) -> None:
    f = Family(engine, activate=False)
    assert f.wallet(f.payer).facts["can_activate"] is True
    d = f.svc.activate(f.payer, PASSWORD, key="a1")
    assert d.ok and d.facts == {"activated": True, "province": "山东省", "city": "济南市"}
    again = f.svc.activate(f.payer, "000000", key="a2")
    assert again.ok and again.facts["already_active"] is True
    view = f.wallet(f.payer).facts
    assert (view["active"], view["city"], view["balance_fen"]) == (True, "济南市", 0)
    with engine.connect() as conn:
        stored = conn.execute(select(Wallet.password_hash)).scalar_one()
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert wallet_secret.verify_password(PASSWORD, stored)  # "000000" did not replace it


@pytest.mark.parametrize("place, scheme, password, code", [
    ("hainan", "employee", PASSWORD, Reason.WALLET_NOT_ENABLED),
    ("jian", "resident", PASSWORD, Reason.WALLET_NOT_ENABLED),
    ("jinan", "none", PASSWORD, Reason.NOT_INSURED),
    ("jinan", "employee", "12345", Reason.WALLET_PASSWORD_WRONG),
    ("jinan", "employee", "abcdef", Reason.WALLET_PASSWORD_WRONG),
])
def test_activation_refusals(engine: Engine, place: str, scheme: str, password: str,
                             code: Reason) -> None:
    w = World(engine)
    pid = w.person(place=place, scheme=scheme)
    assert w.svc.wallets.activate(pid, password, key="a").code == code
    assert w.svc.wallets.view(pid).facts["active"] is False


def test_transfer_moves_account_money_into_the_relatives_wallet(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(30_000)
    assert asked.facts["payee_name_masked"] == "王**" and asked.facts["balance_fen"] == 70_000
    assert f.w.balance(f.payer) == 100_000  # nothing moves before the password
    done = f.confirm(asked)
    assert done.ok and done.facts["transferred"]
    assert f.w.balance(f.payer) == 70_000
    assert f.wallet(f.mother).facts["balance_fen"] == 30_000
    assert [m["kind"] for m in f.wallet(f.mother).facts["moves"]] == ["wallet_in"]
    kinds = [r.kind for r in f.w.svc.history(f.payer)]
    assert "wallet_transfer_out" in kinds
    assert audit(engine) == []


@pytest.mark.parametrize("setup, code", [
    ("payee_inactive", Reason.WALLET_NOT_ACTIVE),
    ("payer_inactive", Reason.WALLET_NOT_ACTIVE),
    ("payee_closed_province", Reason.WALLET_NOT_ENABLED),
    ("in_law", Reason.RELATION_NOT_ALLOWED),
    ("over_cap", Reason.TRANSFER_LIMIT_EXCEEDED),
    ("over_day_cap", Reason.TRANSFER_LIMIT_EXCEEDED),
    ("too_much", Reason.INSUFFICIENT_BALANCE),
    ("flexible", Reason.NO_PERSONAL_ACCOUNT),
])
def test_transfer_refusals_on_a_database(engine: Engine, setup: str, code: Reason) -> None:
    capped = WalletPolicy.parse({"provinces": {"山东省": {"per_transfer_yuan": 200,
                                                         "per_day_yuan": 300},
                                             "四川省": {}}})
    f = Family(engine, wallets=capped)
    to, relation, amount = f.mother, "母亲", 10_000
    if setup == "payee_inactive":
        to = f.w.person(place="chengdu", scheme="resident")
    elif setup == "payer_inactive":
        with engine.begin() as conn:
            conn.execute(update(Wallet).where(Wallet.person_id == f.payer).values(state="closed"))
    elif setup == "payee_closed_province":
        to = f.w.person(place="hainan", scheme="resident")
    elif setup == "in_law":
        relation = "岳母"
    elif setup == "over_cap":
        amount = 20_001
    elif setup == "over_day_cap":
        assert f.confirm(f.ask(20_000)).ok
        amount = 10_001
    elif setup == "too_much":
        f.payer = f.w.person(place="jinan", balance=10_000)
        assert f.svc.activate(f.payer, PASSWORD, key="poor").ok
        amount = 15_000
    elif setup == "flexible":
        with engine.begin() as conn:
            conn.execute(update(Wallet).where(Wallet.person_id == f.payer).values(state="closed"))
        f.payer = f.w.person(place="jinan", employment="flexible", balance=100_000)
    d = f.ask(amount, relation, to)
    assert d.code == code, d
    assert audit(engine) == []


def test_the_day_cap_starts_again_on_the_next_china_day(engine: Engine) -> None:
    capped = WalletPolicy.parse({"provinces": {"山东省": {"per_day_yuan": 300}, "四川省": {}}})
    f = Family(engine, wallets=capped)
    assert f.confirm(f.ask(30_000)).ok
    assert f.ask(1).code == Reason.TRANSFER_LIMIT_EXCEEDED
    f.w.clock.advance(24 * 3600)
    assert f.confirm(f.ask(30_000)).ok


def test_five_wrong_passwords_lock_the_wallet_for_an_hour(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    for i in range(MAX_WRONG - 1):
        d = f.confirm(asked, "000000")
        assert d.code == Reason.WALLET_PASSWORD_WRONG and d.facts["remaining"] == MAX_WRONG - 1 - i
    assert f.confirm(asked, "000000").code == Reason.WALLET_LOCKED
    assert f.confirm(asked, PASSWORD).code == Reason.WALLET_LOCKED  # even the right one
    assert f.ask(10_000).code == Reason.WALLET_LOCKED
    assert f.w.balance(f.payer) == 100_000
    f.w.clock.advance(3600)
    done = f.confirm(asked, PASSWORD)  # wrong passwords never changed the pinned plan
    assert done.ok, done
    assert audit(engine) == []


def test_wrong_passwords_counted_atomically_under_a_race(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    results = race(8, lambda i: f.confirm(asked, f"00000{i}"))
    assert sorted(d.code for d in results).count(Reason.WALLET_PASSWORD_WRONG) == MAX_WRONG - 1
    assert sum(d.code == Reason.WALLET_LOCKED for d in results) == 8 - (MAX_WRONG - 1)
    with engine.connect() as conn:
        assert conn.execute(select(Wallet.wrong_passwords)
                            .where(Wallet.person_id == f.payer)).scalar_one() == MAX_WRONG


def test_a_changed_balance_gives_plan_changed_and_a_fresh_plan(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    assert f.w.svc.settle(f.payer, 5_000, "pharmacy", key="spend").ok
    changed = f.confirm(asked)
    assert changed.code == Reason.PLAN_CHANGED and changed.facts["balance_fen"] == 85_000
    assert f.w.balance(f.payer) == 95_000
    assert f.svc.execute_transfer(f.pins.plans[changed.facts["token"]], PASSWORD, key="again",
                                  pin=f.pins).ok
    assert f.w.balance(f.payer) == 85_000
    assert audit(engine) == []


def test_a_payee_wallet_closed_meanwhile_gives_plan_changed_with_the_refusal(engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    with engine.begin() as conn:
        conn.execute(update(Wallet).where(Wallet.person_id == f.mother).values(state="closed"))
    d = f.confirm(asked)
    assert d.code == Reason.PLAN_CHANGED
    assert Decision.from_json(d.facts["refusal"]).code == Reason.WALLET_NOT_ACTIVE
    assert f.w.balance(f.payer) == 100_000


def test_same_key_twice_one_transfer(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    first, second = f.confirm(asked, key="pw"), f.confirm(asked, key="pw")
    assert first.ok and second.replayed and second.facts == first.facts
    assert f.w.balance(f.payer) == 90_000


def test_concurrent_transfers_from_one_account_exactly_the_affordable_number(engine) -> None:
    """Eight people send ¥300 from one ¥1000 account, each confirming afresh on PLAN_CHANGED
    (as a user would): exactly three transfers go through, never a negative balance."""
    f = Family(engine)
    payees = [f.w.person(place="chengdu", scheme="resident") for _ in range(8)]
    for p in payees:
        assert f.svc.activate(p, PASSWORD, key=f.w.key()).ok

    def send(i: int) -> Decision:
        d = f.ask(30_000, "子女", payees[i])
        for attempt in range(50):
            if not d.ok and d.code != Reason.PLAN_CHANGED:
                return d
            if d.code == Reason.PLAN_CHANGED and not d.facts.get("token"):
                return Decision.from_json(d.facts["refusal"])
            d = f.svc.execute_transfer(f.pins.plans[d.facts["token"]], PASSWORD,
                                       key=f"send-{i}-{attempt}", pin=f.pins)
            if d.ok:
                return d
        raise AssertionError("no outcome")

    results = race(8, send)
    assert sum(d.ok for d in results) == 3
    assert {d.code for d in results if not d.ok} == {Reason.INSUFFICIENT_BALANCE}
    assert f.w.balance(f.payer) == 10_000
    assert audit(engine) == []


def test_one_confirmed_plan_pays_once_however_often_the_password_comes(engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    plan = f.pins.plans[asked.facts["token"]]
    results = race(6, lambda i: f.svc.execute_transfer(plan, PASSWORD, key=f"p{i}", pin=f.pins))
    assert sum(d.ok for d in results) == 1
    assert {d.code for d in results if not d.ok} <= {Reason.PLAN_CHANGED}
    assert f.w.balance(f.payer) == 90_000
    assert audit(engine) == []


# ---- spending -----------------------------------------------------------------------------

def test_settlement_spends_account_then_wallet(engine: Engine) -> None:
    f = Family(engine)
    assert f.confirm(f.ask(30_000)).ok
    d = f.w.svc.settle(f.mother, 10_000, "outpatient", key="bill")
    assert d.ok and (d.facts["own_fen"], d.facts["wallet_fen"], d.facts["cash_fen"]) == \
        (0, 10_000, 0)
    assert d.facts["wallet_balance_fen"] == 20_000
    assert f.wallet(f.mother).facts["balance_fen"] == 20_000
    assert [r.kind for r in f.w.svc.history(f.mother)][0] == "wallet_settle"
    big = f.w.svc.settle(f.mother, 50_000, "outpatient", key="big")
    assert (big.facts["wallet_fen"], big.facts["cash_fen"]) == (20_000, 30_000)
    assert audit(engine) == []


def test_dongying_account_and_wallet_together_cover_the_bill(engine: Engine) -> None:
    w = World(engine)
    payer = w.person(place="jinan", balance=100_000)
    patient = w.person(place="dongying", scheme="resident", balance=1_000)
    w.bound(w.householder("dongying"), patient, "子女")  # a payer: short swipes are refused
    for pid in (payer, patient):
        assert w.svc.wallets.activate(pid, PASSWORD, key=w.key()).ok
    pins = Pins()
    req = TransferRequest(w.id_number(patient), w.name(patient), "子女", 3_000)
    asked = w.svc.wallets.request_transfer(payer, req, key="t", pin=pins)
    assert w.svc.wallets.execute_transfer(pins.plans[asked.facts["token"]], PASSWORD, key="pw",
                                          pin=pins).ok
    short = w.svc.settle(patient, 4_001, "outpatient", key="s1")
    assert short.code == Reason.INSUFFICIENT_BALANCE and short.facts["wallet_fen"] == 3_000
    paid = w.svc.settle(patient, 4_000, "outpatient", key="s2")
    assert paid.ok and (paid.facts["own_fen"], paid.facts["wallet_fen"]) == (1_000, 3_000)
    assert not paid.facts["uses_family"]
    assert audit(engine) == []


def test_the_wallet_pays_its_holders_own_contribution(engine: Engine) -> None:
    f = Family(engine)
    assert f.confirm(f.ask(50_000)).ok
    d = f.svc.contribute(f.mother, 38_000, key="c")
    assert d.ok and d.facts["wallet_balance_fen"] == 12_000
    assert f.svc.contribute(f.mother, 12_001, key="c2").code == Reason.INSUFFICIENT_BALANCE
    assert f.svc.contribute(f.payer, 100, key="c3").code == Reason.NOT_RESIDENT
    assert [m["kind"] for m in f.wallet(f.mother).facts["moves"]][0] == "wallet_contribute"
    assert audit(engine) == []


def test_audit_sees_a_tampered_wallet(engine: Engine) -> None:
    f = Family(engine)
    assert f.confirm(f.ask(10_000)).ok
    with engine.begin() as conn:
        conn.execute(update(Wallet).where(Wallet.person_id == f.mother)
                      .values(balance=Wallet.balance + 1))
        conn.execute(update(LedgerEntry).where(LedgerEntry.kind == "wallet_in")
                     .values(delta_fen=LedgerEntry.delta_fen + 1))
    found = audit(engine)
    assert any(v.startswith("unbalanced transfer") for v in found)
    with engine.begin() as conn:
        conn.execute(update(Wallet).where(Wallet.person_id == f.mother).values(balance=-5))
    found = audit(engine)
    assert any(v.startswith("negative wallet balance") for v in found)
    assert any(v.startswith("wallet balance mismatch") for v in found)


def test_audit_sees_stray_wallet_rows(engine: Engine) -> None:
    f = Family(engine)
    assert f.confirm(f.ask(10_000)).ok
    assert audit(engine) == []
    with engine.begin() as conn:  # the wallet credit booked on the payer instead
        conn.execute(update(LedgerEntry).where(LedgerEntry.kind == "wallet_in")
                     .values(person_id=f.payer))
    assert any(v.startswith("stray wallet row") for v in audit(engine))
    with engine.begin() as conn:
        conn.execute(update(LedgerEntry).where(LedgerEntry.kind == "wallet_in")
                     .values(person_id=f.mother, wallet_id=None))
    found = audit(engine)
    assert any(v.startswith("stray wallet row") for v in found)
    assert any(v.startswith("unbalanced transfer") for v in found)


def test_no_password_in_any_stored_row(engine: Engine) -> None:
    f = Family(engine)
    asked = f.ask(10_000)
    f.confirm(asked, "246801")  # a wrong one too
    assert f.confirm(asked).ok
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(table.select()):
                text = " ".join(str(v) for v in row)
                assert PASSWORD not in text and "246801" not in text, table.name


def test_time_helpers_line_up_with_china_days(engine: Engine) -> None:
    from rules.wallets import china_day_start

    w = World(engine)
    start = china_day_start(w.clock.now())
    assert (start + timedelta(hours=8)).hour == 0
    assert start <= w.clock.now() < start + timedelta(days=1)
