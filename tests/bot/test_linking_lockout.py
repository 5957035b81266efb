"""Review M4: linking failures count per person as well as per Telegram user, atomically (no
concurrent burst passes either budget), and the person's linked account is told of a lockout."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from bot import linking
from bot.state import LinkAttempt, LinkPersonFailure
from tests.bot.conftest import HOLDER

WRONG = "0000" if HOLDER.id_number[-4:] != "0000" else "1111"


def say(harness: Any, user: int, *lines: str) -> list[Any]:
    harness.send(f":as {user}")
    out: list[Any] = []
    for line in lines:
        out += harness.send(line)
    return out


def text(sent: list[Any], to: int | None = None) -> str:
    return "\n".join(s.text for s in sent if to is None or getattr(s, "chat_id", to) == to)


def start_linking(harness: Any, user: int, phone: str = HOLDER.phone) -> None:
    assert "后4位" in text(say(harness, user, "/start", f":contact {phone}"))


def count(harness: Any, model: Any, **where: Any) -> int:
    with harness.services.sessions() as s:
        q = select(func.count()).select_from(model)
        for column, value in where.items():
            q = q.where(getattr(model, column) == value)
        return int(s.scalar(q) or 0)


def test_failures_against_one_person_add_up_across_accounts(harness: Any) -> None:
    for user in (300001, 300002):  # each account stays within its own budget of 5 …
        start_linking(harness, user)
        for _ in range(5):
            say(harness, user, WRONG)
    start_linking_refused = text(say(harness, 300003, "/start", f":contact {HOLDER.phone}"))
    assert "[TOO_MANY_ATTEMPTS]" in start_linking_refused  # … but the person's 10 are used up
    assert "这位参保人" in start_linking_refused and "1小时" not in start_linking_refused
    assert count(harness, LinkPersonFailure) == 10


def test_a_person_locked_mid_way_cannot_be_linked_even_with_the_right_tail(harness: Any) -> None:
    for user in (300001, 300002, 300003):
        start_linking(harness, user)  # all three asked for the tail before the lockout
    for user in (300001, 300002):
        for _ in range(5):
            say(harness, user, WRONG)
    refused = text(say(harness, 300003, HOLDER.id_number[-4:]))
    assert "[TOO_MANY_ATTEMPTS]" in refused and "验证成功" not in refused
    harness.clock.advance(86_401)  # a day later the person may link again
    start_linking(harness, 300003)
    assert "验证成功" in text(say(harness, 300003, HOLDER.id_number[-4:]))


def test_the_linked_account_is_told_of_a_lockout(harness: Any) -> None:
    for user in (300001, 300002):
        start_linking(harness, user)
    owner = 300009
    start_linking(harness, owner)
    assert "验证成功" in text(say(harness, owner, HOLDER.id_number[-4:]))
    for _ in range(5):
        say(harness, 300001, WRONG)
    told = [s for s in say(harness, 300002, *[WRONG] * 5) if s.chat_id == owner]
    assert len(told) == 1 and "安全提醒" in told[0].text and HOLDER.id_number not in told[0].text


def _burst(harness: Any, users: list[int], per_user: int) -> list[linking.LinkResult]:
    svc = harness.services
    jobs = [u for u in users for _ in range(per_user)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda u: linking.verify(svc, u, WRONG), jobs))


def test_concurrent_guesses_cannot_pass_the_user_budget(harness: Any) -> None:
    start_linking(harness, 300001)
    results = _burst(harness, [300001], 20)
    assert count(harness, LinkAttempt, user_id=300001) == 5  # the limit, not 9 or 13
    remaining = sorted(r.remaining for r in results if r.code and r.code.value == "VERIFY_FAILED")
    assert remaining == [1, 2, 3, 4]  # each guess counted the ones before it
    assert sum(r.code is not None and r.code.value == "TOO_MANY_ATTEMPTS" for r in results) == 16


def test_concurrent_guesses_from_many_accounts_cannot_pass_the_person_budget(harness: Any,
                                                                           ) -> None:
    users = [300001, 300002, 300003, 300004]
    for user in users:
        start_linking(harness, user)
    _burst(harness, users, 5)
    assert count(harness, LinkPersonFailure) == 10
    assert count(harness, LinkAttempt) == 10
