"""Read models the service hands to the bot: frozen, raw values (the bot masks when rendering)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

PERSONAL_ACCOUNT_EMPLOYMENT = ("employed", "retired")


def has_personal_account(scheme: str | None, employment: str | None) -> bool:
    """Employees insured through an employer and retirees have one; flexible workers
    do not [004]."""
    return scheme == "employee" and employment in PERSONAL_ACCOUNT_EMPLOYMENT


@dataclass(frozen=True)
class PersonView:
    id: int
    id_number: str
    name: str
    phone: str | None
    province: str
    city: str
    region: str
    scheme: str
    employment: str | None
    status: str
    lapsed_since: str | None
    balance_fen: int
    monthly_credit_fen: int
    account_open: bool = False

    @property
    def has_personal_account(self) -> bool:
        return has_personal_account(self.scheme, self.employment)

    @property
    def insured(self) -> bool:
        return self.scheme in ("employee", "resident")


@dataclass(frozen=True)
class RelativeRow:
    """One active relative of a householder; ``index`` is the 1-based 序号 /unbind accepts."""

    index: int
    binding_id: int
    person_id: int
    id_number: str
    name: str
    relation: str
    limit_fen: int | None
    used_fen: int
    bound_at: datetime

    @property
    def remaining_fen(self) -> int | None:
        return None if self.limit_fen is None else max(self.limit_fen - self.used_fen, 0)


@dataclass(frozen=True)
class PayerRow:
    """A householder paying for this person, in payment order; ``others`` are that
    householder's other relatives."""

    index: int
    binding_id: int
    householder_id: int
    id_number: str
    name: str
    relation: str
    rank: int | None
    limit_fen: int | None
    used_fen: int
    bound_at: datetime
    others: tuple[RelativeRow, ...] = ()


@dataclass(frozen=True)
class FamilyView:
    person_id: int
    account_open: bool
    relatives: tuple[RelativeRow, ...] = ()  # as householder
    payers: tuple[PayerRow, ...] = ()  # as relative
    ordered: bool = False  # the person's own region lets them rank payers (/order)

    @property
    def is_householder(self) -> bool:
        return bool(self.relatives)

    @property
    def is_relative(self) -> bool:
        return bool(self.payers)


@dataclass(frozen=True)
class HistoryRow:
    """One ledger entry of the person, with what it was for."""

    entry_id: int
    at: datetime
    kind: str  # credit | settle_own | settle_family | contribute
    delta_fen: int
    purpose: str | None
    period: str | None
    for_person_id: int | None  # the patient / beneficiary of the operation
    for_name: str | None
    txn_kind: str


@dataclass(frozen=True)
class LapseStatus:
    """What a lapse (断缴) means for this person right now, attributed to its source region."""

    person_id: int
    lapsed: bool
    since: str | None = None  # YYYY-MM of the lapse
    months: int = 0  # whole months from ``since`` to the current China month
    band: str = "none"  # none | under_3 | 3_plus
    benefits_suspended_from: str | None = None  # YYYY-MM: the month after the lapse
    benefits_suspended: bool = False
    balance_usable: bool = True
    credits_paused: bool = False
    years_cleared: bool = False  # Ji'an article: 3+ months clears cumulative years
    rule_region: str = "jian"
    # whether the person is insured where that article's rule is stated (Ji'an): only then are
    # its bands (years cleared or not) theirs; elsewhere the local office decides
    rule_applies: bool = False
    rule_sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)  # other regions' notes, e.g. "hangzhou"
    note_sources: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for k in ("rule_sources", "notes", "note_sources"):
            data[k] = list(data[k])
        return data
