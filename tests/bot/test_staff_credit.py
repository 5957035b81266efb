"""/credit (H3): only the current or previous China month, a summary with 确认, every run logged."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from rules.audit import audit
from rules.schema import LedgerEntry, Note
from tests.bot.account_chat import (
    STAFF,
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
)
from tests.bot.test_money_settle import balance

# The harness clock is 2026-11-20 (China time): 2026-11 and 2026-10 may be credited.


def credits(chat: Chat) -> int:
    with chat.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(LedgerEntry)
                            .where(LedgerEntry.kind == "credit")).scalar_one()


def notes(chat: Chat) -> list[tuple[str, str, str]]:
    with chat.services.sessions() as s:
        return [(n.actor, n.action, n.details) for n in s.scalars(select(Note).order_by(Note.id))]


@pytest.mark.parametrize("args", [
    "1900-01", "9999-12", "2099-06", "2062-11", "2026-12", "2026-09", "2026-13", "2026-11x",
    "2026-11 2026-11", "2026-11 全部", "11-2026", "２０２６-１１",
])
def test_credit_refuses_any_other_month(chat: Chat, args: str) -> None:
    worker = chat.person(None, place="jinan", balance=0, monthly_credit=20_000)
    sent = chat.send(STAFF, f"/credit {args}")
    text = texts(sent)
    assert text.endswith("[INVALID_MONTH]") and "2026-11、2026-10" in text
    assert not any(b.callback_data and b.callback_data.startswith("cf:")
                   for s in sent for row in s.buttons for b in row)
    assert balance(chat, worker) == 0 and credits(chat) == 0 and chat.pending() == []
    assert [(a, act) for a, act, _ in notes(chat)] == [(f"tg:{STAFF}", "staff_credit_refused")]


@pytest.mark.parametrize("month", ["2026-11", "2026-10"])
def test_credit_shows_people_and_total_and_needs_confirmation(chat: Chat, month: str) -> None:
    a = chat.person(None, place="jinan", balance=0, monthly_credit=20_000)
    b = chat.person(None, place="dongying", employment="retired", balance=0, monthly_credit=5_050)
    chat.person(None, place="jinan", scheme="resident", balance=0, monthly_credit=0)
    summary = texts(chat.send(STAFF, f"/credit {month}"))
    assert f"月度划入 {month}" in summary and "2 人" in summary and "¥250.50" in summary
    assert credits(chat) == 0 and balance(chat, a) == 0
    button = chat.buttons_message(STAFF, "确认划入")
    done = texts(chat.press(STAFF, button, "确认划入"))
    assert "月度划入完成" in done and "本次划入 2 人" in done and "¥250.50" in done
    assert (balance(chat, a), balance(chat, b)) == (20_000, 5_050)
    chat.press(STAFF, button, "确认划入")  # a second press changes nothing more
    assert credits(chat) == 2 and audit(chat.engine) == []
    (actor1, asked, d1), (actor2, confirmed, d2) = notes(chat)
    assert (actor1, asked, actor2, confirmed) == (
        f"tg:{STAFF}", "staff_credit", f"tg:{STAFF}", "staff_credit_confirmed")
    token = chat.pending()[0]["token"]
    assert f"token={token}" in d1 and f"token={token}" in d2 and "people=2" in d1


def test_credit_cancelled_pays_nobody(chat: Chat) -> None:
    worker = chat.person(None, place="jinan", balance=0, monthly_credit=20_000)
    chat.send(STAFF, "/credit 2026-11")
    chat.tap(STAFF, "取消")
    assert balance(chat, worker) == 0 and credits(chat) == 0


def test_credit_confirmed_after_the_month_is_over_is_refused(chat: Chat) -> None:
    worker = chat.person(None, place="jinan", balance=0, monthly_credit=20_000)
    chat.clock.set(datetime(2026, 11, 30, 15, 58))  # 23:58 on 30 November in China
    chat.send(STAFF, "/credit 2026-10")
    chat.clock.set(datetime(2026, 11, 30, 16, 1))  # 3 minutes later, December in China
    text = texts(chat.tap(STAFF, "确认划入"))
    assert "[INVALID_MONTH]" in text and "2026-12、2026-11" in text
    assert balance(chat, worker) == 0 and credits(chat) == 0


def test_credit_with_nobody_due_asks_nothing(chat: Chat) -> None:
    chat.person(None, place="jinan", scheme="resident", balance=0, monthly_credit=0)
    text = texts(chat.send(STAFF, "/credit 2026-11"))
    assert "没有需要划入" in text and chat.pending() == []


def test_credit_usage(chat: Chat) -> None:
    assert "用法：/credit" in texts(chat.send(STAFF, "/credit"))


def test_credit_pays_what_the_summary_showed_or_nothing(chat: Chat) -> None:
    a = chat.person(None, place="jinan", balance=0, monthly_credit=20_000)
    chat.send(STAFF, "/credit 2026-11")  # 1 person, ¥200.00
    b = chat.person(None, place="jinan", balance=0, monthly_credit=10_000)  # then a new one
    text = texts(chat.tap(STAFF, "确认划入"))
    assert "[PLAN_CHANGED]" in text and "2 人" in text and "¥300.00" in text
    assert (balance(chat, a), balance(chat, b)) == (0, 0) and credits(chat) == 0
    summary = texts(chat.send(STAFF, "/credit 2026-11"))
    assert "2 人" in summary and "¥300.00" in summary
    assert "月度划入完成" in texts(chat.tap(STAFF, "确认划入"))
    assert (balance(chat, a), balance(chat, b)) == (20_000, 10_000)


def test_two_summaries_of_one_month_pay_once(chat: Chat) -> None:
    worker = chat.person(None, place="jinan", balance=0, monthly_credit=20_000)
    chat.send(STAFF, "/credit 2026-11")
    first = chat.buttons_message(STAFF, "确认划入")
    chat.send(STAFF, "/credit 2026-11")
    assert "月度划入完成" in texts(chat.tap(STAFF, "确认划入"))
    assert "[PLAN_CHANGED]" in texts(chat.press(STAFF, first, "确认划入"))
    assert balance(chat, worker) == 20_000 and credits(chat) == 1 and audit(chat.engine) == []
