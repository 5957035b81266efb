"""医保钱包 decisions as pure functions over plain values (no database, no Session, no clock).

``rules/wallets.py`` loads one snapshot per decision, calls a ``decide_*``/``plan_*`` function
here and writes what it decided with guarded updates. Each refusal names the first rule the
request breaks. A transfer, in order:

    amount → payer has a personal account → payer's province opened → payer's wallet active
    → payer's wallet not locked → ID format → identity (ID + name, one UNKNOWN_PERSON for a
    stranger) → not oneself → relation word → relation on the 2024 national list → payee
    insured → payee's province opened → payee's wallet active → caps → account balance

A :class:`TransferPlan` carries the snapshot it assumed (the payer's balance, both wallets'
states, what the payer already sent today): 确认 pays it exactly, or nothing (PLAN_CHANGED).
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from rules.codes import Reason
from rules.decision import Decision
from rules.identity import clean_text, mask_id, mask_name, normalize_id
from rules.planning import valid_amount
from rules.policy import Policies
from rules.views import has_personal_account
from rules.wallet_policy import WalletPolicy

PASSWORD_DIGITS = 6
MAX_WRONG = 5  # wrong wallet passwords within LOCK_SECONDS before WALLET_LOCKED
LOCK_SECONDS = 3600
INSURED = ("employee", "resident")


@dataclass(frozen=True)
class Holder:
    """A person as the wallet rules see them (``balance_fen``: their personal account)."""

    id: int
    id_number: str
    name: str
    province: str
    city: str
    scheme: str
    employment: str | None = None
    balance_fen: int = 0


@dataclass(frozen=True)
class WalletState:
    """A wallet as a plan assumes it; ``active`` False: not activated (no wallet yet)."""

    active: bool = False
    city: str | None = None  # place of use: the holder's insured city
    balance_fen: int = 0


NOT_ACTIVATED = WalletState()


@dataclass(frozen=True)
class Attempts:
    """Wrong wallet passwords counted in the current hour (kept apart from plans: a wrong
    password must not make a pinned transfer PLAN_CHANGED)."""

    wrong: int = 0
    since: datetime | None = None


def locked_until(attempts: Attempts, now: datetime) -> datetime | None:
    """When the wallet unlocks, or None when it is not locked."""
    if attempts.since is None or attempts.wrong < MAX_WRONG:
        return None
    ends = attempts.since + timedelta(seconds=LOCK_SECONDS)
    return ends if ends > now else None


def password_shape(text: str) -> str | None:
    """The 6 ASCII digits of a typed password (full-width digits and spaces tolerated)."""
    s = unicodedata.normalize("NFKC", text or "").strip()
    return s if len(s) == PASSWORD_DIGITS and s.isascii() and s.isdigit() else None


# ---- activation ---------------------------------------------------------------------------

def decide_activation(wallets: WalletPolicy, holder: Holder, wallet: WalletState) -> Decision:
    """Whether ``holder`` may activate a wallet now; facts province, city, already_active."""
    facts = {"province": holder.province, "city": holder.city}
    if holder.scheme not in INSURED:
        return Decision.refuse(Reason.NOT_INSURED, **facts)
    if not wallets.opened(holder.province):
        return Decision.refuse(Reason.WALLET_NOT_ENABLED, side="self", **facts)
    return Decision.allow(already_active=wallet.active, **facts)


# ---- transfer -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TransferSnapshot:
    """What a transfer decision reads, in one go. ``payee`` is the person with the typed ID
    number (None: nobody); ``sent_today_fen`` the payer's transfers this China day."""

    payer: Holder
    payer_wallet: WalletState
    payee: Holder | None
    payee_wallet: WalletState
    sent_today_fen: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TransferSnapshot:
        payee = data.get("payee")
        return cls(Holder(**data["payer"]), WalletState(**data["payer_wallet"]),
                   Holder(**payee) if payee else None, WalletState(**data["payee_wallet"]),
                   int(data.get("sent_today_fen") or 0))


