"""Binding operations: load one snapshot, decide with rules/binding_rules.py, write guarded.

Each operation reads everything its decision needs in one go (after locking the people it
touches, so concurrent binds touching either person are decided one at a time), calls a pure
``decide_*`` function, and applies the result with updates that re-check what the decision
assumed (a binding still active, its used amount unchanged); a miss raises Conflict and the
unit of work retries the whole operation.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from rules.binding_rules import (
    BIND_ATTEMPTS,
    BIND_WINDOW_SECONDS,
    BindRequest,
    BindSnapshot,
    Bond,
    PersonFacts,
    Tie,
    decide_bind,
    decide_leave,
    decide_limit,
    decide_order,
    decide_unbind,
    for_stranger,
    identity_miss,
)
from rules.codes import Reason
from rules.decision import Decision
from rules.identity import normalize_id
from rules.ledger import lock_household, lock_people
from rules.policy import Policies
from rules.schema import Binding, FamilyAccount, Note, Person
from rules.unit_of_work import Conflict, TxnContext
from rules.views import has_personal_account

__all__ = ["BindRequest", "bind", "check_bind", "guarded_check_bind", "leave", "open_account",
           "peek_bind", "set_limit", "set_order", "unbind"]

BIND_MISS = "bind_identity_miss"  # audit_log action of one counted /bind identity miss


# ---- loading ------------------------------------------------------------------------------

def _facts(s: Session, p: Person | None) -> PersonFacts | None:
    if p is None:
        return None
    return PersonFacts(id=p.id, id_number=p.id_number, name=p.name, province=p.province,
                       city=p.city, region=p.region, scheme=p.scheme, employment=p.employment,
                       account_open=s.get(FamilyAccount, p.id) is not None)


def _bonds(s: Session, ids: list[int]) -> tuple[Bond, ...]:
    """Every active binding touching one of ``ids``, with both sides' regions."""
    holder, rel = aliased(Person), aliased(Person)
    q = (select(Binding.id, Binding.householder_id, Binding.relative_id, Binding.relation,
                holder.region, rel.region)
         .join(holder, holder.id == Binding.householder_id)
         .join(rel, rel.id == Binding.relative_id)
         .where(Binding.removed_at.is_(None),
                or_(Binding.householder_id.in_(ids), Binding.relative_id.in_(ids)))
         .order_by(Binding.id))
    return tuple(Bond(*row) for row in s.execute(q).all())


def _misses(s: Session, householder_id: int, now: datetime) -> int:
    since = now - timedelta(seconds=BIND_WINDOW_SECONDS)
    q = (select(func.count()).select_from(Note)
         .where(Note.actor == _actor(householder_id), Note.action == BIND_MISS, Note.at > since))
    return int(s.execute(q).scalar_one())


def _actor(person_id: int) -> str:
    return f"person:{person_id}"


def load_bind(s: Session, req: BindRequest, now: datetime | None = None) -> BindSnapshot:
    """The bind snapshot: both people, every binding touching them, recent misses."""
    number = normalize_id(req.id_number_text)
    relative = (s.execute(select(Person).where(Person.id_number == number)).scalar_one_or_none()
                if number else None)
    householder = s.get(Person, req.householder_id)
    ids = [req.householder_id] + ([relative.id] if relative else [])
    return BindSnapshot(householder=_facts(s, householder), relative=_facts(s, relative),
                        bonds=_bonds(s, ids),
                        misses=_misses(s, req.householder_id, now) if now else 0)


# A Tie's fields as plain columns (no ORM entities: these reads run on every limit, bind and
# unbind), in the order of Tie's fields; the other person is whoever the join names.
_TIE = (Binding.id, Person.id, Person.id_number, Person.name, Binding.relation,
        Binding.limit_fen, Binding.used_fen)


# Built once: /limit runs these on every change (a statement built per call costs more
# Python than the database spends on it).
_RELATIVE_TIES = (select(*_TIE).join(Person, Person.id == Binding.relative_id)
                  .where(Binding.householder_id == bindparam("householder"),
                         Binding.removed_at.is_(None))
                  .order_by(Binding.created_at, Binding.id))
_SET_LIMIT = (update(Binding)
              .where(Binding.id == bindparam("binding"), Binding.removed_at.is_(None),
                     Binding.used_fen == bindparam("used"))
              .values(limit_fen=bindparam("new_limit")))


def _relative_ties(s: Session, householder_id: int) -> list[Tie]:
    """The householder's active relatives in 序号 order: oldest binding first."""
    rows = s.connection().execute(_RELATIVE_TIES, {"householder": householder_id})
    return [Tie(*row) for row in rows]


def _payer_ties(s: Session, relative_id: int) -> list[Tie]:
    """The householders paying for this person, in payment order (as /family lists them)."""
    q = (select(*_TIE).join(Person, Person.id == Binding.householder_id)
         .where(Binding.relative_id == relative_id, Binding.removed_at.is_(None))
         .order_by(Binding.payer_rank.is_(None), Binding.payer_rank, Binding.created_at,
                   Binding.id))
    return [Tie(*row) for row in s.execute(q).all()]


# ---- operations ---------------------------------------------------------------------------

