"""Relatives in control, strangers kept private (security review M3, M5, L3; contract
Additions): /leave, one spouse, exclusivity under the relative's region, one refusal for an
unknown person, a per-householder limit on misses, /limit replies with what is stored."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from rules.binding import BIND_MISS
from rules.binding_rules import BIND_ATTEMPTS
from rules.codes import Reason
from rules.identity import make_id, mask_id
from rules.schema import Note
from tests.bot.account_chat import (
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
    to,
)
from tests.bot.conftest import FATHER, HOLDER, JINAN, WIFE, Turn, link_script
from tests.bot.test_account_bind import HH, OTHER, REL, bind_direct, opened
from tests.rules.concurrency import race

SQUATTER = 400008  # 钱晓红, Dongying: the attacker of the M3 reproduction
VICTIM, JINAN_USER = 100001, 200001
QIAN_PHONE, QIAN_TAIL = "13905461008", "0684"


# ---- /leave (M3) --------------------------------------------------------------------------

def test_a_relative_leaves_with_confirmation_and_the_householder_is_told(chat: Chat) -> None:
    me = opened(chat, HH, place="jinan", name="王志强")
    mum = chat.person(REL, place="jinan", name="王桂英", scheme="resident")
    bind_direct(chat, me, mum, "妈妈")
    sent = chat.send(REL, "/leave 1")
    summary = to(sent, REL)[0]
    assert "王志强" in summary.text and mask_id(me.id_number) in summary.text
    assert me.id_number not in summary.text and "父母" in summary.text
    assert summary.labels() == [["确认退出", "取消"]]
    assert len(chat.services.family.family(mum.id).payers) == 1  # nothing yet
    pending = chat.pending()[0]
    assert pending["action"] == "leave" and pending["payload"]["person_id"] == mum.id

    done = chat.tap(REL, "确认")
    assert "已退出" in texts(done, REL) and "王志强" in texts(done, REL)
    notice = texts(done, HH)
    assert "王桂英" in notice and "已退出" in notice and mum.id_number not in notice
    assert chat.services.family.family(mum.id).payers == ()
    assert chat.services.family.family(me.id).relatives == ()
    again = chat.press(REL, summary, "确认")  # a second press changes nothing more
    assert "已退出" not in texts(again, HH)


def test_leave_by_id_number_and_only_ones_own_binding(chat: Chat) -> None:
    a = opened(chat, HH, place="jinan", name="甲")
    b = opened(chat, OTHER, place="jinan", name="乙")
    me = chat.person(REL, place="jinan", name="丙", scheme="resident")
    someone = chat.person(104, place="jinan", name="丁", scheme="resident")
    bind_direct(chat, a, me, "妈妈")
    bind_direct(chat, b, me, "妈妈")
    bind_direct(chat, a, someone, "儿子")
    # another person's binding cannot be named: not by 序号, not by ID number
    assert "[NOT_BOUND]" in texts(chat.send(REL, f"/leave {someone.id_number}"))
    assert "[NOT_BOUND]" in texts(chat.send(REL, "/leave 3"))
    assert "[NOT_BOUND]" in texts(chat.send(REL, "/unbind 1"))  # a relative is no householder
    assert "[INVALID_ID]" in texts(chat.send(REL, "/leave 370502199001011230"))
    assert "请选择要退出其家庭共济的户主" in texts(chat.send(REL, "/leave"))  # taps.py
    assert "用法：/leave" in texts(chat.send(REL, "/leave 1 2"))
    assert "[NOT_BOUND]" in texts(chat.send(HH, "/leave 1"))  # 甲 is nobody's relative
    chat.send(REL, f"/leave {b.id_number}")
    chat.tap(REL, "确认")
    assert [p.householder_id for p in chat.services.family.family(me.id).payers] == [a.id]
    assert [r.person_id for r in chat.services.family.family(a.id).relatives] == \
        [me.id, someone.id]


def test_only_the_relative_can_press_their_leave_button(chat: Chat) -> None:
    me = opened(chat, HH, place="jinan")
    kid = chat.person(REL, place="jinan", scheme="resident")
    bind_direct(chat, me, kid, "儿子")
    summary = to(chat.send(REL, "/leave 1"), REL)[0]
    assert "[FORBIDDEN]" in texts(chat.press(HH, summary, "确认"))
    assert len(chat.services.family.family(kid.id).payers) == 1


def test_leave_needs_a_private_chat_and_a_link(chat: Chat) -> None:
    chat.person(HH, place="jinan")
    assert "[NOT_LINKED]" in texts(chat.send(999, "/leave 1"))
    assert "[PRIVATE_ONLY]" in texts(chat.send(HH, "/leave 1", chat_id=-100123))


def test_help_lists_leave(chat: Chat) -> None:
    chat.person(HH, place="jinan")
    assert "/leave" in texts(chat.send(HH, "/help"))


def test_squatting_victim_leaves_and_binds_own_family(
        console_run: Callable[[str], list[Turn]]) -> None:
    """M3 reproduction: 钱晓红 binds 张建国 and his father uninvited; he leaves, then binds."""
    turns = console_run(link_script(HOLDER, VICTIM) + f""":as {SQUATTER}
