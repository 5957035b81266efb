"""The aiohttp Bot API client (bot/http.py) sends what PTB's httpx client sends, and turns
transport failures into PTB's errors."""

from __future__ import annotations

import asyncio
import io
import socket
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import NetworkError, TimedOut
from telegram.request import HTTPXRequest

from bot.http import AiohttpRequest
from tests.deploy.conftest import free_port
from tests.fakes.fake_bot_api import FakeBotApi

TOKEN = "123456:TEST-token-for-the-fake-bot-api-only"
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("确认", callback_data="cf:x")]])


async def _session(bot: Bot) -> list[Any]:
    async with bot:
        sent = await bot.send_message(42, "您好，¥1,000.00 & 100%", reply_markup=KEYBOARD)
        edited = await bot.edit_message_text("已确认", chat_id=42, message_id=sent.message_id)
        answered = await bot.answer_callback_query("q1", text="好的", show_alert=True)
        return [sent.text, sent.reply_markup, edited.text, answered]  # type: ignore[union-attr]


def test_the_same_calls_as_httpx(fake_api: FakeBotApi) -> None:
    """Same results and byte-for-byte the same decoded parameters at the fake Bot API."""
    with_httpx = asyncio.run(_session(Bot(TOKEN, base_url=fake_api.base_url,
                                          request=HTTPXRequest())))
    httpx_calls = [(c.method, c.params) for c in fake_api.calls()]
    start = len(httpx_calls)
    with_aiohttp = asyncio.run(_session(Bot(TOKEN, base_url=fake_api.base_url,
                                            request=AiohttpRequest())))
    aiohttp_calls = [(c.method, c.params) for c in fake_api.calls()[start:]]
    assert with_aiohttp == with_httpx
    assert with_aiohttp[0] == "您好，¥1,000.00 & 100%" and with_aiohttp[3] is True

    def sans_ids(calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        return [(m, {k: v for k, v in p.items() if k != "message_id"}) for m, p in calls]

    assert [m for m, _ in aiohttp_calls] == ["getMe", "sendMessage", "editMessageText",
                                             "answerCallbackQuery"]
    assert sans_ids(aiohttp_calls) == sans_ids(httpx_calls)


class _Server:
    """An aiohttp server on a free port whose one route runs ``handler``."""

    def __init__(self, handler: Any) -> None:
        self.handler, self.port = handler, free_port()
        self.runner: web.AppRunner | None = None

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handler)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return f"http://127.0.0.1:{self.port}/bot"

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def test_a_photo_goes_as_multipart_with_its_fields() -> None:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["type"] = request.content_type
        form = await request.post()
        photo = form["photo"]
        seen.update(chat_id=form["chat_id"], caption=form["caption"],
                    filename=photo.filename, content=photo.file.read())  # type: ignore[union-attr]
        return web.json_response({"ok": True, "result": True})

    async def run() -> Any:
        request = AiohttpRequest()
        await request.initialize()
        async with _Server(handler) as base:
            bot = Bot(TOKEN, base_url=base, request=request)
            try:
                return await bot._post("sendPhoto", {  # noqa: SLF001 — no getMe round trip
                    "chat_id": 7, "caption": "本月",
                    "photo": _input_file(b"\x89PNG-bytes", "chart.png")})
            finally:
                await request.shutdown()

    assert asyncio.run(run()) is True
    assert seen == {"type": "multipart/form-data", "chat_id": "7", "caption": "本月",
                    "filename": "chart.png", "content": b"\x89PNG-bytes"}


def _input_file(data: bytes, name: str) -> InputFile:
    return InputFile(io.BytesIO(data), filename=name)


def test_a_slow_server_is_timed_out() -> None:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"ok": True, "result": True})

    async def run() -> None:
        request = AiohttpRequest(read_timeout=0.2)
        await request.initialize()
        try:
            async with _Server(slow) as base:
                await request.post(f"{base}{TOKEN}/getMe")
        finally:
            await request.shutdown()

    with pytest.raises(TimedOut):
        asyncio.run(run())


def test_nobody_listening_is_a_network_error() -> None:
    with socket.socket() as sock:  # a port that refuses connections
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

        async def run() -> None:
            request = AiohttpRequest()
            await request.initialize()
            try:
                await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
            finally:
                await request.shutdown()

        with pytest.raises(NetworkError, match="aiohttp.ClientConnectorError"):
            asyncio.run(run())


def test_a_call_before_initialize_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        asyncio.run(AiohttpRequest().do_request("http://127.0.0.1:9/x", "POST"))
