"""Personal answers: a linked user asking about their own situation gets their figures from the
rules engine first, then the policy in one line in their region's terms, and the command as a
button (bot/personal.py)."""

from __future__ import annotations

from bot.personal import COMMANDS, FACTS
from tests.bot.account_chat import (
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
    to,
)
from tests.bot.test_account_bind import HH, REL
from tests.bot.test_money_settle import family_of


def test_every_personal_entry_exists_and_offers_a_command(chat: Chat) -> None:
    for entry_id, facts in FACTS.items():
        assert chat.services.kb.entry(entry_id) is not None, entry_id
        assert facts in COMMANDS


def _answer(chat: Chat, user: int, question: str) -> tuple[str, list[list[str]]]:
    [message] = to(chat.send(user, question), user)
    return message.text, message.labels()


def test_what_is_left_comes_first_with_the_region_rule(chat: Chat) -> None:
    householder, relative = family_of(chat, "dongying")
    assert chat.services.family.set_limit(householder.id, "1", 50_000, key="limit:1").ok
    text, labels = _answer(chat, REL, "我还能用多少钱")
    first = text.splitlines()[0]
    assert first.startswith("您自己的个人账户余额：¥30.00")
    assert "张建国（配偶）为您付款：还可用¥500.00（限额¥500.00，已用¥0.00）" in text
    assert "政策：" in text and "5分钟内再次刷卡" in text          # Dongying's terms
    assert text.index("政策：") < text.index("详细说明：")
    assert labels[0] == ["查看 /family"]
    family = chat.press(REL, chat.buttons_message(REL, "查看 /family"), "查看 /family")
    assert "张建国" in texts(family, REL)


def test_who_bound_me_and_how_many_i_bound(chat: Chat) -> None:
    family_of(chat, "jinan")
    text, _ = _answer(chat, REL, "谁绑的我")
    assert text.startswith("为您共济的户主：张建国（配偶）。")
    text, _ = _answer(chat, HH, "我绑定了几个家人")
    assert text.startswith("您已绑定1位亲属。") and "济南市没有规定绑定人数上限" in text


def test_balance_and_lapse_are_the_users_own(chat: Chat) -> None:
    chat.person(HH, place="jian", name="刘明", balance=12_345, monthly_credit=20_000,
                status="lapsed", lapsed_since="2026-08")
    text, labels = _answer(chat, HH, "我的余额是多少")
    assert text.startswith("您的个人账户余额：¥123.45，断缴期间暂停划入。")
    assert labels[0] == ["查看 /balance"]
    text, _ = _answer(chat, HH, "我断缴了会影响家人吗")
    assert text.startswith("您自2026-08起断缴") and "暂停每月划入" in text


def test_not_linked_gets_the_policy_only(chat: Chat) -> None:
    text, labels = _answer(chat, 555, "谁绑的我")
    assert not text.startswith("为您共济的户主") and "详细说明" not in text
    assert ["查看 /family"] not in labels
