"""医保钱包: the wallets table, and ``ledger.wallet_id`` marking rows that move a wallet.

A wallet row exists once its holder activated it (state, place of use, balance in fen, the
salted password hash, wrong-password counter). Ledger rows with ``wallet_id`` set change that
wallet's balance instead of the holder's personal account. Each step is skipped when it is
already there: create_all (the console, `people import`) makes missing tables on SQLite, but
never adds a column to an existing table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    insp = sa.inspect(op.get_bind())
    if "wallets" not in insp.get_table_names():
        op.create_table(
            "wallets",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("person_id", sa.Integer(), nullable=False),
            sa.Column("state", sa.String(length=16), nullable=False),
            sa.Column("city", sa.String(length=32), nullable=False),
            sa.Column("balance", sa.BigInteger(), nullable=False),
            sa.Column("password_hash", sa.String(length=160), nullable=False),
            sa.Column("activated_at", sa.DateTime(), nullable=False),
            sa.Column("wrong_passwords", sa.Integer(), nullable=False),
            sa.Column("wrong_since", sa.DateTime(), nullable=True),
            sa.ForeignKeyConstraint(["person_id"], ["people.id"],
                                    name=op.f("fk_wallets_person_id_people")),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_wallets")),
            sa.UniqueConstraint("person_id", name=op.f("uq_wallets_person_id")),
        )
    if "wallet_id" not in {c["name"] for c in insp.get_columns("ledger")}:
        op.add_column("ledger", sa.Column("wallet_id", sa.Integer(), nullable=True))
    if "ix_ledger_wallet_id" not in {ix["name"] for ix in insp.get_indexes("ledger")}:
        op.create_index(op.f("ix_ledger_wallet_id"), "ledger", ["wallet_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ledger_wallet_id"), table_name="ledger")
    op.drop_column("ledger", "wallet_id")
    op.drop_table("wallets")
