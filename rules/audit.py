"""Ledger invariants, checked set-wise. ``audit(engine)`` returns one line per violation.

Invariants: every balance = opening + Σ ledger; no balance below zero; a binding's used amount
within its limit and equal to the family legs booked against it; every settlement balanced
(the legs taken plus the cash remainder make the bill); no key applied twice, no effect
without an applied decision, no month credited twice to one person; family money only under a
confirmed plan, and one bill (one update) paid at most once. 医保钱包: every wallet balance =
its ledger rows, never negative; wallet rows only on the holder's own wallet; every transfer
balanced (out of one personal account = into one wallet).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, and_, case, func, or_, select
from sqlalchemy.engine import Connection

from rules.clock import SystemClock, china_month
from rules.credit import MONTH as CREDIT_MONTH
from rules.ledger import FAMILY_KINDS
from rules.schema import Binding, LedgerEntry, Note, Person, Transaction, Wallet
from rules.wallets import TRANSFER_OUT, WALLET_KINDS

MAX_REPORTED = 50  # per check; a corrupted database should not print a million lines

Check = Callable[[Connection], list[str]]


def _ledger_sum_by(column):  # type: ignore[no-untyped-def]
    return select(column.label("k"), func.sum(LedgerEntry.delta_fen).label("total")) \
        .group_by(column).subquery()


def balances_match_ledger(conn: Connection) -> list[str]:
    sums = (select(LedgerEntry.person_id.label("k"), func.sum(LedgerEntry.delta_fen).label("total"))
            .where(LedgerEntry.wallet_id.is_(None))  # wallet rows move the wallet, not the account
            .group_by(LedgerEntry.person_id).subquery())
    expected = Person.opening_balance + func.coalesce(sums.c.total, 0)
    q = (select(Person.id, Person.balance, expected.label("expected"))
         .outerjoin(sums, sums.c.k == Person.id).where(Person.balance != expected)
         .order_by(Person.id).limit(MAX_REPORTED))
    return [f"balance mismatch: person {r.id} balance {r.balance} != opening + ledger "
            f"{r.expected}" for r in conn.execute(q)]


def no_negative_balance(conn: Connection) -> list[str]:
    q = select(Person.id, Person.balance).where(Person.balance < 0).order_by(Person.id) \
        .limit(MAX_REPORTED)
    return [f"negative balance: person {r.id} balance {r.balance}" for r in conn.execute(q)]


def used_within_limit(conn: Connection) -> list[str]:
    q = (select(Binding.id, Binding.used_fen, Binding.limit_fen)
         .where(Binding.limit_fen.is_not(None), Binding.used_fen > Binding.limit_fen)
         .order_by(Binding.id).limit(MAX_REPORTED))
    return [f"limit exceeded: binding {r.id} used {r.used_fen} > limit {r.limit_fen}"
            for r in conn.execute(q)]


def used_matches_ledger(conn: Connection) -> list[str]:
    family = (select(LedgerEntry.binding_id.label("k"),
                     func.sum(-LedgerEntry.delta_fen).label("total"))
              .where(LedgerEntry.kind.in_(FAMILY_KINDS), LedgerEntry.binding_id.is_not(None))
              .group_by(LedgerEntry.binding_id).subquery())
    expected = func.coalesce(family.c.total, 0)
    q = (select(Binding.id, Binding.used_fen, expected.label("expected"))
         .outerjoin(family, family.c.k == Binding.id).where(Binding.used_fen != expected)
         .order_by(Binding.id).limit(MAX_REPORTED))
    return [f"used mismatch: binding {r.id} used {r.used_fen} != family legs {r.expected}"
            for r in conn.execute(q)]


def settlements_balanced(conn: Connection) -> list[str]:
    legs = _ledger_sum_by(LedgerEntry.txn_id)
    paid = -func.coalesce(legs.c.total, 0) + Transaction.cash_fen
    q = (select(Transaction.id, Transaction.key, Transaction.amount_fen, paid.label("paid"))
         .outerjoin(legs, legs.c.k == Transaction.id)
         .where(Transaction.kind.in_(("settle", "contribute")),
                Transaction.cash_fen.is_not(None),
                or_(Transaction.amount_fen.is_(None), paid != Transaction.amount_fen))
         .order_by(Transaction.id).limit(MAX_REPORTED))
    return [f"unbalanced settlement: transaction {r.id} ({r.key}) legs + cash {r.paid} != "
            f"amount {r.amount_fen}" for r in conn.execute(q)]


def keys_applied_once(conn: Connection) -> list[str]:
    dup = (select(Transaction.key, func.count().label("n")).group_by(Transaction.key)
           .having(func.count() > 1).order_by(Transaction.key).limit(MAX_REPORTED))
    out = [f"key applied twice: {r.key} ({r.n} transactions)" for r in conn.execute(dup)]
    # A refused decision must have had no effect: any ledger row under it is a double effect.
    applied = Transaction.result["ok"].as_boolean()
    refused = (select(Transaction.id, Transaction.key)
               .where(Transaction.id.in_(select(LedgerEntry.txn_id).distinct()),
                      or_(applied.is_(None), applied.is_(False)))
               .order_by(Transaction.id).limit(MAX_REPORTED))
    out += [f"key applied twice: refused transaction {r.id} ({r.key}) has ledger rows"
            for r in conn.execute(refused)]
    return out[:MAX_REPORTED]


def credited_once(conn: Connection) -> list[str]:
    q = (select(LedgerEntry.person_id, LedgerEntry.period, func.count().label("n"))
         .where(LedgerEntry.kind == "credit")
         .group_by(LedgerEntry.person_id, LedgerEntry.period).having(func.count() > 1)
         .order_by(LedgerEntry.person_id).limit(MAX_REPORTED))
    return [f"credit twice: person {r.person_id} month {r.period} ({r.n} credits)"
            for r in conn.execute(q)]


def _paying_settlements() -> Select[Any]:
    """Settlement transactions that moved money (have ledger rows)."""
    return (select(Transaction.id, Transaction.key, Transaction.result)
            .where(Transaction.kind == "settle",
                   Transaction.id.in_(select(LedgerEntry.txn_id).distinct()))
            .order_by(Transaction.id))


def family_money_confirmed(conn: Connection) -> list[str]:
    """Family money moves only under a plan someone confirmed: never under the key of an
    update (``tg:…``), which is what a swipe with no summary runs under (review H2)."""
    q = (select(Transaction.id, Transaction.key).distinct()
         .join(LedgerEntry, LedgerEntry.txn_id == Transaction.id)
         .where(LedgerEntry.kind == "settle_family", Transaction.key.like("tg:%"))
         .order_by(Transaction.id).limit(MAX_REPORTED))
    return [f"family money without 确认: transaction {r.id} ({r.key})" for r in conn.execute(q)]


def bills_settled_once(conn: Connection) -> list[str]:
    """One bill is paid at most once: an update's own settlement and the confirmed plans it
    led to (``origin``) are one bill between them (review H1)."""
    paid: dict[str, list[int]] = {}
    for r in conn.execute(_paying_settlements()):
        facts = (r.result or {}).get("facts") or {}
        origin = r.key if r.key.startswith("tg:") else facts.get("origin")
        if origin:
            paid.setdefault(str(origin), []).append(r.id)
    return [f"bill settled twice: {origin} paid by transactions {ids}"
            for origin, ids in sorted(paid.items()) if len(ids) > 1][:MAX_REPORTED]



def credit_periods_valid(conn: Connection, now: datetime | None = None) -> list[str]:
    """Every credit names a real month ``YYYY-MM`` no later than the current China month
    (review H3: ``/credit 9999-12`` minted a month in advance and the audit passed)."""
    current = china_month(now or SystemClock().now())
    q = (select(LedgerEntry.period, func.count().label("n")).where(LedgerEntry.kind == "credit")
         .group_by(LedgerEntry.period).order_by(LedgerEntry.period))
    return [f"credit for an invalid month: {r.period!r} ({r.n} credits; now {current})"
            for r in conn.execute(q)
            if r.period is None or not CREDIT_MONTH.fullmatch(r.period) or r.period > current
            ][:MAX_REPORTED]


_TOKEN = re.compile(r"\btoken=(\S+)")
_KEY = re.compile(r"\bkey=(\S+)")


def staff_credits_confirmed(conn: Connection) -> list[str]:
    """A staff credit (transaction key ``staff:…``) ran only after 确认: the audit log holds its
    confirmation (naming the key) by the staff member who asked for that token's summary."""
    asked: set[tuple[str, str]] = set()
    confirmed: dict[str, tuple[str, str]] = {}
    for n in conn.execute(select(Note.actor, Note.action, Note.details)
                          .where(Note.action.in_(("staff_credit", "staff_credit_confirmed")))):
        token, key = _TOKEN.search(n.details or ""), _KEY.search(n.details or "")
        if token and n.action == "staff_credit":
            asked.add((token.group(1), n.actor))
        elif token and key:
            confirmed[key.group(1)] = (token.group(1), n.actor)
    q = (select(Transaction.id, Transaction.key)
         .where(Transaction.kind == "credit", Transaction.key.like("staff:%"),
                Transaction.id.in_(select(LedgerEntry.txn_id).distinct()))
         .order_by(Transaction.id))
    return [f"staff credit without 确认: transaction {r.id} ({r.key})" for r in conn.execute(q)
            if confirmed.get(r.key) not in asked][:MAX_REPORTED]

