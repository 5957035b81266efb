"""/settle (/pay) and /contribute through the real handlers, region by region."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.identity import mask_id
from tests.bot.account_chat import (
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
    to,
)
from tests.bot.test_account_bind import HH, REL, bind_direct, opened


def family_of(chat: Chat, place: str = "dongying", *, hh_balance: int = 100_000,
              own: int = 3_000, relation: str = "配偶", rel_place: str | None = None,
              scheme: str = "resident") -> tuple[object, object]:
    """A householder (user HH) who bound a relative (user REL)."""
    householder = opened(chat, HH, place=place, name="张建国", balance=hh_balance)
    relative = chat.person(REL, place=rel_place or place, name="李秀兰", scheme=scheme, balance=own)
    bind_direct(chat, householder, relative, relation)
    return householder, relative


def balance(chat: Chat, person: object) -> int:
    return chat.view(person.id).balance_fen


def test_own_account_pays_at_once(chat: Chat) -> None:
    me = chat.person(HH, place="jinan", balance=50_000)
    sent = chat.send(HH, "/settle 120.5 门诊")
    assert "结算成功" in texts(sent) and "门诊 ¥120.50" in texts(sent)
    assert "确认" not in texts(sent) and sent[-1].buttons == []
    assert balance(chat, me) == 50_000 - 12_050


def test_redelivered_settle_update_charges_once(chat: Chat) -> None:
    me = chat.person(HH, place="jinan", balance=50_000)
    chat.send(HH, "/settle 100", update_id=77)
    again = chat.send(HH, "/settle 100", update_id=77)
    assert "[" not in texts(again)  # dropped, or the first result replayed — never a refusal
    assert balance(chat, me) == 40_000
    chat.send(HH, "/settle 100")  # a new update is a new payment
    assert balance(chat, me) == 30_000


def test_pay_is_an_alias_and_purpose_defaults_to_pharmacy(chat: Chat) -> None:
    chat.person(HH, place="jinan", balance=50_000)
    assert "购药 ¥10.00" in texts(chat.send(HH, "/pay ¥10"))


@pytest.mark.parametrize("amount", ["abc", "1.234", "-5", "0", "999999999999"])
def test_settle_invalid_amount(chat: Chat, amount: str) -> None:
    chat.person(HH, place="jinan", balance=50_000)
    assert "[INVALID_AMOUNT]" in texts(chat.send(HH, f"/settle {amount}"))


def test_settle_usage_and_unknown_purpose(chat: Chat) -> None:
    chat.person(HH, place="jinan", balance=50_000)
    assert "用法：/settle" in texts(chat.send(HH, "/settle"))
    text = texts(chat.send(HH, "/settle 10 理发"))
    assert "没有识别出用途" in text and "居民医保缴费" in text


def test_dongying_retry_window_through_the_bot(chat: Chat) -> None:
    householder, relative = family_of(chat, "dongying", own=3_000)
    first = texts(chat.send(REL, "/settle 100"))
    assert "[INSUFFICIENT_BALANCE]" in first and "5分钟内再次刷卡" in first
    chat.clock.advance(120)
    summary = to(chat.send(REL, "/settle 100"), REL)[0]
    assert "家庭共济" in summary.text and "¥100.00" in summary.text
    assert summary.labels() == [["确认支付", "取消"]]
    assert balance(chat, householder) == 100_000  # nothing until 确认
    done = chat.tap(REL, "确认")
    assert "结算成功" in texts(done, REL)
    assert balance(chat, householder) == 90_000 and balance(chat, relative) == 3_000
    notice = texts(done, HH)
    assert "¥100.00" in notice and "剩余限额：不限" in notice and "¥900.00" in notice
    assert mask_id(relative.id_number) in notice and relative.id_number not in notice


def test_dongying_window_closes_after_five_minutes(chat: Chat) -> None:
    family_of(chat, "dongying", own=3_000)
    chat.send(REL, "/settle 100")
    chat.clock.advance(301)
    assert "[INSUFFICIENT_BALANCE]" in texts(chat.send(REL, "/settle 100"))


def test_householder_told_remaining_limit(chat: Chat) -> None:
    family_of(chat, "dongying", own=0)
    chat.send(HH, "/limit 1 150")
    chat.send(REL, "/settle 100")
    chat.send(REL, "/settle 100")
    done = chat.tap(REL, "确认")
    assert "剩余限额：¥50.00" in texts(done, HH)


def test_limit_exceeded(chat: Chat) -> None:
    family_of(chat, "dongying", own=0)
    chat.send(HH, "/limit 1 50")
    chat.send(REL, "/settle 100")
    assert "[LIMIT_EXCEEDED]" in texts(chat.send(REL, "/settle 100"))


def test_family_funds_insufficient(chat: Chat) -> None:
    householder, _ = family_of(chat, "dongying", own=0, hh_balance=5_000)
    chat.send(REL, "/settle 100")
    assert "[FAMILY_FUNDS_INSUFFICIENT]" in texts(chat.send(REL, "/settle 100"))
    assert balance(chat, householder) == 5_000


def test_purpose_not_allowed_by_the_payers_region(chat: Chat) -> None:
    """A Dongying patient (retry window) whose Jinan householder's money may not pay checks."""
    family_of(chat, "jinan", own=0, rel_place="dongying")
    chat.send(REL, "/settle 100 体检")
    assert "[PURPOSE_NOT_ALLOWED]" in texts(chat.send(REL, "/settle 100 体检"))


