"""Private free text, routed in one place: the step a user is in first, then a question.

In order: an awaited wallet password (deleted at once), a pending step or a number reply to a
list (bot/steps.py), the ID tail of a pending link, a hand-off to staff, and otherwise a question
for the knowledge base. Each feature only says whether the text was its own, so the features
need not know each other (no import cycles).
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, MessageHandler, filters

from bot.context import Context
from bot.handlers import knowledge, start, support, taps, wallet


async def private_text(update: Update, context: Context) -> None:
    """Private text that is not a command: the first feature that owns it answers."""
    message = update.effective_message
    if message is None or not message.text:
        return
    for owns in (wallet.take_password, taps.continue_step, start.maybe_verify_tail,
                 support.intercept):
        if await owns(update, context):
            return
    await knowledge.answer_question(update, context, message.text)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Last among the handlers: private text; other private messages get a hint."""
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE,
                                   private_text))
    knowledge.register_fallback(app)
