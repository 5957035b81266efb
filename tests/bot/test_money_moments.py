"""Clear money moments (issue: the assistant people prefer): Dongying's second swipe is one
tap, refusals say the figure that matters, and a purpose family money cannot pay says so."""

from __future__ import annotations

from tests.bot.account_chat import (
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
)
from tests.bot.test_account_bind import REL
from tests.bot.test_money_settle import balance, family_of


def test_dongying_short_balance_offers_family_money_in_one_tap(chat: Chat) -> None:
    householder, relative = family_of(chat, "dongying", own=3_000)
    refused = chat.send(REL, "/settle 100 门诊")
    text = texts(refused, REL)
    assert "[INSUFFICIENT_BALANCE]" in text and "余额 ¥30.00，本次需 ¥100.00" in text
    labels = [b.label for row in refused[-1].buttons for b in row]
    assert "用家庭共济支付 ¥100.00" in labels
    summary = chat.tap(REL, "用家庭共济支付")
    assert "请确认结算：门诊 ¥100.00" in texts(summary, REL)
    assert "张建国）支付：¥100.00" in texts(summary, REL)
    assert balance(chat, householder) == 100_000  # the tap alone moves nothing
    done = chat.tap(REL, "确认")
    assert "结算成功" in texts(done, REL)
    assert (balance(chat, relative), balance(chat, householder)) == (3_000, 90_000)


def test_the_family_button_after_the_window_closed_is_a_new_first_swipe(chat: Chat) -> None:
    family_of(chat, "dongying", own=3_000)
    chat.send(REL, "/settle 100 门诊")
    chat.clock.advance(301)
    again = chat.tap(REL, "用家庭共济支付")
    assert "[INSUFFICIENT_BALANCE]" in texts(again, REL)  # the window had closed: reopened


def test_limit_refusal_says_what_is_left(chat: Chat) -> None:
    householder, _ = family_of(chat, "dongying", own=0)
    chat.services.family.set_limit(householder.id, "1", 3_000, key="limit")
    chat.send(REL, "/settle 100 门诊")
    refused = chat.send(REL, "/settle 100 门诊")
    assert "[LIMIT_EXCEEDED]" in texts(refused, REL)
    assert "剩余可用 ¥30.00，本次需 ¥100.00" in texts(refused, REL)


def test_a_purpose_family_money_cannot_pay_says_so(chat: Chat) -> None:
    householder, relative = family_of(chat, "jinan", own=3_000)
    done = texts(chat.send(REL, "/settle 100 体检"), REL)
    assert "结算成功" in done and "现金支付：¥70.00" in done
    assert "家庭共济资金不能用于体检" in done
    assert (balance(chat, relative), balance(chat, householder)) == (0, 100_000)