:contact {QIAN_PHONE}
{QIAN_TAIL}
/open
:tap 同意
/bind {HOLDER.id_number} {HOLDER.name} 配偶
:tap 确认
/bind {FATHER.id_number} {FATHER.name} 父亲
:tap 确认
:as {VICTIM}
/family
/leave 1
:tap 确认
/open
:tap 同意
/bind {WIFE.id_number} {WIFE.name} 老婆
:tap 确认
""")
    family = next(t for t in turns if t.text == "/family")
    assert "钱晓红" in family.all_text and "/leave" in family.all_text
    left = [t for t in turns if t.text == ":tap 确认" and t.sender == VICTIM][0]
    assert {r["to"] for r in left.replies} == {VICTIM, SQUATTER}  # the householder is told
    bound = [t for t in turns if t.text == ":tap 确认" and t.sender == VICTIM][-1]
    assert "已绑定" in bound.all_text and "李秀兰" in bound.all_text, bound.all_text


def test_squatter_is_told_when_the_victim_leaves(chat: Chat) -> None:
    squatter = opened(chat, HH, place="dongying", name="钱晓红")
    victim = chat.person(REL, place="dongying", name="张建国")
    bind_direct(chat, squatter, victim, "配偶")
    chat.send(REL, "/leave 1")
    done = chat.tap(REL, "确认")
    assert "张建国" in texts(done, HH) and "已退出" in texts(done, HH)


# ---- one spouse, exclusivity across regions (M3) ----------------------------------------------

def test_cross_region_second_spouse_is_refused(console_run: Callable[[str], list[Turn]]) -> None:
    """M3: a Jinan householder could bind a Dongying wife already bound, as 配偶 again."""
    turns = console_run(link_script(HOLDER, VICTIM) + link_script(JINAN, JINAN_USER) +
                        link_script(WIFE, 300001) + f""":as {VICTIM}
