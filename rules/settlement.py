"""Settlement and contributions: plan the legs (pure reads), then apply them (guarded writes).

The *patient's* region decides the mode; each payer's region decides what its money may pay
for. ``plan`` never writes, so ``preview_settlement`` and ``settle`` cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Row, bindparam, select, text
from sqlalchemy.orm import Session

from rules.codes import Reason
from rules.decision import Decision
from rules.identity import mask_name
from rules.ledger import debit, is_sqlite, lock_bindings, lock_household, lock_people
from rules.money import MAX_FEN
from rules.policy import Policies
from rules.registry import relatives, resolve_ref
from rules.schema import Binding, Person
from rules.unit_of_work import TxnContext

Fault = Callable[[str], None]

_PATIENT = text("SELECT id, balance, region, name FROM people WHERE id = :id")
_PAYERS = text(
    "SELECT b.id AS binding_id, b.limit_fen, b.used_fen, p.id AS householder_id, p.balance,"
    " p.region, p.name FROM bindings b JOIN people p ON p.id = b.householder_id"
    " WHERE b.relative_id = :id AND b.removed_at IS NULL"
    " ORDER BY b.payer_rank IS NULL, b.payer_rank, b.created_at, b.id"
)
_WINDOW = text("SELECT expires_at FROM retry_windows WHERE relative_id = :id") \
    .columns(expires_at=DateTime)
_CLOSE_WINDOW = text("DELETE FROM retry_windows WHERE relative_id = :id")
_OPEN_WINDOW = text(
    "INSERT INTO retry_windows (relative_id, opened_at, expires_at, amount_fen, purpose)"
    " VALUES (:id, :now, :until, :amount, :purpose)"
).bindparams(bindparam("now", type_=DateTime), bindparam("until", type_=DateTime))


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


def remaining_limit(b: Any) -> int | None:
    """Room left under a binding's limit (anything with ``limit_fen`` and ``used_fen``)."""
    return None if b.limit_fen is None else max(b.limit_fen - b.used_fen, 0)


def lock_for_settlement(s: Session, patient_id: int) -> None:
    """Lock the patient and every current payer (people, then bindings) in id order."""
    if is_sqlite(s):
        return
    q = select(Binding.id, Binding.householder_id).where(
        Binding.relative_id == patient_id, Binding.removed_at.is_(None))
    rows = s.execute(q).all()
    lock_people(s, [patient_id] + [r.householder_id for r in rows])
    lock_bindings(s, [r.id for r in rows])


def load_patient(s: Session, patient_id: int) -> Row[Any] | None:
    return s.connection().execute(_PATIENT, {"id": patient_id}).first()


def payers(s: Session, patient_id: int) -> list[Row[Any]]:
    """Active payers with their balance, region and limit, in payment order."""
    return list(s.connection().execute(_PAYERS, {"id": patient_id}))


def plan(s: Session, policies: Policies, now: datetime, patient: Row[Any], amount_fen: int,
         purpose: str) -> Plan | Decision:
    """The legs a settlement would take, or the refusal it would meet."""
    mode = policies.get(patient.region).settlement
    whole_own = patient.balance >= amount_fen
    own = min(patient.balance, amount_fen)
    if mode == "own_only" or whole_own:
        return Plan(mode, amount_fen, own_fen=own)
    found = payers(s, patient.id)
    if mode == "ordered":
        return _ordered(policies, Plan(mode, amount_fen, own_fen=own), found, purpose)
    if not found:  # nobody to share with: an ordinary partial payment, rest in cash
        return Plan(mode, amount_fen, own_fen=own)
    return _retry_window(s, policies, now, patient, amount_fen, purpose, found[0])


def _ordered(policies: Policies, p: Plan, found: list[Row[Any]], purpose: str) -> Plan:
    for payer in found:
        due = p.cash_fen
        if due <= 0:
            break
        if purpose not in policies.get(payer.region).family_purposes:
            continue
        room = remaining_limit(payer)
        take = min(due, payer.balance, due if room is None else room)
        if take > 0:
            p.legs.append(Leg(payer.binding_id, payer.householder_id, payer.name, take))
    return p


def _retry_window(s: Session, policies: Policies, now: datetime, patient: Row[Any],
                  amount_fen: int, purpose: str, first: Row[Any]) -> Plan | Decision:
    expires = s.connection().execute(_WINDOW, {"id": patient.id}).scalar()
    if expires is None or expires <= now:
        seconds = policies.get(patient.region).retry_window_seconds
        return Decision.refuse(Reason.INSUFFICIENT_BALANCE, retry_window_seconds=seconds,
                               balance_fen=patient.balance, amount_fen=amount_fen,
                               purpose=purpose)
    facts = {"householder_id": first.householder_id, "amount_fen": amount_fen,
             "window_closed": True}
    if purpose not in policies.get(first.region).family_purposes:
        return Decision.refuse(Reason.PURPOSE_NOT_ALLOWED, purpose=purpose, **facts)
    room = remaining_limit(first)
    if room is not None and room < amount_fen:
        return Decision.refuse(Reason.LIMIT_EXCEEDED, remaining_fen=room, **facts)
    if first.balance < amount_fen:
        return Decision.refuse(Reason.FAMILY_FUNDS_INSUFFICIENT, **facts)
    leg = Leg(first.binding_id, first.householder_id, first.name, amount_fen)
    return Plan("retry_window", amount_fen, own_fen=0, legs=[leg], window="close")


def settle(s: Session, ctx: TxnContext, policies: Policies, patient_id: int, amount_fen: int,
           purpose: str, fault: Fault | None = None) -> Decision:
    if not valid_amount(amount_fen):
        return Decision.refuse(Reason.INVALID_AMOUNT)
    lock_for_settlement(s, patient_id)
    patient = load_patient(s, patient_id)
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
        s.connection().execute(_CLOSE_WINDOW, {"id": patient_id})
    ctx.amount_fen, ctx.cash_fen = amount_fen, result.cash_fen
    balance = patient.balance - result.own_fen
    return Decision.allow(balance_fen=balance, **result.facts(purpose))


def _after_refusal(s: Session, policies: Policies, now: datetime, patient: Row[Any],
                   refusal: Decision) -> None:
    """A short swipe opens the retry window; any swipe inside an open window uses it up."""
    conn = s.connection()
    conn.execute(_CLOSE_WINDOW, {"id": patient.id})
    if refusal.code == Reason.INSUFFICIENT_BALANCE:
        seconds = policies.get(patient.region).retry_window_seconds
        conn.execute(_OPEN_WINDOW, {
            "id": patient.id, "now": now, "until": now + timedelta(seconds=seconds),
            "amount": refusal.facts["amount_fen"], "purpose": refusal.facts.get("purpose", ""),
        })


def contribute(s: Session, ctx: TxnContext, policies: Policies, householder_id: int,
               relative_ref: str, amount_fen: int, purpose: str) -> Decision:
    """Pay a bound relative's contribution from the householder's account, within the limit."""
    if not valid_amount(amount_fen):
        return Decision.refuse(Reason.INVALID_AMOUNT)
    lock_household(s, householder_id)
    rows = relatives(s, householder_id)
    found = resolve_ref(relative_ref, [(r.person_id, r.id_number) for r in rows])
    if not found.ok:
        return found
    binding = s.get(Binding, rows[found.facts["position"]].binding_id)
    assert binding is not None
    return _contribute(s, ctx, policies, binding, amount_fen, purpose)


def _contribute(s: Session, ctx: TxnContext, policies: Policies, binding: Binding,
                amount_fen: int, purpose: str) -> Decision:
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
