"""Pinned plans: what a summary shows is what 确认 charges, once (security review H1, H2, M1,
M2). Each test reproduces a finding against the real handlers and the ledger audit."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import delete, func, select

from bot.state import ProcessedUpdate
from rules.audit import audit
from rules.schema import LedgerEntry, Transaction
from tests.bot.account_chat import (
    Chat,
    chat_fixture,  # noqa: F401  (provides `chat`)
    texts,
    to,
)
from tests.bot.test_account_bind import HH, OTHER, REL
from tests.bot.test_money_settle import balance, family_of

T = TypeVar("T")


def forget_processed(chat: Chat) -> None:
    """What a replica killed after the settlement but before the processed marker leaves."""
    with chat.services.sessions.begin() as s:
        s.execute(delete(ProcessedUpdate))


def family_rows(chat: Chat) -> int:
    with chat.services.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(LedgerEntry)
                            .where(LedgerEntry.kind == "settle_family")) or 0)


def test_h1_redelivered_own_settlement_replays_its_receipt(chat: Chat) -> None:
    householder, relative = family_of(chat, "jinan", own=10_000)
    first = chat.send(REL, "/settle 80 门诊", update_id=8_763_458)
    assert "结算成功" in texts(first, REL) and balance(chat, relative) == 2_000
    forget_processed(chat)
    again = chat.send(REL, "/settle 80 门诊", update_id=8_763_458)
    assert texts(again, REL) == texts(first, REL)  # the same receipt, no new summary
    assert not chat.pending()
    assert (balance(chat, relative), balance(chat, householder)) == (2_000, 100_000)
    assert audit(chat.engine) == []


def test_h1_redelivered_summary_is_the_same_summary(chat: Chat) -> None:
    householder, relative = family_of(chat, "jinan", own=2_000)
    first = chat.send(REL, "/settle 80 门诊", update_id=555)
    forget_processed(chat)
    again = chat.send(REL, "/settle 80 门诊", update_id=555)
    assert texts(again, REL) == texts(first, REL)
    [row] = chat.pending()  # one token: the redelivery re-sent it, it did not make another
    chat.tap(REL, "确认")
    chat.press(REL, again[-1], "确认")
    assert (balance(chat, relative), balance(chat, householder)) == (0, 94_000)
    assert audit(chat.engine) == []


def test_h2_a_swipe_without_summary_never_spends_family_money(chat: Chat) -> None:
    householder, relative = family_of(chat, "jinan", own=2_000)
    replies = [chat.send(REL, "/settle 20 门诊") for _ in range(6)]
    assert "结算成功" in texts(replies[0], REL)
    assert all("请确认结算" in texts(r, REL) for r in replies[1:])
    assert balance(chat, householder) == 100_000 and family_rows(chat) == 0
    assert audit(chat.engine) == []


def test_h2_concurrent_swipes_pay_own_money_once_and_pin_the_rest(chat: Chat) -> None:
    """Six swipes at once on the service the bot calls: one pays from the own account; the
    others are pinned for 确认; no family money moves without it."""
    householder, relative = family_of(chat, "jinan", own=2_000)
    svc = chat.services

    def pin(_s: object, _plan: object) -> str:
        return "pinned"

    results: list[object] = []

    def swipe(i: int) -> None:
        results.append(svc.family.settle_direct(relative.id, 2_000, "outpatient",
                                                key=f"tg:1:{REL}:{i}", pin=pin))

    threads = [threading.Thread(target=swipe, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    paid = [d for d in results if d.ok and not d.facts.get("needs_confirm")]
    pinned = [d for d in results if d.ok and d.facts.get("needs_confirm")]
    assert (len(paid), len(pinned)) == (1, 5)
    assert balance(chat, householder) == 100_000 and family_rows(chat) == 0
    assert audit(chat.engine) == []


def test_m1_confirm_charges_the_summary_or_nothing(chat: Chat) -> None:
    householder, relative = family_of(chat, "jinan", own=0)
    chat.services.family.set_limit(householder.id, "1", 10_000, key="limit-100")
    summary = chat.send(REL, "/settle 500 门诊")
    shown = texts(summary, REL)
    assert "张建国）支付：¥100.00" in shown and "需现金支付：¥400.00" in shown
    chat.services.family.set_limit(householder.id, "1", None, key="limit-none")
    changed = chat.tap(REL, "确认")
    assert "[PLAN_CHANGED]" in texts(changed, REL)
    assert balance(chat, householder) == 100_000  # nothing charged
    fresh = chat.buttons_message(REL, "确认")
    assert "支付：¥500.00" in fresh.text and "现金" not in fresh.text
    done = chat.press(REL, fresh, "确认")
    assert "结算成功" in texts(done, REL) and balance(chat, householder) == 50_000
    assert len(to(done, HH)) == 0 or "¥500.00" in texts(done, HH)
    assert audit(chat.engine) == []


def test_m1_unbind_between_summary_and_confirm_charges_nothing(chat: Chat) -> None:
    householder, relative = family_of(chat, "jinan", own=3_000)
    chat.send(REL, "/settle 100 门诊")
    chat.services.family.unbind(householder.id, "1", key="unbind")
    changed = chat.tap(REL, "确认")
    assert "[PLAN_CHANGED]" in texts(changed, REL)
    assert (balance(chat, relative), balance(chat, householder)) == (3_000, 100_000)
    fresh = chat.buttons_message(REL, "确认")  # the own account alone: a new summary
    assert "家庭共济" not in fresh.text and "需现金支付：¥70.00" in fresh.text
    assert audit(chat.engine) == []


def test_m1_a_balance_change_is_plan_changed(chat: Chat) -> None:
    householder, relative = family_of(chat, "jinan", own=0)
    chat.send(REL, "/settle 300 门诊")
    chat.services.family.settle(householder.id, 99_900, "outpatient", key="spend-it")
    changed = chat.tap(REL, "确认")
    assert "[PLAN_CHANGED]" in texts(changed, REL)
    assert balance(chat, householder) == 100
    assert audit(chat.engine) == []


def test_m2_same_update_id_in_two_chats_is_two_messages(chat: Chat) -> None:
    me = chat.person(HH, place="jinan", balance=5_000)
    other = chat.person(OTHER, place="jinan", balance=5_000)
    mine = chat.send(HH, "/settle 10 门诊", update_id=4242)
    theirs = chat.send(OTHER, "/settle 1 门诊", update_id=4242)
    assert "¥10.00" in texts(mine, HH)
    assert "门诊 ¥1.00" in texts(theirs, OTHER)  # not dropped, not the other user's result
    assert (balance(chat, me), balance(chat, other)) == (4_000, 4_900)


def test_update_keys_name_the_bot_and_the_chat(chat: Chat) -> None:
    chat.person(HH, place="jinan", balance=5_000)
    chat.send(HH, "/settle 10 门诊", update_id=31337)
    with chat.services.sessions() as s:
        keys = list(s.scalars(select(Transaction.key)))
    bot_id = chat.app.bot.token.split(":")[0]
    assert keys == [f"tg:{bot_id}:{HH}:31337"]


def test_second_press_on_a_paid_plan_changes_nothing(chat: Chat) -> None:
    householder, _ = family_of(chat, "jinan", own=0)
    chat.send(REL, "/settle 100 门诊")
    summary = chat.buttons_message(REL, "确认")
    first = chat.press(REL, summary, "确认")
    assert len(to(first, HH)) == 1
    second = chat.press(REL, summary, "确认")
    assert "已处理" in texts(second) and not to(second, HH)
    assert balance(chat, householder) == 90_000


def test_redelivered_press_replays_without_telling_anyone_twice(chat: Chat) -> None:
    householder, _ = family_of(chat, "jinan", own=0)
    chat.send(REL, "/settle 100 门诊")
    summary = chat.buttons_message(REL, "确认")
    first = chat.press(REL, summary, "确认", update_id=9001)
    forget_processed(chat)
    with chat.services.sessions.begin() as s:  # as if the outcome text was never recorded
        from sqlalchemy import update as sql_update

        from bot.state import Confirmation
        s.execute(sql_update(Confirmation).values(result=None))
    again = chat.press(REL, summary, "确认", update_id=9001)
    assert "结算成功" in texts(first, REL) and "结算成功" in texts(again, REL)
    assert not to(again, HH) and balance(chat, householder) == 90_000


def test_contribution_is_pinned_too(chat: Chat) -> None:
    householder, relative = family_of(chat, "jinan", own=0)
    chat.send(HH, "/contribute 1 380")
    chat.services.family.set_limit(householder.id, "1", 10_000, key="limit-100")
    changed = chat.tap(HH, "确认")
    assert "[PLAN_CHANGED]" in texts(changed, HH) and "[LIMIT_EXCEEDED]" in texts(changed, HH)
    assert balance(chat, householder) == 100_000 and not chat.buttons_message_or_none(HH)


def test_redelivered_contribute_shows_the_same_summary_once(chat: Chat) -> None:
    householder, _ = family_of(chat, "jinan", own=0)
    first = chat.send(HH, "/contribute 1 380", update_id=777)
    forget_processed(chat)
    again = chat.send(HH, "/contribute 1 380", update_id=777)
    assert texts(again, HH) == texts(first, HH) and len(chat.pending()) == 1
    done = chat.tap(HH, "确认")
    assert "已为" in texts(done, HH) and len(to(done, REL)) == 1
    assert balance(chat, householder) == 62_000
    assert audit(chat.engine) == []


def _write_commits(chat: Chat, act: Callable[[], T]) -> tuple[T, list[set[str]]]:
    """What ``act`` returned, and per committed transaction that wrote something, the tables
    it wrote."""
    from sqlalchemy import event

    writes: list[set[str]] = []
    writing: dict[int, set[str]] = {}
    target = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I)

    def statement(conn: object, _c: object, sql: str, *_: object) -> None:
        found = target.match(sql)
        if found:
            writing.setdefault(id(conn), set()).add(found.group(1).lower())

    def commit(conn: object) -> None:
        tables = writing.pop(id(conn), None)
        if tables:
            writes.append(tables)

    event.listen(chat.engine, "before_cursor_execute", statement)
    event.listen(chat.engine, "commit", commit)
    try:
        return act(), writes
    finally:
        event.remove(chat.engine, "before_cursor_execute", statement)
        event.remove(chat.engine, "commit", commit)


def test_a_confirm_press_is_one_money_transaction_then_its_processed_marker(chat: Chat) -> None:
    """Claim, payment, ledger, idempotency record and outcome text commit together: nothing is
    half-done if the replica dies mid-press. The processed marker is written only after the
    receipt was shown, so a replica that dies in between leaves the press to be redelivered
    (tests/bot/test_confirm.py: the redelivery shows the receipt)."""
    householder, _ = family_of(chat, "jinan", own=0)
    chat.send(REL, "/settle 100 门诊")
    summary = chat.buttons_message(REL, "确认")
    done, writes = _write_commits(chat, lambda: chat.press(REL, summary, "确认"))
    assert "结算成功" in texts(done, REL) and balance(chat, householder) == 90_000
    money, marker = writes
    assert {"confirmations", "transactions", "ledger", "people"} <= money, money
    assert "processed_updates" not in money and marker == {"processed_updates"}


def test_a_limit_update_is_one_transaction_then_its_processed_marker(chat: Chat) -> None:
    """/limit changes the limit in one keyed transaction; the processed marker follows the
    reply (a redelivery before it replays the first Decision by its key)."""
    family_of(chat, "jinan")
    with chat.engine.connect() as conn:
        markers = conn.scalar(select(func.count()).select_from(ProcessedUpdate))
    done, writes = _write_commits(chat, lambda: chat.send(HH, "/limit 1 500"))
    assert "500" in texts(done, HH)
    change, marker = writes
    assert "processed_updates" not in change and marker == {"processed_updates"}
    with chat.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ProcessedUpdate)) == markers + 1


def test_a_change_that_leaves_every_charge_as_shown_still_pays(chat: Chat) -> None:
    """Another relative spending from the same householder changes their balance, not this
    plan's legs: the 确认 pays what the summary showed, and the notice has the fresh balance."""
    householder, relative = family_of(chat, "jinan", own=0)
    chat.send(REL, "/settle 100 门诊")
    chat.services.family.settle(householder.id, 5_000, "outpatient", key="householder-own")
    done = chat.tap(REL, "确认")
    assert "结算成功" in texts(done, REL) and "张建国）支付：¥100.00" in texts(done, REL)
    assert "¥850.00" in texts(done, HH)  # 1,000 − 50 − 100
    assert balance(chat, householder) == 85_000
    assert audit(chat.engine) == []
