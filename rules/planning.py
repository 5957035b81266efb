"""Settlement planning as pure functions over a snapshot: no database, no clock of its own.

A :class:`Snapshot` is everything a settlement depends on, loaded in one read (the patient,
their active payers in payment order, the retry window). :func:`plan_settlement` turns it into
a :class:`SettlePlan` (each leg and amount) or a refusal. A plan carries the snapshot it
assumed, so a confirmed plan can be executed exactly, or not at all when anything changed.

The *patient's* region decides the mode; each payer's region decides what its money may pay
for. Modes (rules/regions.yaml):

- ``own_only``: the own account pays what it can, the rest is cash.
- ``ordered``: the own account first, then each payer in order, within limit and balance.
- ``retry_window``: the own account must cover the whole bill; if it cannot, the swipe is
  refused and a window opens; a swipe inside the window is paid wholly by the first payer.

The patient's own active 医保钱包 (``wallet_fen``) pays right after the personal account, in
every mode: its place of use is the insured city, where the bill is settled. In retry-window
regions the account and the wallet together must cover the whole bill.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from rules.codes import Reason
from rules.decision import Decision
from rules.identity import mask_name
from rules.money import MAX_FEN
from rules.policy import Policies


@dataclass(frozen=True)
class Payer:
    """A householder who pays for the patient, as the snapshot saw them."""

    binding_id: int
    householder_id: int
    name: str
    region: str
    balance_fen: int
    limit_fen: int | None
    used_fen: int

    @property
    def room_fen(self) -> int | None:
        """Room left under the limit (None: no limit); never negative."""
        return remaining_limit(self.limit_fen, self.used_fen)


@dataclass(frozen=True)
class Snapshot:
    """What a settlement assumes: read once, in one transaction."""

    patient_id: int
    region: str
    name: str
    balance_fen: int
    payers: tuple[Payer, ...] = ()  # payment order
    window_expires: datetime | None = None
    wallet_fen: int = 0  # the patient's active 医保钱包 (0: none, or not activated)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["window_expires"] = self.window_expires.isoformat() if self.window_expires else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        expires = data.get("window_expires")
        return cls(
            patient_id=int(data["patient_id"]), region=str(data["region"]),
            name=str(data["name"]), balance_fen=int(data["balance_fen"]),
            payers=tuple(Payer(**p) for p in data.get("payers") or ()),
            window_expires=datetime.fromisoformat(expires) if expires else None,
            wallet_fen=int(data.get("wallet_fen") or 0))


@dataclass(frozen=True)
class Leg:
    """One householder's share of a bill."""

    binding_id: int
    householder_id: int
    name: str
    amount_fen: int

    def to_json(self) -> dict[str, Any]:
        return {"binding_id": self.binding_id, "householder_id": self.householder_id,
                "name": self.name, "name_masked": mask_name(self.name),
                "amount_fen": self.amount_fen}