# ---- 医保钱包 ---------------------------------------------------------------------------------

def wallet_balances_match_ledger(conn: Connection) -> list[str]:
    """Every wallet balance = Σ its ledger rows (a wallet opens empty)."""
    sums = (select(LedgerEntry.wallet_id.label("k"), func.sum(LedgerEntry.delta_fen).label("total"))
            .where(LedgerEntry.wallet_id.is_not(None)).group_by(LedgerEntry.wallet_id).subquery())
    expected = func.coalesce(sums.c.total, 0)
    q = (select(Wallet.id, Wallet.balance, expected.label("expected"))
         .outerjoin(sums, sums.c.k == Wallet.id).where(Wallet.balance != expected)
         .order_by(Wallet.id).limit(MAX_REPORTED))
    return [f"wallet balance mismatch: wallet {r.id} balance {r.balance} != ledger {r.expected}"
            for r in conn.execute(q)]


def no_negative_wallet(conn: Connection) -> list[str]:
    q = select(Wallet.id, Wallet.balance).where(Wallet.balance < 0).order_by(Wallet.id) \
        .limit(MAX_REPORTED)
    return [f"negative wallet balance: wallet {r.id} balance {r.balance}" for r in conn.execute(q)]


def wallet_rows_belong(conn: Connection) -> list[str]:
    """A wallet row names an existing wallet of that very person; wallet kinds, and only
    they, carry a wallet."""
    is_wallet_kind = LedgerEntry.kind.in_(WALLET_KINDS)
    q = (select(LedgerEntry.id, LedgerEntry.kind, LedgerEntry.wallet_id, LedgerEntry.person_id)
         .outerjoin(Wallet, Wallet.id == LedgerEntry.wallet_id)
         .where(or_(and_(LedgerEntry.wallet_id.is_(None), is_wallet_kind),
                    and_(LedgerEntry.wallet_id.is_not(None),
                         or_(~is_wallet_kind, Wallet.id.is_(None),
                             Wallet.person_id != LedgerEntry.person_id))))
         .order_by(LedgerEntry.id).limit(MAX_REPORTED))
    return [f"stray wallet row: ledger {r.id} ({r.kind}) wallet {r.wallet_id} "
            f"person {r.person_id}" for r in conn.execute(q)]


