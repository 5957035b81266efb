"""Linking a Telegram user to an insured person: own contact → phone match → ID tail.

Synchronous (called through ``bot.context.call``); all state lives in the database
(``conversation_state``, ``link_attempts``, ``links``) so any replica can continue.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.context import Services
from bot.state import ConversationState, Link, LinkAttempt
from rules.codes import Reason
from rules.identity import clean_text, normalize_phone

AWAIT_TAIL = "link_tail"
_TAIL = re.compile(r"[0-9X]{4}")
_TAILISH = re.compile(r"[0-9Xx\s]+")


@dataclass(frozen=True)
class LinkResult:
    """What happened: ``ask_tail``, ``linked``, ``refused`` (with code), or ``idle``."""

    kind: str
    code: Reason | None = None
    person_id: int | None = None
    remaining: int = 0
    taken: bool = False  # refused because the person is linked to another user


def _failures(s: Session, svc: Services, user_id: int) -> int:
    since = svc.clock.now() - timedelta(seconds=svc.settings.linking.window_seconds)
    return s.scalar(select(func.count()).select_from(LinkAttempt).where(
        LinkAttempt.user_id == user_id, LinkAttempt.ok.is_(False), LinkAttempt.at >= since)) or 0


def locked(svc: Services, user_id: int) -> bool:
    """Whether the user has used up their verification attempts for now."""
    with svc.sessions() as s:
        return _failures(s, svc, user_id) >= svc.settings.linking.max_attempts


def _linked_elsewhere(s: Session, person_id: int, user_id: int) -> bool:
    owner = s.scalar(select(Link.user_id).where(Link.person_id == person_id))
    return owner is not None and owner != user_id


def begin(svc: Services, user_id: int, phone_text: str) -> LinkResult:
    """The user shared their own contact: find people with that phone and ask for the tail."""
    if locked(svc, user_id):
        return LinkResult("refused", Reason.TOO_MANY_ATTEMPTS)
    phone = normalize_phone(phone_text or "")
    people = svc.family.people_by_phone(phone) if phone else []
    if not people:
        return LinkResult("refused", Reason.PHONE_NOT_FOUND)
    with svc.sessions.begin() as s:
        free = [p.id for p in people if not _linked_elsewhere(s, p.id, user_id)]
        if not free:
            return LinkResult("refused", Reason.FORBIDDEN, taken=True)
        data = json.dumps({"candidates": free})
        state = s.get(ConversationState, user_id)
        if state is None:
            s.add(ConversationState(user_id=user_id, state=AWAIT_TAIL, data=data,
                                    updated_at=svc.clock.now()))
        else:
            state.state, state.data, state.updated_at = AWAIT_TAIL, data, svc.clock.now()
    return LinkResult("ask_tail")


def looks_like_tail(text: str) -> bool:
    """Digits/X only (a mistyped tail counts as a try; a sentence is a question instead)."""
    return bool(_TAILISH.fullmatch(clean_text(text))) and len(clean_text(text)) <= 24


def verify(svc: Services, user_id: int, text: str) -> LinkResult:
    """Check the last 4 characters of the ID number; ``idle`` when no link is pending."""
    if not looks_like_tail(text):
        return LinkResult("idle")
    with svc.sessions() as s:
        state = s.get(ConversationState, user_id)
        if state is None or state.state != AWAIT_TAIL:
            return LinkResult("idle")
        candidates = [int(i) for i in json.loads(state.data or "{}").get("candidates", [])]
    limit = svc.settings.linking.max_attempts
    if locked(svc, user_id):
        return LinkResult("refused", Reason.TOO_MANY_ATTEMPTS)
    tail = re.sub(r"\s+", "", clean_text(text)).upper()
    people = [svc.family.person(pid) for pid in candidates]
    match = next((p for p in people if p and _TAIL.fullmatch(tail) and p.id_number[-4:] == tail),
                 None)
    now = svc.clock.now()
    with svc.sessions.begin() as s:
        s.add(LinkAttempt(user_id=user_id, at=now, ok=match is not None))
        if match is None:
            s.flush()
            left = limit - _failures(s, svc, user_id)
            code = Reason.TOO_MANY_ATTEMPTS if left <= 0 else Reason.VERIFY_FAILED
            return LinkResult("refused", code, remaining=max(left, 0))
    return _link(svc, user_id, match.id)


def _link(svc: Services, user_id: int, person_id: int) -> LinkResult:
    try:
        with svc.sessions.begin() as s:
            if _linked_elsewhere(s, person_id, user_id):
                return LinkResult("refused", Reason.FORBIDDEN, taken=True)
            s.execute(delete(Link).where(Link.user_id == user_id))
            s.execute(delete(ConversationState).where(ConversationState.user_id == user_id))
            s.add(Link(user_id=user_id, person_id=person_id, linked_at=svc.clock.now()))
    except IntegrityError:  # another user linked this person at the same moment
        return LinkResult("refused", Reason.FORBIDDEN, taken=True)
    svc.askers.forget(user_id)
    return LinkResult("linked", person_id=person_id)


def cancel(svc: Services, user_id: int) -> bool:
    """Forget a pending multi-step exchange; True when there was one."""
    with svc.sessions.begin() as s:
        done = s.execute(delete(ConversationState).where(ConversationState.user_id == user_id))
        return bool(cast(CursorResult[Any], done).rowcount)


def unlink(svc: Services, user_id: int) -> bool:
    """Remove the user's link (e.g. before moving to a new Telegram account)."""
    svc.askers.forget(user_id)
    with svc.sessions.begin() as s:
        done = s.execute(delete(Link).where(Link.user_id == user_id))
        return bool(cast(CursorResult[Any], done).rowcount)