@dataclass(frozen=True)
class TransferPlan:
    """Exactly what a transfer will do, and the snapshot it assumed."""

    amount_fen: int
    relation: str
    snapshot: TransferSnapshot

    @property
    def payee(self) -> Holder:
        assert self.snapshot.payee is not None
        return self.snapshot.payee

    def facts(self) -> dict[str, Any]:
        """What the summary, the receipt and the payee's notice show (masked identity)."""
        payer, payee = self.snapshot.payer, self.payee
        return {"amount_fen": self.amount_fen, "relation": self.relation,
                "payer_id": payer.id, "payee_id": payee.id,
                "payee_name_masked": mask_name(payee.name),
                "payee_id_masked": mask_id(payee.id_number),
                "payee_province": payee.province, "payee_city": payee.city,
                "payer_name_masked": mask_name(payer.name), "payer_province": payer.province,
                "balance_fen": payer.balance_fen - self.amount_fen}

    def to_json(self) -> dict[str, Any]:
        return {"amount_fen": self.amount_fen, "relation": self.relation,
                "snapshot": self.snapshot.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TransferPlan:
        return cls(int(data["amount_fen"]), str(data["relation"]),
                   TransferSnapshot.from_json(data["snapshot"]))


@dataclass(frozen=True)
class TransferRequest:
    id_number_text: str
    name: str
    relation_word: str
    amount_fen: int


def plan_transfer(policies: Policies, wallets: WalletPolicy, snap: TransferSnapshot,
                  req: TransferRequest, attempts: Attempts, now: datetime,
                  ) -> TransferPlan | Decision:
    """The transfer rules in order: a plan, or the refusal of the first rule broken."""
    if not valid_amount(req.amount_fen):
        return Decision.refuse(Reason.INVALID_AMOUNT)
    payer = snap.payer
    gate = _payer_gate(wallets, payer, snap.payer_wallet, attempts, now)
    if gate is not None:
        return gate
    number = normalize_id(req.id_number_text)
    if number is None:
        return Decision.refuse(Reason.INVALID_ID)
    payee = snap.payee
    if payee is None or payee.id_number != number or clean_text(req.name) != clean_text(payee.name):
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    if payee.id == payer.id:
        return Decision.refuse(Reason.SELF_BINDING, transfer=True)
    relation = policies.relation(req.relation_word)
    if relation is None:
        return Decision.refuse(Reason.UNKNOWN_RELATION, word=clean_text(req.relation_word))
    if relation not in policies.default.relations:  # the 2024 national list of close relatives
        return Decision.refuse(Reason.RELATION_NOT_ALLOWED, relation=relation, transfer=True)
    if payee.scheme not in INSURED:
        return Decision.refuse(Reason.NOT_INSURED, relation=relation)
    if not wallets.opened(payee.province):
        return Decision.refuse(Reason.WALLET_NOT_ENABLED, side="payee", payee=True,
                               province=payee.province)
    if not snap.payee_wallet.active:
        return Decision.refuse(Reason.WALLET_NOT_ACTIVE, side="payee", payee=True)
    cap = cap_refusal(wallets, payer.province, req.amount_fen, snap.sent_today_fen)
    if cap is not None:
        return cap
    if payer.balance_fen < req.amount_fen:
        return Decision.refuse(Reason.INSUFFICIENT_BALANCE, balance_fen=payer.balance_fen,
                               amount_fen=req.amount_fen, transfer=True)
    return TransferPlan(req.amount_fen, relation, snap)


def _payer_gate(wallets: WalletPolicy, payer: Holder, wallet: WalletState, attempts: Attempts,
                now: datetime) -> Decision | None:
    if not has_personal_account(payer.scheme, payer.employment):
        return Decision.refuse(Reason.NO_PERSONAL_ACCOUNT)
    if not wallets.opened(payer.province):
        return Decision.refuse(Reason.WALLET_NOT_ENABLED, side="self", province=payer.province)
    if not wallet.active:
        return Decision.refuse(Reason.WALLET_NOT_ACTIVE, side="self")
    until = locked_until(attempts, now)
    if until is not None:
        return Decision.refuse(Reason.WALLET_LOCKED, until=until.isoformat())
    return None


def cap_refusal(wallets: WalletPolicy, province: str, amount_fen: int,
                sent_today_fen: int) -> Decision | None:
    """TRANSFER_LIMIT_EXCEEDED when the payer's province caps one transfer or a day's total."""
    caps = wallets.get(province)
    if caps is None:
        return None
    if caps.per_transfer_fen is not None and amount_fen > caps.per_transfer_fen:
        return Decision.refuse(Reason.TRANSFER_LIMIT_EXCEEDED, cap="per_transfer",
                               cap_fen=caps.per_transfer_fen, amount_fen=amount_fen)
    if caps.per_day_fen is not None and sent_today_fen + amount_fen > caps.per_day_fen:
        return Decision.refuse(Reason.TRANSFER_LIMIT_EXCEEDED, cap="per_day",
                               cap_fen=caps.per_day_fen, amount_fen=amount_fen,
                               remaining_fen=max(caps.per_day_fen - sent_today_fen, 0))
    return None


# ---- spending -----------------------------------------------------------------------------

def decide_wallet_contribution(wallets: WalletPolicy, holder: Holder, wallet: WalletState,
                               amount_fen: int) -> Decision:
    """The holder's own resident-insurance contribution paid from their wallet."""
    if not valid_amount(amount_fen):
        return Decision.refuse(Reason.INVALID_AMOUNT)
    facts = {"amount_fen": amount_fen, "purpose": "resident_contribution", "wallet": True}
    if holder.scheme != "resident":
        return Decision.refuse(Reason.NOT_RESIDENT, **facts)
    if not wallets.opened(holder.province):
        return Decision.refuse(Reason.WALLET_NOT_ENABLED, side="self", **facts)
    if not wallet.active:
        return Decision.refuse(Reason.WALLET_NOT_ACTIVE, side="self", **facts)
    if wallet.balance_fen < amount_fen:
        return Decision.refuse(Reason.INSUFFICIENT_BALANCE, balance_fen=wallet.balance_fen,
                               **facts)
    return Decision.allow(wallet_balance_fen=wallet.balance_fen - amount_fen, **facts)