@dataclass(frozen=True)
class SettlePlan:
    """Exactly what a settlement will do, and the snapshot it assumed."""

    mode: str
    amount_fen: int
    purpose: str
    own_fen: int
    snapshot: Snapshot
    legs: tuple[Leg, ...] = ()
    closes_window: bool = False
    wallet_fen: int = 0  # paid from the patient's own 医保钱包, right after the own account
    # a payer was passed over because family money of their region may not pay this purpose
    purpose_blocked: bool = False

    @property
    def family_fen(self) -> int:
        return sum(leg.amount_fen for leg in self.legs)

    @property
    def cash_fen(self) -> int:
        return self.amount_fen - self.own_fen - self.wallet_fen - self.family_fen

    @property
    def uses_family(self) -> bool:
        return bool(self.legs)

    def facts(self) -> dict[str, Any]:
        """What the summary and the receipt show."""
        return {"mode": self.mode, "amount_fen": self.amount_fen, "purpose": self.purpose,
                "own_fen": self.own_fen, "family_fen": self.family_fen,
                "cash_fen": self.cash_fen, "legs": [leg.to_json() for leg in self.legs],
                "uses_family": self.uses_family, "purpose_blocked": self.purpose_blocked,
                "balance_fen": self.snapshot.balance_fen - self.own_fen,
                **({"wallet_fen": self.wallet_fen,
                    "wallet_balance_fen": self.snapshot.wallet_fen - self.wallet_fen}
                   if self.snapshot.wallet_fen else {})}

    def charges(self) -> tuple[Any, ...]:
        """What the summary shows and 确认 must charge: every leg and amount, the cash rest,
        and whether the retry window is used."""
        return (self.mode, self.amount_fen, self.purpose, self.own_fen, self.wallet_fen,
                self.legs, self.closes_window)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "amount_fen": self.amount_fen, "purpose": self.purpose,
                "own_fen": self.own_fen, "snapshot": self.snapshot.to_json(),
                "legs": [asdict(leg) for leg in self.legs], "closes_window": self.closes_window,
                "wallet_fen": self.wallet_fen, "purpose_blocked": self.purpose_blocked}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SettlePlan:
        return cls(mode=str(data["mode"]), amount_fen=int(data["amount_fen"]),
                   purpose=str(data["purpose"]), own_fen=int(data["own_fen"]),
                   snapshot=Snapshot.from_json(data["snapshot"]),
                   legs=tuple(Leg(**leg) for leg in data.get("legs") or ()),
                   closes_window=bool(data.get("closes_window")),
                   wallet_fen=int(data.get("wallet_fen") or 0),
                   purpose_blocked=bool(data.get("purpose_blocked")))


@dataclass(frozen=True)
class WindowEffect:
    """What a refused swipe does to the retry window: close it, then maybe open a new one."""

    opens_until: datetime | None = None
    amount_fen: int = 0
    purpose: str = ""


@dataclass(frozen=True)
class Refused:
    """A settlement refusal and its effect on the retry window."""

    decision: Decision
    window: WindowEffect | None = None  # None: the window is left as it is


USED_UP = WindowEffect()  # a swipe inside an open window uses it up, paid or not


def valid_amount(amount_fen: object) -> bool:
    return isinstance(amount_fen, int) and not isinstance(amount_fen, bool) \
        and 0 < amount_fen <= MAX_FEN


def remaining_limit(limit_fen: int | None, used_fen: int) -> int | None:
    """Room left under a cumulative limit (None: unlimited), clamped at zero."""
    return None if limit_fen is None else max(limit_fen - used_fen, 0)


def plan_settlement(policies: Policies, now: datetime, snap: Snapshot, amount_fen: int,
                    purpose: str) -> SettlePlan | Refused:
    """The legs a settlement of ``amount_fen`` for ``purpose`` takes, or its refusal."""
    if not valid_amount(amount_fen):
        return Refused(Decision.refuse(Reason.INVALID_AMOUNT))
    mode = policies.get(snap.region).settlement
    own = min(snap.balance_fen, amount_fen)
    plan = SettlePlan(mode, amount_fen, purpose, own, snap,
                      wallet_fen=min(snap.wallet_fen, amount_fen - own))
    if mode == "own_only" or plan.cash_fen == 0:
        return plan
    if mode == "ordered":
        return _ordered(policies, plan)
    if not snap.payers:  # nobody to share with: an ordinary partial payment, rest in cash
        return plan
    return _retry_window(policies, now, snap, amount_fen, purpose)


def _ordered(policies: Policies, p: SettlePlan) -> SettlePlan:
    legs: list[Leg] = []
    due = p.cash_fen
    blocked = False
    for payer in p.snapshot.payers:
        if due <= 0:
            break
        if purpose_blocked(policies, payer.region, p.purpose):
            blocked = True
            continue
        room = payer.room_fen
        take = min(due, payer.balance_fen, due if room is None else room)
        if take > 0:
            legs.append(Leg(payer.binding_id, payer.householder_id, payer.name, take))
            due -= take
    return SettlePlan(p.mode, p.amount_fen, p.purpose, p.own_fen, p.snapshot, tuple(legs),
                      wallet_fen=p.wallet_fen, purpose_blocked=blocked)


def purpose_blocked(policies: Policies, region: str, purpose: str) -> bool:
    """Whether a payer of ``region`` may not pay for ``purpose`` with family money."""
    return purpose not in policies.get(region).family_purposes


