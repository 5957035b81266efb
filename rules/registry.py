"""Reading people and bindings: views, the 序号 order, and resolving what the user typed."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from rules.codes import Reason
from rules.decision import Decision
from rules.identity import clean_text, normalize_id
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


def _ref_kind(ref: str) -> tuple[str, int | str | None]:
    """('index', n) for a 序号, ('id', number) for a valid ID number, ('bad_id', None) for
    something that looks like a malformed one, else ('unknown', None)."""
    text = clean_text(ref)
    if text.isdigit() and len(text) <= 4:
        return "index", int(text)
    number = normalize_id(text)
    if number is not None:
        return "id", number
    return ("bad_id", None) if len(text) >= 15 else ("unknown", None)


def resolve_ref(ref: str, rows: list[tuple[int, str]]) -> Decision:
    """Pick one of ``rows`` = [(person_id, id_number)] (in display order) from what was typed.

    INVALID_ID for something that looks like a malformed ID number, NOT_BOUND when nothing
    matches; allowed with facts position (0-based) otherwise.
    """
    kind, value = _ref_kind(ref)
    if kind == "index" and isinstance(value, int) and 1 <= value <= len(rows):
        return Decision.allow(position=value - 1)
    if kind == "id":
        for pos, (_pid, number) in enumerate(rows):
            if number == value:
                return Decision.allow(position=pos)
    if kind == "bad_id":
        return Decision.refuse(Reason.INVALID_ID)
    return Decision.refuse(Reason.NOT_BOUND, ref=clean_text(ref))
