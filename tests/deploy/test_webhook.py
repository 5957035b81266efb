"""The webhook endpoint and the runtime around it, with a minimal Application of our own
talking to the fake Bot API (the real handlers are exercised in test_replicas.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import httpx
import pytest
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.botapi import api_urls
from bot.context import answer_press
from bot.runtime import serve_webhook
from bot.settings import WebhookSettings
from bot.webhook import SECRET_HEADER, create_webhook_app
from tests.deploy.conftest import free_port
from tests.fakes.fake_bot_api import FakeBotApi
from tests.fakes.updates import UpdateFactory

TOKEN = "123456:TEST-token-for-the-fake-bot-api-only"
SECRET = "s3cret_token-1"


def message_update(update_id: int, text: str, user_id: int = 501) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "测试"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_700_000_000, "text": text, "from": user,
        "chat": {"id": user_id, "type": "private"},
    }}


App = Application[Any, Any, Any, Any, Any, Any]


def echo_application(fake: FakeBotApi, delay: float = 0.0) -> App:
    base, file_base = api_urls({"TELEGRAM_API_BASE_URL": fake.base_url})
    app = (ApplicationBuilder().token(TOKEN).base_url(base).base_file_url(file_base)
           .updater(None).build())

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat and update.effective_message
        await asyncio.sleep(delay)
        text = update.effective_message.text
        await context.bot.send_message(update.effective_chat.id, f"echo:{text}")

    app.add_handler(MessageHandler(filters.TEXT, echo))
    return app


async def _healthy() -> dict[str, Any]:
    return {"database": "ok", "knowledge": 3}


def _post_all(fake: FakeBotApi, requests: list[tuple[dict[str, str], bytes]],
              health: Any = _healthy) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        application = echo_application(fake)
        await application.initialize()
        web = create_webhook_app(application, path="/telegram", secret=SECRET,
                                 max_body_bytes=4096, health=health)
        transport = httpx.ASGITransport(app=web)
        out = []
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for headers, body in requests:
                if headers.get("method") == "GET":
                    out.append(await client.get("/healthz"))
                else:
                    out.append(await client.post("/telegram", content=body, headers=headers))
        await application.shutdown()
        return out

    return asyncio.run(go())


GOOD = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}


def test_valid_update_is_processed_before_the_response(fake_api: FakeBotApi) -> None:
    [resp] = _post_all(fake_api, [(GOOD, json.dumps(message_update(1, "你好")).encode())])
    assert resp.status_code == 200
    assert fake_api.sent_texts(501) == ["echo:你好"]


@pytest.mark.parametrize("headers, body, status", [
    ({SECRET_HEADER: "wrong"}, json.dumps(message_update(2, "x")).encode(), 403),
    ({}, json.dumps(message_update(3, "x")).encode(), 403),
    (GOOD, b"{not json", 400),
    (GOOD, b"\xff\xfe", 400),
    (GOOD, b"[1, 2]", 400),
    (GOOD, json.dumps({"update_id": "7", "message": {}}).encode(), 400),
    (GOOD, json.dumps(message_update(4, "x" * 5000)).encode(), 413),
    (GOOD, json.dumps({"update_id": 5, "brand_new_kind": {"a": 1}}).encode(), 200),
])
def test_bad_input_is_refused_and_nothing_runs(fake_api: FakeBotApi, headers: dict[str, str],
                                               body: bytes, status: int) -> None:
    resp, after = _post_all(fake_api, [
        (headers, body), (GOOD, json.dumps(message_update(9, "still here")).encode()),
    ])
    assert resp.status_code == status
    assert after.status_code == 200  # the endpoint keeps serving
    assert fake_api.sent_texts(501) == ["echo:still here"]


def test_healthz_reports_facts_or_503(fake_api: FakeBotApi) -> None:
    async def broken() -> dict[str, Any]:
        raise ConnectionError("database down")

    [ok] = _post_all(fake_api, [({"method": "GET"}, b"")])
    [down] = _post_all(fake_api, [({"method": "GET"}, b"")], health=broken)
    assert (ok.status_code, ok.json()) == (200, {"database": "ok", "knowledge": 3})
    assert down.status_code == 503


def test_a_secret_is_required() -> None:
    with pytest.raises(ValueError):
        create_webhook_app(object(), path="/t", secret="", max_body_bytes=10,  # type: ignore[arg-type]
                           health=_healthy)


@pytest.mark.parametrize("env, expected", [
    ({}, ("https://api.telegram.org/bot", "https://api.telegram.org/file/bot")),
    ({"TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot/"},
     ("http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot")),
])
def test_api_urls(env: dict[str, str], expected: tuple[str, str]) -> None:
    assert api_urls(env) == expected


def test_registers_then_sigterm_finishes_the_in_flight_update(fake_api: FakeBotApi) -> None:
    """Graceful shutdown: stop accepting, finish in-flight updates, then stop the app."""
    port = free_port()
    hook = WebhookSettings(listen="127.0.0.1", port=port, path="/telegram",
                           public_url="https://bot.example.com/telegram")
    application = echo_application(fake_api, delay=0.8)
    stopped: list[str] = []

    async def post_shutdown(_app: Any) -> None:
        stopped.append("post_shutdown")

    application.post_shutdown = post_shutdown

    async def go() -> tuple[int, bool]:
        server = asyncio.create_task(serve_webhook(application, hook, SECRET, health=_healthy))
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            for _ in range(100):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            body = json.dumps(message_update(11, "slow")).encode()
            in_flight = asyncio.create_task(client.post("/telegram", content=body, headers=GOOD))
            await asyncio.sleep(0.3)  # the handler is now sleeping inside process_update
            os.kill(os.getpid(), signal.SIGTERM)
            resp = await in_flight
            await asyncio.wait_for(server, timeout=10)
        async with httpx.AsyncClient(base_url=base, timeout=2) as fresh:
            try:
                await fresh.get("/healthz")
                refused = False
            except httpx.TransportError:
                refused = True
        return resp.status_code, refused

    status, refused = asyncio.run(go())
    assert status == 200
    assert fake_api.sent_texts(501) == ["echo:slow"]
    assert stopped == ["post_shutdown"]
    [registered] = fake_api.calls("setWebhook")  # public_url set: registered with the secret
    assert registered.params["url"] == "https://bot.example.com/telegram"
    assert registered.params["secret_token"] == SECRET
    assert refused, "the server still accepts connections after shutdown"


# ---- honesty (security review L1, L4) ---------------------------------------------------

def _post_with(application: App, bodies: list[bytes], *, concurrent: bool = False,
               ) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        await application.initialize()
        web = create_webhook_app(application, path="/telegram", secret=SECRET,
                                 max_body_bytes=4096, health=_healthy)
        transport = httpx.ASGITransport(app=web)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            posts = [client.post("/telegram", content=b, headers=GOOD) for b in bodies]
            if concurrent:
                out = list(await asyncio.gather(*posts))
            else:
                out = [await p for p in posts]
        await application.shutdown()
        return out

    return asyncio.run(go())


@pytest.mark.parametrize("body", [
    b"[" * 4000,                                                      # nested past the limit
    json.dumps({"update_id": True, "message": {}}).encode(),          # a bool is not an id
    json.dumps({"update_id": 2**70, "message": {}}).encode(),         # beyond BIGINT
    json.dumps({"update_id": -1, "message": {}}).encode(),
])
def test_malformed_bodies_get_400_never_500(fake_api: FakeBotApi, body: bytes) -> None:
    resp, after = _post_with(echo_application(fake_api), [
        body, json.dumps(message_update(9, "still here")).encode()])
    assert resp.status_code == 400
    assert after.status_code == 200 and fake_api.sent_texts(501) == ["echo:still here"]


def test_a_failed_update_is_not_acknowledged_and_the_user_hears_once(
        fake_api: FakeBotApi) -> None:
    from bot.handlers.errors import on_error

    application = echo_application(fake_api)

    async def broken(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        raise ConnectionError("database unavailable")

    application.add_handler(MessageHandler(filters.TEXT, broken), group=1)
    application.add_handler(MessageHandler(filters.TEXT, broken), group=2)
    application.add_error_handler(on_error)
    failed, = _post_with(application, [json.dumps(message_update(11, "你好")).encode()])
    assert failed.status_code == 500  # Telegram delivers it again
    sorry = [t for t in fake_api.sent_texts(501) if t.startswith("抱歉")]
    assert len(sorry) == 1  # two handlers failed; one apology


def test_concurrent_duplicates_have_one_effect(fake_api: FakeBotApi) -> None:
    body = json.dumps(message_update(12, "一次")).encode()
    responses = _post_with(echo_application(fake_api, delay=0.2), [body, body, body],
                           concurrent=True)
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert fake_api.sent_texts(501) == ["echo:一次"]


def _pressing(fake: FakeBotApi, *answers: tuple[str | None, bool]) -> App:
    """An Application whose button handler answers the press once per ``answers`` item."""
    application = echo_application(fake)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        for text, alert in answers:
            await answer_press(update.callback_query, text, show_alert=alert)

    application.add_handler(CallbackQueryHandler(pressed))
    return application


def test_a_press_is_answered_in_the_webhook_response(fake_api: FakeBotApi) -> None:
    press = UpdateFactory(20).press(501, "x:1", 7)
    resp, = _post_with(_pressing(fake_api, ("已收到", True)), [json.dumps(press).encode()])
    assert resp.status_code == 200
    assert resp.json() == {"method": "answerCallbackQuery", "callback_query_id": "20",
                           "text": "已收到", "show_alert": True}
    assert fake_api.calls("answerCallbackQuery") == []  # Telegram makes the call, not the bot


def test_only_the_first_answer_rides_in_the_response(fake_api: FakeBotApi) -> None:
    press = UpdateFactory(30).press(501, "x:1", 7)
    resp, = _post_with(_pressing(fake_api, (None, False), ("再次", False)),
                       [json.dumps(press).encode()])
    assert resp.json() == {"method": "answerCallbackQuery", "callback_query_id": "30"}
    [second] = fake_api.calls("answerCallbackQuery")  # a response carries one call
    assert second.params["text"] == "再次"


def test_outside_a_webhook_request_a_press_is_answered_by_a_call(fake_api: FakeBotApi) -> None:
    async def go() -> None:
        application = _pressing(fake_api, ("好", False))
        await application.initialize()
        press = Update.de_json(UpdateFactory(40).press(501, "x:1", 7), application.bot)
        await application.process_update(press)
        await application.shutdown()

    asyncio.run(go())
    [call] = fake_api.calls("answerCallbackQuery")
    assert call.params["callback_query_id"] == "40" and call.params["text"] == "好"
