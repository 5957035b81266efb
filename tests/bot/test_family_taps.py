"""Issue 14 (part): a relative's view of family money, tap-don't-type commands, number replies,
a phone typed while linking. Transcripts through the console (demo people) and the Chat
helper; every step lives in ``conversation_state``, so a second console run (another process,
as another replica would be) continues it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.state import ConversationState, LinkAttempt, UnansweredQuestion
from rules.demo import by_name
from tests.bot.account_chat import (
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
)
from tests.bot.conftest import HOLDER, WIFE, link_script
from tests.bot.test_account_bind import HH, REL, bind_direct, opened

FATHER = by_name("张德福")
H_USER, W_USER, F_USER = 700001, 700002, 700003

FAMILY = (link_script(HOLDER, H_USER) + "/open\n:tap 同意\n"
          f"/bind {WIFE.id_number} {WIFE.name} 配偶\n:tap 确认\n"
          + link_script(WIFE, W_USER))


# ---- 1. a relative's view -------------------------------------------------------------

def test_a_relative_sees_what_family_money_paid_for_them(console_run):
    console_run(FAMILY)
    turns = console_run(f":as {W_USER}\n/settle 100 门诊\n:sleep 60\n/settle 100 门诊\n:tap 确认\n"
                        "/history\n/family\n")
    history, family = turns[-2].all_text, turns[-1].all_text
    # who paid (the householder's full name), how much, for what, when — not "暂无账户记录"
    assert "暂无" not in history and "家庭共济为我支付的记录" in history
    assert f"{HOLDER.name} 支付 门诊 ¥100.00" in history and "20" in history
    # who bound me, my limit and what is left under it; IDs masked
    assert HOLDER.name in family and "限额 不限，已用 ¥100.00，剩余 不限" in family
    assert HOLDER.id_number not in family + history


def test_householder_history_per_relative_by_button_or_name(console_run):
    console_run(FAMILY)
    console_run(f":as {W_USER}\n/settle 100 门诊\n:sleep 60\n/settle 100 门诊\n:tap 确认\n")
    turns = console_run(f":as {H_USER}\n/limit\n:tap {WIFE.name}\n:tap ¥500\n/history\n"
                        f":tap {WIFE.name}\n/history {WIFE.name} 1\n/history 1\n")
    own, per_button, per_name, count = (t.all_text for t in turns[-4:])
    assert f"{WIFE.name} 的共济记录" in turns[-4].buttons() and "-¥100.00" in own
    for text in (per_button, per_name):
        assert f"为 {WIFE.name} 支付的家庭共济记录" in text
        assert f"为 {WIFE.name} 支付 门诊 ¥100.00" in text and "剩余 ¥400.00" in text
    assert count.count("-¥") == 1  # a bare number is still 条数 (the contract)


# ---- 2. tap, don't type --------------------------------------------------------------

def test_bind_walks_through_id_name_and_the_regions_relations(console_run):
    console_run(link_script(HOLDER, H_USER) + "/open\n:tap 同意\n")
    turns = console_run(f":as {H_USER}\n/bind\n12345\n{WIFE.id_number}\n{WIFE.name}\n")
    assert "1/3" in turns[1].all_text
    assert turns[2].codes == ["INVALID_ID"] and "重新输入" in turns[2].all_text
    assert "2/3" in turns[3].all_text and WIFE.id_number not in turns[3].all_text
    # Dongying's four relations only: no 兄弟姐妹 to tap
    assert turns[4].buttons() == ["配偶", "父母", "子女", "配偶父母"]
    # another process (as a replica would) continues from the database: the typed relation
    turns = console_run(f":as {H_USER}\n配偶\n:tap 确认\n/family\n")
    assert "请确认绑定" in turns[1].all_text
    assert f"已绑定 {WIFE.name}" in turns[2].all_text and WIFE.name in turns[3].all_text


def test_jinan_bind_offers_siblings_and_a_typed_relation_works(console_run):
    jinan, sister = by_name("王志强"), by_name("王志红")
    console_run(link_script(jinan, H_USER) + "/open\n:tap 同意\n")
    turns = console_run(f":as {H_USER}\n/bind\n{sister.id_number}\n{sister.name}\n妹妹\n")
    assert "兄弟姐妹" in turns[-2].buttons()
    assert "请确认绑定" in turns[-1].all_text and "兄弟姐妹" in turns[-1].all_text


def test_cancel_ends_a_step_and_the_next_text_is_a_question(console_run):
    console_run(FAMILY)
    turns = console_run(f":as {H_USER}\n/bind\n/cancel\n{FATHER.id_number}\n")
    assert "已取消" in turns[2].all_text
    assert "2/3" not in turns[3].all_text
    turns = console_run(f":as {H_USER}\n/limit\n:tap {WIFE.name}\n:tap 输入其他金额\n取消\n800\n")
    assert "已取消" in turns[-2].all_text and "¥800.00" not in turns[-1].all_text


ONE_TAP_COMMANDS = ["/unbind", "/limit", "/contribute", "/leave", "/order", "/history"]


@pytest.mark.parametrize("command", ONE_TAP_COMMANDS)
def test_every_command_needing_a_relative_works_by_tapping_alone(chat: Chat, command: str
                                                                 ) -> None:
    """No ID number or 序号 is typed: the family comes as buttons (full names)."""
    a = opened(chat, HH, place="jinan", name="王大")
    b = opened(chat, 103, place="jinan", name="王二")
    kid = chat.person(REL, place="jinan", name="王小", scheme="resident")
    bind_direct(chat, a, kid, "儿子")
    bind_direct(chat, b, kid, "儿子")
    chat.services.family.contribute(a.id, "1", 1_000, key="c0")
    user = REL if command in ("/leave", "/order") else HH
    menu = chat.send(user, command)
    labels = [label for s in menu for row in s.labels() for label in row]
    assert any(("王小" if user == HH else "王二") in label for label in labels), labels
    if command == "/history":
        shown = texts(chat.tap(HH, "王小"))
        assert "为 王小 支付 代缴居民医保 ¥10.00" in shown
        return
    picked = chat.tap(user, "王小" if user == HH else "王二")
    if command == "/limit":
        picked = chat.tap(user, "¥500")
        assert "¥500.00" in texts(picked)
        assert chat.services.family.family(a.id).relatives[0].limit_fen == 50_000
        return
    if command == "/contribute":
        picked = chat.send(user, "380")  # the amount is typed, the relative tapped
    if command == "/order":
        assert "已更新扣款顺序" in texts(picked)
        assert chat.services.family.family(kid.id).payers[0].name == "王二"
        return
    assert "确认" in " ".join(b.label for s in picked for row in s.buttons for b in row)
    done = texts(chat.tap(user, "确认"))
    assert "✅" in done, done
    if command == "/unbind":
        assert chat.services.family.family(a.id).relatives == ()
    if command == "/leave":
        assert [p.name for p in chat.services.family.family(kid.id).payers] == ["王大"]


def test_a_tap_on_someone_elses_relative_is_refused(chat: Chat) -> None:
    a = opened(chat, HH, place="jinan", name="王大")
    kid = chat.person(REL, place="jinan", name="王小", scheme="resident")
    bind_direct(chat, a, kid, "儿子")
    menu = chat.send(HH, "/unbind")
    assert "[NOT_BOUND]" in texts(chat.press(REL, menu[0], "王小"))


def test_number_reply_picks_from_did_you_mean_and_is_not_unanswered(console_run, harness):
    matcher = harness.services.matcher
    vague = next(q for q in ("限额怎么", "绑定", "共济", "家人", "钱", "怎么办理")
                 if matcher.ask(q).kind == "suggest")
    turns = console_run(f":as 500009\n{vague}\n1\n9\n")
    first = turns[1].buttons()[0]
    assert first.startswith("1. ")
    assert turns[2].all_text.startswith("问：") and first[3:].rstrip("…") in turns[2].all_text
    assert "1 到" in turns[3].all_text  # out of range: says which numbers work
    with harness.services.sessions() as s:
        kept = s.scalars(select(UnansweredQuestion.question)).all()
    assert "1" not in kept and "9" not in kept


def test_number_reply_picks_from_the_family_list(console_run):
    console_run(FAMILY)
    turns = console_run(f":as {H_USER}\n/family\n1\n:tap 设置限额\n:tap 输入其他金额\n800\n")
    assert f"1. {WIFE.name}" in turns[1].buttons()
    assert "设置限额" in turns[2].buttons() and WIFE.name in turns[2].all_text
    assert "¥800.00" in turns[-1].all_text


def test_a_typed_phone_points_to_the_share_button_and_proves_nothing(console_run, harness):
    turns = console_run(f":as 500010\n/start\n{HOLDER.phone}\n{HOLDER.id_number[-4:]}\n/me\n")
    assert "分享我的手机号" in turns[2].all_text and "无法证明" in turns[2].all_text
    assert "验证成功" not in turns[3].all_text
    assert turns[4].codes == ["NOT_LINKED"]
    # while the ID tail is awaited, a typed phone is not counted as a wrong tail
    turns = console_run(f":as 500011\n:contact {HOLDER.phone}\n{HOLDER.phone}\n"
                        f"{HOLDER.id_number[-4:]}\n")
    assert "后4位" in turns[2].all_text and not turns[2].codes
    assert "验证成功" in turns[3].all_text
    with harness.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(LinkAttempt)
                        .where(LinkAttempt.ok.is_(False))) == 0
        assert s.get(ConversationState, 500011) is None


def test_readme_lists_every_demo_person_with_phone_and_id_tail():
    from pathlib import Path

    from rules.demo import DEMO

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(): line for line in readme.splitlines()
            if line.startswith("| ") and line.count("|") == 7}
    for person in DEMO:
        assert person.name in rows, f"{person.name} missing from the README's demo table"
        line = rows[person.name]
        assert person.phone in line and f"| {person.id_number[-4:]} |" in line, line


def test_inside_the_family_the_spending_notice_and_contribution_name_in_full(console_run):
    console_run(FAMILY)
    turns = console_run(f":as {W_USER}\n/settle 100 门诊\n:sleep 60\n/settle 100 门诊\n:tap 确认\n"
                        f":as {H_USER}\n/contribute\n:tap {WIFE.name}\n380\n:tap 确认\n")
    notice = [r["text"] for r in turns[4].replies if r["to"] == H_USER]
    assert notice and f"您的亲属 {WIFE.name}（" in notice[0]
    assert f"为 {WIFE.name}（" in turns[-2].all_text and f"已为 {WIFE.name}（" in turns[-1].all_text
    assert WIFE.id_number not in turns[-1].all_text
