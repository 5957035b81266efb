"""/family /balance /history /limit /order through the real handlers."""

from __future__ import annotations

import re

import pytest

from bot.context import MAX_TEXT
from rules.identity import mask_id
from tests.bot.account_chat import (
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
)
from tests.bot.test_account_bind import HH, OTHER, REL, bind_direct, opened

AMOUNT = re.compile(r"¥[\d,]+(\.\d+)?")


def amounts(text: str) -> list[str]:
    return [m.group(0) for m in AMOUNT.finditer(text)]


def two_decimals(text: str) -> bool:
    return all(re.fullmatch(r"¥[\d,]+\.\d{2}", a) for a in amounts(text))


def test_family_names_in_full_ids_masked(chat: Chat) -> None:
    """Inside one family names are shown in full; ID numbers stay masked (contract)."""
    me = opened(chat, HH, place="jinan", name="王志强")
    other = opened(chat, OTHER, place="jinan", name="王志红")
    mum = chat.person(REL, place="jinan", name="王桂英", scheme="resident")
    kid = chat.person(None, place="jinan", name="王小明", scheme="resident")
    bind_direct(chat, me, mum, "妈妈")
    bind_direct(chat, me, kid, "儿子")
    bind_direct(chat, other, mum, "母亲")
    chat.send(HH, "/limit 1 500")

    mine = texts(chat.send(HH, "/family"))
    assert "1. " in mine and "2. " in mine and "父母" in mine and "子女" in mine
    assert "限额 ¥500.00，已用 ¥0.00，剩余 ¥500.00" in mine and "限额 不限" in mine
    assert "王桂英" in mine and mask_id(mum.id_number) in mine and mum.id_number not in mine

    hers = texts(chat.send(REL, "/family"))
    assert "为我共济的户主" in hers and "/order" in hers  # Jinan ranks payers
    assert mask_id(me.id_number) in hers and mask_id(other.id_number) in hers
    assert mask_id(kid.id_number) in hers  # the householder's other relatives
    assert "王志强" in hers and "王志红" in hers and "王小明" in hers  # her payers' families
    for secret in (me.id_number, other.id_number, kid.id_number):
        assert secret not in hers
    assert two_decimals(mine) and two_decimals(hers)


def test_family_when_nothing_is_bound(chat: Chat) -> None:
    chat.person(HH, place="jinan")
    assert "/open" in texts(chat.send(HH, "/family"))


def test_family_pages_long_lists(chat: Chat) -> None:
    me = opened(chat, HH, place="jinan")
    for i in range(60):
        bind_direct(chat, me, chat.person(None, place="jinan", name=f"亲属{i:02d}" * 6,
                                          scheme="resident"), "兄弟姐妹")
    sent = chat.send(HH, "/family")
    assert len(sent) >= 2 and all(len(s.text) <= MAX_TEXT for s in sent)
    assert "60. " in texts(sent)


def test_balance_with_lapse_effects(chat: Chat) -> None:
    chat.person(HH, place="dongying", name="吴刚", status="lapsed", lapsed_since="2026-07",
                balance=45_000, monthly_credit=16_000)
    text = texts(chat.send(HH, "/balance"))
    assert "余额：¥450.00" in text and "每月划入：¥160.00" in text
    assert "断缴" in text and "余额仍然可以使用" in text
    # Ji'an's "years cleared after 3 months" [003] is not a Dongying user's rule (factcheck S-10)
    assert "清零" not in text and "以参保地医保部门为准" in text
    chat.person(OTHER, place="jian", status="lapsed", lapsed_since="2026-07", balance=100)
    assert "按吉安市的说明，累计缴费年限会被清零" in texts(chat.send(OTHER, "/balance"))
    chat.person(REL, place="jinan", balance=123_456)
    plain = texts(chat.send(REL, "/balance"))
    assert "¥1,234.56" in plain and "断缴" not in plain


def test_history_shows_signed_amounts_and_honours_the_count(chat: Chat) -> None:
    me = opened(chat, HH, place="jinan", balance=100_000)
    kid = chat.person(REL, place="jinan", name="王小", scheme="resident")
    bind_direct(chat, me, kid, "儿子")
    for n in range(3):
        chat.services.family.contribute(me.id, "1", 1_000 + n, key=f"c{n}")
    text = texts(chat.send(HH, "/history"))
    assert text.count("-¥10.0") == 3 and "代缴居民医保" in text and "（王小）" in text  # in full
    assert texts(chat.send(HH, "/history 1")).count("-¥") == 1
    # the relative sees what family money paid for them (taps.py; issue 14), not "暂无"
    mine = texts(chat.send(REL, "/history"))
    assert "家庭共济为我支付的记录" in mine and mine.count(f"{me.name} 支付 代缴居民医保") == 3


@pytest.mark.parametrize("arg", ["0", "abc", "1000", "1 2"])
def test_history_usage(chat: Chat, arg: str) -> None:
    chat.person(HH, place="jinan")
    assert "用法：/history" in texts(chat.send(HH, f"/history {arg}"))


def test_limit_set_unlimited_and_refusals(chat: Chat) -> None:
    me = opened(chat, HH, place="jinan")
    kid = chat.person(None, place="jinan", name="王小", scheme="resident")
    bind_direct(chat, me, kid, "儿子")
    assert "¥300.50" in texts(chat.send(HH, "/limit 1 300.5"))
    assert chat.services.family.family(me.id).relatives[0].limit_fen == 30_050
    assert "不限" in texts(chat.send(HH, f"/limit {kid.id_number} 不限"))
    assert chat.services.family.family(me.id).relatives[0].limit_fen is None
    for bad in ("-5", "1.234", "abc"):
        assert "[INVALID_AMOUNT]" in texts(chat.send(HH, f"/limit 1 {bad}")), bad
    assert "[NOT_BOUND]" in texts(chat.send(HH, "/limit 9 100"))
    assert "[INVALID_ID]" in texts(chat.send(HH, "/limit 370502199001011230 100"))
    assert "用法：/limit" in texts(chat.send(HH, "/limit 1"))


def test_order_ranks_payers_first_payer_first(chat: Chat) -> None:
    a = opened(chat, HH, place="jinan", name="甲户主")
    b = opened(chat, OTHER, place="jinan", name="乙户主")
    me = chat.person(REL, place="jinan", name="丙", scheme="resident")
    bind_direct(chat, a, me, "妈妈")
    bind_direct(chat, b, me, "妈妈")
    text = texts(chat.send(REL, f"/order {b.id_number} 2"))
    assert "已更新扣款顺序" in text
    payers = chat.services.family.family(me.id).payers
    assert [p.householder_id for p in payers] == [b.id, a.id]
    assert "[NOT_BOUND]" in texts(chat.send(REL, "/order 5"))
    assert "用法：/order" in texts(chat.send(REL, "/order"))


def test_order_not_supported_in_dongying(chat: Chat) -> None:
    a = opened(chat, HH, place="dongying")
    me = chat.person(REL, place="dongying", scheme="resident")
    bind_direct(chat, a, me, "妈妈")
    assert "[ORDER_NOT_SUPPORTED]" in texts(chat.send(REL, "/order 1"))
