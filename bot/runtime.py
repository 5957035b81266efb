"""``python -m bot run``: the networked bot, by long polling or behind a webhook.

The token comes from ``TELEGRAM_BOT_TOKEN``; ``TELEGRAM_API_BASE_URL`` (e.g.
``http://127.0.0.1:8081/bot``) points the bot at a self-hosted or fake Bot API server. Every
replica keeps its state in the database, so any number of webhook replicas may run behind one
load balancer (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop
from sqlalchemy import text
from telegram import Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application

from bot.botapi import BASE_URL_ENV, TOKEN_ENV
from bot.logs import setup_logging
from bot.settings import Settings, WebhookSettings
from bot.webhook import HealthCheck, create_webhook_app, make_server

log = logging.getLogger(__name__)

T = TypeVar("T")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts for secret_token


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop: the webhook's parsing, the Bot API calls and the worker-thread
    hops cost a replica less CPU on it (``bench/bench_load.py``)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def run_bot(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT (then 0); 2 on a configuration problem and 1 when the Bot API
    cannot be reached — each with a message, never a traceback."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        return _fail(f"缺少机器人令牌：请设置环境变量 {TOKEN_ENV}。"
                     f" (missing bot token: set the environment variable {TOKEN_ENV})")
    hook = settings.telegram.webhook
    secret = os.environ.get(hook.secret_token_env, "").strip()
    if settings.telegram.mode == "webhook" and not _SECRET_RE.match(secret):
        return _fail(f"Webhook 模式需要密钥：请设置环境变量 {hook.secret_token_env}（1-256 个字符，"
                     f"A-Z a-z 0-9 _ -）。 (webhook mode needs a secret token in "
                     f"{hook.secret_token_env}: 1-256 characters of A-Z a-z 0-9 _ -)")
    setup_logging(settings.logging.level, token)
    application = build(settings)
    try:
        if settings.telegram.mode == "webhook":
            run_loop(serve_webhook(application, hook, secret))
        else:
            log.info("long polling %s", "a custom Bot API server"
                     if os.environ.get(BASE_URL_ENV) else "Telegram")
            asyncio.run(_check_bot_api(application))  # a clear message instead of PTB's trace
            application.run_polling(allowed_updates=Update.ALL_TYPES,
                                    stop_signals=(signal.SIGINT, signal.SIGTERM))
    except InvalidToken:
        return _fail("Bot API 拒绝了这个令牌：请检查 TELEGRAM_BOT_TOKEN。"
                     " (the Bot API rejected the token: check TELEGRAM_BOT_TOKEN)")
    except NetworkError as exc:
        print(f"无法连接 Bot API 服务器：{type(exc).__name__}。请检查网络或 {BASE_URL_ENV}。"
              f" (cannot reach the Bot API server)", file=sys.stderr)
        return 1
    return 0


async def _check_bot_api(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """getMe once: raises InvalidToken / NetworkError before polling starts."""
    async with application.bot:
        await application.bot.get_me()


def build(settings: Settings) -> Application[Any, Any, Any, Any, Any, Any]:
    """The composition root's Application, talking to the configured Bot API server."""
    from bot.app import build_application

    return build_application(settings)


HEALTH_CACHE_SECONDS = 2.0


def health_check(application: Application[Any, Any, Any, Any, Any, Any],
                 cache_seconds: float = HEALTH_CACHE_SECONDS) -> HealthCheck:
    """``SELECT 1`` on the process's engine and the number of knowledge-base entries.

    ``/healthz`` needs no secret, so the outcome (facts or failure) is kept ``cache_seconds``
    and one probe runs at a time: a flood of calls costs one query per period (review L10).
    """
    last: dict[str, Any] = {}
    probing = asyncio.Lock()

    async def probe() -> dict[str, Any]:
        svc = getattr(application.bot_data, "services", None)
        if svc is None:
            raise RuntimeError("services not initialised")

        def ping() -> None:
            with svc.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        await asyncio.wait_for(asyncio.to_thread(ping), timeout=5)
        entries = len(svc.kb.entries)
        if not entries:
            raise RuntimeError("knowledge base is empty")
        return {"database": "ok", "knowledge": entries}

    def fresh() -> dict[str, Any] | None:
        if last and time.monotonic() - last["at"] < cache_seconds:
            if last["error"] is not None:
                raise last["error"]
            return dict(last["facts"])
        return None

    async def check() -> dict[str, Any]:
        cached = fresh()
        if cached is not None:
            return cached
        async with probing:
            cached = fresh()  # another caller probed while this one waited
            if cached is not None:
                return cached
            try:
                facts = await probe()
            except Exception as exc:
                last.update(at=time.monotonic(), facts=None, error=exc)
                raise
            last.update(at=time.monotonic(), facts=facts, error=None)
            return dict(facts)

    return check


async def serve_webhook(
    application: Application[Any, Any, Any, Any, Any, Any], hook: WebhookSettings, secret: str,
    *, health: HealthCheck | None = None,
) -> None:
    """Serve the webhook until SIGTERM/SIGINT, then drain and stop the Application.

    Order on shutdown: stop accepting connections, let in-flight updates finish (they are
    processed inline), then ``Application.stop()`` and ``shutdown()`` with their hooks.
    """
    await application.initialize()
    try:
        if application.post_init:
            await application.post_init(application)
        await application.start()
        if hook.public_url:
            await application.bot.set_webhook(
                url=hook.public_url, secret_token=secret, allowed_updates=Update.ALL_TYPES,
            )
        app = create_webhook_app(
            application, path=hook.path, secret=secret, max_body_bytes=hook.max_body_bytes,
            health=health or health_check(application),
        )
        server = make_server(app, host=hook.listen, port=hook.port)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.request_stop)
        log.info("webhook listening on %s:%s%s", hook.listen, hook.port, hook.path)
        await server.serve()
        log.info("webhook stopped accepting; in-flight updates finished")
    finally:
        if application.running:
            await application.stop()
            if application.post_stop:
                await application.post_stop(application)
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)
