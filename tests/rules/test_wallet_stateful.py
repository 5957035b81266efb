"""A Hypothesis state machine for 医保钱包: activations, transfers (with right and wrong
passwords), settlements that spend account then wallet, wallet contributions, the clock and
replays, against a plain-Python model; after every step the account and wallet balances agree
with the model and audit() finds nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import delete, select

from rules import wallet_secret
from rules.audit import audit
from rules.codes import Reason
from rules.decision import Decision
from rules.schema import Base, Person, Wallet
from rules.wallet_rules import LOCK_SECONDS, MAX_WRONG, TransferPlan, TransferRequest
from tests.rules.factories import World

PASSWORD, WRONG = "135790", "000000"
WINDOW = 300
CAST: dict[str, dict[str, Any]] = {
    "A": {"place": "jinan", "balance": 50_000},  # Shandong employee: a payer
    "B": {"place": "chengdu", "balance": 20_000},  # Sichuan employee: payer and patient
    "H": {"place": "dongying", "balance": 30_000},  # Dongying householder of D
    "M": {"place": "chengdu", "scheme": "resident", "balance": 1_000},
    "D": {"place": "dongying", "scheme": "resident", "balance": 500},  # retry window
    "X": {"place": "hainan", "scheme": "resident", "balance": 0},  # province not opened
}
PAYERS, PAYEES = ("A", "B", "H"), ("A", "B", "M", "D", "X")
PATIENTS, RESIDENTS = ("B", "M", "D"), ("M", "D", "A")


@dataclass
class Model:
    balance: dict[str, int] = field(
        default_factory=lambda: {k: v["balance"] for k, v in CAST.items()})
    wallet: dict[str, int] = field(default_factory=dict)  # active wallets only
    wrong: dict[str, tuple[int, float]] = field(default_factory=dict)  # count, since
    window_until: float = -1.0  # D's retry window
    now: float = 0.0

    def locked(self, p: str) -> bool:
        count, since = self.wrong.get(p, (0, 0.0))
        return count >= MAX_WRONG and self.now < since + LOCK_SECONDS

    def transfer_refusal(self, payer: str, payee: str, amount: int) -> Reason | None:
        if payer not in self.wallet:
            return Reason.WALLET_NOT_ACTIVE
        if self.locked(payer):
            return Reason.WALLET_LOCKED
        if payer == payee:
            return Reason.SELF_BINDING
        if payee == "X":
            return Reason.WALLET_NOT_ENABLED
        if payee not in self.wallet:
            return Reason.WALLET_NOT_ACTIVE
        if self.balance[payer] < amount:
            return Reason.INSUFFICIENT_BALANCE
        return None

    def count_wrong(self, p: str) -> Reason:
        count, since = self.wrong.get(p, (0, 0.0))
        if self.locked(p):
            return Reason.WALLET_LOCKED
        if count == 0 or since <= self.now - LOCK_SECONDS:
            count, since = 0, self.now
        self.wrong[p] = (count + 1, since)
        return Reason.WALLET_LOCKED if count + 1 >= MAX_WRONG else Reason.WALLET_PASSWORD_WRONG

    def settle(self, p: str, amount: int) -> tuple[Reason | None, tuple[int, int, int]]:
        own = min(self.balance[p], amount)
        wallet = min(self.wallet.get(p, 0), amount - own)
        if p != "D" or own + wallet == amount:
            self.balance[p] -= own
            if wallet:
                self.wallet[p] -= wallet
            return None, (own, wallet, 0)
        open_until, self.window_until = self.window_until, -1.0
        if open_until <= self.now:
            self.window_until = self.now + WINDOW
            return Reason.INSUFFICIENT_BALANCE, (0, 0, 0)
        if self.balance["H"] < amount:
            return Reason.FAMILY_FUNDS_INSUFFICIENT, (0, 0, 0)
        self.balance["H"] -= amount
        return None, (0, 0, amount)


class WalletMachine(RuleBasedStateMachine):
    engine: Any = None

    def __init__(self) -> None:
        super().__init__()
        with self.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(delete(table))
        self.w = World(self.engine)
        self.svc = self.w.svc.wallets
        self.ids = {name: self.w.person(name=name, **kw) for name, kw in CAST.items()}
        h = self.ids["H"]
        assert self.w.svc.open_account(h, letter_version="v1", letter_sha256="0" * 64,
                                       key="open").ok
        self.w.bound(h, self.ids["D"], "子女")
        self.m = Model()
        self.done: list[tuple[str, Callable[..., Decision], Decision]] = []
        self.plans: dict[str, TransferPlan] = {}
        self.seq = 0

    def _key(self) -> str:
        self.seq += 1
        return f"step-{self.seq}"

    def _record(self, call: Callable[..., Decision]) -> Decision:
        key = self._key()
        decision = call(key=key)
        self.done.append((key, call, decision))
        return decision

    def _pin(self, _s: Any, plan: TransferPlan) -> str:
        token = f"t{len(self.plans)}"
        self.plans[token] = plan
        return token

    def _ask(self, payer: str, payee: str, amount: int) -> Decision:
        req = TransferRequest(self.w.id_number(self.ids[payee]), payee, "子女", amount)
        return self.svc.request_transfer(self.ids[payer], req, key=self._key(), pin=self._pin)

    @rule(p=st.sampled_from(sorted(CAST)))
    def activate(self, p: str) -> None:
        d = self._record(partial(self.svc.activate, self.ids[p], PASSWORD))
        if p == "X":
            assert d.code == Reason.WALLET_NOT_ENABLED, d
            return
        assert d.ok and d.facts.get("already_active", False) is (p in self.m.wallet), d
        self.m.wallet.setdefault(p, 0)

    @rule(payer=st.sampled_from(PAYERS), payee=st.sampled_from(PAYEES),
          amount=st.integers(1, 30_000), right=st.booleans())
    def transfer(self, payer: str, payee: str, amount: int, right: bool) -> None:
        want = self.m.transfer_refusal(payer, payee, amount)
        asked = self._ask(payer, payee, amount)
        assert asked.code == want, (asked, want)
        if not asked.ok:
            return
        plan = self.plans[asked.facts["token"]]
        d = self._record(partial(self.svc.execute_transfer, plan, PASSWORD if right else WRONG,
                                 pin=self._pin))
        if not right:
            assert d.code == self.m.count_wrong(payer), d
            return
        assert d.ok, d
        self.m.wrong.pop(payer, None)
        self.m.balance[payer] -= amount
        self.m.wallet[payee] += amount

    @rule(p=st.sampled_from(PATIENTS), amount=st.integers(1, 8_000))
    def settle(self, p: str, amount: int) -> None:
        want, (own, wallet, family) = self.m.settle(p, amount)
        d = self._record(partial(self.w.svc.settle, self.ids[p], amount, "outpatient"))
        assert d.code == want, (d, want)
        if d.ok:
            assert (d.facts["own_fen"], d.facts.get("wallet_fen", 0), d.facts["family_fen"]) \
                == (own, wallet, family), d

    @rule(p=st.sampled_from(RESIDENTS), amount=st.integers(1, 5_000))
    def contribute(self, p: str, amount: int) -> None:
        d = self._record(partial(self.svc.contribute, self.ids[p], amount))
        want = None
        if CAST[p].get("scheme") != "resident":
            want = Reason.NOT_RESIDENT
        elif p not in self.m.wallet:
            want = Reason.WALLET_NOT_ACTIVE
        elif self.m.wallet[p] < amount:
            want = Reason.INSUFFICIENT_BALANCE
        assert d.code == want, (d, want)
        if d.ok:
            self.m.wallet[p] -= amount

    @rule(seconds=st.sampled_from([60, 400, 3600]))
    def advance_clock(self, seconds: int) -> None:
        self.w.clock.advance(seconds)
        self.m.now += seconds

    @rule(pick=st.integers(0, 10_000))
    def replay(self, pick: int) -> None:
        if self.done:
            key, call, first = self.done[pick % len(self.done)]
            assert call(key=key) == first

    @invariant()
    def ledger_agrees(self) -> None:
        with self.engine.connect() as conn:
            accounts = {r[0]: r[1] for r in conn.execute(select(Person.id, Person.balance))}
            wallets = {r[0]: r[1] for r in conn.execute(select(Wallet.person_id, Wallet.balance))}
        assert {n: accounts[pid] for n, pid in self.ids.items()} == self.m.balance
        assert {n: wallets[pid] for n, pid in self.ids.items() if pid in wallets} \
            == self.m.wallet
        assert audit(self.engine) == []


@pytest.fixture
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wallet_secret, "SCRYPT_N", 2 ** 6)


def test_wallet_state_machine(engine: Any, cheap_kdf: None) -> None:
    WalletMachine.engine = engine
    run_state_machine_as_test(WalletMachine, settings=settings(
        max_examples=15, stateful_step_count=25, deadline=None,
        suppress_health_check=list(HealthCheck),
    ))
