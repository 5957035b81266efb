"""What family money paid for whom: the payments a householder's account made for a relative.

A family payment is a ledger row of the *payer* (the householder whose personal account was
charged: ``settle_family`` at a settlement, ``contribute`` for a resident-insurance contribution)
whose transaction's person is the *beneficiary* (the patient or the relative contributed for).
The relative's own ledger holds none of these rows, so a relative's ``/history`` reads them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from rules.schema import LedgerEntry, Person, Transaction

FAMILY_KINDS = ("settle_family", "contribute")


@dataclass(frozen=True)
class FamilyPayment:
    """One payment made with a householder's money for a relative (``amount_fen`` > 0)."""

    entry_id: int
    at: datetime
    kind: str  # settle_family | contribute
    amount_fen: int
    purpose: str | None
    payer_id: int
    payer_name: str
    payer_id_number: str
    beneficiary_id: int
    beneficiary_name: str
    beneficiary_id_number: str


def family_payments(s: Session, *, beneficiary_id: int | None = None,
                    payer_id: int | None = None, limit: int = 10) -> list[FamilyPayment]:
    """Newest first; filtered by beneficiary, payer, or both (at least one is required)."""
    if beneficiary_id is None and payer_id is None:
        raise ValueError("family_payments needs a beneficiary or a payer")
    payer, beneficiary = aliased(Person), aliased(Person)
    q = (select(LedgerEntry, Transaction.purpose, payer, beneficiary)
         .join(Transaction, Transaction.id == LedgerEntry.txn_id)
         .join(payer, payer.id == LedgerEntry.person_id)
         .join(beneficiary, beneficiary.id == Transaction.person_id)
         .where(LedgerEntry.kind.in_(FAMILY_KINDS), LedgerEntry.wallet_id.is_(None),
                Transaction.person_id != LedgerEntry.person_id))
    if beneficiary_id is not None:
        q = q.where(Transaction.person_id == beneficiary_id)
    if payer_id is not None:
        q = q.where(LedgerEntry.person_id == payer_id)
    q = q.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc()).limit(max(int(limit), 0))
    return [FamilyPayment(entry_id=e.id, at=e.created_at, kind=e.kind, amount_fen=-e.delta_fen,
                          purpose=purpose, payer_id=p.id, payer_name=p.name,
                          payer_id_number=p.id_number, beneficiary_id=b.id,
                          beneficiary_name=b.name, beneficiary_id_number=b.id_number)
            for e, purpose, p, b in s.execute(q).all()]
