"""Hand-offs to support staff (人工 / /human) and the question log (recent context for staff,
the /stats chart).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 22:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    # either may have been made already by create_all (console / people import on SQLite)
    if "question_log" not in tables:
        op.create_table(
            "question_log",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.BigInteger(), nullable=True),
            sa.Column("at", sa.DateTime(), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("entry_id", sa.String(length=64), nullable=True),
            sa.Column("question", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_question_log")),
        )
        op.create_index("ix_question_log_user_id_id", "question_log", ["user_id", "id"],
                        unique=False)
        op.create_index(op.f("ix_question_log_at"), "question_log", ["at"], unique=False)
    if "handoffs" not in tables:
        op.create_table(
            "handoffs",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.BigInteger(), nullable=False),
            sa.Column("question", sa.Text(), nullable=False),
            sa.Column("context", sa.Text(), nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("opened_at", sa.DateTime(), nullable=False),
            sa.Column("replies", sa.Integer(), nullable=False),
            sa.Column("closed_at", sa.DateTime(), nullable=True),
            sa.Column("closed_by", sa.BigInteger(), nullable=True),
            sa.Column("unanswered_id", sa.Integer(), nullable=True),
            sa.ForeignKeyConstraint(["unanswered_id"], ["unanswered.id"],
                                    name=op.f("fk_handoffs_unanswered_id_unanswered")),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
        )
        op.create_index("ix_handoffs_user_id_opened_at", "handoffs", ["user_id", "opened_at"],
                        unique=False)
        op.create_index(op.f("ix_handoffs_status"), "handoffs", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_handoffs_status"), table_name="handoffs")
    op.drop_index("ix_handoffs_user_id_opened_at", table_name="handoffs")
    op.drop_table("handoffs")
    op.drop_index(op.f("ix_question_log_at"), table_name="question_log")
    op.drop_index("ix_question_log_user_id_id", table_name="question_log")
    op.drop_table("question_log")
