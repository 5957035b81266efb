"""The handlers' reads and writes of the bot's own tables, in one place: conversation states
(a staff reply, a wallet password, a link's ID tail), staff notes in the audit log, unanswered
questions, feedback votes, /stats counts and the staff's name search.

Handlers hold no SQL: they call these (synchronous, through ``bot.context.call``) and render
what comes back. Dedicated stores keep their own tables: ``bot/steps.py`` (our multi-step
exchanges), ``bot/linking.py`` (links and attempts), ``bot/confirm.py`` (confirmation tokens),
``bot/redelivery.py`` (processed updates), ``bot/support.py`` (hand-offs and the question log)
and ``bot/learned.py`` (taught phrasings). Nothing here imports ``telegram``.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select

from bot import limits
from bot.context import Services
from bot.linking import looks_like_tail
from bot.state import (
    Confirmation,
    ConversationState,
    Feedback,
    LearnedPhrasing,
    Link,
    UnansweredQuestion,
)
from rules.identity import redact
from rules.schema import Binding, FamilyAccount, Note, Person

log = logging.getLogger(__name__)

MAX_MATCHES = 10  # the staff's name search shows at most this many (one more says "more")


# ---- conversation state: one row per user, whose ``state`` names what the next message is --

def state_of(svc: Services, user_id: int, state: str,
             max_age: timedelta | None = None) -> dict[str, Any] | None:
    """The data of the user's pending ``state``; None when another (or none) is pending, or it
    is older than ``max_age``."""
    with svc.sessions() as s:
        row = s.get(ConversationState, user_id)
        if row is None or row.state != state:
            return None
        if max_age is not None and svc.clock.now() - row.updated_at > max_age:
            return None
        return dict(json.loads(row.data or "{}"))


def put_state(svc: Services, user_id: int, state: str, data: dict[str, Any]) -> None:
    """Make ``state`` the user's pending one (replacing whatever was pending)."""
    with svc.sessions.begin() as s:
        s.execute(delete(ConversationState).where(ConversationState.user_id == user_id))
        s.add(ConversationState(user_id=user_id, state=state, data=json.dumps(data),
                                updated_at=svc.clock.now()))


def drop_state(svc: Services, user_id: int, state: str | None = None) -> None:
    """End the user's pending ``state`` (any state when None); others' are left alone."""
    q = delete(ConversationState).where(ConversationState.user_id == user_id)
    if state is not None:
        q = q.where(ConversationState.state == state)
    with svc.sessions.begin() as s:
        s.execute(q)


# ---- confirmation tokens, as the wallet's password step reads them ------------------------

def pending_confirmation(svc: Services, token: str) -> tuple[int, dict[str, Any], bool] | None:
    """``(owner user id, payload, expired)`` of a confirmation token, or None."""
    with svc.sessions() as s:
        row = s.scalar(select(Confirmation).where(Confirmation.token == token))
        if row is None:
            return None
        return row.owner_user_id, json.loads(row.payload), svc.clock.now() >= row.expires_at


# ---- staff notes ---------------------------------------------------------------------------

def note(svc: Services, staff_id: int | None, action: str, details: str | None = None) -> None:
    """Keep a staff action in the audit log table (``staff_{action}``; details already masked)."""
    with svc.sessions.begin() as s:
        s.add(Note(at=svc.clock.now(), actor=f"tg:{staff_id}", action=f"staff_{action}",
                   details=details))


# ---- unanswered questions --------------------------------------------------------------------

def _not_taught() -> Any:
    taught = select(LearnedPhrasing.id).where(
        LearnedPhrasing.unanswered_id == UnansweredQuestion.id)
    return ~taught.exists()


def keep_unanswered(svc: Services, question: str, best: str | None, score: float,
                    user_id: int | None = None) -> bool:
    """Keep the question (redacted) so staff can add it to the knowledge base; False when it
    was not kept (a tail-like text, or over the caps in bot/limits.py)."""
    now = svc.clock.now()
    if looks_like_tail(question) or not limits.may_keep_unanswered(svc.engine, user_id, now):
        return False
    with svc.sessions.begin() as s:
        if limits.total_reached(s, now):
            return False
        s.add(UnansweredQuestion(question=redact(question), best_entry=best, score=score,
                                 at=now))
    return True


