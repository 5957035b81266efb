"""Small in-process caches for the question path (never for account decisions)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Asker:
    """Who asked a question, as far as ranking and personal notes need to know."""

    person_id: int
    region: str


class AskerCache:
    """user_id → Asker for a short while: questions are frequent, links rarely change.

    Only question ranking and personal notes use it; account commands always read the link.
    A replica that did not see a relink serves the old region for at most ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 30.0, size: int = 50_000) -> None:
        self.ttl, self.size = ttl, size
        self._data: dict[int, tuple[float, Asker | None]] = {}

    def get(self, user_id: int, load: Callable[[int], Asker | None]) -> Asker | None:
        """The cached asker, else ``load(user_id)`` remembered for ``ttl`` seconds."""
        hit = self._data.get(user_id)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        asker = load(user_id)
        if len(self._data) >= self.size:
            self._data.clear()
        self._data[user_id] = (now + self.ttl, asker)
        return asker

    def peek(self, user_id: int) -> tuple[bool, Asker | None]:
        """(known, asker) without touching the database."""
        hit = self._data.get(user_id)
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def forget(self, user_id: int) -> None:
        self._data.pop(user_id, None)


class AnswerCache:
    """(question, region) → the matcher's Answer: people ask the same few questions over and
    over. One cache serves one matcher; a rebuilt matcher (bot.learned) gets a new cache."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, str | None], Any] = OrderedDict()
        self._lock = threading.Lock()  # worker threads share it

    def peek(self, question: str, region: str | None) -> Any:
        """The cached Answer, or None."""
        return self._data.get((question, region))

    def ask(self, matcher: Any, question: str, region: str | None) -> Any:
        """The matcher's answer, computed at most once per (question, region) while cached."""
        key = (question, region)
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                return hit
        answer = matcher.ask(question, region=region)
        with self._lock:
            self._data[key] = answer
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return answer
