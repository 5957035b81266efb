"""Support staff in the loop: the question log and hand-offs (人工 / 转人工 / /human).

Everything lives in the database (``question_log``, ``handoffs``), so the replica that takes
a staff member's 回复 button need not be the one the user wrote to. Questions are kept masked
(:func:`rules.identity.redact`). Nothing here imports ``telegram``; the chat side is
``bot/handlers/support.py``.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select

from bot import learned
from bot.limits import SlidingWindow
from bot.state import HandOff, QuestionLog, UnansweredQuestion
from rules.identity import clean_text, redact

if TYPE_CHECKING:
    from bot.context import Services

log = logging.getLogger(__name__)

HANDOFF_WORDS = ("转人工客服", "人工客服", "转人工", "找人工", "人工服务", "人工")
CONTEXT_TURNS = 5              # the user's last questions shown to staff with a hand-off
MAX_OPEN_PER_USER = 1          # one open hand-off at a time; asking again adds to it
MAX_PER_DAY = 3                # hand-offs a user may open in 24 hours
KIND_WORDS = {"answer": "已直接回答", "suggest": "给了候选问题", "fallback": "未能回答",
              "smalltalk": "闲聊"}


def handoff_request(text: str) -> str | None:
    """``人工`` / ``转人工 问题…`` → the question after the word ("" when none); else None."""
    t = clean_text(text).strip()
    for word in HANDOFF_WORDS:
        if t == word:
            return ""
        if t.startswith(word) and t[len(word)] in " ，,：:":
            return t[len(word) + 1:].strip(" ，,：:")
    return None


# ---- the question log -------------------------------------------------------------------

LOG_KEEP = timedelta(days=31)  # the /stats chart shows 14 days; hand-offs show the last turns
LOG_PER_USER_HOUR = 120        # beyond this a user's questions are answered but not logged
_logged = SlidingWindow(LOG_PER_USER_HOUR, timedelta(hours=1))
_log_calls = itertools.count(1)


_LOG = insert(QuestionLog.__table__)  # type: ignore[arg-type]  # the table: no ORM bulk path


def log_questions(svc: Services, rows: list[tuple[int | None, str, str, str | None]]
                  ) -> list[None]:
    """Keep ``(user_id, question, kind, entry_id)`` rows (masked) in one transaction; bounded:
    a per-user hourly budget, and rows older than :data:`LOG_KEEP` pruned now and then."""
    now = svc.clock.now()
    kept = [r for r in rows if _logged.allow(r[0] or 0, now)]
    with svc.sessions.begin() as s:
        if kept:  # one Core executemany (this runs for every question asked)
            s.connection().execute(_LOG, [
                {"user_id": uid, "at": now, "kind": kind, "entry_id": entry,
                 "question": redact(question)[:1000]} for uid, question, kind, entry in kept])
        if next(_log_calls) % 500 == 1:
            s.execute(delete(QuestionLog).where(QuestionLog.at < now - LOG_KEEP))
    return [None] * len(rows)


def recent_turns(svc: Services, user_id: int, limit: int = CONTEXT_TURNS) -> list[QuestionLog]:
    """The user's last questions, oldest first."""
    with svc.sessions() as s:
        rows = list(s.scalars(select(QuestionLog).where(QuestionLog.user_id == user_id)
                              .order_by(QuestionLog.id.desc()).limit(limit)))
    return rows[::-1]


def context_text(svc: Services, turns: list[QuestionLog]) -> str:
    """Recent turns as lines for staff: the question (masked) and what the bot answered."""
    out = []
    for t in turns:
        answered = KIND_WORDS.get(t.kind, t.kind)
        entry = svc.kb.entry(t.entry_id) if t.entry_id else None
        if entry is not None and t.kind == "answer":
            answered += f"：{entry.question}（{entry.id}）"
        out.append(f"· {t.at:%m-%d %H:%M} 问：{redact(t.question)[:200]} → {answered}")
    return "\n".join(out)


# ---- hand-offs --------------------------------------------------------------------------

@dataclass(frozen=True)
class Opened:
    outcome: str                 # opened | added | too_many
    ticket: HandOff | None = None
    context: str = ""


def open_handoff(svc: Services, user_id: int, question: str) -> Opened:
    """Open a hand-off for ``user_id`` (or add to their open one); rate-limited per user."""
    now = svc.clock.now()
    turns = recent_turns(svc, user_id)
    if not question and turns:
        question = turns[-1].question
    question = redact(clean_text(question))[:1000]
    context = context_text(svc, turns)
    with svc.sessions.begin() as s:
        current = s.scalars(select(HandOff).where(HandOff.user_id == user_id,
                                                  HandOff.status == "open")
                            .order_by(HandOff.id.desc())).first()
        if current is not None:
            if question and question not in current.question:
                current.question = (current.question + "\n" + question)[-2000:]
            s.flush()
            s.expunge(current)
            return Opened("added", current, context)
        recent = s.scalar(select(func.count()).select_from(HandOff).where(
            HandOff.user_id == user_id, HandOff.opened_at > now - timedelta(days=1))) or 0
        if recent >= MAX_PER_DAY:
            return Opened("too_many")
        ticket = HandOff(user_id=user_id, question=question or "（用户没有写具体问题）",
                         context=context, status="open", opened_at=now, replies=0)
        s.add(ticket)
        s.flush()
        s.expunge(ticket)
    log.info("hand-off #%s opened for user %s", ticket.id, user_id)
    return Opened("opened", ticket, context)


