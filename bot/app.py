"""The composition root: one place builds the Application and its services.

Services (engine, FamilyService, knowledge base, matcher) are created in ``post_init``
and disposed in ``post_shutdown``; the console and the tests call :func:`start` /
:func:`stop` themselves because they never run ``run_polling``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from telegram import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    LinkPreviewOptions,
)
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, Defaults
from telegram.request import BaseRequest
from telegram.warnings import PTBUserWarning

from bot import commands
from bot.botapi import BASE_URL_ENV, api_urls
from bot.context import CONTEXT_TYPES, BotData, Services
from bot.http import AiohttpRequest
from bot.logs import install_redaction
from bot.loopback import LOOPBACK_TOKEN, LoopbackRequest
from bot.settings import Settings
from rules.clock import Clock, SystemClock

log = logging.getLogger(__name__)

# The Telegram menus, from the one command catalog (bot/commands.py).
T = TypeVar("T")
USER_COMMANDS = commands.menu(commands.USER)
STAFF_COMMANDS = commands.menu(commands.STAFF)
GROUP_COMMANDS = commands.menu(commands.USER, group=True)


def bot_token(request: BaseRequest | None) -> str:
    """The token from TELEGRAM_BOT_TOKEN; the loopback needs none."""
    token = os.environ.get("TELEGRAM_BOT_TOKEN", "").strip()
    if token:
        return token
    if isinstance(request, LoopbackRequest):
        return LOOPBACK_TOKEN
    raise ValueError("TELEGRAM_BOT_TOKEN is not set")


def build_application(settings: Settings, *, request: BaseRequest | None = None,
                      clock: Clock | None = None) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build the Application with every handler registered; services start in post_init."""
    from bot.handlers import register_all

    token = bot_token(request)
    install_redaction(token)
    # bot.context.send and edit_pressed call the Bot API raw on purpose (no Message is built
    # from the answer)
    warnings.filterwarnings("ignore", message=r"Please use 'Bot\.(sendMessage|editMessageText)'",
                            category=PTBUserWarning)
    builder: Any = (
        ApplicationBuilder()
        .token(token)
        .defaults(Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .context_types(CONTEXT_TYPES)
        .post_init(start)
        .post_shutdown(stop)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    else:
        # aiohttp instead of PTB's httpx: a sixth of the CPU per Bot API call (bot/http.py)
        builder = (builder.request(AiohttpRequest())
                   .get_updates_request(AiohttpRequest(connections=1))
                   .rate_limiter(AIORateLimiter()).concurrent_updates(32))
        if os.environ.get(BASE_URL_ENV, "").strip():  # a self-hosted Bot API server
            base_url, file_url = api_urls()
            builder = builder.base_url(base_url).base_file_url(file_url)
    app = builder.build()
    app.bot_data.clock = clock or SystemClock()
    app.bot_data.settings = settings
    register_all(app)
    return app


def create_services(settings: Settings, clock: Clock) -> Services:
    """Engine, schema (SQLite), FamilyService, knowledge base and matcher (blocking)."""
    import bot.state  # noqa: F401  (bot tables share the metadata)
    from bot import learned
    from knowledge import load_knowledge
    from rules.db import create_schema, is_sqlite, make_engine, session_factory
    from rules.policy import Policies
    from rules.service import FamilyService

    db = settings.database
    # hide_parameters: SQL errors in logs never carry names, phones or ID numbers
    engine = make_engine(db.url, pool_size=db.pool_size, max_overflow=db.max_overflow,
                         hide_parameters=True)
    if is_sqlite(engine):
        create_schema(engine)
    policies = Policies.load()
    kb = load_knowledge()
    sessions = session_factory(engine)
    try:
        taught, version = learned.load_learned(sessions)
    except SQLAlchemyError:  # a database not yet upgraded: answer from the YAML alone
        log.warning("taught questions not loaded (run `python -m bot db upgrade`)", exc_info=True)
        taught, version = {}, 0
    return Services(
        settings=settings, engine=engine, sessions=sessions, policies=policies,
        family=FamilyService(engine, policies, clock, retries=db.retries, sessions=sessions),
        kb=kb,
        matcher=learned.build_matcher(settings, kb.with_phrasings(taught)), clock=clock,
        knowledge_version=version, knowledge_checked=clock.now(),
    )


async def start(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """post_init: create the services, then publish the command menus."""
    data: BotData = app.bot_data
    if data.services is None:
        assert data.settings is not None and data.clock is not None
        db = data.settings.database
        # Handlers wait on the database in a few worker threads (database.workers): with one
        # per pooled connection, 20 threads fought over the GIL and a replica spent ~40 % more
        # CPU per settlement (bench/bench_load.py). The console serves one person, one line at
        # a time: there a hop to a thread is only latency, so its work runs inline.
        asyncio.get_running_loop().set_default_executor(
            InlineExecutor() if data.inline_work else ThreadPoolExecutor(
                max_workers=max(1, db.workers), thread_name_prefix="gongji"))
        data.services = await asyncio.to_thread(create_services, data.settings, data.clock)
    await set_menus(app)


class InlineExecutor(ThreadPoolExecutor):
    """Runs each submitted call at once, in the caller's thread (``asyncio.to_thread`` then
    costs no thread hop); for a single-user, line-by-line driver such as the console. A
    ThreadPoolExecutor only because asyncio accepts no other default executor; it never
    starts a thread."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 — handed to the awaiting coroutine
            done.set_exception(exc)
        return done


async def stop(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """post_shutdown: dispose of the engine."""
    data: BotData = app.bot_data
    if data.services is not None:
        data.services.engine.dispose()
        data.services = None


async def set_menus(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Command menus: private chats, groups, and a staff menu per staff user."""
    def cmds(pairs: list[tuple[str, str]]) -> list[BotCommand]:
        return [BotCommand(c, d) for c, d in pairs]

    try:
        await app.bot.set_my_commands(cmds(GROUP_COMMANDS))
        await app.bot.set_my_commands(cmds(USER_COMMANDS), scope=BotCommandScopeAllPrivateChats())
    except TelegramError:
        log.warning("could not set the command menus", exc_info=True)
    settings: Settings = app.bot_data.services.settings
    for staff_id in settings.staff_ids:
        try:
            await app.bot.set_my_commands(cmds(USER_COMMANDS + STAFF_COMMANDS),
                                          scope=BotCommandScopeChat(staff_id))
        except TelegramError:  # the staff member has not opened a chat with the bot yet
            log.info("staff menu not set for one staff user (no chat yet)")


@asynccontextmanager
async def running(app: Application[Any, Any, Any, Any, Any, Any]) -> AsyncIterator[Services]:
    """Initialise the app and its services without polling (console, tests, bench)."""
    await app.initialize()
    try:
        await start(app)
        yield app.bot_data.services
    finally:
        await stop(app)
        await app.shutdown()
