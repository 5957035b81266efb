"""The command a personal answer offers as a button (``run:family`` …, bot/personal.py)."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler

from bot.context import Context, answer_press


async def run_button(update: Update, context: Context) -> None:
    """run:family | run:balance — the same as typing the command (no arguments)."""
    from bot.handlers import account

    query = update.callback_query
    assert query is not None and query.data is not None
    await answer_press(query)
    commands = {"family": account.family_cmd, "balance": account.balance_cmd}
    command = commands.get(query.data.partition(":")[2])
    if command is not None:
        context.args = []
        await command(update, context)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CallbackQueryHandler(run_button, pattern=r"^run:"))
