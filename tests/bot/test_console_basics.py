"""The console itself and the edge's reliability: JSON shape, directives, bad input,
redelivered updates, the error handler, paging, menus, group chats."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
from telegram import Update

from bot.__main__ import main
from bot.console import DEFAULT_USER, run_lines, try_this
from bot.context import MAX_TEXT, reply, split_text
from bot.handlers.errors import SORRY
from bot.settings import load_settings
from tests.bot.conftest import STAFF, write_config


def test_json_transcript_echoes_every_line_and_directive(console_run):
    turns = console_run("# a comment\n\n/help\n:as 300001\n:group -42\n/help\n:private\n")
    assert [t.text for t in turns] == ["/help", ":as 300001", ":group -42", "/help", ":private"]
    assert [t.sender for t in turns] == [DEFAULT_USER, DEFAULT_USER, 300001, 300001, 300001]
    assert "/bind" in turns[0].all_text
    assert turns[3].replies[0]["to"] == -42 and "/ask" in turns[3].all_text


@pytest.mark.parametrize("line", [
    ":as abc", ":group", ":sleep -1", ":sleep soon", ":tap 不存在的按钮", ":tap", ":bogus 1",
    ":contact", ":contact-of 5", ":contact-of x 13800000000",
])
def test_bad_directives_explain_without_traceback(db_url, tmp_path, line):
    settings = load_settings(write_config(tmp_path, db_url))
    out, err = io.StringIO(), io.StringIO()
    code = asyncio.run(run_lines(settings, [line, "/help"], out, as_json_lines=True, err=err))
    assert code == 0
    assert "控制台" in err.getvalue() and "Traceback" not in err.getvalue() + out.getvalue()
    assert out.getvalue().count('"in"') == 2  # the bad line is echoed, and the next still runs


def test_plain_mode_prints_the_default_user_and_try_this(db_url, tmp_path, capsys):
    script = tmp_path / "s.txt"
    script.write_text("/help\n", encoding="utf-8")
    code = main(["console", "--config", str(write_config(tmp_path, db_url)),
                 "--script", str(script)])
    out = capsys.readouterr().out
    assert code == 0
    assert str(DEFAULT_USER) in out
    assert all(line in out for line in try_this())
    assert "/bind" in out and "/settle" in out and "？" in out  # bind, settle, an FAQ


def test_missing_script_is_a_message_not_a_traceback(tmp_path, db_url, capsys):
    code = main(["console", "--config", str(write_config(tmp_path, db_url)),
                 "--script", str(tmp_path / "nope.txt")])
    captured = capsys.readouterr()
    assert code == 2 and "无法读取脚本" in captured.err and "Traceback" not in captured.err


def _message_update(update_id: int, text: str, user: int = 300002) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "text": text,
        "chat": {"id": user, "type": "private"},
        "from": {"id": user, "is_bot": False, "first_name": "u"},
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        if text.startswith("/") else []}}


def test_redelivered_update_has_no_second_effect(harness):
    data = _message_update(10_000_001, "/help")
    for _ in range(3):
        harness.loop.run_until_complete(
            harness.app.process_update(Update.de_json(data, harness.app.bot)))
    replies = [s for s in harness.loopback.sent if s.chat_id == 300002]
    assert len(replies) == 1


def test_error_handler_tells_the_user_and_logs_no_traceback_to_them(harness):
    async def boom(update, context):
        raise RuntimeError("kaput 370502197803150115")

    harness.add_command("boom", boom)
    sent = harness.send("/boom")
    assert [s.text for s in sent] == [SORRY.format(hotline="12393")]
    assert all("kaput" not in s.text and "Traceback" not in s.text for s in sent)
    assert len(harness.errors) == 1


def test_long_replies_are_paged(harness):
    async def long(update, context):
        await reply(update, context, "\n".join(f"第{i}行 " + "字" * 50 for i in range(300)))

    harness.add_command("long", long)
    sent = harness.send("/long")
    assert len(sent) >= 4 and all(len(s.text) <= MAX_TEXT for s in sent)
    assert sent[0].text.startswith("第0行") and sent[-1].text.endswith("字")


@pytest.mark.parametrize("text", ["", "a", "x" * 4096, "x" * 4097, "行\n" * 5000, "😀" * 9000])
def test_split_text_pages(text):
    pages = split_text(text)
    assert pages and all(0 < len(p) <= MAX_TEXT for p in pages)
    if text.strip():
        assert "".join(pages).replace("\n", "") == text.replace("\n", "")


def test_menus_for_private_chats_and_each_staff_user(harness):
    private = {c["command"] for c in harness.loopback.commands["all_private_chats:"]}
    staff = {c["command"] for c in harness.loopback.commands[f"chat:{STAFF}"]}
    assert {"start", "bind", "settle", "ask", "why"} <= private
    assert {"unanswered", "stats", "lookup", "audit"} <= staff and not {"stats"} & private


def test_group_chat_ignores_chatter_but_answers_commands(console_run):
    turns = console_run(":group -777\n大家好今天吃什么\n/me\n/balance\n"
                        "/ask 家庭共济能绑定哪些亲属\n")
    assert turns[1].replies == []
    assert turns[2].codes == ["PRIVATE_ONLY"] and turns[3].codes == ["PRIVATE_ONLY"]
    assert turns[4].replies and turns[4].replies[0]["to"] == -777 and not turns[4].codes


def test_stickers_and_unknown_commands_get_a_hint(harness):
    sent = harness.send("/nosuchcommand")
    assert any("/help" in s.text for s in sent)


def test_messages_to_other_users_follow_the_line_that_caused_them(console_run):
    from tests.bot.conftest import HOLDER, WIFE, link_script

    script = link_script(WIFE, 600002) + link_script(HOLDER, 600001)
    script += f"/open\n:tap\n/bind {WIFE.id_number} {WIFE.name} 配偶\n:tap 确认\n:as 600002\n/me\n"
    turns = console_run(script)
    confirm = next(t for t in turns if t.text == ":tap 确认")
    assert [r["to"] for r in confirm.replies] == [600001, 600002]
    assert WIFE.id_number not in confirm.all_text
    me = turns[-1].all_text
    # her householder is family: named in full (contract Additions), ID number masked
    assert "共济亲属" in me and HOLDER.name in me and "不能作为户主" in me
    assert HOLDER.id_number not in me


def test_edited_messages_do_not_run_commands_again(harness):
    data = _message_update(10_000_050, "/help")
    edited = {"update_id": 10_000_051, "edited_message": {**data["message"], "edit_date": 1}}
    for payload in (data, edited):
        harness.loop.run_until_complete(
            harness.app.process_update(Update.de_json(payload, harness.app.bot)))
    assert len([s for s in harness.loopback.sent if s.chat_id == 300002]) == 1


def test_real_network_build_needs_a_token_and_honours_the_base_url(monkeypatch, tmp_path, db_url):
    from telegram.ext import AIORateLimiter

    from bot.app import build_application

    settings = load_settings(write_config(tmp_path, db_url))
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    with pytest.raises(ValueError, match="TELEGRAM_BOT_TOKEN"):
        build_application(settings)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-token-for-building-only-000000")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:8081/bot")
    app = build_application(settings)
    assert app.bot.base_url.startswith("http://127.0.0.1:8081/bot")
    assert isinstance(app.bot.rate_limiter, AIORateLimiter)
    assert logging.getLogger("httpx").level == logging.WARNING


def test_try_this_really_works(console_run):
    """The three lines printed for newcomers, run as a script."""
    from tests.bot.conftest import HOLDER, WIFE

    script = (f":contact {HOLDER.phone}\n{HOLDER.id_number[-4:]}\n/open\n:tap\n"
              f"/bind {WIFE.id_number} {WIFE.name} 配偶\n:tap 确认\n"
              f":as {DEFAULT_USER + 1}\n:contact {WIFE.phone}\n{WIFE.id_number[-4:]}\n"
              "/settle 100 门诊\n/settle 100 门诊\n:tap 确认\n东营最多能绑几个人？\n")
    turns = console_run(script)
    assert turns[9].codes == ["INSUFFICIENT_BALANCE"] and "5分钟" in turns[9].all_text
    paid = turns[11]
    assert "结算成功" in paid.all_text and [r["to"] for r in paid.replies][-1] == DEFAULT_USER
    assert "7" in turns[12].all_text


def test_an_update_interrupted_mid_way_runs_again_when_redelivered(harness):
    """A killed replica never finished the update: the redelivery must not be dropped."""
    calls = []

    async def slow(update, context):
        calls.append(update.update_id)
        if len(calls) == 1:
            await asyncio.Event().wait()  # the replica dies here
        await reply(update, context, "完成")

    harness.add_command("slow", slow)
    update = Update.de_json(_message_update(10_000_070, "/slow"), harness.app.bot)

    async def crash_then_redeliver():
        first = asyncio.ensure_future(harness.app.process_update(update))
        while not calls:
            await asyncio.sleep(0.01)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        await harness.app.process_update(update)
        await harness.app.process_update(update)  # finished now: dropped

    harness.loop.run_until_complete(crash_then_redeliver())
    assert calls == [10_000_070, 10_000_070]
    assert [s.text for s in harness.loopback.sent if s.chat_id == 300002] == ["完成"]


def test_the_console_runs_domain_work_inline(db_url, tmp_path, monkeypatch):
    """One person, one line at a time: every database connection is opened in the main thread
    (no worker-thread hop, bot.app.InlineExecutor)."""
    import threading

    from sqlalchemy.engine import Connection

    threads: list[str] = []
    real = Connection.__init__

    def spy(self, *args, **kwargs):
        threads.append(threading.current_thread().name)
        real(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "__init__", spy)
    settings = load_settings(write_config(tmp_path, db_url))
    out = io.StringIO()
    assert asyncio.run(run_lines(settings, ["/balance", "医保共济是什么？", "/help"], out,
                                 as_json_lines=True)) == 0
    assert len(threads) >= 3 and set(threads) == {threading.main_thread().name}


def test_inline_executor_hands_back_results_and_errors():
    from bot.app import InlineExecutor

    pool = InlineExecutor()
    assert pool.submit(lambda a, b: a + b, 2, b=3).result() == 5
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 / 0).result()
    assert threading_count_unchanged(pool)


def threading_count_unchanged(pool) -> bool:
    """An InlineExecutor never starts a thread of its own."""
    return not pool._threads  # noqa: SLF001


def test_the_console_keeps_no_redelivery_markers(db_url, tmp_path):
    """Nothing is redelivered to the console (one person, ids from the clock): it neither
    looks up nor writes processed_updates for an ordinary line."""
    from sqlalchemy import create_engine, func, select

    from bot.state import ProcessedUpdate

    settings = load_settings(write_config(tmp_path, db_url))
    out = io.StringIO()
    assert asyncio.run(run_lines(settings, ["/help", "医保共济是什么？"], out,
                                 as_json_lines=True)) == 0
    assert "/bind" in out.getvalue()  # the lines really ran
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(ProcessedUpdate)) == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("text", ["/settle 0.01 门诊", "/help", "东营最多能绑几个人？", "/",
                                  "/start@bot x"])
@pytest.mark.parametrize("group", [None, -42])
def test_a_typed_line_is_the_update_telegram_json_would_parse_to(harness, text, group):
    """The console builds a text line's Update directly (no JSON parsing): it must be exactly
    what Update.de_json makes of the JSON Telegram sends for it."""
    console = harness.console
    console.group_id = group
    seen: list[Update] = []

    async def capture(update: Update) -> None:
        seen.append(update)

    real, console.app = console.app, type("App", (), {"bot": harness.app.bot,
                                                       "process_update": staticmethod(capture)})()
    try:
        asyncio.run(console.say(text))
        asyncio.run(console.say(text))  # the second reuses the parsed chat and user
    finally:
        console.app = real
    for update in seen:
        message = update.message
        assert message is not None and message.get_bot() is harness.app.bot
        sent = {"message_id": message.message_id, "date": int(message.date.timestamp()),
                "chat": console.loopback.chat(console.chat_id), "from": console._user(),
                "text": text}
        if text.startswith("/"):
            sent["entities"] = [{"type": "bot_command", "offset": 0,
                                 "length": len(text.split()[0])}]
        parsed = Update.de_json({"update_id": update.update_id, "message": sent},
                                harness.app.bot)
        assert update.to_dict() == parsed.to_dict()
        assert message.date == parsed.message.date
        assert message.date.tzinfo == parsed.message.date.tzinfo
        assert message.parse_entities() == parsed.message.parse_entities()
    assert seen[1].update_id == seen[0].update_id + 1
    assert seen[1].message.message_id == seen[0].message.message_id + 1