def ticket(svc: Services, ticket_id: int) -> HandOff | None:
    with svc.sessions() as s:
        found = s.get(HandOff, ticket_id)
        if found is not None:
            s.expunge(found)
        return found


def open_tickets(svc: Services, limit: int = 20) -> list[HandOff]:
    with svc.sessions() as s:
        rows = list(s.scalars(select(HandOff).where(HandOff.status == "open")
                              .order_by(HandOff.id).limit(limit)))
        for r in rows:
            s.expunge(r)
        return rows


def count_reply(svc: Services, ticket_id: int) -> HandOff | None:
    """A staff reply was relayed: count it (the ticket stays open until closed)."""
    with svc.sessions.begin() as s:
        found = s.get(HandOff, ticket_id)
        if found is None:
            return None
        if found.status == "open":  # a ticket closed meanwhile (another staff member) is not
            found.replies += 1      # relayed to
        s.flush()
        s.expunge(found)
        return found


def close(svc: Services, ticket_id: int, staff_id: int) -> tuple[bool, HandOff | None]:
    """Close a ticket; (whether this call closed it, the ticket)."""
    with svc.sessions.begin() as s:
        found = s.get(HandOff, ticket_id, with_for_update=True)
        if found is None:
            return False, None
        closed = found.status == "open"
        if closed:
            found.status, found.closed_at, found.closed_by = "closed", svc.clock.now(), staff_id
        s.flush()
        s.expunge(found)
        return closed, found


def candidates(svc: Services, question: str, limit: int = 5) -> list[Any]:
    """The knowledge-base entries a question most likely belongs to (the matcher's answer,
    its suggestions and runner-ups), best first."""
    answer = svc.matcher.ask(question)
    found = [answer.entry] if answer.entry is not None else []
    found += [s.entry for s in (answer.suggestions or ())]
    found += [s.entry for s in (getattr(answer, "related", None) or ())]
    if len(found) < limit:  # below the answer bands: the ranking's top candidates
        found += [s.entry for s in svc.matcher.rank(question)[:limit]]
    seen: dict[str, Any] = {}
    for e in found:
        seen.setdefault(e.id, e)
    return list(seen.values())[:limit]


def teach_ticket(svc: Services, ticket_id: int, entry_id: str, staff_id: int
                 ) -> tuple[int | None, learned.Taught | None]:
    """Teach a ticket's question to entry ``entry_id`` (through an ``unanswered`` row, so
    /untaught undoes it like any /teach) and close the ticket; (the row's id, the outcome)."""
    with svc.sessions.begin() as s:
        found = s.get(HandOff, ticket_id, with_for_update=True)
        if found is None:
            return None, None
        if found.unanswered_id is None:
            row = UnansweredQuestion(question=found.question.split("\n")[0][:1000],
                                     best_entry=entry_id, score=0.0, at=svc.clock.now())
            s.add(row)
            s.flush()
            found.unanswered_id = row.id
        number = found.unanswered_id
    done = learned.teach(svc, number, entry_id, staff_id)
    close(svc, ticket_id, staff_id)
    return number, done


# ---- /stats -----------------------------------------------------------------------------

SERIES = ("questions", "answered", "handed_off", "unanswered")


def daily_counts(svc: Services, days: int = 14) -> list[tuple[date, dict[str, int]]]:
    """Per day (the clock's dates, oldest first): questions asked, answered directly, handed
    off, unanswered."""
    today = svc.clock.now().date()
    first = today - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day)
    out: dict[date, dict[str, int]] = {first + timedelta(days=i): dict.fromkeys(SERIES, 0)
                                       for i in range(days)}
    with svc.sessions() as s:
        for at, kind in s.execute(select(QuestionLog.at, QuestionLog.kind)
                                  .where(QuestionLog.at >= start)):
            day = out.get(at.date())
            if day is None or kind == "smalltalk":
                continue
            day["questions"] += 1
            if kind == "answer":
                day["answered"] += 1
            elif kind == "fallback":
                day["unanswered"] += 1
        for (at,) in s.execute(select(HandOff.opened_at).where(HandOff.opened_at >= start)):
            day = out.get(at.date())
            if day is not None:
                day["handed_off"] += 1
    return sorted(out.items())
