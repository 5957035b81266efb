"""Reading people and bindings: views, the 序号 order, and resolving what the user typed."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

# the 序号/ID-number resolver lives with the pure binding rules; re-exported for settlement
from rules.binding_rules import resolve_ref as resolve_ref
from rules.codes import Reason
from rules.decision import Decision
from rules.identity import normalize_id
from rules.schema import Binding, FamilyAccount, Person
from rules.views import PayerRow, PersonView, RelativeRow


def person_view(p: Person, account_open: bool = False) -> PersonView:
    return PersonView(
        id=p.id, id_number=p.id_number, name=p.name, phone=p.phone, province=p.province,
        city=p.city, region=p.region, scheme=p.scheme, employment=p.employment,
        status=p.status, lapsed_since=p.lapsed_since, balance_fen=p.balance,
        monthly_credit_fen=p.monthly_credit, account_open=account_open,
    )


def account_open(s: Session, person_id: int) -> bool:
    return s.get(FamilyAccount, person_id) is not None


def load_view(s: Session, person_id: int) -> PersonView | None:
    p = s.get(Person, person_id)
    return person_view(p, account_open(s, person_id)) if p else None


def by_id_number(s: Session, id_number: str) -> Person | None:
    return s.execute(select(Person).where(Person.id_number == id_number)).scalar_one_or_none()


def find_person(s: Session, id_number_text: str) -> Decision:
    """INVALID_ID | UNKNOWN_PERSON | allowed with facts person (PersonView)."""
    id_number = normalize_id(id_number_text)
    if id_number is None:
        return Decision.refuse(Reason.INVALID_ID)
    p = by_id_number(s, id_number)
    if p is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    return Decision.allow(person=person_view(p, account_open(s, p.id)))


def _relatives_query(householder_id: int) -> Select[Binding, Person]:
    return (select(Binding, Person).join(Person, Person.id == Binding.relative_id)
            .where(Binding.householder_id == householder_id, Binding.removed_at.is_(None))
            .order_by(Binding.created_at, Binding.id))


def relatives(s: Session, householder_id: int) -> list[RelativeRow]:
    """Active relatives in 序号 order: oldest binding first."""
    return [
        RelativeRow(index=i, binding_id=b.id, person_id=p.id, id_number=p.id_number, name=p.name,
                    relation=b.relation, limit_fen=b.limit_fen, used_fen=b.used_fen,
                    bound_at=b.created_at)
        for i, (b, p) in enumerate(s.execute(_relatives_query(householder_id)).all(), start=1)
    ]


def payer_bindings(s: Session, relative_id: int) -> list[tuple[Binding, Person]]:
    """Active bindings paying for this person, in payment order: rank, then binding age."""
    q = (select(Binding, Person).join(Person, Person.id == Binding.householder_id)
         .where(Binding.relative_id == relative_id, Binding.removed_at.is_(None))
         .order_by(Binding.payer_rank.is_(None), Binding.payer_rank, Binding.created_at,
                   Binding.id))
    return [(b, p) for b, p in s.execute(q).all()]


def payers(s: Session, relative_id: int, with_others: bool = True) -> list[PayerRow]:
    rows = []
    for i, (b, p) in enumerate(payer_bindings(s, relative_id), start=1):
        others: tuple[RelativeRow, ...] = ()
        if with_others:
            others = tuple(r for r in relatives(s, p.id) if r.person_id != relative_id)
        rows.append(PayerRow(index=i, binding_id=b.id, householder_id=p.id, id_number=p.id_number,
                             name=p.name, relation=b.relation, rank=b.payer_rank,
                             limit_fen=b.limit_fen, used_fen=b.used_fen, bound_at=b.created_at,
                             others=others))
    return rows
