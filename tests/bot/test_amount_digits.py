"""Review L7 end to end: an amount in Arabic-Indic, Devanagari or mathematical digits is
INVALID_AMOUNT and moves nothing; full-width digits still pay."""

from __future__ import annotations

import pytest

from tests.bot.account_chat import (
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
)
from tests.bot.test_account_bind import HH
from tests.bot.test_money_settle import balance


@pytest.mark.parametrize("amount", ["٣", "१२", "𝟙𝟚", "١٢٠.٥"])
def test_settle_in_foreign_digits_is_refused(chat: Chat, amount: str) -> None:
    me = chat.person(HH, place="jinan", balance=50_000)
    assert "[INVALID_AMOUNT]" in texts(chat.send(HH, f"/settle {amount} 门诊"))
    assert balance(chat, me) == 50_000


def test_settle_in_full_width_digits_pays(chat: Chat) -> None:
    me = chat.person(HH, place="jinan", balance=50_000)
    assert "¥120.50" in texts(chat.send(HH, "/settle １２０.５ 门诊"))
    assert balance(chat, me) == 50_000 - 12_050
