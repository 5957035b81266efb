"""Multi-step exchanges and numbered lists, kept in ``conversation_state`` (any replica continues).

One row per user (the table's key), shared with linking (``link_tail``) and the wallet password:
- a *step* (``/bind`` with no argument: ID → name → relation; "输入其他金额" after ``/limit``; the
  amount after ``/contribute`` → a tapped relative) is started by a command and replaces whatever
  was pending;
- a *pick list* (the buttons of the latest list the bot showed: the family, "您是不是想问" …) lets a
  number reply pick an item; it never replaces someone else's pending step (a link or a wallet
  password waiting for its digits).
Both stop catching replies after 30 minutes. ``/cancel`` deletes the row (``linking.cancel``),
whichever it is. Synchronous: call through ``bot.context.call``. Nothing here imports ``telegram``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, DateTime, bindparam, delete, text

from bot.context import Services
from bot.state import ConversationState

PREFIX = "tap:"  # our states; others (link_tail, the wallet password) are left alone
PICK = PREFIX + "pick"
MAX_PICKS = 20
TTL = timedelta(minutes=30)  # an abandoned step or list stops catching replies after this


@dataclass(frozen=True)
class Step:
    """A pending step of ours: ``name`` (without the prefix), its data, and a pick list."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    picks: tuple[str, ...] = ()


def _stale(svc: Services, row: Any) -> bool:
    return bool(row.state.startswith(PREFIX) and svc.clock.now() - row.updated_at > TTL)


# Read on most private messages (through ``bot.context.batched_read``): one plain statement
# for every user asking at the same time, no ORM session and no write lock.
_LOAD = text("SELECT user_id, state, data, updated_at FROM conversation_state"
             " WHERE user_id IN :ids").bindparams(bindparam("ids", expanding=True)) \
    .columns(updated_at=DateTime)


def rows_of(conn: Connection, user_ids: list[int]) -> dict[int, Any]:
    """The users' conversation_state rows (anyone's steps); pass one to :func:`parse`."""
    return {row.user_id: row for row in conn.execute(_LOAD, {"ids": user_ids})}


def parse(svc: Services, row: Any) -> Step | None:
    """Our pending step in a row :func:`rows_of` read, or None (nothing pending, someone
    else's step, or a stale one)."""
    if row is None or not row.state.startswith(PREFIX) or _stale(svc, row):
        return None
    data = json.loads(row.data or "{}")
    picks = tuple(str(p) for p in data.pop("_picks", []))
    return Step(row.state.removeprefix(PREFIX), data, picks)


def start(svc: Services, user_id: int, name: str, data: dict[str, Any] | None = None,
          picks: list[str] | None = None) -> None:
    """Begin (or move to) step ``name``, replacing anything pending."""
    body = dict(data or {})
    if picks:
        body["_picks"] = list(picks)[:MAX_PICKS]
    with svc.sessions.begin() as s:
        row = s.get(ConversationState, user_id)
        if row is None:
            s.add(ConversationState(user_id=user_id, state=PREFIX + name, data=json.dumps(body),
                                    updated_at=svc.clock.now()))
        else:
            row.state, row.data, row.updated_at = PREFIX + name, json.dumps(body), svc.clock.now()


def remember_picks(svc: Services, user_id: int, picks: list[str]) -> None:
    """The latest numbered list: a number reply picks that button. Leaves others' steps be."""
    with svc.sessions.begin() as s:
        row = s.get(ConversationState, user_id)
        if row is not None and row.state != PICK and not _stale(svc, row):
            return  # a step (ours, a link, a wallet password) is waiting: do not lose it
        body = json.dumps({"_picks": list(picks)[:MAX_PICKS]})
        if row is None:
            s.add(ConversationState(user_id=user_id, state=PICK, data=body,
                                    updated_at=svc.clock.now()))
        else:
            row.state, row.data, row.updated_at = PICK, body, svc.clock.now()


def finish(svc: Services, user_id: int) -> None:
    """End our pending step (others' are left alone)."""
    with svc.sessions.begin() as s:
        s.execute(delete(ConversationState).where(ConversationState.user_id == user_id,
                                                  ConversationState.state.startswith(PREFIX)))
