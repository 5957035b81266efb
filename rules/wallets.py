"""医保钱包 in the database: load one snapshot, decide with rules/wallet_rules.py, write guarded.

A wallet's balance moves only here and in settlement (``debit_wallet``), each move a ledger
row with ``wallet_id`` set; a transfer is two rows under one transaction (out of the payer's
personal account, into the payee's wallet) and must sum to zero (rules/audit.py).

Wrong passwords are counted on the wallet row itself, after the row is locked (``FOR UPDATE``
on PostgreSQL; SQLite's single writer serialises the same way), so concurrent guesses are
counted one by one and the sixth is refused without being checked.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import DateTime, bindparam, select, text
from sqlalchemy.orm import Session

from rules.clock import CHINA_OFFSET
from rules.codes import Reason
from rules.decision import Decision
from rules.identity import normalize_id
from rules.ledger import debit, is_sqlite, lock_people
from rules.policy import Policies
from rules.schema import LedgerEntry, Person, Wallet
from rules.unit_of_work import Claim, Conflict, TxnContext
from rules.wallet_policy import WalletPolicy
from rules.wallet_rules import (
    LOCK_SECONDS,
    MAX_WRONG,
    NOT_ACTIVATED,
    Attempts,
    Holder,
    TransferPlan,
    TransferRequest,
    TransferSnapshot,
    WalletState,
    decide_activation,
    decide_wallet_contribution,
    locked_until,
    password_shape,
    plan_transfer,
)
from rules.wallet_secret import hash_password, verify_password

TransferPin = Callable[[Session, TransferPlan], str]
WALLET_KINDS = ("wallet_in", "wallet_settle", "wallet_contribute")  # rows that move a wallet
TRANSFER_OUT = "wallet_transfer_out"  # the personal-account side of a transfer

_WALLET_DEBIT = text(
    "UPDATE wallets SET balance = balance - :fen"
    " WHERE person_id = :pid AND state = 'active' AND balance >= :fen"
)
_WALLET_CREDIT = text(
    "UPDATE wallets SET balance = balance + :fen WHERE id = :id AND state = 'active'")
_WALLET_ENTRY = text(
    "INSERT INTO ledger (txn_id, person_id, binding_id, delta_fen, kind, period, created_at,"
    " wallet_id) VALUES (:txn_id, :pid, NULL, :delta, :kind, NULL, :now, :wallet_id)"
).bindparams(bindparam("now", type_=DateTime))
_WRONG = text(
    "UPDATE wallets SET"
    " wrong_passwords = CASE WHEN wrong_since IS NULL OR wrong_since <= :since"
    "   THEN 1 ELSE wrong_passwords + 1 END,"
    " wrong_since = CASE WHEN wrong_since IS NULL OR wrong_since <= :since"
    "   THEN :now ELSE wrong_since END"
    " WHERE id = :id"
).bindparams(bindparam("since", type_=DateTime), bindparam("now", type_=DateTime))
_RIGHT = text("UPDATE wallets SET wrong_passwords = 0, wrong_since = NULL WHERE id = :id")


# ---- loading ------------------------------------------------------------------------------

def holder(p: Person, *, balance: bool = True) -> Holder:
    return Holder(p.id, p.id_number, p.name, p.province, p.city, p.scheme, p.employment,
                  p.balance if balance else 0)


def wallet_of(s: Session, person_id: int, *, lock: bool = False) -> Wallet | None:
    q = select(Wallet).where(Wallet.person_id == person_id)
    if lock and not is_sqlite(s):
        q = q.with_for_update()
    return s.execute(q).scalar_one_or_none()


def state_of(w: Wallet | None) -> WalletState:
    if w is None or w.state != "active":
        return NOT_ACTIVATED
    return WalletState(True, w.city, w.balance)


def presence_of(w: Wallet | None) -> WalletState:
    """A wallet as a transfer assumes it: active, and where (its balance plays no part, so
    money the holder spends meanwhile does not change a pinned transfer)."""
    state = state_of(w)
    return WalletState(True, state.city, 0) if state.active else NOT_ACTIVATED


def attempts_of(w: Wallet | None) -> Attempts:
    return Attempts(w.wrong_passwords, w.wrong_since) if w is not None else Attempts()


def china_day_start(now: datetime) -> datetime:
    """The naive-UTC instant at which the current China calendar day began."""
    local = now + CHINA_OFFSET
    return local.replace(hour=0, minute=0, second=0, microsecond=0) - CHINA_OFFSET


def sent_today(s: Session, person_id: int, now: datetime) -> int:
    q = select(LedgerEntry.delta_fen).where(
        LedgerEntry.person_id == person_id, LedgerEntry.kind == TRANSFER_OUT,
        LedgerEntry.created_at >= china_day_start(now))
    return -sum(s.execute(q).scalars())


def transfer_snapshot(s: Session, payer_id: int, payee_id_text: str, now: datetime
                      ) -> TransferSnapshot | None:
    """Everything a transfer decision reads, in one go (None: no such payer)."""
    payer = s.get(Person, payer_id)
    if payer is None:
        return None
    number = normalize_id(payee_id_text)
    payee = s.execute(select(Person).where(Person.id_number == number)).scalar_one_or_none() \
        if number else None
    return TransferSnapshot(
        holder(payer), presence_of(wallet_of(s, payer_id)),
        holder(payee, balance=False) if payee else None,
        presence_of(wallet_of(s, payee.id)) if payee else NOT_ACTIVATED,
        sent_today(s, payer_id, now))


def view(s: Session, wallets: WalletPolicy, person_id: int, limit: int = 5) -> Decision:
    """What /wallet shows: province opened?, state, place of use, balance, recent moves."""
    p = s.get(Person, person_id)
    if p is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    w = wallet_of(s, person_id)
    moves = []
    if w is not None:
        q = (select(LedgerEntry.created_at, LedgerEntry.kind, LedgerEntry.delta_fen)
             .where(LedgerEntry.wallet_id == w.id)
             .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc()).limit(limit))
        moves = [{"at": at.isoformat(), "kind": kind, "delta_fen": delta}
                 for at, kind, delta in s.execute(q)]
    state = state_of(w)
    return Decision.allow(
        province=p.province, city=p.city, opened=wallets.opened(p.province),
        active=state.active, balance_fen=state.balance_fen, moves=moves,
        can_activate=decide_activation(wallets, holder(p), state).ok and not state.active)


# ---- writing ------------------------------------------------------------------------------

def debit_wallet(s: Session, txn_id: int, person_id: int, fen: int, kind: str,
                 now: datetime) -> None:
    """Take ``fen`` from the person's active wallet and record it; never below zero."""
    if fen <= 0:
        return
    conn = s.connection()
    if conn.execute(_WALLET_DEBIT, {"fen": fen, "pid": person_id}).rowcount != 1:
        raise Conflict(f"wallet of person {person_id} changed")
    wallet_id = conn.execute(text("SELECT id FROM wallets WHERE person_id = :pid"),
                             {"pid": person_id}).scalar_one()
    conn.execute(_WALLET_ENTRY, {"txn_id": txn_id, "pid": person_id, "delta": -fen,
                                 "kind": kind, "now": now, "wallet_id": wallet_id})


