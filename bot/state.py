"""Bot-side state kept in the database, so any replica can continue any conversation.

These tables share ``rules.schema.Base.metadata`` (one migration history). Nothing here
imports ``telegram``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rules.schema import Base


class Link(Base):
    """One Telegram user ↔ one insured person, after phone + ID-tail verification."""

    __tablename__ = "links"
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), unique=True)
    linked_at: Mapped[datetime] = mapped_column(DateTime)


class LinkAttempt(Base):
    """A verification try (failed ones count towards TOO_MANY_ATTEMPTS)."""

    __tablename__ = "link_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    ok: Mapped[bool] = mapped_column()


class LinkPersonFailure(Base):
    """A failed verification charged to a person it was aimed at: the per-person budget holds
    however many Telegram accounts guess (review M4)."""

    __tablename__ = "link_person_failures"
    __table_args__ = (Index("ix_link_person_failures_person_id_at", "person_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime)


class ConversationState(Base):
    """Where a user is in a multi-step exchange (e.g. phone shared, awaiting ID tail)."""

    __tablename__ = "conversation_state"
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Confirmation(Base):
    """A pending 确认/取消 summary: short opaque token, owner, expiry, single use."""

    __tablename__ = "confirmations"
    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    result: Mapped[str | None] = mapped_column(Text)  # JSON of the first outcome
    # the processed marker of the press that recorded ``result`` (bot.confirm._acted)
    claimed_by: Mapped[int | None] = mapped_column(BigInteger)


class ProcessedUpdate(Base):
    """Telegram update_ids already handled: a redelivered update has no second effect."""

    __tablename__ = "processed_updates"
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime)


class Feedback(Base):
    """👍/👎 on a knowledge-base answer."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[str] = mapped_column(String(64), index=True)
    helpful: Mapped[bool] = mapped_column()
    at: Mapped[datetime] = mapped_column(DateTime)


class UnansweredQuestion(Base):
    """A question the knowledge base could not answer, masked, for staff to turn into knowledge."""

    __tablename__ = "unanswered"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(Text)  # already redacted
    best_entry: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float] = mapped_column()
    at: Mapped[datetime] = mapped_column(DateTime)


class LearnedPhrasing(Base):
    """An unanswered question staff taught the knowledge base (/teach): from then on every
    replica matches it as one more phrasing of the entry."""

    __tablename__ = "learned_phrasings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(Text)  # as kept in ``unanswered``: already redacted
    # one question teaches one entry, however often (or on however many replicas) it is sent
    unanswered_id: Mapped[int] = mapped_column(ForeignKey("unanswered.id"), unique=True)
    taught_by: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime)


class QuestionLog(Base):
    """One question a user asked and how it was answered (answer | suggest | fallback |
    smalltalk | handoff), masked: the recent context a hand-off shows staff, and /stats' chart."""

    __tablename__ = "question_log"
    __table_args__ = (Index("ix_question_log_user_id_id", "user_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    entry_id: Mapped[str | None] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(Text)  # already redacted


class HandOff(Base):
    """A conversation handed to support staff (人工 / 转人工 / /human): open until a staff member
    closes it; staff replies are relayed to ``user_id``. In the database, so any replica can
    take the staff member's reply button."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_user_id_opened_at", "user_id", "opened_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    question: Mapped[str] = mapped_column(Text)            # already redacted
    context: Mapped[str] = mapped_column(Text, default="")  # recent turns, already redacted
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | closed
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[int | None] = mapped_column(BigInteger)
    # the unanswered row made when a staff member teaches the question (bot/learned.py)
    unanswered_id: Mapped[int | None] = mapped_column(ForeignKey("unanswered.id"))
