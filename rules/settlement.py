"""Settlement and contributions: load a snapshot, plan it (rules/planning.py), write it.

Three entry points share one planner, so a summary and its charge cannot disagree:

- :func:`settle` plans and pays in one transaction (an institution's terminal, the tests);
- :func:`settle_direct` is what a patient's own ``/settle`` runs: it pays only when no
  family money is needed; otherwise it *pins* the plan (``pin`` stores it behind a 确认
  token in the same transaction) and pays nothing;
- :func:`execute` pays a pinned plan after 确认, exactly, or nothing (``PLAN_CHANGED``)
  when anything the plan assumed differs from a fresh snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, bindparam, select, text
from sqlalchemy.orm import Session

from rules.codes import Reason
from rules.decision import Decision
from rules.ledger import debit, is_sqlite, lock_bindings, lock_household, lock_people
from rules.planning import (
    ContributionPlan,
    ContributionSnapshot,
    Payer,
    Refused,
    SettlePlan,
    Snapshot,
    plan_contribution,
    plan_settlement,
    remaining_limit,
    valid_amount,
)
from rules.policy import Policies
from rules.registry import relatives, resolve_ref
from rules.schema import Binding
from rules.unit_of_work import TxnContext
from rules.wallets import debit_wallet

Fault = Callable[[str], None]
Pin = Callable[[Session, Any], str]
"""Stores a plan behind a 确认 token in the caller's transaction and returns the token."""

_PATIENT = text(  # with the active 医保钱包 (it pays after the own account) and retry window
    "SELECT p.id, p.balance, p.region, p.name, w.balance AS wallet,"
    " (SELECT r.expires_at FROM retry_windows r WHERE r.relative_id = p.id) AS window_expires"
    " FROM people p LEFT JOIN wallets w ON w.person_id = p.id AND w.state = 'active'"
    " WHERE p.id = :id").columns(window_expires=DateTime)
_PAYERS = text(
    "SELECT b.id AS binding_id, b.limit_fen, b.used_fen, p.id AS householder_id, p.balance,"
    " p.region, p.name FROM bindings b JOIN people p ON p.id = b.householder_id"
    " WHERE b.relative_id = :id AND b.removed_at IS NULL"
    " ORDER BY b.payer_rank IS NULL, b.payer_rank, b.created_at, b.id"
)
_CLOSE_WINDOW = text("DELETE FROM retry_windows WHERE relative_id = :id")
_OPEN_WINDOW = text(
    "INSERT INTO retry_windows (relative_id, opened_at, expires_at, amount_fen, purpose)"
    " VALUES (:id, :now, :until, :amount, :purpose)"
).bindparams(bindparam("now", type_=DateTime), bindparam("until", type_=DateTime))
_LINKED = text("SELECT person_id, user_id FROM links WHERE person_id IN :ids") \
    .bindparams(bindparam("ids", expanding=True))


_PAYER_BINDINGS = select(Binding.id, Binding.householder_id).where(
    Binding.relative_id == bindparam("patient"), Binding.removed_at.is_(None))


def lock_for_settlement(s: Session, patient_id: int) -> None:
    """Lock the patient and every current payer (people, then bindings) in id order."""
    if is_sqlite(s):
        return
    rows = s.connection().execute(_PAYER_BINDINGS, {"patient": patient_id}).all()
    lock_people(s, [patient_id] + [r.householder_id for r in rows])
    lock_bindings(s, [r.id for r in rows])


def load_snapshot(s: Session, patient_id: int) -> Snapshot | None:
    """Everything a settlement of this patient depends on, in one read."""
    conn = s.connection()
    patient = conn.execute(_PATIENT, {"id": patient_id}).first()
    if patient is None:
        return None
    payers = tuple(
        Payer(binding_id=r.binding_id, householder_id=r.householder_id, name=r.name,
              region=r.region, balance_fen=r.balance, limit_fen=r.limit_fen, used_fen=r.used_fen)
        for r in conn.execute(_PAYERS, {"id": patient_id}))
    expires = patient.window_expires if payers else None  # a window matters only with payers
    return Snapshot(patient.id, patient.region, patient.name, patient.balance, payers, expires,
                    wallet_fen=patient.wallet or 0)


def preview(s: Session, policies: Policies, now: datetime, patient_id: int, amount_fen: int,
            purpose: str) -> Decision:
    """What :func:`settle` would do now, without writing."""
    if not valid_amount(amount_fen):
        return Decision.refuse(Reason.INVALID_AMOUNT)
    snap = load_snapshot(s, patient_id)
    if snap is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    result = plan_settlement(policies, now, snap, amount_fen, purpose)
    return result.decision if isinstance(result, Refused) else Decision.allow(**result.facts())


