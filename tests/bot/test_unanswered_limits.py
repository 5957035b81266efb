"""Review L10: anonymous users cannot grow ``unanswered`` without bound (a per-user and a global
hourly cap; over the cap a question is still answered, just not kept), staff can dismiss
questions, and ``/healthz`` does not query the database on every call."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import limits
from bot.handlers.knowledge import RECORDED
from bot.runtime import health_check
from bot.state import UnansweredQuestion
from rules.schema import Note

STAFF = 900001


def kept(harness: Any) -> list[str]:
    with harness.services.sessions() as s:
        return list(s.scalars(select(UnansweredQuestion.question)
                              .order_by(UnansweredQuestion.id)))


def ask(harness: Any, user: int, text: str) -> str:
    harness.send(f":as {user}")
    return "\n".join(getattr(r, "text", str(r)) for r in harness.send(text))


def nonsense(i: int) -> str:
    return f"zxqv wqpl {i} blorf"


@pytest.fixture
def small_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "UNANSWERED_PER_USER", 3)
    monkeypatch.setattr(limits, "UNANSWERED_TOTAL", 5)


def test_one_user_keeps_at_most_the_per_user_cap(harness: Any, small_caps: None) -> None:
    replies = [ask(harness, 777, nonsense(i)) for i in range(6)]
    assert all("热线" in r or "答不上来" in r for r in replies)  # every question is answered
    assert [RECORDED in r for r in replies] == [True] * 3 + [False] * 3
    assert kept(harness) == [nonsense(i) for i in range(3)]
    assert RECORDED in ask(harness, 778, nonsense(99))  # someone else still can
    harness.clock.advance(3601)  # an hour later the user may again
    assert RECORDED in ask(harness, 777, nonsense(100)) and len(kept(harness)) == 5


def test_everyone_together_keeps_at_most_the_global_cap(harness: Any, small_caps: None) -> None:
    for user in range(10):
        ask(harness, 800 + user, nonsense(user))
    assert len(kept(harness)) == 5
    harness.clock.advance(3601)
    ask(harness, 900, nonsense(1000))
    assert len(kept(harness)) == 6


def test_a_tail_shaped_text_is_never_kept(harness: Any) -> None:
    reply = ask(harness, 779, "0113")
    assert RECORDED not in reply and kept(harness) == []


def test_staff_dismiss_unanswered_questions(harness: Any) -> None:
    for i in range(3):
        ask(harness, 780 + i, nonsense(i))
    with harness.services.sessions() as s:
        ids = list(s.scalars(select(UnansweredQuestion.id).order_by(UnansweredQuestion.id)))
    assert "[FORBIDDEN]" in ask(harness, 780, f"/unanswered 删除 {ids[0]}")
    assert "删除 编号" in ask(harness, STAFF, "/unanswered")
    done = ask(harness, STAFF, f"/unanswered 删除 #{ids[0]} {ids[1]} 999999")
    assert f"已删除 2 个问题：#{ids[0]}、#{ids[1]}" in done and "#999999" in done
    assert kept(harness) == [nonsense(2)]
    assert "用法：/unanswered 删除" in ask(harness, STAFF, "/unanswered 删除 abc")
    assert "用法：/unanswered 删除" in ask(harness, STAFF, "/unanswered 全部")
    with harness.services.sessions() as s:
        note = s.scalars(select(Note).where(Note.action == "staff_unanswered_dismiss")).one()
    assert note.actor == f"tg:{STAFF}" and note.details == f"#{ids[0]} #{ids[1]}"
    with harness.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(UnansweredQuestion)) == 1


class CountingEngine:
    def __init__(self) -> None:
        self.connects = 0

    def connect(self) -> Any:
        self.connects += 1
        engine = self

        class Conn:
            def __enter__(self) -> Any:
                return self

            def __exit__(self, *exc: object) -> None:
                return None

            def execute(self, _stmt: Any) -> None:
                if getattr(engine, "down", False):
                    raise RuntimeError("database down")

        return Conn()


def test_healthz_probes_the_database_once_per_period() -> None:
    engine = CountingEngine()
    services = SimpleNamespace(engine=engine, kb=SimpleNamespace(entries=[1, 2, 3]))
    app: Any = SimpleNamespace(bot_data=SimpleNamespace(services=services))
    check = health_check(app, cache_seconds=0.5)

    async def flood() -> list[Any]:
        return await asyncio.gather(*(check() for _ in range(200)), return_exceptions=True)

    results = asyncio.run(flood())
    assert all(r == {"database": "ok", "knowledge": 3} for r in results)
    assert engine.connects == 1
    engine.down = True  # type: ignore[attr-defined]
    asyncio.run(asyncio.sleep(0.6))
    failed = asyncio.run(flood())
    assert all(isinstance(r, RuntimeError) for r in failed) and engine.connects == 2
