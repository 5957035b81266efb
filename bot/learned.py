"""Questions staff taught the knowledge base (/teach), kept in ``learned_phrasings``.

A taught question becomes one more phrasing of its entry in every replica's matcher: the
replica that takes /teach rebuilds its matcher at once, and the others notice the table's
newest id when a question arrives, at most REFRESH_SECONDS after their last look. The YAML
files stay the reviewed knowledge base (``python -m bot ask`` reads only them unless given
``--taught``); ``python -m bot kb taught`` prints the taught questions for folding them in.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.caches import AnswerCache
from bot.settings import Settings
from bot.state import LearnedPhrasing, UnansweredQuestion
from knowledge import Answer, Entry, KnowledgeBase, Matcher

if TYPE_CHECKING:
    from bot.context import Services

log = logging.getLogger(__name__)

REFRESH_SECONDS = 60.0   # how stale another replica's matcher may be after a /teach
Outcome = Literal["taught", "already", "no_question", "no_entry"]
_REBUILDING = threading.Lock()


@dataclass(frozen=True)
class Taught:
    outcome: Outcome
    question: str = ""                # the unanswered question (already redacted)
    entry_id: str = ""                # the entry it teaches (for "already": the earlier one)
    answer: Answer | None = None      # what the matcher makes of the question now


def build_matcher(settings: Settings, kb: KnowledgeBase) -> Matcher:
    """The matcher with the configured bands."""
    k = settings.knowledge
    return Matcher(kb, answer_threshold=k.answer_threshold, suggest_threshold=k.suggest_threshold,
                   max_suggestions=k.max_suggestions, hotline=k.hotline)


def _version(newest: int, count: int) -> int:
    """Teaching raises the newest id, undoing (/untaught) lowers the count: either changes it."""
    return newest * 1_000_000_007 + count


def load_learned(sessions: sessionmaker[Session]) -> tuple[dict[str, list[str]], int]:
    """Entry id → taught questions, oldest first; and the table's version (0: none)."""
    with sessions() as s:
        rows = s.execute(select(LearnedPhrasing.id, LearnedPhrasing.entry_id,
                                LearnedPhrasing.question).order_by(LearnedPhrasing.id)).all()
    extra: dict[str, list[str]] = {}
    for _, entry_id, question in rows:
        extra.setdefault(entry_id, []).append(question)
    return extra, _version(max((row.id for row in rows), default=0), len(rows))


def learned_version(sessions: sessionmaker[Session]) -> int:
    """Changes whenever any replica is taught something or a taught question is undone."""
    with sessions() as s:
        newest, count = s.execute(select(func.max(LearnedPhrasing.id),
                                         func.count(LearnedPhrasing.id))).one()
    return _version(int(newest or 0), int(count or 0))


def rebuild(svc: Services) -> None:
    """Rebuild this process's matcher from the YAML knowledge base plus every taught question
    (blocking: run it in a worker thread). Answers cached for the old matcher are dropped.
    One rebuild at a time, so a slow one that read the table earlier never replaces a newer."""
    with _REBUILDING:
        extra, version = load_learned(svc.sessions)
        matcher = build_matcher(svc.settings, svc.kb.with_phrasings(extra))
        svc.matcher, svc.answers, svc.knowledge_version = matcher, AnswerCache(), version
    log.info("matcher rebuilt with %d taught questions", sum(map(len, extra.values())))


def refresh_if_taught(svc: Services) -> None:
    """Rebuild when another replica was taught something since this one last looked."""
    try:
        if learned_version(svc.sessions) != svc.knowledge_version:
            rebuild(svc)
    except SQLAlchemyError:  # keep answering with what we have; the next look tries again
        log.warning("could not check for taught questions", exc_info=True)


def teach(svc: Services, unanswered_id: int, entry_id: str, staff_id: int) -> Taught:
    """Make unanswered question ``unanswered_id`` a phrasing of entry ``entry_id``."""
    entry: Entry | None = svc.kb.entry(entry_id)
    if entry is None:
        return Taught("no_entry", entry_id=entry_id)
    try:
        stored = _store(svc, unanswered_id, entry, staff_id)
    except IntegrityError:  # another replica taught the same question a moment ago
        stored = _store(svc, unanswered_id, entry, staff_id)
    if stored.outcome != "taught":
        return stored
    rebuild(svc)
    return Taught("taught", stored.question, entry.id, svc.matcher.ask(stored.question))


def untaught(svc: Services, unanswered_id: int, staff_id: int) -> str | None:
    """Undo /teach for question ``unanswered_id``: the entry id it had taught (the question is
    unanswered again, back in /unanswered), or None when it was not taught. Rebuilds the
    matcher; other replicas follow within REFRESH_SECONDS."""
    with svc.sessions.begin() as s:
        row = s.scalar(select(LearnedPhrasing)
                       .where(LearnedPhrasing.unanswered_id == unanswered_id))
        if row is None:
            return None
        entry_id = row.entry_id
        s.delete(row)
    log.info("staff %s undid taught question #%s (%s)", staff_id, unanswered_id, entry_id)
    rebuild(svc)
    return entry_id


def _store(svc: Services, unanswered_id: int, entry: Entry, staff_id: int) -> Taught:
    with svc.sessions.begin() as s:
        row = s.get(UnansweredQuestion, unanswered_id)
        if row is None:
            return Taught("no_question")
        earlier = s.scalar(select(LearnedPhrasing)
                           .where(LearnedPhrasing.unanswered_id == unanswered_id))
        if earlier is not None:
            return Taught("already", earlier.question, earlier.entry_id)
        s.add(LearnedPhrasing(entry_id=entry.id, question=row.question,
                              unanswered_id=unanswered_id, taught_by=staff_id,
                              at=svc.clock.now()))
        return Taught("taught", row.question, entry.id)


async def keep_current(svc: Services) -> None:
    """Before answering: pick up what other replicas were taught, looking at most once per
    REFRESH_SECONDS (by the injected clock), in a worker thread."""
    now = svc.clock.now()
    last = svc.knowledge_checked
    if last is not None and (now - last).total_seconds() < REFRESH_SECONDS:
        return
    svc.knowledge_checked = now  # first, so that concurrent questions do not all look
    await asyncio.to_thread(refresh_if_taught, svc)