def _planned(s: Session, ctx: TxnContext, policies: Policies, patient_id: int, amount_fen: int,
             purpose: str, *, payers_too: bool = True) -> SettlePlan | Decision:
    """Lock, load and plan; a refusal has already done what it does to the retry window.
    Without ``payers_too`` only the patient is locked: for a plan whose family legs are
    pinned, not paid."""
    if not valid_amount(amount_fen):
        return Decision.refuse(Reason.INVALID_AMOUNT)
    if payers_too:
        lock_for_settlement(s, patient_id)
    else:
        lock_people(s, [patient_id])
    snap = load_snapshot(s, patient_id)
    if snap is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    result = plan_settlement(policies, ctx.now, snap, amount_fen, purpose)
    if isinstance(result, Refused):
        if result.window is not None:
            conn = s.connection()
            conn.execute(_CLOSE_WINDOW, {"id": patient_id})
            if result.window.opens_until is not None:
                conn.execute(_OPEN_WINDOW, {
                    "id": patient_id, "now": ctx.now, "until": result.window.opens_until,
                    "amount": result.window.amount_fen, "purpose": result.window.purpose})
        return result.decision
    return result


def settle(s: Session, ctx: TxnContext, policies: Policies, patient_id: int, amount_fen: int,
           purpose: str, fault: Fault | None = None) -> Decision:
    """Plan and pay in one go (a terminal's settlement: no summary is shown to anyone)."""
    result = _planned(s, ctx, policies, patient_id, amount_fen, purpose)
    if isinstance(result, Decision):
        return result
    return _pay(s, ctx, result, fault)


def settle_direct(s: Session, ctx: TxnContext, policies: Policies, patient_id: int,
                  amount_fen: int, purpose: str, pin: Pin, *,
                  always_confirm: bool = False) -> Decision:
    """A patient's own swipe: pay from the own account, or pin a family plan for 确认.

    The decision is stored under the update's key, so a redelivered update replays it: the
    same receipt, or the same summary with the same token — never a second charge.

    Only the patient is locked: what this may write is the patient's own (account, 医保钱包,
    retry window); family money is only pinned, and :func:`execute` re-plans under every
    payer's lock. So a summary neither waits for nor holds up the householders' other
    payments.
    """
    result = _planned(s, ctx, policies, patient_id, amount_fen, purpose, payers_too=False)
    if isinstance(result, Decision):
        return result
    if result.uses_family or always_confirm:
        return Decision.allow(needs_confirm=True, token=pin(s, result), **result.facts())
    return _pay(s, ctx, result, None)


def execute(s: Session, ctx: TxnContext, policies: Policies, plan: SettlePlan, pin: Pin,
            fault: Fault | None = None, *, origin: str | None = None) -> Decision:
    """Pay a confirmed plan exactly as it was shown, or nothing.

    The plan is planned again on a fresh snapshot (under the same locks as the payment). When
    what the balances, limits, bindings, payer order and retry window now give is not exactly
    what the summary showed — every leg and amount, the cash rest, the window — it is
    ``PLAN_CHANGED``: nothing is charged, and the fresh plan is pinned for a new 确认 (facts
    ``token`` and the fresh summary), or the fresh refusal is returned as ``refusal``. A change
    that leaves every charge as shown (another relative spent from the same householder, who
    can still pay this leg) does not stop the payment.
    """
    patient_id = plan.snapshot.patient_id
    lock_for_settlement(s, patient_id)
    snap = load_snapshot(s, patient_id)
    if snap is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    fresh = plan_settlement(policies, ctx.now, snap, plan.amount_fen, plan.purpose)
    if isinstance(fresh, SettlePlan) and fresh.charges() == plan.charges():
        return _pay(s, ctx, fresh, fault, origin=origin)
    if isinstance(fresh, Refused):
        return Decision.refuse(Reason.PLAN_CHANGED, refusal=fresh.decision.to_json(),
                               amount_fen=plan.amount_fen, purpose=plan.purpose)
    return Decision.refuse(Reason.PLAN_CHANGED, token=pin(s, fresh), **fresh.facts())


def _pay(s: Session, ctx: TxnContext, plan: SettlePlan, fault: Fault | None, *,
         origin: str | None = None) -> Decision:
    """Write a plan: guarded debits, ledger rows, the window; facts for receipts and notices."""
    patient_id = plan.snapshot.patient_id
    debit(s, ctx.id, patient_id, plan.own_fen, "settle_own", ctx.now)
    debit_wallet(s, ctx.id, patient_id, plan.wallet_fen, "wallet_settle", ctx.now)
    by_binding = {p.binding_id: p for p in plan.snapshot.payers}
    after = []  # each payer's balance and room once paid: what their notice says
    for leg in plan.legs:
        if fault is not None:
            fault("leg")
        debit(s, ctx.id, leg.householder_id, leg.amount_fen, "settle_family", ctx.now,
              binding_id=leg.binding_id)
        payer = by_binding[leg.binding_id]
        after.append({"householder_id": leg.householder_id,
                      "balance_fen": payer.balance_fen - leg.amount_fen,
                      "remaining_fen": remaining_limit(payer.limit_fen,
                                                       payer.used_fen + leg.amount_fen)})
    if plan.closes_window:
        s.connection().execute(_CLOSE_WINDOW, {"id": patient_id})
    ctx.amount_fen, ctx.cash_fen = plan.amount_fen, plan.cash_fen
    paid = [leg.householder_id for leg in plan.legs]  # the notices go to these householders
    facts = {**plan.facts(), "payers_after": after,
             "linked": linked_users(s, paid) if paid else {}}
    if origin is not None:
        facts["origin"] = origin
    return Decision.allow(**facts)


