"""Link person failures: failed ID-tail verifications charged to the person they aimed at, so
the lockout counts per person as well as per Telegram user (review M4).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if "link_person_failures" in sa.inspect(op.get_bind()).get_table_names():
        return  # made already by create_all (console / people import on SQLite)
    op.create_table(
        "link_person_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_person_failures")),
    )
    op.create_index("ix_link_person_failures_person_id_at", "link_person_failures",
                    ["person_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_link_person_failures_person_id_at", table_name="link_person_failures")
    op.drop_table("link_person_failures")