def _credit_wallet(s: Session, txn_id: int, w: Wallet, fen: int, now: datetime) -> None:
    conn = s.connection()
    if conn.execute(_WALLET_CREDIT, {"fen": fen, "id": w.id}).rowcount != 1:
        raise Conflict(f"wallet {w.id} changed")
    conn.execute(_WALLET_ENTRY, {"txn_id": txn_id, "pid": w.person_id, "delta": fen,
                                 "kind": "wallet_in", "now": now, "wallet_id": w.id})


def activate(s: Session, ctx: TxnContext, wallets: WalletPolicy, person_id: int,
             password: str) -> Decision:
    """Activate the person's wallet with a 6-digit password (only its salted hash is kept)."""
    lock_people(s, [person_id])
    p = s.get(Person, person_id)
    if p is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    w = wallet_of(s, person_id, lock=True)
    decided = decide_activation(wallets, holder(p), state_of(w))
    if not decided.ok or decided.facts["already_active"]:
        return decided
    digits = password_shape(password)
    if digits is None:
        return Decision.refuse(Reason.WALLET_PASSWORD_WRONG, shape=True)
    s.add(Wallet(person_id=person_id, state="active", city=p.city, balance=0,
                 password_hash=hash_password(digits), activated_at=ctx.now, wrong_passwords=0,
                 wrong_since=None))
    s.flush()
    ctx.person_id = person_id
    return Decision.allow(activated=True, province=p.province, city=p.city)


def check_password(s: Session, now: datetime, w: Wallet, password: str) -> Decision | None:
    """None when ``password`` is right (the count starts again); else WALLET_LOCKED or
    WALLET_PASSWORD_WRONG (counted, facts ``remaining``). ``w`` must be locked."""
    until = locked_until(attempts_of(w), now)
    if until is not None:
        return Decision.refuse(Reason.WALLET_LOCKED, until=until.isoformat())
    digits = password_shape(password)
    if digits is not None and verify_password(digits, w.password_hash):
        if w.wrong_passwords:
            s.connection().execute(_RIGHT, {"id": w.id})
        return None
    since = now - timedelta(seconds=LOCK_SECONDS)
    s.connection().execute(_WRONG, {"id": w.id, "since": since, "now": now})
    s.refresh(w)
    if w.wrong_passwords >= MAX_WRONG:
        until = locked_until(attempts_of(w), now)
        return Decision.refuse(Reason.WALLET_LOCKED,
                               until=until.isoformat() if until else None)
    return Decision.refuse(Reason.WALLET_PASSWORD_WRONG, remaining=MAX_WRONG - w.wrong_passwords)


