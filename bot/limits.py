"""Caps on what anyone — linked or not — can make the bot store (review L10).

An unanswered question is kept for staff at most :data:`UNANSWERED_PER_USER` times per user
and :data:`UNANSWERED_TOTAL` times in all per :data:`WINDOW`; beyond that the question is
still answered, just not kept. A text that looks like an ID tail (digits and X only) is never
kept: it is a mistyped linking step, not a question, and it is half a secret.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict, deque
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.state import UnansweredQuestion

WINDOW = timedelta(hours=1)
UNANSWERED_PER_USER = 10   # per user and hour, per replica (kept in memory: no DB hit to refuse)
UNANSWERED_TOTAL = 300     # per hour across every replica (counted in the database)


class SlidingWindow:
    """At most ``limit`` events per key within ``window``. In memory, thread-safe, and bounded:
    beyond ``max_keys`` keys the least recently seen are forgotten."""

    def __init__(self, limit: int, window: timedelta, max_keys: int = 20_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._events: OrderedDict[int, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: int, now: datetime) -> bool:
        """Count one event for ``key`` unless that would pass the limit."""
        with self._lock:
            events = self._events.pop(key, None) or deque()
            self._events[key] = events  # most recently seen last
            while events and events[0] <= now - self.window:
                events.popleft()
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True


_per_user: weakref.WeakKeyDictionary[Engine, SlidingWindow] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def _window_for(engine: Engine) -> SlidingWindow:
    with _guard:
        window = _per_user.get(engine)
        if window is None or window.limit != UNANSWERED_PER_USER:
            window = _per_user[engine] = SlidingWindow(UNANSWERED_PER_USER, WINDOW)
        return window


def total_reached(session: Session, now: datetime) -> bool:
    """Whether :data:`UNANSWERED_TOTAL` questions were kept in the last :data:`WINDOW`: one
    indexed look at the N-th newest row, however large the table is."""
    nth = session.scalar(select(UnansweredQuestion.at).order_by(UnansweredQuestion.id.desc())
                         .offset(UNANSWERED_TOTAL - 1).limit(1))
    return nth is not None and nth > now - WINDOW


def may_keep_unanswered(engine: Engine, user_id: int | None, now: datetime) -> bool:
    """The per-user budget (in memory); the caller checks :func:`total_reached` in its
    transaction. Anonymous updates without a user (channel posts) share key 0."""
    return _window_for(engine).allow(user_id or 0, now)
