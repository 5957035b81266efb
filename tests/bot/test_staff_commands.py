"""Staff commands: /lookup /settle_for /credit /audit — staff only, masked, logged."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import update

from rules.identity import mask_id
from rules.schema import Person
from tests.bot.account_chat import (
    STAFF,
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
)
from tests.bot.test_account_bind import HH, REL, bind_direct, opened
from tests.bot.test_money_settle import balance, family_of


@pytest.mark.parametrize("command", ["/lookup 1", "/settle_for 1 2", "/credit 2026-11", "/audit"])
def test_staff_commands_are_forbidden_to_others(chat: Chat, command: str) -> None:
    chat.person(HH, place="jinan")
    assert "[FORBIDDEN]" in texts(chat.send(HH, command))
    assert "[FORBIDDEN]" in texts(chat.send(555, command))  # not even linked
    assert "[FORBIDDEN]" in texts(chat.send(HH, command, chat_id=-100777))


@pytest.mark.parametrize("command", ["/lookup 1", "/audit"])
def test_staff_commands_stay_out_of_groups(chat: Chat, command: str) -> None:
    assert "[PRIVATE_ONLY]" in texts(chat.send(STAFF, command, chat_id=-100777))


def test_lookup_is_masked_and_logged_masked(chat: Chat, caplog: pytest.LogCaptureFixture) -> None:
    householder, relative = family_of(chat, "jinan")
    with caplog.at_level(logging.INFO, logger="gongji.staff"):
        text = texts(chat.send(STAFF, f"/lookup {householder.id_number}"))
    assert mask_id(householder.id_number) in text and householder.id_number not in text
    assert "张*" in text and "张建国" not in text and "¥1,000.00" in text
    assert ("已开通" in text and mask_id(relative.id_number) in text
            and relative.id_number not in text)
    assert mask_id(householder.id_number) in caplog.text
    assert householder.id_number not in caplog.text


def test_lookup_refusals_and_usage(chat: Chat) -> None:
    assert "[INVALID_ID]" in texts(chat.send(STAFF, "/lookup 370502199001011230"))
    assert "[UNKNOWN_PERSON]" in texts(chat.send(STAFF, "/lookup 11010519491231002X"))
    assert "用法：/lookup" in texts(chat.send(STAFF, "/lookup"))


def test_settle_for_own_money_needs_confirm_and_tells_the_patient(chat: Chat) -> None:
    """Security review M6: a terminal settlement shows its summary, needs 确认, and the
    linked patient is told what was paid and by which staff member (masked)."""
    patient = chat.person(REL, place="jinan", balance=20_000)
    summary = texts(chat.send(STAFF, f"/settle_for {patient.id_number} 50 门诊"))
    assert "请确认结算：门诊 ¥50.00" in summary and "本人个人账户支付：¥50.00" in summary
    assert balance(chat, patient) == 20_000  # nothing before 确认
    done = chat.tap(STAFF, "确认")
    assert "结算成功" in texts(done, STAFF) and "患者个人账户余额：¥150.00" in texts(done, STAFF)
    notice = texts(done, REL)
    assert "工作人员" in notice and str(STAFF)[-4:] in notice and "¥50.00" in notice
    assert str(STAFF) not in notice.replace(str(STAFF)[-4:], "")
    assert balance(chat, patient) == 15_000


def test_settle_for_dongying_swipe_twice_then_staff_confirms(chat: Chat) -> None:
    householder, relative = family_of(chat, "dongying", own=0)
    first = texts(chat.send(STAFF, f"/settle_for {relative.id_number} 100"))
    assert "[INSUFFICIENT_BALANCE]" in first and "5分钟内" in first
    summary = texts(chat.send(STAFF, f"/settle_for {relative.id_number} 100"))
    assert mask_id(relative.id_number) in summary and relative.id_number not in summary
    assert balance(chat, householder) == 100_000
    done = chat.tap(STAFF, "确认")
    assert "结算成功" in texts(done, STAFF) and "¥100.00" in texts(done, HH)
    assert balance(chat, householder) == 90_000


def test_settle_for_confirmation_rechecks_staff(chat: Chat) -> None:
    householder, relative = family_of(chat, "jinan", own=0)
    chat.send(STAFF, f"/settle_for {relative.id_number} 100")
    summary = chat.buttons_message(STAFF, "确认")
    assert "[FORBIDDEN]" in texts(chat.press(HH, summary, "确认"))
    assert balance(chat, householder) == 100_000


def test_settle_for_usage_and_amount(chat: Chat) -> None:
    patient = chat.person(None, place="jinan", balance=20_000)
    assert "用法：/settle_for" in texts(chat.send(STAFF, "/settle_for"))
    assert "[INVALID_AMOUNT]" in texts(chat.send(STAFF, f"/settle_for {patient.id_number} 1.001"))


def test_credit_month_is_idempotent(chat: Chat) -> None:
    worker = chat.person(None, place="jinan", balance=0, monthly_credit=20_000)
    summary = texts(chat.send(STAFF, "/credit 2026-11"))
    assert "2026-11" in summary and "1 人" in summary and "¥200.00" in summary
    assert balance(chat, worker) == 0  # nothing moves before 确认
    first = texts(chat.tap(STAFF, "确认"))
    assert "月度划入完成" in first and "¥200.00" in first
    assert balance(chat, worker) == 20_000
    chat.clock.advance(1)
    second = texts(chat.send(STAFF, "/credit 2026-11"))
    assert "没有需要划入" in second and balance(chat, worker) == 20_000
    assert "[INVALID_MONTH]" in texts(chat.send(STAFF, "/credit 2026-13"))


def test_audit_clean_then_violation(chat: Chat) -> None:
    householder, _ = family_of(chat, "jinan")
    chat.send(REL, "/settle 10")
    assert "核查通过" in texts(chat.send(STAFF, "/audit"))
    with chat.engine.begin() as conn:  # tamper with a balance behind the ledger's back
        conn.execute(update(Person).where(Person.id == householder.id).values(balance=1))
    text = texts(chat.send(STAFF, "/audit"))
    assert "发现" in text and "1." in text


def test_staff_binding_visible_in_lookup_of_relative(chat: Chat) -> None:
    householder = opened(chat, HH, place="dongying", name="张三")
    kid = chat.person(None, place="dongying", name="张小", scheme="resident")
    bind_direct(chat, householder, kid, "子女")
    text = texts(chat.send(STAFF, f"/lookup {kid.id_number}"))
    assert "为其共济的户主" in text and mask_id(householder.id_number) in text


def test_every_staff_action_is_kept_masked_in_the_audit_log(chat: Chat) -> None:
    from sqlalchemy import select

    from rules.schema import Note

    householder, relative = family_of(chat, "dongying", own=0)
    chat.send(STAFF, f"/lookup {householder.id_number}")
    chat.send(STAFF, f"/settle_for {relative.id_number} 10")
    chat.send(STAFF, f"/settle_for {relative.id_number} 10")
    chat.tap(STAFF, "确认")
    chat.person(None, place="jinan", monthly_credit=100)
    chat.send(STAFF, "/credit 2026-11")
    chat.tap(STAFF, "确认划入")
    chat.send(STAFF, "/audit")
    with chat.services.sessions() as s:
        notes = s.scalars(select(Note).order_by(Note.id)).all()
    assert [n.action for n in notes] == [
        "staff_lookup", "staff_settle_for", "staff_settle_for", "staff_settle_for_confirmed",
        "staff_credit", "staff_credit_confirmed", "staff_audit"]
    assert all(n.actor == f"tg:{STAFF}" for n in notes)
    joined = " ".join(n.details for n in notes)
    assert mask_id(relative.id_number) in joined and relative.id_number not in joined
    assert householder.id_number not in joined
