"""Linking a Telegram user to an insured person: own contact → phone match → ID tail.

Synchronous (called through ``bot.context.call``); all state lives in the database
(``conversation_state``, ``link_attempts``, ``links``) so any replica can continue.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.context import Services
from bot.state import ConversationState, Link, LinkAttempt, LinkPersonFailure
from rules.codes import Reason
from rules.identity import clean_text, normalize_phone
from rules.schema import Person

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
    alerts: tuple[int, ...] = ()  # linked accounts of people whose linking just got locked
    person_locked: bool = False  # TOO_MANY_ATTEMPTS because of the people's budget, not the user's


def _since(svc: Services, seconds: int) -> datetime:
    return svc.clock.now() - timedelta(seconds=seconds)


def _failures(s: Session, svc: Services, user_id: int) -> int:
    since = _since(svc, svc.settings.linking.window_seconds)
    return s.scalar(select(func.count()).select_from(LinkAttempt).where(
        LinkAttempt.user_id == user_id, LinkAttempt.ok.is_(False), LinkAttempt.at >= since)) or 0


def _person_failures(s: Session, svc: Services, person_id: int) -> int:
    since = _since(svc, svc.settings.linking.person_window_seconds)
    return s.scalar(select(func.count()).select_from(LinkPersonFailure).where(
        LinkPersonFailure.person_id == person_id, LinkPersonFailure.at >= since)) or 0


def locked(svc: Services, user_id: int) -> bool:
    """Whether the user has used up their verification attempts for now."""
    with svc.sessions() as s:
        return _failures(s, svc, user_id) >= svc.settings.linking.max_attempts


def _open_people(s: Session, svc: Services, person_ids: list[int]) -> list[int]:
    """Those of the people whose own failure budget is not used up."""
    limit = svc.settings.linking.person_max_attempts
    return [pid for pid in person_ids if _person_failures(s, svc, pid) < limit]


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
        if not _open_people(s, svc, free):
            return LinkResult("refused", Reason.TOO_MANY_ATTEMPTS, person_locked=True)
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


def _pending_candidates(svc: Services, user_id: int) -> list[int] | None:
    with svc.sessions() as s:
        state = s.get(ConversationState, user_id)
        if state is None or state.state != AWAIT_TAIL:
            return None
        return sorted(int(i) for i in json.loads(state.data or "{}").get("candidates", []))


def verify(svc: Services, user_id: int, text: str) -> LinkResult:
    """Check the last 4 characters of the ID number; ``idle`` when no link is pending.

    Check and record are one transaction that first locks the people aimed at (``FOR UPDATE``
    on PostgreSQL; SQLite transactions here begin IMMEDIATE): concurrent guesses queue, and
    each counts the ones before it, so neither budget — per Telegram user, per person — can be
    passed (review M4).
    """
    if not looks_like_tail(text):
        return LinkResult("idle")
    candidates = _pending_candidates(svc, user_id)
    if candidates is None:
        return LinkResult("idle")
    settings = svc.settings.linking
    tail = re.sub(r"\s+", "", clean_text(text)).upper()
    with svc.sessions.begin() as s:
        id_numbers = dict(s.execute(select(Person.id, Person.id_number)
                                    .where(Person.id.in_(candidates)).order_by(Person.id)
                                    .with_for_update()).all())
        aimed = _open_people(s, svc, sorted(id_numbers))
        if _failures(s, svc, user_id) >= settings.max_attempts or not aimed:
            return LinkResult("refused", Reason.TOO_MANY_ATTEMPTS, person_locked=not aimed)
        match = next((pid for pid in aimed
                      if _TAIL.fullmatch(tail) and id_numbers[pid][-4:] == tail), None)
        now = svc.clock.now()
        s.add(LinkAttempt(user_id=user_id, at=now, ok=match is not None))
        if match is None:
            s.add_all([LinkPersonFailure(person_id=pid, user_id=user_id, at=now)
                       for pid in aimed])
            s.flush()
            left = settings.max_attempts - _failures(s, svc, user_id)
            person_left = {pid: settings.person_max_attempts - _person_failures(s, svc, pid)
                           for pid in aimed}
            remaining = min(left, max(person_left.values()))
            code = Reason.TOO_MANY_ATTEMPTS if remaining <= 0 else Reason.VERIFY_FAILED
            return LinkResult("refused", code, remaining=max(remaining, 0),
                              alerts=_owners(s, [p for p, n in person_left.items() if n == 0],
                                             user_id),
                              person_locked=left > 0 and max(person_left.values()) <= 0)
    return _link(svc, user_id, match)


def _owners(s: Session, person_ids: list[int], guesser: int) -> tuple[int, ...]:
    """The linked accounts of people whose linking was just locked (not the guesser's own)."""
    if not person_ids:
        return ()
    owners = s.scalars(select(Link.user_id).where(Link.person_id.in_(person_ids)))
    return tuple(sorted(uid for uid in owners if uid != guesser))


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