def request_transfer(s: Session, ctx: TxnContext, policies: Policies, wallets: WalletPolicy,
                     payer_id: int, req: TransferRequest, pin: TransferPin) -> Decision:
    """/transfer: decide, and pin the plan behind a 确认 token (nothing moves yet)."""
    snap = transfer_snapshot(s, payer_id, req.id_number_text, ctx.now)
    if snap is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    w = wallet_of(s, payer_id)
    result = plan_transfer(policies, wallets, snap, req, attempts_of(w), ctx.now)
    if isinstance(result, Decision):
        return result
    return Decision.allow(needs_confirm=True, token=pin(s, result), **result.facts())


def execute_transfer(s: Session, ctx: TxnContext, policies: Policies, wallets: WalletPolicy,
                     plan: TransferPlan, password: str, claim: Claim | None,
                     pin: TransferPin) -> Decision:
    """The wallet password for a confirmed transfer: check it (wrong ones counted, nothing
    claimed), then claim the token and pay exactly the plan — or PLAN_CHANGED and a fresh
    pinned plan when anything it assumed differs now. One transaction."""
    payer_id, payee_id = plan.snapshot.payer.id, plan.payee.id
    lock_people(s, [payer_id, payee_id])
    w = wallet_of(s, payer_id, lock=True)
    if w is None or w.state != "active":
        return Decision.refuse(Reason.WALLET_NOT_ACTIVE, side="self")
    wrong = check_password(s, ctx.now, w, password)
    if wrong is not None:
        return wrong
    if claim is not None:
        claim.take(s)
    d = _pay_if_unchanged(s, ctx, policies, wallets, plan, pin)
    if claim is not None:
        claim.record(s, d)
    return d


def _pay_if_unchanged(s: Session, ctx: TxnContext, policies: Policies, wallets: WalletPolicy,
                      plan: TransferPlan, pin: TransferPin) -> Decision:
    payee = plan.payee
    snap = transfer_snapshot(s, plan.snapshot.payer.id, payee.id_number, ctx.now)
    if snap is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    req = TransferRequest(payee.id_number, payee.name, plan.relation, plan.amount_fen)
    fresh = plan_transfer(policies, wallets, snap, req, Attempts(), ctx.now)
    if fresh == plan:
        return _pay(s, ctx, plan)
    if isinstance(fresh, Decision):
        return Decision.refuse(Reason.PLAN_CHANGED, refusal=fresh.to_json(),
                               amount_fen=plan.amount_fen, transfer=True)
    return Decision.refuse(Reason.PLAN_CHANGED, token=pin(s, fresh), transfer=True,
                           **fresh.facts())


def _pay(s: Session, ctx: TxnContext, plan: TransferPlan) -> Decision:
    payer_id = plan.snapshot.payer.id
    debit(s, ctx.id, payer_id, plan.amount_fen, TRANSFER_OUT, ctx.now)
    w = wallet_of(s, plan.payee.id)
    if w is None:
        raise Conflict(f"wallet of person {plan.payee.id} vanished")
    _credit_wallet(s, ctx.id, w, plan.amount_fen, ctx.now)
    ctx.person_id, ctx.amount_fen, ctx.cash_fen = payer_id, plan.amount_fen, 0
    return Decision.allow(transferred=True, **plan.facts())


def contribute_from_wallet(s: Session, ctx: TxnContext, wallets: WalletPolicy,
                           person_id: int, amount_fen: int) -> Decision:
    """The holder's own resident-insurance contribution, paid from their wallet."""
    lock_people(s, [person_id])
    p = s.get(Person, person_id)
    if p is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    w = wallet_of(s, person_id, lock=True)
    d = decide_wallet_contribution(wallets, holder(p), state_of(w), amount_fen)
    if d.ok:
        debit_wallet(s, ctx.id, person_id, amount_fen, "wallet_contribute", ctx.now)
        ctx.person_id, ctx.amount_fen, ctx.cash_fen = person_id, amount_fen, 0
    return d


def family_places(s: Session, wallets: WalletPolicy, person_id: int
                  ) -> tuple[tuple[str, bool], tuple[tuple[str, bool], ...]] | None:
    """The person's province and whether it opened the wallet, and the same for each other
    province among the family they share money with (bound relatives and householders, and
    whoever they sent wallet money to or received it from)."""
    p = s.get(Person, person_id)
    if p is None:
        return None
    q = text(
        "SELECT o.province FROM bindings b JOIN people o"
        " ON o.id = CASE WHEN b.householder_id = :id THEN b.relative_id ELSE b.householder_id END"
        " WHERE (b.householder_id = :id OR b.relative_id = :id) AND b.removed_at IS NULL"
        " UNION SELECT o.province FROM ledger mine"
        " JOIN ledger other ON other.txn_id = mine.txn_id AND other.person_id <> mine.person_id"
        " JOIN people o ON o.id = other.person_id"
        " WHERE mine.person_id = :id AND mine.kind IN ('wallet_transfer_out', 'wallet_in')"
        " ORDER BY 1")
    others = [str(r[0]) for r in s.connection().execute(q, {"id": person_id})]
    return ((p.province, wallets.opened(p.province)),
            tuple((prov, wallets.opened(prov)) for prov in others if prov != p.province))
