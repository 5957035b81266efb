"""A full scenario at DEBUG: no ID number, phone or bot token in any captured log line."""

from __future__ import annotations

import logging
import re

from bot.logs import RedactingFilter
from rules.demo import DEMO
from tests.bot.conftest import HOLDER, WIFE

ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
TOKEN = "123456789:AAExampleExampleExampleExample_1234"


def test_full_scenario_logs_nothing_personal(harness, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    RedactingFilter.tokens.add(TOKEN)

    async def boom(update, context):
        raise ValueError(f"failed for {WIFE.id_number} / {WIFE.phone}")

    harness.add_command("boom", boom)
    script = [
        "/start", f":contact-of 1 {HOLDER.phone}", f":contact {HOLDER.phone}", "0000",
        HOLDER.id_number[-4:], "/me",
        f"我的身份证是{HOLDER.id_number}，手机{HOLDER.phone}，怎么绑定家人？",
        f"帮我查 {WIFE.id_number} 和 +86 {WIFE.phone}", "/open", ":tap",
        f"/bind {WIFE.id_number} {WIFE.name} 配偶", ":tap 确认", "/family", "/balance",
        "/limit 1 300", "/settle 50 门诊", ":tap 确认", "/history", "/boom",
        ":as 900001", f"/lookup {WIFE.id_number}", "/unanswered", "/stats",
    ]
    for line in script:
        try:
            harness.send(line)
        except ValueError:  # a button the account flow did not offer; the logs still count
            pass
    logging.getLogger("httpx").warning("HTTP Request: POST https://api.telegram.org/bot%s/getMe",
                                       TOKEN)
    logging.getLogger("test").info("contact %s", {"phone_number": "+8613905461001"})

    records = caplog.records
    assert len(records) > 20  # DEBUG really was captured (PTB logs every update)
    text = caplog.text + "\n".join(r.getMessage() for r in records)
    assert not ID_RE.findall(text)
    assert not PHONE_RE.findall(text)
    assert TOKEN not in text and "<token>" in text
    for person in DEMO:
        assert person.id_number not in text and person.phone not in text
    assert any(r.exc_text and "ValueError" in r.exc_text for r in records)  # traceback kept, masked


def test_database_errors_do_not_log_their_parameters(harness, caplog):
    from sqlalchemy import insert

    from bot.state import Link

    caplog.set_level(logging.DEBUG)

    async def clash(update, context):
        with harness.services.engine.begin() as conn:  # a second link for the same person
            conn.execute(insert(Link), [{"user_id": 1, "person_id": 1, "linked_at": None},
                                        {"user_id": 2, "person_id": 1, "linked_at": None}])

    harness.add_command("clash", clash)
    harness.send("/clash")
    [error] = [r for r in caplog.records if r.exc_text and "IntegrityError" in r.exc_text]
    assert "parameters hidden" in error.exc_text


def test_linking_tail_and_every_written_form_stay_out_of_debug_logs(harness, caplog):
    """Review L2: the tail (and a wrong guess) as message text, IDs glued to letters, spaced or
    dashed, phones as 0086… or (139)…: none of it in any DEBUG record."""
    caplog.set_level(logging.DEBUG)
    tail = HOLDER.id_number[-4:]
    spaced = " ".join(WIFE.id_number[i:i + 4] for i in range(0, 18, 4))
    dashed = f"{HOLDER.id_number[:6]}-{HOLDER.id_number[6:14]}-{HOLDER.id_number[14:]}"
    paren = f"({WIFE.phone[:3]}){WIFE.phone[3:]}"
    for line in ["/start", f":contact {HOLDER.phone}", "0000", tail, "/me",
                 f"ID{HOLDER.id_number} sfz{WIFE.id_number} {spaced} {dashed}",
                 f"电话0086{HOLDER.phone} {paren} +86 {WIFE.phone[:3]}-{WIFE.phone[3:7]}-"
                 f"{WIFE.phone[7:]}"]:
        harness.send(line)
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in (HOLDER.id_number, WIFE.id_number, spaced, dashed, HOLDER.phone, WIFE.phone,
                   paren, WIFE.phone[3:7]):
        assert secret not in text
    assert not re.findall(rf"""text['"]?\s*[:=]\s*['"]\s*(?:{tail}|0000)\s*['"]""", text)