def _retry_window(policies: Policies, now: datetime, snap: Snapshot, amount_fen: int,
                  purpose: str) -> SettlePlan | Refused:
    if snap.window_expires is None or snap.window_expires <= now:
        seconds = policies.get(snap.region).retry_window_seconds
        refusal = Decision.refuse(Reason.INSUFFICIENT_BALANCE, retry_window_seconds=seconds,
                                  balance_fen=snap.balance_fen, amount_fen=amount_fen,
                                  purpose=purpose,
                                  **({"wallet_fen": snap.wallet_fen} if snap.wallet_fen else {}))
        return Refused(refusal, WindowEffect(now + timedelta(seconds=seconds), amount_fen,
                                             purpose))
    first = snap.payers[0]
    facts = {"householder_id": first.householder_id, "amount_fen": amount_fen,
             "window_closed": True}
    if purpose_blocked(policies, first.region, purpose):
        return Refused(Decision.refuse(Reason.PURPOSE_NOT_ALLOWED, purpose=purpose, **facts),
                       USED_UP)
    room = first.room_fen
    if room is not None and room < amount_fen:
        return Refused(Decision.refuse(Reason.LIMIT_EXCEEDED, remaining_fen=room, **facts),
                       USED_UP)
    if first.balance_fen < amount_fen:
        return Refused(Decision.refuse(Reason.FAMILY_FUNDS_INSUFFICIENT, **facts), USED_UP)
    leg = Leg(first.binding_id, first.householder_id, first.name, amount_fen)
    return SettlePlan("retry_window", amount_fen, purpose, 0, snap, (leg,), closes_window=True)


# ---- contributions -------------------------------------------------------------------------

@dataclass(frozen=True)
class ContributionSnapshot:
    """What paying a bound relative's contribution assumes: the binding and both people."""

    householder_id: int
    householder_region: str
    balance_fen: int
    binding_id: int
    limit_fen: int | None
    used_fen: int
    relative_id: int
    relative_name: str
    relative_id_number: str
    relative_scheme: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ContributionPlan:
    """One debit from the householder for a relative's contribution, and what it assumed."""

    amount_fen: int
    purpose: str
    snapshot: ContributionSnapshot

    def facts(self) -> dict[str, Any]:
        s = self.snapshot
        return {"relative_id": s.relative_id, "amount_fen": self.amount_fen,
                "purpose": self.purpose, "binding_id": s.binding_id,
                "balance_fen": s.balance_fen - self.amount_fen,
                "name": s.relative_name, "id_number": s.relative_id_number}

    def to_json(self) -> dict[str, Any]:
        return {"kind": "contribution", "amount_fen": self.amount_fen, "purpose": self.purpose,
                "snapshot": self.snapshot.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContributionPlan:
        return cls(int(data["amount_fen"]), str(data["purpose"]),
                   ContributionSnapshot(**data["snapshot"]))


def plan_contribution(policies: Policies, snap: ContributionSnapshot, amount_fen: int,
                      purpose: str) -> ContributionPlan | Decision:
    """A householder paying a bound relative's contribution, within limit and balance."""
    if not valid_amount(amount_fen):
        return Decision.refuse(Reason.INVALID_AMOUNT)
    facts = {"relative_id": snap.relative_id, "amount_fen": amount_fen, "purpose": purpose}
    if purpose == "resident_contribution" and snap.relative_scheme != "resident":
        return Decision.refuse(Reason.NOT_RESIDENT, **facts)
    if purpose_blocked(policies, snap.householder_region, purpose):
        return Decision.refuse(Reason.PURPOSE_NOT_ALLOWED, **facts)
    room = remaining_limit(snap.limit_fen, snap.used_fen)
    if room is not None and room < amount_fen:
        return Decision.refuse(Reason.LIMIT_EXCEEDED, remaining_fen=room, **facts)
    if snap.balance_fen < amount_fen:
        return Decision.refuse(Reason.FAMILY_FUNDS_INSUFFICIENT, **facts)
    return ContributionPlan(amount_fen, purpose, snap)