/open
:tap 同意
/bind {WIFE.id_number} {WIFE.name} 老婆
:tap 确认
:as {JINAN_USER}
/open
:tap 同意
/bind {WIFE.id_number} {WIFE.name} 配偶
:as 300001
/family
""")
    second = [t for t in turns if t.sender == JINAN_USER and t.text.startswith("/bind")][0]
    assert second.codes == [Reason.RELATIVE_ALREADY_BOUND.value], second.all_text
    assert second.buttons() == ["为什么?"]
    family = [t for t in turns if t.sender == 300001 and t.text == "/family"][0]
    assert "张建国" in family.all_text and "王志强" not in family.all_text


def test_nobody_is_anyones_spouse_twice_in_a_non_exclusive_region(chat: Chat) -> None:
    a = opened(chat, HH, place="jinan", name="甲")
    opened(chat, OTHER, place="jinan", name="乙")
    wife = chat.person(REL, place="jinan", name="丙", scheme="resident")
    bind_direct(chat, a, wife, "配偶")
    refused = texts(chat.send(OTHER, f"/bind {wife.id_number} 丙 配偶"))
    assert "[RELATIVE_ALREADY_BOUND]" in refused and "配偶" in refused
    assert "[RELATION_NOT_ALLOWED]" in texts(
        chat.send(HH, f"/bind {chat.person(None, place='jinan', name='丁').id_number} 丁 老婆"))
    # as a daughter-in-law she may still be bound by someone else in Jinan
    chat.send(OTHER, f"/bind {wife.id_number} 丙 子女")
    assert "确认绑定" in str(chat.buttons_message(OTHER, "确认").labels())


# ---- /bind about strangers (M5) ---------------------------------------------------------------

def test_unknown_id_and_wrong_name_are_one_refusal(chat: Chat) -> None:
    opened(chat, HH, place="dongying", name="张三")
    hidden = chat.person(None, place="jian", name="王五", scheme="none")  # uninsured, Jiangxi
    unknown = texts(chat.send(HH, f"/bind {make_id('37050219900101999')} 王五 配偶"))
    wrong = texts(chat.send(HH, f"/bind {hidden.id_number} 李四 配偶"))
    wrong_relation_too = texts(chat.send(HH, f"/bind {hidden.id_number} 李四 朋友"))
    assert unknown == wrong == wrong_relation_too
    assert unknown.endswith("[UNKNOWN_PERSON]") and "不匹配" in unknown
    for secret in ("未参", "参保地", "没有参加", "江西"):
        assert secret not in unknown
    # once ID and name match, the rules about the relative may be told
    assert "[NOT_INSURED]" in texts(chat.send(HH, f"/bind {hidden.id_number} 王五 配偶"))


def test_bind_misses_are_rate_limited_per_householder(chat: Chat) -> None:
    opened(chat, HH, place="jinan", name="张三")
    opened(chat, OTHER, place="jinan", name="李三")
    kid = chat.person(None, place="jinan", name="王五", scheme="resident")
    for i in range(BIND_ATTEMPTS):
        assert "[UNKNOWN_PERSON]" in texts(chat.send(HH, f"/bind {kid.id_number} 错{i} 子女"))
    # even a correct request is refused now, before anything about the relative is looked at
    assert "[TOO_MANY_ATTEMPTS]" in texts(chat.send(HH, f"/bind {kid.id_number} 王五 子女"))
    assert chat.pending() == []
    # another householder is not affected, and an hour later the first may try again
    assert "确认绑定" in str(to(chat.send(OTHER, f"/bind {kid.id_number} 王五 子女"), OTHER)[0]
                          .labels())
    chat.clock.advance(3601)
    assert "确认绑定" in str(to(chat.send(HH, f"/bind {kid.id_number} 王五 子女"), HH)[0].labels())


def test_concurrent_misses_cannot_pass_the_limit(chat: Chat) -> None:
    me = opened(chat, HH, place="jinan")
    kid = chat.person(None, place="jinan", name="王五", scheme="resident")
    svc = chat.services.family
    codes = race(12, lambda i: svc.request_bind(me.id, kid.id_number, f"错{i}", "子女").code)
    assert codes.count(Reason.UNKNOWN_PERSON) == BIND_ATTEMPTS
    assert codes.count(Reason.TOO_MANY_ATTEMPTS) == 12 - BIND_ATTEMPTS
    with chat.services.sessions() as s:
        recorded = s.scalar(select(func.count()).select_from(Note).where(Note.action == BIND_MISS))
    assert recorded == BIND_ATTEMPTS


# ---- /limit replies with what is stored (L3) --------------------------------------------------

def test_limit_below_used_replies_what_family_shows(chat: Chat) -> None:
    me = opened(chat, HH, place="jinan", balance=100_000)
    kid = chat.person(REL, place="jinan", name="王小", scheme="resident")
    bind_direct(chat, me, kid, "儿子")
    assert chat.services.family.contribute(me.id, "1", 50_000, key="c1").ok  # ¥500 used
    reply = texts(chat.send(HH, "/limit 1 350"))
    assert "已用 ¥500.00，限额按已用金额设为 ¥500.00" in reply and "¥350.00" not in reply
    family = texts(chat.send(HH, "/family"))
    assert "限额 ¥500.00，已用 ¥500.00" in family
    assert chat.services.family.family(me.id).relatives[0].limit_fen == 50_000


def test_limit_zero_freezes_a_relative(chat: Chat) -> None:
    me = opened(chat, HH, place="jinan", balance=100_000)
    kid = chat.person(REL, place="jinan", name="王小", scheme="resident")
    bind_direct(chat, me, kid, "儿子")
    for zero in ("0", "0.00", "０", "¥0"):
        reply = texts(chat.send(HH, f"/limit 1 {zero}"))
        assert "¥0.00" in reply and "[" not in reply, (zero, reply)
    assert chat.services.family.family(me.id).relatives[0].limit_fen == 0
    assert "限额 ¥0.00，已用 ¥0.00，剩余 ¥0.00" in texts(chat.send(HH, "/family"))
    assert chat.services.family.contribute(me.id, "1", 100, key="c").code == \
        Reason.LIMIT_EXCEEDED
    assert len(chat.services.family.family(me.id).relatives) == 1  # still bound
