"""First premium for a relative who is not yet insured: the bot says what it does (it cannot pay
it; the local 医保经办机构 enrols and takes the first payment), and the knowledge base says the
same (bot/handlers/first_premium.py)."""

from __future__ import annotations

from sqlalchemy import func, select

from rules.identity import mask_id
from rules.schema import LedgerEntry
from tests.bot.account_chat import (
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
)
from tests.bot.test_account_bind import HH, opened


def _ledger_rows(chat: Chat) -> int:
    with chat.services.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


def test_contribute_for_an_uninsured_relative_points_to_the_bureau(chat: Chat) -> None:
    opened(chat, HH, place="dongying", name="张建国")
    child = chat.person(None, place="dongying", name="张小雨", scheme="none", employment=None)
    before = _ledger_rows(chat)
    sent = chat.send(HH, f"/contribute {child.id_number} 380")
    text = texts(sent)
    assert "还没有参加基本医保，本机器人不能为其缴费" in text
    assert "医保经办机构" in text and "参保登记" in text and "/bind" in text
    assert mask_id(child.id_number) in text and "张小雨" not in text
    assert "确认" not in [b.label for s in sent for row in s.buttons for b in row]
    assert _ledger_rows(chat) == before
    # a 序号 that is not a bound relative is still the plain refusal
    assert "还没有参加基本医保" not in texts(chat.send(HH, "/contribute 1 380"))


def test_the_knowledge_base_says_what_the_bot_does(chat: Chat) -> None:
    kb = chat.services.kb
    for entry_id in ("eligibility_relative_must_be_insured", "payable_resident_premium"):
        answer = kb.entry(entry_id).answer
        assert "本机器人不能" in answer and "医保经办机构" in answer, entry_id
        assert "参保登记" in answer, entry_id