def linked_users(s: Session, person_ids: list[int]) -> dict[str, int]:
    """Telegram users linked to these people (person id as a string: the facts are JSON)."""
    rows = s.connection().execute(_LINKED, {"ids": sorted(set(person_ids))})
    return {str(person_id): int(user_id) for person_id, user_id in rows}


_CONTRIBUTION = text(
    "SELECT b.id AS binding_id, b.limit_fen, b.used_fen, h.id AS householder_id,"
    " h.region, h.balance, r.id AS relative_id, r.name, r.id_number, r.scheme"
    " FROM bindings b JOIN people h ON h.id = b.householder_id"
    " JOIN people r ON r.id = b.relative_id"
    " WHERE b.id = :id AND b.removed_at IS NULL")


def load_contribution(s: Session, binding_id: int) -> ContributionSnapshot | None:
    """A contribution's snapshot in one read; None once the binding is gone."""
    r = s.connection().execute(_CONTRIBUTION, {"id": binding_id}).first()
    if r is None:
        return None
    return ContributionSnapshot(
        householder_id=r.householder_id, householder_region=r.region, balance_fen=r.balance,
        binding_id=r.binding_id, limit_fen=r.limit_fen, used_fen=r.used_fen,
        relative_id=r.relative_id, relative_name=r.name, relative_id_number=r.id_number,
        relative_scheme=r.scheme)


def _contribution_plan(s: Session, policies: Policies, householder_id: int, relative_ref: str,
                       amount_fen: int, purpose: str) -> ContributionPlan | Decision:
    if not valid_amount(amount_fen):
        return Decision.refuse(Reason.INVALID_AMOUNT)
    lock_household(s, householder_id)
    rows = relatives(s, householder_id)
    found = resolve_ref(relative_ref, [(r.person_id, r.id_number) for r in rows])
    if not found.ok:
        return found
    snap = load_contribution(s, rows[found.facts["position"]].binding_id)
    assert snap is not None  # listed as active just now, under the household's locks
    return plan_contribution(policies, snap, amount_fen, purpose)


def contribute(s: Session, ctx: TxnContext, policies: Policies, householder_id: int,
               relative_ref: str, amount_fen: int, purpose: str) -> Decision:
    """Pay a bound relative's contribution from the householder's account, within the limit."""
    result = _contribution_plan(s, policies, householder_id, relative_ref, amount_fen, purpose)
    return result if isinstance(result, Decision) else _pay_contribution(s, ctx, result)


def pin_contribution(s: Session, policies: Policies, householder_id: int, relative_ref: str,
                     amount_fen: int, purpose: str, pin: Pin) -> Decision:
    """``/contribute``: check it now and pin the plan behind a 确认 token; nothing is paid."""
    result = _contribution_plan(s, policies, householder_id, relative_ref, amount_fen, purpose)
    if isinstance(result, Decision):
        return result
    return Decision.allow(needs_confirm=True, token=pin(s, result), **result.facts())


def execute_contribution(s: Session, ctx: TxnContext, policies: Policies,
                         plan: ContributionPlan) -> Decision:
    """Pay a confirmed contribution exactly (the same amount from the same householder for the
    same binding), or ``PLAN_CHANGED`` with the fresh refusal as ``refusal`` when limit,
    balance, binding or scheme no longer allow it."""
    lock_household(s, plan.snapshot.householder_id)
    snap = load_contribution(s, plan.snapshot.binding_id)
    if snap is None:
        refusal = Decision.refuse(Reason.NOT_BOUND)
        return Decision.refuse(Reason.PLAN_CHANGED, refusal=refusal.to_json(),
                               amount_fen=plan.amount_fen, purpose=plan.purpose)
    fresh = plan_contribution(policies, snap, plan.amount_fen, plan.purpose)
    if isinstance(fresh, ContributionPlan):
        return _pay_contribution(s, ctx, fresh)  # the same debit for the same binding
    return Decision.refuse(Reason.PLAN_CHANGED, refusal=fresh.to_json(),
                           amount_fen=plan.amount_fen, purpose=plan.purpose)


def _pay_contribution(s: Session, ctx: TxnContext, plan: ContributionPlan) -> Decision:
    snap = plan.snapshot
    debit(s, ctx.id, snap.householder_id, plan.amount_fen, "contribute", ctx.now,
          binding_id=snap.binding_id)
    ctx.amount_fen, ctx.cash_fen, ctx.person_id = plan.amount_fen, 0, snap.relative_id
    return Decision.allow(linked=linked_users(s, [snap.relative_id]), **plan.facts())
