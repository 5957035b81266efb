"""The fake Bot API answers python-telegram-bot's real HTTP client the way Telegram does."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
)

from tests.fakes.fake_bot_api import FakeBotApi
from tests.fakes.updates import UpdateFactory

TOKEN = "123456:TEST-token-for-the-fake-bot-api-only"
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("确认", callback_data="cf:x")]])


def test_every_method_the_bot_uses(fake_api: FakeBotApi) -> None:
    async def session() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with Bot(TOKEN, base_url=fake_api.base_url) as bot:
            out["me"] = bot.username
            sent = await bot.send_message(42, "你好", reply_markup=KEYBOARD)
            out["sent"] = (sent.chat_id, sent.text, sent.reply_markup)
            edited = await bot.edit_message_text("已确认", chat_id=42, message_id=sent.message_id)
            out["edited"] = (edited.text, edited.reply_markup)  # type: ignore[union-attr]
            out["markup"] = await bot.edit_message_reply_markup(42, sent.message_id,
                                                                reply_markup=KEYBOARD)
            out["answered"] = await bot.answer_callback_query("q1", text="ok")
            out["commands"] = await bot.set_my_commands([BotCommand("start", "开始")])
            out["deleted"] = await bot.delete_my_commands()
            out["inline"] = await bot.answer_inline_query("iq", [InlineQueryResultArticle(
                "1", "标题", InputTextMessageContent("正文"))])
            out["hook"] = await bot.set_webhook("https://bot.example.com/t", secret_token="s")
            out["hook_url"] = (await bot.get_webhook_info()).url
            out["unhook"] = await bot.delete_webhook()
            fake_api.push_update(UpdateFactory(7).text(42, "/start"))
            out["updates"] = [u.update_id for u in await bot.get_updates(offset=0, timeout=1)]
            out["confirmed"] = await bot.get_updates(offset=8, timeout=0)
            out["close"] = await bot.close()
            out["logout"] = await bot.log_out()
        return out

    out = asyncio.run(session())
    assert out["me"] == "gongji_test_bot"
    assert out["sent"] == (42, "你好", KEYBOARD)
    assert out["edited"] == ("已确认", None)  # an edit without a keyboard removes it
    assert out["markup"].reply_markup == KEYBOARD
    assert out["answered"] and out["commands"] and out["deleted"] and out["inline"]
    assert out["hook"] and out["hook_url"] == "https://bot.example.com/t" and out["unhook"]
    assert out["updates"] == [7] and out["confirmed"] == ()
    assert out["close"] and out["logout"]
    methods = [c.method for c in fake_api.calls()]
    for method in ("getMe", "sendMessage", "editMessageText", "editMessageReplyMarkup",
                   "answerCallbackQuery", "setMyCommands", "deleteMyCommands",
                   "answerInlineQuery", "setWebhook", "getWebhookInfo", "deleteWebhook",
                   "getUpdates", "close", "logOut"):
        assert method in methods, method
    [hook] = fake_api.calls("setWebhook")
    assert hook.params["secret_token"] == "s"


def test_long_poll_waits_briefly_then_returns_nothing(fake_api: FakeBotApi) -> None:
    async def poll() -> tuple[Any, float]:
        async with Bot(TOKEN, base_url=fake_api.base_url) as bot:
            loop = asyncio.get_running_loop()
            started = loop.time()
            got = await bot.get_updates(timeout=30)  # the fake caps the wait
            return got, loop.time() - started

    got, waited = asyncio.run(poll())
    assert got == ()
    assert 0.3 < waited < 5


def test_unknown_methods_and_wrong_tokens_are_refused() -> None:
    import httpx

    with FakeBotApi(token="1:right") as fake:
        wrong = httpx.post(f"{fake.base_url}1:wrong/getMe", timeout=5)
        unknown = httpx.post(f"{fake.base_url}1:right/sendDice", timeout=5)
        good = httpx.post(f"{fake.base_url}1:right/getMe", timeout=5)
    assert (wrong.status_code, unknown.status_code, good.status_code) == (401, 404, 200)
    assert good.json()["result"]["is_bot"] is True
