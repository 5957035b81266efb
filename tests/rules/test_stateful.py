"""A Hypothesis state machine drives the service and a plain-Python model side by side;
after every step the balances agree with the model and audit() finds nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, select

from rules.audit import audit
from rules.codes import Reason
from rules.decision import Decision
from rules.schema import Base, Person
from tests.rules.factories import World

WINDOW = 300
HOUSEHOLDERS = ("H0", "H1")
RELATIVES = ("R0", "R1", "R2")
CAST: dict[str, dict[str, Any]] = {
    "H0": {"place": "jinan", "balance": 20_000, "monthly_credit": 500},
    "H1": {"place": "dongying", "balance": 15_000, "monthly_credit": 300},
    "R0": {"place": "jinan", "scheme": "resident", "balance": 3_000},
    "R1": {"place": "dongying", "scheme": "resident", "balance": 1_000},
    "R2": {"place": "jinan", "employment": "retired", "balance": 2_000, "monthly_credit": 200},
}
FAMILY_PURPOSES = {"H0": {"outpatient", "pharmacy", "resident_contribution"},
                   "H1": {"outpatient", "pharmacy", "health_check", "resident_contribution"}}
EXCLUSIVE = {"H1", "R1"}  # Dongying people: exclusivity follows them across regions
MODE = {"R0": "ordered", "R1": "retry_window", "R2": "ordered"}


@dataclass
class ModelBinding:
    h: str
    r: str
    seq: int
    limit: int | None = None
    used: int = 0
    rank: int | None = None
    active: bool = True

    def room(self) -> int | None:
        return None if self.limit is None else self.limit - self.used


@dataclass
class Model:
    balance: dict[str, int] = field(
        default_factory=lambda: {k: v["balance"] for k, v in CAST.items()})
    bindings: list[ModelBinding] = field(default_factory=list)
    window_until: dict[str, float] = field(default_factory=dict)
    credited: set[tuple[str, str]] = field(default_factory=set)
    now: float = 0.0

    def active(self, h: str | None = None, r: str | None = None) -> list[ModelBinding]:
        return [b for b in self.bindings if b.active and h in (None, b.h) and r in (None, b.r)]

    def payers(self, r: str) -> list[ModelBinding]:
        return sorted(self.active(r=r), key=lambda b: (b.rank is None, b.rank or 0, b.seq))


def expect_bind(m: Model, h: str, r: str) -> Reason | None:
    if m.active(h, r):
        return Reason.ALREADY_BOUND
    if m.active(r=r) and {h, r, *(b.h for b in m.active(r=r))} & EXCLUSIVE:
        return Reason.RELATIVE_ALREADY_BOUND
    return None


def expect_settle(m: Model, r: str, amount: int, purpose: str) -> tuple[Reason | None, list[int]]:
    """(refusal, [own, family legs…]) and the model updated as the engine should."""
    own = min(m.balance[r], amount)
    payers = m.payers(r)
    if MODE[r] == "ordered" or own == amount or not payers:
        legs: list[tuple[ModelBinding, int]] = []
        due = amount - own
        for b in payers if MODE[r] == "ordered" else []:
            room = b.room()
            take = min(due, m.balance[b.h], due if room is None else room)
            if purpose in FAMILY_PURPOSES[b.h] and take > 0:
                legs.append((b, take))
                due -= take
        m.balance[r] -= own
        for b, take in legs:
            m.balance[b.h] -= take
            b.used += take
        return None, [own] + [t for _, t in legs]
    if m.window_until.pop(r, -1.0) <= m.now:
        m.window_until[r] = m.now + WINDOW
        return Reason.INSUFFICIENT_BALANCE, []
    b = payers[0]
    room = b.room()
    if purpose not in FAMILY_PURPOSES[b.h]:
        return Reason.PURPOSE_NOT_ALLOWED, []
    if room is not None and room < amount:
        return Reason.LIMIT_EXCEEDED, []
    if m.balance[b.h] < amount:
        return Reason.FAMILY_FUNDS_INSUFFICIENT, []
    m.balance[b.h] -= amount
    b.used += amount
    return None, [0, amount]


class LedgerMachine(RuleBasedStateMachine):
    engine: Any = None

    def __init__(self) -> None:
        super().__init__()
        with self.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(delete(table))
        self.w = World(self.engine)
        self.ids = {name: self.w.person(name=name, **kw) for name, kw in CAST.items()}
        for h in HOUSEHOLDERS:
            self.w.svc.open_account(self.ids[h], letter_version="v1", letter_sha256="0" * 64,
                                    key=f"open-{h}")
        self.m = Model()
        self.done: list[tuple[str, Callable[..., Decision], Decision]] = []
        self.seq = 0

    def _key(self) -> str:
        self.seq += 1
        return f"step-{self.seq}"

    def number(self, name: str) -> str:
        return self.w.id_number(self.ids[name])

    def _record(self, key: str, call: Callable[..., Decision]) -> Decision:
        """Make the call under ``key`` and remember it for the replay rule."""
        decision = call(key=key)
        self.done.append((key, call, decision))
        return decision

    @initialize()
    def some_families(self) -> None:
        """Start with money able to flow, so short examples already exercise the legs."""
        for h, r in (("H0", "R0"), ("H1", "R1"), ("H0", "R2")):
            self.bind(h, r)

    @rule(h=st.sampled_from(HOUSEHOLDERS), r=st.sampled_from(RELATIVES))
    def bind(self, h: str, r: str) -> None:
        key, want = self._key(), expect_bind(self.m, h, r)
        call = partial(self.w.svc.bind, self.ids[h], self.number(r), r, "子女")
        d = self._record(key, call)
        assert d.code == want, (d, want)
        if d.ok:
            self.m.bindings.append(ModelBinding(h, r, seq=len(self.m.bindings)))

    @rule(h=st.sampled_from(HOUSEHOLDERS), r=st.sampled_from(RELATIVES))
    def unbind(self, h: str, r: str) -> None:
        key, active = self._key(), self.m.active(h, r)
        d = self._record(key, partial(self.w.svc.unbind, self.ids[h], self.number(r)))
        assert d.ok == bool(active) and (d.ok or d.code == Reason.NOT_BOUND), d
        for b in active:
            b.active = False

    @rule(h=st.sampled_from(HOUSEHOLDERS), r=st.sampled_from(RELATIVES),
          limit=st.one_of(st.none(), st.integers(0, 6_000)))
    def limit(self, h: str, r: str, limit: int | None) -> None:
        key, active = self._key(), self.m.active(h, r)
        d = self._record(key, partial(self.w.svc.set_limit, self.ids[h], self.number(r), limit))
        assert d.ok == bool(active), d
        for b in active:
            b.limit = b.used if limit is not None and limit < b.used else limit

    @rule(r=st.sampled_from(RELATIVES), amount=st.integers(1, 8_000),
          purpose=st.sampled_from(["outpatient", "health_check"]))
    def settle(self, r: str, amount: int, purpose: str) -> None:
        key = self._key()
        want, legs = expect_settle(self.m, r, amount, purpose)
        d = self._record(key, partial(self.w.svc.settle, self.ids[r], amount, purpose))
        assert d.code == want, (d, want)
        if d.ok:
            got = [d.facts["own_fen"]] + [leg["amount_fen"] for leg in d.facts["legs"]]
            assert got == [x for i, x in enumerate(legs) if i == 0 or x], (got, legs)

    @rule(seconds=st.sampled_from([60, 240, 400]))
    def advance_clock(self, seconds: int) -> None:
        self.w.clock.advance(seconds)
        self.m.now += seconds

    @rule(month=st.sampled_from(["2026-10", "2026-11"]))
    def credit(self, month: str) -> None:
        d = self.w.svc.credit_month(month)
        due = [n for n, kw in CAST.items() if kw.get("monthly_credit") and (n, month) not in
               self.m.credited]
        assert d.facts["credited"] == len(due), d
        for n in due:
            self.m.balance[n] += CAST[n]["monthly_credit"]
            self.m.credited.add((n, month))

    @rule(h=st.sampled_from(HOUSEHOLDERS), r=st.sampled_from(RELATIVES),
          amount=st.integers(1, 6_000))
    def contribute(self, h: str, r: str, amount: int) -> None:
        key, active = self._key(), self.m.active(h, r)
        d = self._record(key, partial(self.w.svc.contribute, self.ids[h], self.number(r), amount))
        want = None
        if not active:
            want = Reason.NOT_BOUND
        elif CAST[r].get("scheme") != "resident":
            want = Reason.NOT_RESIDENT
        elif active[0].room() is not None and active[0].room() < amount:  # type: ignore[operator]
            want = Reason.LIMIT_EXCEEDED
        elif self.m.balance[h] < amount:
            want = Reason.FAMILY_FUNDS_INSUFFICIENT
        assert d.code == want, (d, want)
        if d.ok:
            self.m.balance[h] -= amount
            active[0].used += amount

    @rule(r=st.sampled_from(RELATIVES))
    def reverse_order(self, r: str) -> None:
        payers = self.m.payers(r)
        refs = [self.w.id_number(self.ids[b.h]) for b in reversed(payers)]
        d = self.w.svc.set_order(self.ids[r], refs, key=self._key())
        if MODE[r] != "ordered":
            assert d.code == Reason.ORDER_NOT_SUPPORTED
            return
        assert d.ok, d
        for rank, b in enumerate(reversed(payers), start=1):
            b.rank = rank

    @rule(pick=st.integers(0, 10_000))
    def replay(self, pick: int) -> None:
        if not self.done:
            return
        key, call, first = self.done[pick % len(self.done)]
        assert call(key=key) == first

    @invariant()
    def ledger_agrees(self) -> None:
        with self.engine.connect() as conn:
            stored = {pid: bal for pid, bal in conn.execute(select(Person.id, Person.balance))}
        assert {n: stored[pid] for n, pid in self.ids.items()} == self.m.balance
        for row_owner in HOUSEHOLDERS:
            rows = self.w.svc.family(self.ids[row_owner]).relatives
            used = {row.person_id: row.used_fen for row in rows}
            want = {self.ids[b.r]: b.used for b in self.m.active(h=row_owner)}
            assert used == want
        assert audit(self.engine) == []


def test_ledger_state_machine(engine) -> None:
    LedgerMachine.engine = engine
    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=25, stateful_step_count=20, deadline=None,
        suppress_health_check=list(HealthCheck),
    ))
