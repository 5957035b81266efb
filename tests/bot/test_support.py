"""A person when needed (人工 / 转人工 / /human, /tickets) and staff at home in Telegram
(/lookup by phone or name, /teach buttons and /untaught, the /stats chart)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.state import HandOff, LearnedPhrasing, QuestionLog, UnansweredQuestion
from rules.db import create_schema, make_engine
from rules.identity import mask_id
from tests.bot.account_chat import (
    STAFF,
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
    to,
)

USER = 4242
ANSWERED = "家庭共济能绑定哪些亲属？"
UNKNOWN = "绑定以后能打印凭证吗"


def open_tickets(chat: Chat) -> list[HandOff]:
    with chat.services.sessions() as s:
        return list(s.scalars(select(HandOff).where(HandOff.status == "open")))


@pytest.mark.parametrize("words", ["人工", "转人工", "人工客服", "/human"])
def test_words_hand_the_conversation_to_staff_masked_with_context(chat: Chat, words: str) -> None:
    chat.send(USER, ANSWERED)
    chat.send(USER, "我的身份证370502198006220224手机13905461001为什么扣错了")
    sent = chat.send(USER, words)
    assert "已为您转接人工客服（工单 #" in texts(sent, USER)
    [note] = to(sent, STAFF)
    assert "🙋 转人工 #" in note.text and "最近的对话" in note.text
    assert "370502198006220224" not in note.text and "13905461001" not in note.text
    assert mask_id("370502198006220224") in note.text
    assert "eligibility_relatives" in note.text  # what the bot answered before
    assert note.labels() == [["回复", "关闭"], ["教给知识库"]]


def test_staff_reply_is_relayed_and_the_ticket_closes(chat: Chat) -> None:
    chat.send(USER, f"转人工 {UNKNOWN}")
    listing = chat.send(STAFF, "/tickets")
    assert UNKNOWN in texts(listing) and "待处理的转人工工单（1）" in texts(listing)
    chat.tap(STAFF, "回复")
    sent = chat.send(STAFF, "可以，在绑定平台的“明细”里截图即可。")
    [relayed] = to(sent, USER)
    assert relayed.text.endswith("可以，在绑定平台的“明细”里截图即可。")
    assert "已发送给用户" in texts(sent, STAFF)
    # the staff member's next message is a question again, not a second reply
    assert not to(chat.send(STAFF, ANSWERED), USER)
    closed = chat.tap(STAFF, "关闭")
    assert "已关闭" in texts(closed, STAFF) and "已结束" in texts(closed, USER)
    assert open_tickets(chat) == []
    assert "没有待处理" in texts(chat.send(STAFF, "/tickets"))


def test_hand_offs_are_rate_limited_per_user(chat: Chat) -> None:
    chat.send(USER, "人工")
    again = chat.send(USER, "转人工 还有一个问题")
    assert "补充到人工工单" in texts(again, USER)
    assert len(open_tickets(chat)) == 1
    for _ in range(2):  # each closed, then a new one: three a day
        chat.tap(STAFF, "关闭")
        chat.send(USER, "人工")
    chat.tap(STAFF, "关闭")
    refused = chat.send(USER, "人工")
    assert "上限" in texts(refused, USER) and not to(refused, STAFF)
    chat.clock.advance(seconds=24 * 3600 + 1)
    assert "已为您转接" in texts(chat.send(USER, "人工"), USER)


def test_only_staff_use_tickets_and_their_buttons(chat: Chat) -> None:
    chat.send(USER, "人工")
    assert "[FORBIDDEN]" in texts(chat.send(USER, "/tickets"))
    note = chat.buttons_message(STAFF, "关闭")
    chat.press(USER, note, "关闭")
    assert len(open_tickets(chat)) == 1


def test_a_ticket_is_taught_in_one_tap_and_can_be_undone(chat: Chat) -> None:
    chat.send(USER, f"/human {UNKNOWN}")
    chat.tap(STAFF, "教给知识库")
    offer = chat.buttons_message(STAFF, "")
    entry_data = offer.buttons[0][0].callback_data
    assert entry_data is not None and entry_data.startswith("ho:l:")
    done = chat.press(STAFF, offer, offer.buttons[0][0].label)
    assert "✅ 已把" in texts(done, STAFF) and open_tickets(chat) == []
    with chat.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(LearnedPhrasing)) == 1
    undone = chat.tap(STAFF, "撤销")
    assert "已撤销" in texts(undone, STAFF)
    with chat.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(LearnedPhrasing)) == 0


def test_teach_without_an_entry_offers_buttons_and_untaught_undoes(chat: Chat) -> None:
    chat.send(USER, UNKNOWN)
    with chat.services.sessions() as s:
        number = s.scalar(select(func.max(UnansweredQuestion.id)))
    offer = chat.send(STAFF, f"/teach {number}")
    [message] = to(offer, STAFF)
    assert message.buttons and all(r[0].callback_data.startswith(f"tc:{number}:")
                                   for r in message.buttons)
    entry_id = message.buttons[0][0].callback_data.split(":", 2)[2]
    done = chat.press(STAFF, message, message.buttons[0][0].label)
    assert f"条目 {entry_id} 的问法" in texts(done)
    assert UNKNOWN not in texts(chat.send(STAFF, "/unanswered"))
    assert "已撤销" in texts(chat.send(STAFF, f"/untaught {number}"))
    assert UNKNOWN in texts(chat.send(STAFF, "/unanswered"))
    assert "没有可撤销" in texts(chat.send(STAFF, f"/untaught {number}"))
    assert "[FORBIDDEN]" in texts(chat.send(USER, f"/untaught {number}"))


def test_lookup_by_phone_and_name_lists_matches_to_pick(chat: Chat) -> None:
    a = chat.person(None, place="jinan", name="王小明", phone="13900000001")
    b = chat.person(None, place="dongying", name="王小红", phone="13900000001")
    one = texts(chat.send(STAFF, "/lookup 王小明"))
    assert mask_id(a.id_number) in one and "王小明" not in one
    listing = chat.send(STAFF, "/lookup 13900000001")
    [message] = to(listing, STAFF)
    assert message.text.startswith("找到2人") and "13900000001" not in message.text
    assert mask_id(b.id_number) in message.text
    picked = chat.press(STAFF, message, "2.")
    assert "东营" in texts(picked) and mask_id(b.id_number) in texts(picked)
    assert "找到2人" in texts(chat.send(STAFF, "/lookup 王"))
    assert "[UNKNOWN_PERSON]" in texts(chat.send(STAFF, "/lookup 赵钱孙"))


def test_stats_sends_a_chart_of_questions_per_day(chat: Chat) -> None:
    chat.send(USER, ANSWERED)
    chat.send(USER, UNKNOWN)
    chat.send(USER, "人工")
    sent = chat.send(STAFF, "/stats")
    [photo] = [s for s in sent if s.kind == "photo"]
    assert photo.text.startswith("[图片：") and "提问 2" in photo.text
    assert "直接回答 1" in photo.text and "转人工 1" in photo.text and "未能回答 1" in photo.text
    name, params = [c for c in chat.api.calls if c[0] == "sendPhoto"][-1]
    assert params["chat_id"] == STAFF
    with chat.services.sessions() as s:
        kinds = sorted(s.scalars(select(QuestionLog.kind)))
    assert kinds == ["answer", "fallback"]


@pytest.fixture
def two_replicas(db_url: str) -> Iterator[tuple[Chat, Chat]]:
    engine = make_engine(db_url)
    create_schema(engine)
    engine.dispose()
    first, second = Chat(db_url), Chat(db_url)
    second._ids = itertools.count(5_000_000)  # Telegram's update ids differ per update
    yield first, second
    first.close()
    second.close()


def test_a_hand_off_works_across_replicas(two_replicas: tuple[Chat, Chat]) -> None:
    first, second = two_replicas
    first.send(USER, f"人工 {UNKNOWN}")
    note = first.buttons_message(STAFF, "回复")
    second.press(STAFF, note, "回复")              # the button reaches the other replica
    sent = first.send(STAFF, "请到医保经办机构打印。")  # and the reply a third time the first
    assert texts(to(sent, USER)).endswith("请到医保经办机构打印。")
    listing = second.send(STAFF, "/tickets")
    assert UNKNOWN in texts(listing)
    second.press(STAFF, second.buttons_message(STAFF, "关闭"), "关闭")
    assert "没有待处理" in texts(first.send(STAFF, "/tickets"))
    # a reply started on one replica to a ticket closed on the other is not relayed
    first.send(USER, "人工")
    note = first.buttons_message(STAFF, "回复")
    first.press(STAFF, note, "回复")
    second.press(STAFF, note, "关闭")  # another staff member closes it meanwhile
    late = first.send(STAFF, "迟到的回复")
    assert not to(late, USER) and "没有发送" in texts(late, STAFF)


def test_settle_for_speaks_about_the_patient_and_masks_the_householder(chat: Chat) -> None:
    from tests.bot.test_money_settle import family_of

    householder, relative = family_of(chat, "dongying")
    refused = texts(chat.send(STAFF, f"/settle_for {relative.id_number} 100 门诊"))
    assert refused.startswith("患者个人账户余额不足")
    assert "患者存在有效的家庭共济绑定关系" in refused
    assert "您" not in refused
    summary = texts(chat.send(STAFF, f"/settle_for {relative.id_number} 100 门诊"))
    assert "户主 张**" in summary and "张建国" not in summary
    receipt = texts(chat.tap(STAFF, "确认"), STAFF)
    assert "患者个人账户余额" in receipt and "张建国" not in receipt and "您的" not in receipt


def test_the_console_shows_the_chart_as_a_picture_line(console_run: Any) -> None:
    turns = console_run(f":as {STAFF}\n/stats\n")
    assert any(r["text"].startswith("[图片：近14天每日问答") for r in turns[-1].replies)


def test_the_question_log_is_bounded(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    """Security review L10: one user cannot grow the question log without bound, and old rows
    go (a bounded per-user hourly budget; rows older than LOG_KEEP pruned)."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from bot import support as support_store
    from bot.limits import SlidingWindow
    from bot.state import QuestionLog

    svc = chat.services
    monkeypatch.setattr(support_store, "_logged", SlidingWindow(
        support_store.LOG_PER_USER_HOUR, timedelta(hours=1)))  # this test's own budget
    rows = [(4242, f"问题{i}", "fallback", None)
            for i in range(support_store.LOG_PER_USER_HOUR + 30)]
    support_store.log_questions(svc, rows)
    with svc.sessions() as s:
        mine = s.scalar(select(func.count()).select_from(QuestionLog)
                        .where(QuestionLog.user_id == 4242))
    assert mine == support_store.LOG_PER_USER_HOUR
    chat.clock.advance((support_store.LOG_KEEP + timedelta(days=1)).total_seconds())
    monkeypatch.setattr(support_store, "_log_calls", iter([1]))  # the next call prunes
    support_store.log_questions(svc, [(4243, "新问题", "answer", None)])
    with svc.sessions() as s:
        left = s.scalar(select(func.count()).select_from(QuestionLog)
                        .where(QuestionLog.user_id == 4242))
    assert left == 0