def test_jinan_ordered_settlement_confirms_family_part(chat: Chat) -> None:
    householder, relative = family_of(chat, "jinan", own=3_000, hh_balance=5_000)
    summary = texts(chat.send(REL, "/settle 100 住院"))
    assert "本人个人账户支付：¥30.00" in summary and "支付：¥50.00" in summary
    assert "需现金支付：¥20.00" in summary
    done = texts(chat.tap(REL, "确认"))
    assert "现金支付：¥20.00" in done
    assert balance(chat, householder) == 0 and balance(chat, relative) == 0


def test_hainan_counter_uses_own_account_then_cash(chat: Chat) -> None:
    family_of(chat, "hainan", own=3_000, relation="配偶")
    text = texts(chat.send(REL, "/settle 100 门诊"))
    assert "结算成功" in text and "现金支付：¥70.00" in text and "确认" not in text


def test_contribute_confirms_and_tells_the_relative(chat: Chat) -> None:
    householder, _ = family_of(chat, "jinan")
    summary = to(chat.send(HH, "/contribute 1 380"), HH)[0]
    assert "¥380.00" in summary.text and summary.labels() == [["确认缴费", "取消"]]
    assert balance(chat, householder) == 100_000
    done = chat.tap(HH, "确认")
    assert "余额：¥620.00" in texts(done, HH)
    assert "张建国" in texts(done, REL) and "¥380.00" in texts(done, REL)
    assert balance(chat, householder) == 62_000


def test_contribute_refusals(chat: Chat) -> None:
    householder = opened(chat, HH, place="jinan", balance=10_000)
    worker = chat.person(None, place="jinan", name="在职", scheme="employee")
    bind_direct(chat, householder, worker, "配偶")
    assert "[NOT_RESIDENT]" in texts(chat.send(HH, "/contribute 1 100"))
    assert "[NOT_BOUND]" in texts(chat.send(HH, "/contribute 2 100"))
    assert "[INVALID_AMOUNT]" in texts(chat.send(HH, "/contribute 1 abc"))
    assert "[INVALID_ID]" in texts(chat.send(HH, "/contribute 370502199001011230 100"))
    assert "用法：/contribute" in texts(chat.send(HH, "/contribute 1"))
    kid = chat.person(None, place="jinan", name="孩子", scheme="resident")
    bind_direct(chat, householder, kid, "儿子")
    chat.send(HH, "/limit 2 50")
    # checked when the plan is made: refused at once, no summary to press
    limited = texts(chat.send(HH, "/contribute 2 80"))
    assert "[LIMIT_EXCEEDED]" in limited and "确认缴费" not in limited
    chat.send(HH, "/limit 2 不限")
    poor = texts(chat.send(HH, "/contribute 2 200"))
    assert "[FAMILY_FUNDS_INSUFFICIENT]" in poor and "确认缴费" not in poor
    assert not any(not row["used"] for row in chat.pending())
    assert balance(chat, householder) == 10_000


USERS = itertools.count(50_000)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fen=st.integers(min_value=1, max_value=999_999),
       style=st.sampled_from(["{y}", "¥{y}", "{y}元", "{fw}"]))
def test_any_amount_is_shown_with_two_decimals(chat: Chat, fen: int, style: str) -> None:
    user = next(USERS)
    chat.person(user, place="jinan", balance=fen)  # a fresh payer per example
    yuan = f"{fen // 100}.{fen % 100:02d}".rstrip("0").rstrip(".")
    full_width = yuan.translate(str.maketrans("0123456789.", "０１２３４５６７８９．"))
    text = texts(chat.send(user, "/settle " + style.format(y=yuan, fw=full_width)))
    assert f"¥{fen // 100:,}.{fen % 100:02d}" in text
    assert all(re.fullmatch(r"¥[\d,]+\.\d{2}", a) for a in re.findall(r"¥[\d,.]+\d", text))