def check_bind(s: Session, policies: Policies, req: BindRequest) -> Decision:
    """The bind rules in order, every code as it is (engine view; writes nothing)."""
    return decide_bind(policies, load_bind(s, req), req)


def peek_bind(s: Session, policies: Policies, req: BindRequest, now: datetime) -> Decision:
    """The rate-limited bind decision, read only (the common case: no miss to record)."""
    return decide_bind(policies, load_bind(s, req, now), req, max_misses=BIND_ATTEMPTS)


def guarded_check_bind(s: Session, policies: Policies, req: BindRequest,
                       now: datetime) -> Decision:
    """What a householder sees when asking to bind: rate-limited, stranger details withheld.

    Runs in a write transaction with the householder locked, so concurrent attempts are
    counted one at a time and cannot pass the limit together.
    """
    lock_people(s, [req.householder_id])
    decision = peek_bind(s, policies, req, now)
    if identity_miss(decision):
        s.execute(insert(Note).values(at=now, actor=_actor(req.householder_id), action=BIND_MISS,
                                      details=""))
    return for_stranger(decision)


def open_account(s: Session, ctx: TxnContext, householder_id: int, letter_version: str,
                 letter_sha256: str) -> Decision:
    person = s.get(Person, householder_id)
    if person is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    if not has_personal_account(person.scheme, person.employment):
        return Decision.refuse(Reason.NO_PERSONAL_ACCOUNT)
    existing = s.get(FamilyAccount, householder_id)
    if existing is not None:
        return Decision.allow(already_open=True, opened_at=existing.opened_at.isoformat(),
                              letter_version=existing.letter_version)
    s.execute(insert(FamilyAccount).values(householder_id=householder_id, opened_at=ctx.now,
                                           letter_version=letter_version,
                                           letter_sha256=letter_sha256))
    return Decision.allow(already_open=False, opened_at=ctx.now.isoformat(),
                          letter_version=letter_version)


def bind(s: Session, ctx: TxnContext, policies: Policies, req: BindRequest) -> Decision:
    number = normalize_id(req.id_number_text)
    relative_id = (s.execute(select(Person.id).where(Person.id_number == number)).scalar()
                   if number else None)
    # Lock both people first: every binding a bind rule reads touches one of them.
    lock_people(s, [req.householder_id] + ([relative_id] if relative_id else []))
    decision = decide_bind(policies, load_bind(s, req), req)
    if not decision.ok:
        return decision
    rid = decision.facts["relative_id"]
    binding_id = s.execute(insert(Binding).values(
        householder_id=req.householder_id, relative_id=rid, relation=decision.facts["relation"],
        created_at=ctx.now, removed_at=None, limit_fen=None, used_fen=0, payer_rank=None,
    ).returning(Binding.id)).scalar_one()
    index = len(_relative_ties(s, req.householder_id))
    return Decision.allow(binding_id=binding_id, index=index, **decision.facts)


def _end(s: Session, binding_id: int, now: datetime) -> None:
    """Mark a binding removed; it must still be active (else another writer won: retry)."""
    done = s.execute(update(Binding).where(Binding.id == binding_id, Binding.removed_at.is_(None))
                     .values(removed_at=now))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"binding {binding_id} changed")


def unbind(s: Session, ctx: TxnContext, householder_id: int, ref: str) -> Decision:
    lock_household(s, householder_id)
    decision = decide_unbind(_relative_ties(s, householder_id), ref)
    if decision.ok:
        _end(s, int(decision.facts["binding_id"]), ctx.now)
    return decision


def leave(s: Session, ctx: TxnContext, relative_id: int, ref: str) -> Decision:
    """A relative ends their own binding to one householder; facts householder_id, index."""
    lock_people(s, [relative_id])
    decision = decide_leave(_payer_ties(s, relative_id), ref)
    if decision.ok:
        lock_people(s, [int(decision.facts["householder_id"])])
        _end(s, int(decision.facts["binding_id"]), ctx.now)
    return decision


def set_limit(s: Session, ctx: TxnContext, householder_id: int, ref: str,
              limit_fen: int | None) -> Decision:
    """Set, change or remove (None) a relative's cumulative limit (see decide_limit)."""
    lock_household(s, householder_id)
    decision = decide_limit(_relative_ties(s, householder_id), ref, limit_fen)
    if decision.ok:
        done = s.connection().execute(_SET_LIMIT, {  # Core: no loaded object to refresh
            "binding": decision.facts["binding_id"], "used": decision.facts["used_fen"],
            "new_limit": decision.facts["limit_fen"]})
        if done.rowcount != 1:
            raise Conflict(f"binding {decision.facts['binding_id']} changed")
    return decision


def set_order(s: Session, policies: Policies, relative_id: int, refs: list[str]) -> Decision:
    person = s.get(Person, relative_id)
    if person is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    lock_people(s, [relative_id])
    decision = decide_order(policies.get(person.region), _payer_ties(s, relative_id), refs)
    if not decision.ok:
        return decision
    for rank, binding_id in enumerate(decision.facts["bindings"], start=1):
        s.execute(update(Binding).where(Binding.id == binding_id).values(payer_rank=rank))
    return Decision.allow(order=decision.facts["order"])
