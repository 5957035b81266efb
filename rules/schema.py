"""Database tables (SQLAlchemy 2 declarative, ``Mapped[]``). Money columns are integer fen.

All datetimes are naive UTC (see rules/clock.py). Bot-side state tables (links, pending
confirmations, processed updates …) live in bot/state.py on the same ``Base.metadata`` so
that one migration history covers the whole database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Person(Base):
    """An insured person from the registry (CSV import)."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    province: Mapped[str] = mapped_column(String(32))
    city: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))  # policy key, resolved at import
    scheme: Mapped[str] = mapped_column(String(16))  # employee | resident | none
    employment: Mapped[str | None] = mapped_column(String(16))  # employed | flexible | retired
    status: Mapped[str] = mapped_column(String(16))  # active | lapsed
    lapsed_since: Mapped[str | None] = mapped_column(String(7))  # YYYY-MM
    opening_balance: Mapped[int] = mapped_column(BigInteger)  # fen, as first imported
    balance: Mapped[int] = mapped_column(BigInteger)  # fen; = opening + Σ ledger
    monthly_credit: Mapped[int] = mapped_column(BigInteger)  # fen


class FamilyAccount(Base):
    """A householder's family mutual-aid account, opened by accepting the commitment letter."""

    __tablename__ = "family_accounts"
    householder_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    letter_version: Mapped[str] = mapped_column(String(32))
    letter_sha256: Mapped[str] = mapped_column(String(64))


class Binding(Base):
    """A householder lets a relative spend their personal account. Never deleted."""

    __tablename__ = "bindings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    householder_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    relative_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    relation: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime)
    limit_fen: Mapped[int | None] = mapped_column(BigInteger)  # None: no limit
    used_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    payer_rank: Mapped[int | None] = mapped_column(Integer)  # relative's order, 1 = pays first

    __table_args__ = (
        Index(
            "uq_bindings_active_pair", "householder_id", "relative_id", unique=True,
            sqlite_where=text("removed_at IS NULL"), postgresql_where=text("removed_at IS NULL"),
        ),
    )


class Transaction(Base):
    """One operation, keyed for idempotency; ``result`` is the first Decision, replayed."""

    __tablename__ = "transactions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    cash_fen: Mapped[int | None] = mapped_column(BigInteger)
    purpose: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class LedgerEntry(Base):
    """Append-only: every balance change is one row tied to one transaction."""

    __tablename__ = "ledger"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    txn_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    binding_id: Mapped[int | None] = mapped_column(ForeignKey("bindings.id"))
    delta_fen: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))  # credit settle_own settle_family contribute …
    period: Mapped[str | None] = mapped_column(String(7))  # YYYY-MM for monthly credits
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Set: the row moves the holder's 医保钱包 (wallets.id), not their personal account. No
    # database foreign key (SQLite cannot add one to an existing table); audit checks it.
    wallet_id: Mapped[int | None] = mapped_column(Integer, index=True)

    __table_args__ = (
        Index(
            "uq_ledger_credit_once", "person_id", "period", unique=True,
            sqlite_where=text("kind = 'credit'"), postgresql_where=text("kind = 'credit'"),
        ),
    )


class Wallet(Base):
    """A person's 医保钱包, once activated: its balance belongs to the holder; every change is
    a ledger row with ``wallet_id`` set. Only a salted password hash is kept."""

    __tablename__ = "wallets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), unique=True)
    state: Mapped[str] = mapped_column(String(16))  # active
    city: Mapped[str] = mapped_column(String(32))  # place of use: the insured city
    balance: Mapped[int] = mapped_column(BigInteger, default=0)  # fen; = Σ its ledger rows
    password_hash: Mapped[str] = mapped_column(String(160))
    activated_at: Mapped[datetime] = mapped_column(DateTime)
    wrong_passwords: Mapped[int] = mapped_column(Integer, default=0)
    wrong_since: Mapped[datetime | None] = mapped_column(DateTime)


class RetryWindow(Base):
    """Retry-window regions: a short swipe opens a window; a re-swipe in it uses family money."""

    __tablename__ = "retry_windows"
    relative_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(32))


class Note(Base):
    """Free-form operational records the domain keeps (e.g. staff actions); JSON details."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text, default="")
