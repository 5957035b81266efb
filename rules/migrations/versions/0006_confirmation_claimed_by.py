"""Which press recorded a confirmation's outcome (``confirmations.claimed_by``).

A replica that dies between committing a confirmed action and showing its outcome leaves the
press to be redelivered; the redelivery of that very press (same processed marker) shows the
stored outcome, while any other press only hears 已处理 (bot/confirm.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("confirmations")}
    if "claimed_by" not in columns:  # create_all (console / people import) may have made it
        op.add_column("confirmations", sa.Column("claimed_by", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("confirmations") as batch:
        batch.drop_column("claimed_by")
