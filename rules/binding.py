"""Who may bind whom: the ordered checks, and the writes of open/bind/unbind/limit/order.

Every check reads; none writes. The order of the checks is the order the issue fixes, so the
reason code a user sees is the first rule their request breaks.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from rules.codes import Reason
from rules.decision import Decision
from rules.identity import clean_text, normalize_id
from rules.ledger import lock_household, lock_people
from rules.money import MAX_FEN
from rules.policy import Policies, RegionPolicy
from rules.registry import by_id_number, payer_bindings, relatives, resolve_ref
from rules.schema import Binding, FamilyAccount, Person
from rules.unit_of_work import TxnContext
from rules.views import has_personal_account


@dataclass(frozen=True)
class BindRequest:
    householder_id: int
    id_number_text: str
    name: str
    relation_word: str


def _active_count(s: Session, **where: int) -> int:
    q = select(func.count()).select_from(Binding).where(Binding.removed_at.is_(None))
    for column, value in where.items():
        q = q.where(getattr(Binding, column) == value)
    return int(s.execute(q).scalar_one())


def _in_scope(policy: RegionPolicy, householder: Person, relative: Person) -> bool:
    if policy.scope == "same_province":
        return householder.province == relative.province
    if policy.scope == "same_city":
        return householder.province == relative.province and householder.city == relative.city
    return True


def householder_gate(s: Session, householder: Person | None) -> Decision | None:
    """Refusal when this person cannot act as a householder at all, else None."""
    if householder is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    if not has_personal_account(householder.scheme, householder.employment):
        return Decision.refuse(Reason.NO_PERSONAL_ACCOUNT)
    if s.get(FamilyAccount, householder.id) is None:
        return Decision.refuse(Reason.ACCOUNT_NOT_OPEN)
    return None


def check_bind(s: Session, policies: Policies, req: BindRequest) -> Decision:
    """The bind rules in order; allowed facts carry relative_id, relation, region."""
    householder = s.get(Person, req.householder_id)
    gate = householder_gate(s, householder)
    if gate is not None or householder is None:
        return gate or Decision.refuse(Reason.UNKNOWN_PERSON)
    number = normalize_id(req.id_number_text)
    if number is None:
        return Decision.refuse(Reason.INVALID_ID)
    relative = by_id_number(s, number)
    if relative is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    if clean_text(req.name) != clean_text(relative.name):
        return Decision.refuse(Reason.NAME_MISMATCH)
    if relative.id == householder.id:
        return Decision.refuse(Reason.SELF_BINDING)
    policy = policies.get(householder.region)
    relation = policies.relation(req.relation_word)
    if relation is None:
        return Decision.refuse(Reason.UNKNOWN_RELATION, word=clean_text(req.relation_word))
    facts = {"relative_id": relative.id, "relation": relation, "region": policy.key}
    return _check_pair(s, policy, householder, relative, facts)


def _check_pair(s: Session, policy: RegionPolicy, householder: Person, relative: Person,
                facts: dict[str, object]) -> Decision:
    if facts["relation"] not in policy.relations:
        return Decision.refuse(Reason.RELATION_NOT_ALLOWED, **facts)
    if relative.scheme not in ("employee", "resident"):
        return Decision.refuse(Reason.NOT_INSURED, **facts)
    if not _in_scope(policy, householder, relative):
        return Decision.refuse(Reason.OUT_OF_SCOPE, scope=policy.scope, **facts)
    if _active_count(s, householder_id=householder.id, relative_id=relative.id):
        return Decision.refuse(Reason.ALREADY_BOUND, **facts)
    if policy.max_relatives is not None and \
            _active_count(s, householder_id=householder.id) >= policy.max_relatives:
        return Decision.refuse(Reason.MAX_RELATIVES, max_relatives=policy.max_relatives, **facts)
    if policy.exclusive:
        if _active_count(s, relative_id=relative.id):
            return Decision.refuse(Reason.RELATIVE_ALREADY_BOUND, **facts)
        if _active_count(s, householder_id=relative.id):
            return Decision.refuse(Reason.RELATIVE_IS_HOUSEHOLDER, **facts)
        if _active_count(s, relative_id=householder.id):
            return Decision.refuse(Reason.HOUSEHOLDER_IS_BOUND, **facts)
    return Decision.allow(**facts)


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
    relative = by_id_number(s, number) if number else None
    # Lock both people first so concurrent binds touching either are checked one at a time.
    lock_people(s, [req.householder_id] + ([relative.id] if relative else []))
    decision = check_bind(s, policies, req)
    if not decision.ok:
        return decision
    rid = decision.facts["relative_id"]
    binding_id = s.execute(insert(Binding).values(
        householder_id=req.householder_id, relative_id=rid, relation=decision.facts["relation"],
        created_at=ctx.now, removed_at=None, limit_fen=None, used_fen=0, payer_rank=None,
    ).returning(Binding.id)).scalar_one()
    index = _active_count(s, householder_id=req.householder_id)
    return Decision.allow(binding_id=binding_id, index=index, **decision.facts)


def _active_relative(s: Session, householder_id: int, ref: str) -> tuple[Decision, Binding | None]:
    rows = relatives(s, householder_id)
    found = resolve_ref(ref, [(r.person_id, r.id_number) for r in rows])
    if not found.ok:
        return found, None
    row = rows[found.facts["position"]]
    found_binding = s.get(Binding, row.binding_id)
    return Decision.allow(relative_id=row.person_id, index=row.index), found_binding


def unbind(s: Session, ctx: TxnContext, householder_id: int, ref: str) -> Decision:
    lock_household(s, householder_id)
    found, binding = _active_relative(s, householder_id, ref)
    if binding is None:
        return found
    s.execute(update(Binding).where(Binding.id == binding.id).values(removed_at=ctx.now))
    return Decision.allow(binding_id=binding.id, used_fen=binding.used_fen, **found.facts)


def set_limit(s: Session, ctx: TxnContext, householder_id: int, ref: str,
              limit_fen: int | None) -> Decision:
    """Set, change or remove (None) a relative's cumulative limit.

    A limit below what is already used is accepted but stored as the used amount: spending
    simply stops, and ``used ≤ limit`` stays an invariant the audit can check.
    """
    if limit_fen is not None and not 0 <= limit_fen <= MAX_FEN:
        return Decision.refuse(Reason.INVALID_AMOUNT)
    lock_household(s, householder_id)
    found, binding = _active_relative(s, householder_id, ref)
    if binding is None:
        return found
    below = limit_fen is not None and limit_fen < binding.used_fen
    stored = binding.used_fen if below else limit_fen
    s.execute(update(Binding).where(Binding.id == binding.id).values(limit_fen=stored))
    return Decision.allow(binding_id=binding.id, limit_fen=stored, requested_fen=limit_fen,
                          used_fen=binding.used_fen, below_used=below, **found.facts)


def set_order(s: Session, policies: Policies, relative_id: int, refs: list[str]) -> Decision:
    person = s.get(Person, relative_id)
    if person is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    if not policies.get(person.region).ordered:
        return Decision.refuse(Reason.ORDER_NOT_SUPPORTED, region=person.region)
    lock_people(s, [relative_id])
    pairs = payer_bindings(s, relative_id)
    current = [b for b, _p in pairs]
    rows = [(p.id, p.id_number) for _b, p in pairs]
    chosen: list[Binding] = []
    for ref in refs:
        found = resolve_ref(ref, rows)
        if not found.ok:
            return found
        b = current[found.facts["position"]]
        if b not in chosen:
            chosen.append(b)
    final = chosen + [b for b in current if b not in chosen]
    for rank, b in enumerate(final, start=1):
        s.execute(update(Binding).where(Binding.id == b.id).values(payer_rank=rank))
    return Decision.allow(order=[b.householder_id for b in final])
