"""Every handler against nasty text: nothing reaches the error handler, no reply over 4096."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.loopback import Button, Sent
from tests.bot.conftest import HOLDER, STAFF

COMMANDS = [
    "/start", "/start faq_", "/help", "/me", "/cancel", "/unlink", "/ask", "/why", "/unanswered",
    "/stats", "/balance", "/open", "/bind", "/unbind", "/leave", "/limit", "/order", "/family",
    "/settle",
    "/pay", "/contribute", "/history", "/lookup", "/settle_for", "/credit", "/audit", "/teach",
    "/teach 1", "",
]
NASTY = [
    "", " ", "\u200b\u200d\ufeff", "\u202eRTL\u202c", "مرحبا", "😀👨‍👩‍👧‍👦", "１２０．５０",
    "¥-0.001",
    "'; DROP TABLE people; --", "\" OR 1=1 --", "%s%s%n{0}{}", "<b>x</b>", "\x00\x01",
    "370502197803150113", "13905461001", "X" * 5000, "1e309", "NaN", "../../etc/passwd",
    "3701**********1234", "配偶 老婆 岳父", "faq_" + "a" * 80, "9" * 30,
]
text = st.one_of(st.sampled_from(NASTY), st.text(max_size=300),
                 st.text(alphabet="0123456789Xx１２３４５６７８９０ .-¥元", max_size=25))
line = st.one_of(
    st.builds(lambda c, t: f"{c} {t}".strip() or "/help", st.sampled_from(COMMANDS), text),
    text.filter(lambda t: t.strip() and not t.lstrip().startswith((":", "#"))),
)
callback = st.one_of(
    st.builds(lambda p, t: p + t, st.sampled_from(["why:", "faq:", "dym:", "fb:", "fb:x:", "cf:",
                                                   "cx:", "open:", ""]), st.text(max_size=60)),
    st.text(max_size=64),
)
CHATS = ["private", "group", "staff", "linked"]


def _check(harness, sent):
    assert harness.errors == [], harness.errors
    for s in sent:
        assert 0 < len(s.text) <= 4096


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(chat=st.sampled_from(CHATS), lines=st.lists(line, min_size=1, max_size=4))
def test_messages(harness, chat, lines):
    _enter(harness, chat)
    for item in lines:
        _check(harness, harness.send(item))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(chat=st.sampled_from(CHATS), data=callback)
def test_buttons(harness, chat, data):
    _enter(harness, chat)
    fake = Sent(harness.console.chat_id, 1, "旧消息", [[Button("x", data)]])
    _check(harness, harness.loop.run_until_complete(_press(harness, fake, data)))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(query=text, phone=text)
def test_inline_and_contacts(harness, query, phone):
    _enter(harness, "private")
    _check(harness, harness.send(f":inline {query}"))
    if phone.strip():
        _check(harness, harness.send(f":contact {phone}"))


async def _press(harness, fake, data):
    mark = harness.loopback.mark()
    await harness.console._press(fake, data)
    return harness.loopback.since(mark)


def _enter(harness, chat: str) -> None:
    """Put the console in one of the chats the fuzz covers (linking once for 'linked')."""
    if chat == "linked" and not getattr(harness, "linked", False):
        harness.send(":as 400001")
        harness.send(f":contact {HOLDER.phone}")
        harness.send(HOLDER.id_number[-4:])
        harness.linked = True
    harness.send({"private": ":as 400002", "group": ":group -400", "staff": f":as {STAFF}",
                  "linked": ":as 400001"}[chat])


# Every callback prefix the bot registers, bare and with an id-like tail.
PREFIXES = ["why:", "faq:", "dym:", "fb:", "fb:x:", "cf:", "cx:", "open:", "fm:", "fm:1:", "ho:",
            "lk:", "run:", "sw:", "tc:", "ut:", ""]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_button_holding_a_nul_names_nothing_and_breaks_nothing(harness, prefix):
    """PostgreSQL refuses NUL in text: such data must never reach a query (found by
    test_buttons on PostgreSQL, in the 确认 token read)."""
    _enter(harness, "linked")
    data = prefix + "\x00a"
    fake = Sent(harness.console.chat_id, 1, "旧消息", [[Button("x", data)]])
    _check(harness, harness.loop.run_until_complete(_press(harness, fake, data)))


def test_a_malformed_token_in_a_batched_read_spoils_no_other(harness):
    """Keys batched from concurrent presses share one statement: a bad one must not fail it."""
    from bot.confirm import _insert, _rows_of
    from rules.db import single_read

    token = _insert(harness.services, 400001, "noop", {})
    with single_read(harness.services.engine) as conn:
        found = _rows_of(conn, ["\x00", token, "x" * 500, "'; --"])
    assert list(found) == [token]
