"""/open, /bind and /unbind through the real handlers: confirmations, refusals, notices."""

from __future__ import annotations

import pytest

from bot.letter import LETTER_SHA256, LETTER_VERSION
from bot.loopback import Button, Sent
from rules.identity import make_id, mask_id
from tests.bot.account_chat import (
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
    to,
)

HH, REL, OTHER = 101, 102, 103


def opened(chat: Chat, user_id: int | None, **kw: object) -> object:
    """A householder whose family account is already open."""
    kw.setdefault("balance", 100_000)
    person = chat.person(user_id, **kw)
    d = chat.services.family.open_account(person.id, letter_version=LETTER_VERSION,
                                          letter_sha256=LETTER_SHA256, key=f"open:{person.id}")
    assert d.ok
    return person


def bind_direct(chat: Chat, householder: object, relative: object, relation: str = "配偶") -> None:
    d = chat.services.family.bind(householder.id, relative.id_number, relative.name, relation,
                                  key=f"bind:{householder.id}:{relative.id}")
    assert d.ok, d


def test_open_shows_letter_and_agree_opens_the_account(chat: Chat) -> None:
    me = chat.person(HH, place="dongying", name="张三")
    sent = chat.send(HH, "/open")
    assert "承诺书" in sent[0].text and LETTER_VERSION in sent[0].text
    assert sent[0].labels() == [["同意并开通"]]
    edited = chat.tap(HH, "同意")
    assert "已开通家庭共济账户" in texts(edited)
    assert chat.view(me.id).account_open
    assert "您已开通" in texts(chat.send(HH, "/open"))


def test_open_refused_without_personal_account(chat: Chat) -> None:
    me = chat.person(HH, place="dongying", employment="flexible")
    assert "[NO_PERSONAL_ACCOUNT]" in texts(chat.send(HH, "/open"))
    # a stale agree button (e.g. the person's scheme changed) is refused by the service too
    stale = Sent(HH, 0, "", [[Button("同意并开通", "open:agree")]])
    assert "[NO_PERSONAL_ACCOUNT]" in texts(chat.press(HH, stale, "同意"))
    assert not chat.view(me.id).account_open


def test_bind_asks_for_confirmation_then_binds_and_tells_the_relative(chat: Chat) -> None:
    me = opened(chat, HH, place="dongying", name="张建国")
    wife = chat.person(REL, place="dongying", name="李秀兰", scheme="resident")
    sent = chat.send(HH, f"/bind {wife.id_number} 李秀兰 老婆")
    summary = to(sent, HH)[0]
    assert mask_id(wife.id_number) in summary.text and wife.id_number not in summary.text
    assert "李秀兰" not in summary.text and "配偶" in summary.text
    assert summary.labels() == [["确认绑定", "取消"]]
    assert summary.buttons[0][0].callback_data.startswith("cf:")
    assert chat.services.family.family(me.id).relatives == ()  # nothing changed yet

    done = chat.tap(HH, "确认")
    assert "已绑定" in texts(done, HH)
    assert [s.kind for s in to(done, HH)] == ["edit"] and to(done, HH)[0].buttons == []
    notice = texts(done, REL)
    assert "张建国" in notice and mask_id(me.id_number) in notice and me.id_number not in notice
    assert "医保服务热线 12393" in notice and "{hotline}" not in notice
    assert [r.person_id for r in chat.services.family.family(me.id).relatives] == [wife.id]


def test_unlinked_relative_is_simply_not_notified(chat: Chat) -> None:
    opened(chat, HH, place="jinan")
    kid = chat.person(None, place="jinan", name="王小明", scheme="resident")
    chat.send(HH, f"/bind {kid.id_number} 王小明 儿子")
    done = chat.tap(HH, "确认")
    assert "已绑定" in texts(done) and {s.chat_id for s in done} == {HH}


def other_id() -> str:
    return make_id("37050219900101999")


BIND_REFUSALS = [
    # (code, setup) — setup returns the /bind arguments
    ("INVALID_ID", lambda c, me: "370502199001011230 某某 配偶"),
    ("UNKNOWN_PERSON", lambda c, me: f"{other_id()} 某某 配偶"),
    # a wrong name is refused like an unknown ID (M5): tests/bot/test_binding_trust.py
    ("SELF_BINDING", lambda c, me: f"{me.id_number} {me.name} 配偶"),
    ("UNKNOWN_RELATION", lambda c, me: _rel(c, "王五", "dongying", relation="邻居")),
    ("RELATION_NOT_ALLOWED", lambda c, me: _rel(c, "王五", "dongying", relation="哥哥")),
    ("NOT_INSURED", lambda c, me: _rel(c, "王五", "dongying", scheme="none")),
    ("OUT_OF_SCOPE", lambda c, me: _rel(c, "王五", "jian")),
]


def _rel(chat: Chat, name: str, place: str, *, relation: str = "子女", scheme: str = "resident",
         args: str | None = None) -> str:
    person = chat.person(None, place=place, name=name, scheme=scheme)
    return f"{person.id_number} {args or f'{name} {relation}'}"


