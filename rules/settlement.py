"""Settlement and contributions: plan the legs (pure reads), then apply them (guarded writes).

The *patient's* region decides the mode; each payer's region decides what its money may pay
for. ``plan`` never writes, so ``preview_settlement`` and ``settle`` cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from rules.codes import Reason
from rules.decision import Decision
from rules.identity import mask_name
from rules.ledger import debit, lock_bindings, lock_people
from rules.money import MAX_FEN
from rules.policy import Policies
from rules.registry import payer_bindings
from rules.schema import Binding, Person, RetryWindow
from rules.unit_of_work import TxnContext

Fault = Callable[[str], None]


@dataclass(frozen=True)
class Leg:
    binding_id: int
    householder_id: int
    name: str
    amount_fen: int

    def to_json(self) -> dict[str, Any]:
        return {"binding_id": self.binding_id, "householder_id": self.householder_id,
                "name_masked": mask_name(self.name), "amount_fen": self.amount_fen}


@dataclass
class Plan:
    mode: str
    amount_fen: int
    own_fen: int = 0
    legs: list[Leg] = field(default_factory=list)
    window: str | None = None  # "close" when a retry window is used up

    @property
    def family_fen(self) -> int:
        return sum(leg.amount_fen for leg in self.legs)

    @property
    def cash_fen(self) -> int:
        return self.amount_fen - self.own_fen - self.family_fen

    def facts(self, purpose: str) -> dict[str, Any]:
        return {"mode": self.mode, "amount_fen": self.amount_fen, "purpose": purpose,
                "own_fen": self.own_fen, "family_fen": self.family_fen, "cash_fen": self.cash_fen,
                "legs": [leg.to_json() for leg in self.legs], "uses_family": bool(self.legs)}


def valid_amount(amount_fen: int) -> bool:
    return isinstance(amount_fen, int) and not isinstance(amount_fen, bool) \
        and 0 < amount_fen <= MAX_FEN


def remaining_limit(b: Binding) -> int | None:
    return None if b.limit_fen is None else max(b.limit_fen - b.used_fen, 0)


def lock_for_settlement(s: Session, patient_id: int) -> None:
    """Lock the patient and every current payer (people, then bindings) in id order."""
    q = select(Binding.id, Binding.householder_id).where(
        Binding.relative_id == patient_id, Binding.removed_at.is_(None))
    rows = s.execute(q).all()
    lock_people(s, [patient_id] + [r.householder_id for r in rows])
    lock_bindings(s, [r.id for r in rows])


def plan(s: Session, policies: Policies, now: datetime, patient: Person, amount_fen: int,
         purpose: str) -> Plan | Decision:
    """The legs a settlement would take, or the refusal it would meet."""
    mode = policies.get(patient.region).settlement
    whole_own = patient.balance >= amount_fen
    own = min(patient.balance, amount_fen)
    if mode == "own_only" or whole_own:
        return Plan(mode, amount_fen, own_fen=own)
    payers = payer_bindings(s, patient.id)
    if mode == "ordered":
        return _ordered(policies, Plan(mode, amount_fen, own_fen=own), payers, purpose)
    if not payers:  # nobody to share with: an ordinary partial payment, rest in cash
        return Plan(mode, amount_fen, own_fen=own)
    return _retry_window(s, policies, now, patient, amount_fen, purpose, payers[0])


def _ordered(policies: Policies, p: Plan, payers: list[tuple[Binding, Person]],
             purpose: str) -> Plan:
    for b, hh in payers:
        due = p.cash_fen
        if due <= 0:
            break
        if purpose not in policies.get(hh.region).family_purposes:
            continue
        room = remaining_limit(b)
        take = min(due, hh.balance, due if room is None else room)
        if take > 0:
            p.legs.append(Leg(b.id, hh.id, hh.name, take))
    return p


def _retry_window(s: Session, policies: Policies, now: datetime, patient: Person,
                  amount_fen: int, purpose: str, first: tuple[Binding, Person]) -> Plan | Decision:
    window = s.get(RetryWindow, patient.id)
    if window is None or window.expires_at <= now:
        seconds = policies.get(patient.region).retry_window_seconds
        return Decision.refuse(Reason.INSUFFICIENT_BALANCE, retry_window_seconds=seconds,
                               balance_fen=patient.balance, amount_fen=amount_fen,
                               purpose=purpose)
    b, hh = first
    facts = {"householder_id": hh.id, "amount_fen": amount_fen, "window_closed": True}
    if purpose not in policies.get(hh.region).family_purposes:
        return Decision.refuse(Reason.PURPOSE_NOT_ALLOWED, purpose=purpose, **facts)
    room = remaining_limit(b)
    if room is not None and room < amount_fen:
        return Decision.refuse(Reason.LIMIT_EXCEEDED, remaining_fen=room, **facts)
    if hh.balance < amount_fen:
        return Decision.refuse(Reason.FAMILY_FUNDS_INSUFFICIENT, **facts)
    return Plan("retry_window", amount_fen, own_fen=0, legs=[Leg(b.id, hh.id, hh.name, amount_fen)],
                window="close")


def settle(s: Session, ctx: TxnContext, policies: Policies, patient_id: int, amount_fen: int,
           purpose: str, fault: Fault | None = None) -> Decision:
    if not valid_amount(amount_fen):
        return Decision.refuse(Reason.INVALID_AMOUNT)
    lock_for_settlement(s, patient_id)
    patient = s.get(Person, patient_id)
    if patient is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    result = plan(s, policies, ctx.now, patient, amount_fen, purpose)
    if isinstance(result, Decision):
        _after_refusal(s, policies, ctx.now, patient, result)
        return result
    debit(s, ctx.id, patient_id, result.own_fen, "settle_own", ctx.now)
    for leg in result.legs:
        if fault is not None:
            fault("leg")
        debit(s, ctx.id, leg.householder_id, leg.amount_fen, "settle_family", ctx.now,
              binding_id=leg.binding_id)
    if result.window == "close":
        s.execute(delete(RetryWindow).where(RetryWindow.relative_id == patient_id))
    ctx.amount_fen, ctx.cash_fen = amount_fen, result.cash_fen
    balance = patient.balance - result.own_fen
    return Decision.allow(balance_fen=balance, **result.facts(purpose))


def _after_refusal(s: Session, policies: Policies, now: datetime, patient: Person,
                   refusal: Decision) -> None:
    """A short swipe opens the retry window; any swipe inside an open window uses it up."""
    s.execute(delete(RetryWindow).where(RetryWindow.relative_id == patient.id))
    if refusal.code == Reason.INSUFFICIENT_BALANCE:
        seconds = policies.get(patient.region).retry_window_seconds
        s.execute(insert(RetryWindow).values(
            relative_id=patient.id, opened_at=now, expires_at=now + timedelta(seconds=seconds),
            amount_fen=refusal.facts["amount_fen"], purpose=refusal.facts.get("purpose", ""),
        ))


def contribute(s: Session, ctx: TxnContext, policies: Policies, binding: Binding,
               amount_fen: int, purpose: str) -> Decision:
    """Pay a bound relative's contribution from the householder's account, within the limit."""
    relative = s.get(Person, binding.relative_id)
    householder = s.get(Person, binding.householder_id)
    assert relative is not None and householder is not None
    facts = {"relative_id": relative.id, "amount_fen": amount_fen, "purpose": purpose}
    if purpose == "resident_contribution" and relative.scheme != "resident":
        return Decision.refuse(Reason.NOT_RESIDENT, **facts)
    if purpose not in policies.get(householder.region).family_purposes:
        return Decision.refuse(Reason.PURPOSE_NOT_ALLOWED, **facts)
    room = remaining_limit(binding)
    if room is not None and room < amount_fen:
        return Decision.refuse(Reason.LIMIT_EXCEEDED, remaining_fen=room, **facts)
    if householder.balance < amount_fen:
        return Decision.refuse(Reason.FAMILY_FUNDS_INSUFFICIENT, **facts)
    debit(s, ctx.id, householder.id, amount_fen, "contribute", ctx.now, binding_id=binding.id)
    ctx.amount_fen, ctx.cash_fen, ctx.person_id = amount_fen, 0, relative.id
    return Decision.allow(balance_fen=householder.balance - amount_fen, binding_id=binding.id,
                          **facts)
