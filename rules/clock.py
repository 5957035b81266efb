"""Injected time. All datetimes inside Gongji are naive UTC; months are China time (UTC+8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

CHINA_OFFSET = timedelta(hours=8)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)


class ManualClock:
    """A clock that only moves when told to (tests, the console's ``:sleep``)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or SystemClock().now()

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self._now = when


def china_month(when: datetime) -> str:
    """The calendar month ``YYYY-MM`` in China time of a naive-UTC instant."""
    return (when + CHINA_OFFSET).strftime("%Y-%m")
