"""Reliability at the edge: drop redelivered updates, and one error handler for the rest."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.context import Context, Services, call, reply, services
from bot.state import ProcessedUpdate
from rules.db import is_sqlite

log = logging.getLogger(__name__)

SORRY = ("抱歉，处理您的消息时出了点问题，您的账户没有因此发生变化。请稍后再试；"
         "如果一直这样，请拨打医保服务热线 {hotline}。")

_RECORD = insert(ProcessedUpdate)
# Telegram redelivers for at most 24 hours; a week of ids is plenty and keeps the table small.
KEEP = timedelta(days=7)
PRUNE_EVERY = 1000


def first_delivery(svc: Services, update_id: int) -> bool:
    """Record the update_id; False when it was already processed (atomic insert)."""
    now = svc.clock.now()
    try:
        with svc.engine.begin() as conn:  # Core: this runs for every update
            if not is_sqlite(svc.engine):
                # Losing the last few markers in a server crash only means a redelivered
                # update runs again, and every effect is keyed by update_id anyway.
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            conn.execute(_RECORD, {"update_id": update_id, "at": now})
            if update_id % PRUNE_EVERY == 0:
                conn.execute(delete(ProcessedUpdate).where(ProcessedUpdate.at < now - KEEP))
    except IntegrityError:
        return False
    return True


async def drop_duplicates(update: object, context: Context) -> None:
    """Group -1: a redelivered update (same update_id) stops here with no second effect.

    Edited messages and channel posts stop here too: editing an old ``/limit 1 500`` must
    not run it again.
    """
    if not isinstance(update, Update):
        return
    if update.edited_message or update.channel_post or update.edited_channel_post:
        raise ApplicationHandlerStop
    if not await call(first_delivery, services(context), update.update_id):
        log.info("dropped redelivered update %s", update.update_id)
        raise ApplicationHandlerStop


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


def register_dedupe(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The duplicate filter runs before every other handler."""
    app.add_handler(TypeHandler(Update, drop_duplicates), group=-1)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The duplicate filter and the one error handler."""
    register_dedupe(app)
    app.add_error_handler(on_error)