@pytest.mark.parametrize(("code", "setup"), BIND_REFUSALS, ids=[c for c, _ in BIND_REFUSALS])
def test_bind_refusals_name_their_code(chat: Chat, code: str, setup: object) -> None:
    me = opened(chat, HH, place="dongying", name="张三")
    sent = chat.send(HH, f"/bind {setup(chat, me)}")
    assert f"[{code}]" in texts(sent)
    assert sent[-1].labels() == [["为什么?"]]
    assert chat.pending() == []  # a refused bind never creates a confirmation


def test_bind_refusal_order_householder_first(chat: Chat) -> None:
    """The householder gates come before anything about the relative (even a bad ID)."""
    chat.person(HH, place="dongying", employment="flexible")
    assert "[NO_PERSONAL_ACCOUNT]" in texts(chat.send(HH, "/bind 123 某某 邻居"))
    chat.person(OTHER, place="dongying")
    assert "[ACCOUNT_NOT_OPEN]" in texts(chat.send(OTHER, "/bind 123 某某 邻居"))


def test_dongying_exclusive_rules_and_duplicates(chat: Chat) -> None:
    me = opened(chat, HH, place="dongying", name="张三")
    other = opened(chat, OTHER, place="dongying", name="赵六")
    kid = chat.person(None, place="dongying", name="张小", scheme="resident")
    bind_direct(chat, me, kid, "女儿")
    assert "[ALREADY_BOUND]" in texts(chat.send(HH, f"/bind {kid.id_number} 张小 女儿"))
    assert "[RELATIVE_ALREADY_BOUND]" in texts(chat.send(OTHER, f"/bind {kid.id_number} 张小 女儿"))
    assert "[RELATIVE_IS_HOUSEHOLDER]" in texts(chat.send(OTHER, f"/bind {me.id_number} 张三 配偶"))
    # a householder who is someone's bound relative cannot bind others
    son = opened(chat, 104, place="dongying", name="赵七")
    bind_direct(chat, other, son, "儿子")
    fresh = chat.person(None, place="dongying", name="赵小", scheme="resident")
    assert "[HOUSEHOLDER_IS_BOUND]" in texts(chat.send(104, f"/bind {fresh.id_number} 赵小 女儿"))


def test_max_relatives_in_dongying(chat: Chat) -> None:
    me = opened(chat, HH, place="dongying")
    for i in range(7):
        bind_direct(chat, me,
                    chat.person(None, place="dongying", name=f"孩{i}", scheme="resident"), "子女")
    eighth = chat.person(None, place="dongying", name="孩八", scheme="resident")
    assert "[MAX_RELATIVES]" in texts(chat.send(HH, f"/bind {eighth.id_number} 孩八 子女"))


@pytest.mark.parametrize("text", ["/bind 370502199001011234", "/bind a b"])
def test_bind_usage(chat: Chat, text: str) -> None:
    opened(chat, HH, place="dongying")
    assert "用法：/bind 身份证号 姓名 关系" in texts(chat.send(HH, text))


def test_account_commands_need_a_private_chat_and_a_link(chat: Chat) -> None:
    chat.person(HH, place="dongying")
    assert "[PRIVATE_ONLY]" in texts(chat.send(HH, "/bind 1 2 3", chat_id=-100123))
    for command in ("/open", "/bind a b c", "/unbind 1", "/limit 1 2", "/order 1", "/family",
                    "/balance", "/history", "/settle 1", "/pay 1", "/contribute 1 2"):
        assert "[NOT_LINKED]" in texts(chat.send(999, command)), command
        assert "[PRIVATE_ONLY]" in texts(chat.send(HH, command, chat_id=-100123)), command


def test_unbind_by_index_confirms_and_tells_the_relative(chat: Chat) -> None:
    me = opened(chat, HH, place="jinan", name="王志强")
    sister = chat.person(REL, place="jinan", name="王志红")
    bind_direct(chat, me, sister, "妹妹")
    sent = chat.send(HH, "/unbind 1")
    # one family: the relative's name in full, the ID number masked
    assert "王志红" in texts(sent) and mask_id(sister.id_number) in texts(sent)
    assert sister.id_number not in texts(sent)
    assert len(chat.services.family.family(me.id).relatives) == 1  # nothing yet
    done = chat.tap(HH, "确认")
    assert "已解除" in texts(done, HH)
    assert "王志强" in texts(done, REL) and "解除" in texts(done, REL)
    assert chat.services.family.family(me.id).relatives == ()


def test_unbind_refusals_and_usage(chat: Chat) -> None:
    me = opened(chat, HH, place="jinan")
    stranger = chat.person(None, place="jinan", name="路人")
    assert "[NOT_BOUND]" in texts(chat.send(HH, "/unbind 3"))
    assert "[NOT_BOUND]" in texts(chat.send(HH, f"/unbind {stranger.id_number}"))
    assert "[INVALID_ID]" in texts(chat.send(HH, "/unbind 370502199001011230"))
    assert "用法：/unbind" in texts(chat.send(HH, "/unbind"))
    assert chat.services.family.family(me.id).relatives == ()


def test_cancel_changes_nothing(chat: Chat) -> None:
    me = opened(chat, HH, place="jinan")
    kid = chat.person(None, place="jinan", name="王小", scheme="resident")
    chat.send(HH, f"/bind {kid.id_number} 王小 儿子")
    done = chat.tap(HH, "取消")
    assert "已取消" in texts(done) and done[-1].buttons == []
    assert chat.services.family.family(me.id).relatives == ()