def recent_unanswered(svc: Services, limit: int) -> list[UnansweredQuestion]:
    """The newest questions not yet taught to the knowledge base."""
    with svc.sessions() as s:
        return list(s.scalars(select(UnansweredQuestion).where(_not_taught())
                              .order_by(UnansweredQuestion.id.desc()).limit(limit)))


def unanswered_text(svc: Services, number: int) -> str | None:
    """The text of unanswered question #number, or None."""
    with svc.sessions() as s:
        row = s.get(UnansweredQuestion, number)
        return None if row is None else row.question


def dismiss_unanswered(svc: Services, ids: list[int], user_id: int | None) -> list[int]:
    """Delete those unanswered questions that were not taught; the ids deleted (audited)."""
    with svc.sessions.begin() as s:
        found = list(s.scalars(select(UnansweredQuestion.id).where(
            UnansweredQuestion.id.in_(ids), _not_taught()).order_by(UnansweredQuestion.id)))
        if found:
            s.execute(delete(UnansweredQuestion).where(UnansweredQuestion.id.in_(found)))
        s.add(Note(at=svc.clock.now(), actor=f"tg:{user_id}", action="staff_unanswered_dismiss",
                   details=" ".join(f"#{i}" for i in found) or "none"))
    log.info("staff %s dismissed unanswered %s", user_id, found)
    return found


# ---- feedback -------------------------------------------------------------------------------

def vote(svc: Services, user_id: int, entry_id: str, helpful: bool) -> None:
    """One vote per user and entry: pressing the other button changes it."""
    with svc.sessions.begin() as s:
        row = s.scalars(select(Feedback).where(Feedback.user_id == user_id,
                                               Feedback.entry_id == entry_id)).first()
        if row is None:
            s.add(Feedback(user_id=user_id, entry_id=entry_id, helpful=helpful, at=svc.clock.now()))
        else:
            row.helpful, row.at = helpful, svc.clock.now()


# ---- reports ------------------------------------------------------------------------------

def counts(svc: Services) -> dict[str, int]:
    """Row counts for /stats."""
    def n(stmt: Any) -> int:
        return int(s.scalar(stmt) or 0)

    with svc.sessions() as s:
        return {
            "people": n(select(func.count()).select_from(Person)),
            "links": n(select(func.count()).select_from(Link)),
            "accounts": n(select(func.count()).select_from(FamilyAccount)),
            "bindings": n(select(func.count()).select_from(Binding)
                          .where(Binding.removed_at.is_(None))),
            "unanswered": n(select(func.count()).select_from(UnansweredQuestion)),
            "taught": n(select(func.count()).select_from(LearnedPhrasing)),
            "helpful": n(select(func.count()).select_from(Feedback).where(Feedback.helpful)),
            "unhelpful": n(select(func.count()).select_from(Feedback)
                           .where(Feedback.helpful.is_(False))),
        }


def people_named(svc: Services, name: str) -> list[Any]:
    """People whose name is ``name`` (or contains it, for two or more characters); at most
    MAX_MATCHES + 1 (the extra one says there are more)."""
    with svc.sessions() as s:
        ids = list(s.scalars(select(Person.id).where(Person.name == name).order_by(Person.id)))
        if not ids:  # a surname alone matches from the start, longer text anywhere
            bare = name.replace("%", "").replace("_", "")
            pattern = (bare + "%") if len(bare) == 1 else ("%" + bare + "%")
            ids = list(s.scalars(select(Person.id).where(Person.name.like(pattern))
                                 .order_by(Person.id).limit(MAX_MATCHES + 1)))
    return [svc.family.person(i) for i in ids[: MAX_MATCHES + 1]]
