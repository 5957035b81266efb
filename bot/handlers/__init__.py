"""Handler registration, in the order PTB should try them.

Each feature module exposes ``register(app)``. Order matters inside a group: commands
first, then buttons, and the free-text knowledge fallback strictly last so it never
swallows a message meant for a conversation step (e.g. the ID tail after a shared contact).
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application


def register_all(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register every feature's handlers, the free-text fallback last, and the error handler."""
    from bot.handlers import (
        account,
        binding,
        errors,
        help,
        inline,
        knowledge,
        money,
        personal,
        staff,
        start,
        support,
        text,
        wallet,
    )

    # 1. linking: /start (deep links, shared contact; the ID tail is routed from free text)
    start.register(app)
    # 2. /help /me /cancel /unlink
    help.register(app)
    # 3. knowledge commands and buttons: /ask /why /unanswered /stats, why: faq: fb: dym:
    knowledge.register(app)
    # 4-6. account, binding (/bind /unbind /leave), money and staff commands
    #      (cf:/cx: confirmations, open:)
    account.register(app)
    binding.register(app)
    wallet.register(app)  # /wallet /transfer, and /contribute 本人 before money's /contribute
    money.register(app)
    staff.register(app)
    support.register(app)  # /human /tickets, ho: buttons (人工 comes as free text)
    personal.register(app)  # run: buttons under personal answers (bot/personal.py)
    # 7. inline mode
    inline.register(app)
    # 8. private free text (bot/handlers/text.py): an awaited wallet password (deleted at
    #    once), a step or a number reply, the ID tail, a hand-off, else the knowledge base;
    #    other messages get a hint
    text.register(app)  # includes knowledge.register_fallback
    # 9. around everything: the redelivery filter (group -1), the processed marker
    #    (group 1000, after the handlers finished) and the one error handler
    errors.register(app)