def transfers_balanced(conn: Connection) -> list[str]:
    """Every wallet transfer that moved money: out of one personal account exactly what went
    into one wallet, and that is the transaction's amount."""
    inflow = func.sum(case((and_(LedgerEntry.kind == "wallet_in",
                                 LedgerEntry.wallet_id.is_not(None)), LedgerEntry.delta_fen),
                           else_=0))
    outflow = func.sum(case((and_(LedgerEntry.kind == TRANSFER_OUT,
                                  LedgerEntry.wallet_id.is_(None)), -LedgerEntry.delta_fen),
                            else_=0))
    q = (select(Transaction.id, Transaction.key, Transaction.amount_fen,
                inflow.label("inflow"), outflow.label("outflow"))
         .join(LedgerEntry, LedgerEntry.txn_id == Transaction.id)
         .where(Transaction.kind == "transfer")
         .group_by(Transaction.id, Transaction.key, Transaction.amount_fen)
         .having(or_(func.count() != 2, inflow != outflow,
                     Transaction.amount_fen.is_(None), Transaction.amount_fen != inflow))
         .order_by(Transaction.id).limit(MAX_REPORTED))
    return [f"unbalanced transfer: transaction {r.id} ({r.key}) out {r.outflow} in {r.inflow} "
            f"amount {r.amount_fen}" for r in conn.execute(q)]


CHECKS: tuple[Check, ...] = (
    balances_match_ledger, no_negative_balance, used_within_limit, used_matches_ledger,
    settlements_balanced, keys_applied_once, credited_once, family_money_confirmed,
    bills_settled_once,
    credit_periods_valid, staff_credits_confirmed,
    wallet_balances_match_ledger, no_negative_wallet, wallet_rows_belong, transfers_balanced,
)


def audit(engine: Engine) -> list[str]:
    """Every violated invariant, one line each; an empty list when the ledger is sound."""
    violations: list[str] = []
    with engine.connect() as conn:
        for check in CHECKS:
            violations.extend(check(conn))
        conn.rollback()
    return violations
