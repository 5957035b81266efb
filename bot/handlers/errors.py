"""Reliability at the edge: redelivered updates, and one error handler for everything else.

An update_id is recorded in ``processed_updates`` once its handlers have *finished*
(group :data:`LAST`); a delivery of an id already recorded stops in group :data:`FIRST`.
So a redelivery after success has no second effect, and a redelivery after a crash
mid-update (a killed replica) runs again instead of being lost — safe because every domain
effect is keyed (``tg:{update_id}``, ``confirm:{token}``) and replays its first result.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.context import Context, Services, call, reply, services, single_statement
from bot.state import ProcessedUpdate
from rules.db import is_sqlite

log = logging.getLogger(__name__)

SORRY = ("抱歉，处理您的消息时出了点问题。请稍后再试；涉及账户的操作，可以先用 /balance 或 "
         "/history 看看是否已经生效。如果一直这样，请拨打医保服务热线 {hotline}。")

FIRST, LAST = -1, 1000  # handler groups around every feature's handlers
# Telegram redelivers for at most 24 hours; a week of ids is plenty and keeps the table small.
KEEP = timedelta(days=7)
PRUNE_EVERY = 1000
_SEEN = select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id == bindparam("id"))
_RECORD = insert(ProcessedUpdate)


def processed(svc: Services, update_id: int) -> bool:
    """Whether this update_id already ran to the end."""
    with single_statement(svc.engine) as conn:
        return conn.execute(_SEEN, {"id": update_id}).first() is not None


def remember(svc: Services, update_id: int) -> bool:
    """Record a finished update_id; False when another delivery recorded it first."""
    now = svc.clock.now()
    try:
        with svc.engine.begin() as conn:  # Core: this runs for every update
            if not is_sqlite(svc.engine):
                # A marker lost in a server crash only lets a redelivery run again (keyed).
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            conn.execute(_RECORD, {"update_id": update_id, "at": now})
            if update_id % PRUNE_EVERY == 0:
                conn.execute(delete(ProcessedUpdate).where(ProcessedUpdate.at < now - KEEP))
    except IntegrityError:
        return False
    return True


async def drop_duplicates(update: object, context: Context) -> None:
    """First group: an update that already ran stops here with no second effect.

    Edited messages and channel posts stop here too: editing an old ``/limit 1 500`` must
    not run it again.
    """
    if not isinstance(update, Update):
        return
    if update.edited_message or update.channel_post or update.edited_channel_post:
        raise ApplicationHandlerStop
    if await call(processed, services(context), update.update_id):
        log.info("dropped redelivered update %s", update.update_id)
        raise ApplicationHandlerStop


async def mark_processed(update: object, context: Context) -> None:
    """Last group: the update ran (a failed handler already told the user and was logged)."""
    if isinstance(update, Update) and not await call(remember, services(context),
                                                     update.update_id):
        log.info("update %s was handled twice concurrently (effects are keyed)",
                 update.update_id)


async def on_error(update: object, context: Context) -> None:
    """Log without personal data, then tell the user something useful."""
    error = context.error
    kind = type(error).__name__ if error else "Unknown"
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("error while handling update %s: %s", update_id, kind, exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.callback_query is not None:
        try:
            await update.callback_query.answer()
        except TelegramError:
            pass
    try:
        hotline = services(context).settings.knowledge.hotline
        await reply(update, context, SORRY.format(hotline=hotline))
    except Exception:  # noqa: BLE001 — never let the error handler raise
        log.warning("could not tell the user about an error (%s)", kind)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The duplicate filter (first), the processed marker (last) and the error handler."""
    app.add_handler(TypeHandler(Update, drop_duplicates), group=FIRST)
    app.add_handler(TypeHandler(Update, mark_processed), group=LAST)
    app.add_error_handler(on_error)
