"""Handler registration, in the order PTB should try them.

Each feature module exposes ``register(app)``. Order matters inside a group: commands
first, then buttons, and the free-text knowledge fallback strictly last so it never
swallows a message meant for a conversation step (e.g. the ID tail after a shared contact).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from telegram.ext import Application

log = logging.getLogger(__name__)

# 1. linking: /start (deep links, contact, ID tail — the tail is checked before free text)
# 2. /help /me /cancel
# 3. knowledge commands and buttons: /ask /why /unanswered /stats, why: faq: fb: dym:
# 4-6. account, money and staff commands (cf:/cx: confirmations, open:)
# 7. inline mode
FEATURES = (
    "bot.handlers.start",
    "bot.handlers.help",
    "bot.handlers.knowledge",
    "bot.handlers.account",
    "bot.handlers.money",
    "bot.handlers.staff",
    "bot.handlers.inline",
)
# Modules owned by another engineer may still be landing; a missing one is logged, not fatal.
OPTIONAL = {"bot.handlers.account", "bot.handlers.money", "bot.handlers.staff"}


def register_all(app: Application[Any, Any, Any, Any, Any, Any]) -> list[str]:
    """Register every feature's handlers, the free-text fallback last, and the error handler."""
    from bot.handlers import errors, knowledge

    registered = []
    for name in FEATURES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if name in OPTIONAL and exc.name == name:
                log.warning("feature module %s not present; skipped", name)
                continue
            raise
        module.register(app)
        registered.append(name)
    # 8. free text in private chats → the knowledge base (last on purpose)
    knowledge.register_fallback(app)
    # 9. one error handler for everything
    errors.register(app)
    return registered
