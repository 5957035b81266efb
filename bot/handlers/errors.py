"""Reliability at the edge: redelivered updates, and one error handler for everything else.

An update_id is recorded in ``processed_updates`` once its handlers have *finished*
(group :data:`LAST`); a delivery of an id already recorded stops in group :data:`FIRST`.
So a redelivery after success has no second effect, and a redelivery after a crash
mid-update (a killed replica) runs again instead of being lost — safe because every domain
effect is keyed (``tg:{update_id}``, ``confirm:{token}``) and replays its first result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.context import Batcher, Context, Services, reply, services, update_marker
from bot.redelivery import processed_among, remember_all
from bot.settings import HOTLINE

log = logging.getLogger(__name__)

SORRY = ("抱歉，处理您的消息时出了点问题。请稍后再试；涉及账户的操作，可以先用 /balance 或 "
         "/history 看看是否已经生效。如果一直这样，请咨询参保地医保部门或拨打 {hotline}。")

FIRST, LAST = -1, 1000  # handler groups around every feature's handlers
# Telegram redelivers for at most 24 hours; a week of ids is plenty and keeps the table small.
def _batcher(svc: Services, name: str, work: Callable[[Services, list[int]], list[bool]]
             ) -> Batcher[int, bool]:
    found = svc.batchers.get(name)
    if found is None:
        found = svc.batchers[name] = Batcher(lambda ids: work(svc, ids))
    return found


async def drop_duplicates(update: object, context: Context) -> None:
    """First group: an update that already ran stops here with no second effect.

    Edited messages and channel posts stop here too: editing an old ``/limit 1 500`` must
    not run it again. Concurrent updates share one query (:class:`bot.context.Batcher`).
    """
    if not isinstance(update, Update):
        return
    marker = update_marker(update)
    # a failure noted on an earlier delivery of this update is not this delivery's (polling
    # never takes it, see take_failure): otherwise a retry that succeeds is never recorded
    _failures(context.application).discard(marker)
    if update.edited_message or update.channel_post or update.edited_channel_post:
        raise ApplicationHandlerStop
    if context.bot_data.inline_work:
        return  # the console: one person, fresh ids from the clock, nothing is redelivered
    svc = services(context)
    if await _batcher(svc, "processed", processed_among).run(marker):
        log.info("dropped redelivered update %s", update.update_id)
        raise ApplicationHandlerStop


async def mark_processed(update: object, context: Context) -> None:
    """Last group: the update ran (a failed handler already told the user and was logged).

    Concurrent updates share one transaction; each waits until its id is committed.
    """
    if not isinstance(update, Update):
        return
    svc = services(context)
    marker = update_marker(update)
    if marker in _failures(context.application):
        return  # not done: a redelivery runs it again (every effect is keyed)
    if context.bot_data.inline_work:
        return  # the console (see drop_duplicates)
    if not await _batcher(svc, "remember", remember_all).run(marker):
        log.info("update %s was handled twice concurrently (effects are keyed)",
                 update.update_id)


def _failures(app: Application[Any, Any, Any, Any, Any, Any]) -> set[int]:
    """Markers of updates whose handling failed in this process (until the webhook asks)."""
    found: set[int] = app.bot_data.setdefault("failed_updates", set())
    return found


def take_failure(app: Application[Any, Any, Any, Any, Any, Any], marker: int) -> bool:
    """Whether the update with this marker failed here; forgets it (the webhook answers 500)."""
    failures = _failures(app)
    failed = marker in failures
    failures.discard(marker)
    return failed


async def on_error(update: object, context: Context) -> None:
    """Log without personal data, note the update as failed, tell the user once."""
    error = context.error
    kind = type(error).__name__ if error else "Unknown"
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("error while handling update %s: %s", update_id, kind, exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    failures = _failures(context.application)
    marker = update_marker(update)
    if marker in failures:
        return  # one apology per update, however many of its handlers failed
    if len(failures) > 10_000:  # polling never asks (take_failure): keep the set small
        failures.clear()
    failures.add(marker)
    if update.callback_query is not None:
        try:
            await update.callback_query.answer()
        except TelegramError:
            pass
    try:
        svc = getattr(context.bot_data, "services", None)
        hotline = svc.settings.knowledge.hotline if svc else HOTLINE
        await reply(update, context, SORRY.format(hotline=hotline))
    except Exception:  # noqa: BLE001 — never let the error handler raise
        log.warning("could not tell the user about an error (%s)", kind)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The duplicate filter (first), the processed marker (last) and the error handler."""
    app.add_handler(TypeHandler(Update, drop_duplicates), group=FIRST)
    app.add_handler(TypeHandler(Update, mark_processed), group=LAST)
    app.add_error_handler(on_error)
