"""A transcript harness for the account, money and staff tests.

It builds the real Application (``bot.app.build_application``) on the in-process loopback
Bot API, with its services on a test database and a manual clock, and feeds it updates the way
Telegram would (``Application.process_update``). People are inserted directly and users linked by
a ``links`` row, so these tests do not depend on the /start flow.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from telegram import Update

import bot.state  # noqa: F401  (bot tables on the shared metadata)
from bot.app import build_application, running
from bot.context import Services
from bot.loopback import LoopbackRequest, Sent, query_id
from bot.settings import Settings
from bot.state import Link
from rules.clock import ManualClock
from rules.db import create_schema, make_engine
from tests.rules.factories import PLACES, add_person

STAFF = 900001
START = datetime(2026, 11, 20, 2, 0, 0)


class Chat:
    """Send messages and press buttons as Telegram users; read what the bot sent."""

    def __init__(self, db_url: str, *, staff_ids: tuple[int, ...] = (STAFF,)) -> None:
        self.clock = ManualClock(START)
        self.loop = asyncio.new_event_loop()
        self.api = LoopbackRequest()
        settings = Settings(staff_ids=staff_ids).with_db(db_url)
        # The whole application, every feature registered, exactly as `gongji run` builds it.
        self.app = build_application(settings, request=self.api, clock=self.clock)
        self._running = running(self.app)
        self.services: Services = self.run(self._running.__aenter__())
        self.engine: Engine = self.services.engine
        self.policies = self.services.policies
        self._ids = itertools.count(1000)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self._running.__aexit__(None, None, None))
        self.loop.close()

    # ---- people ---------------------------------------------------------------------
    def person(self, user_id: int | None = None, **kw: Any) -> Any:
        """Insert a person (tests/rules/factories.py) and link a Telegram user to them."""
        person_id = add_person(self.engine, policies=self.policies, **kw)
        if user_id is not None:
            self.link(user_id, person_id)
        return self.services.family.person(person_id)

    def link(self, user_id: int, person_id: int) -> None:
        with self.services.sessions.begin() as s:
            s.add(Link(user_id=user_id, person_id=person_id, linked_at=self.clock.now()))

    def view(self, person_id: int) -> Any:
        return self.services.family.person(person_id)

    # ---- updates --------------------------------------------------------------------
    def _user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"u{user_id}"}

    def _process(self, data: dict[str, Any]) -> list[Sent]:
        mark = self.api.mark()
        self.run(self.app.process_update(Update.de_json(data, self.app.bot)))
        return self.api.since(mark)

    def send(self, user_id: int, text: str, *, chat_id: int | None = None,
             update_id: int | None = None) -> list[Sent]:
        """A text message from ``user_id`` (private chat unless ``chat_id`` is a group)."""
        chat_id = user_id if chat_id is None else chat_id
        message: dict[str, Any] = {
            "message_id": next(self._ids), "date": int(self.clock.now().timestamp()),
            "chat": self.api.chat(chat_id), "from": self._user(user_id), "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split()[0])}]
        return self._process({"update_id": update_id or next(self._ids), "message": message})

    def buttons_message(self, chat_id: int, label: str = "") -> Sent:
        """The newest message in the chat that has a button whose label contains ``label``."""
        for sent in self.api.latest_for(chat_id):
            if any(label in b.label and b.callback_data for row in sent.buttons for b in row):
                return sent
        raise AssertionError(f"no button {label!r} in chat {chat_id}")

    def buttons_message_or_none(self, chat_id: int, label: str = "确认") -> Sent | None:
        """The newest message with such a button that is still live, or None."""
        try:
            return self.buttons_message(chat_id, label)
        except AssertionError:
            return None

    def press(self, user_id: int, sent: Sent, label: str = "", *,
              update_id: int | None = None) -> list[Sent]:
        """``user_id`` presses the button of ``sent`` whose label contains ``label``."""
        button = next(b for row in sent.buttons for b in row
                      if label in b.label and b.callback_data)
        message = {"message_id": sent.message_id, "date": int(self.clock.now().timestamp()),
                   "chat": self.api.chat(sent.chat_id), "from": {"id": 7_000_000_001,
                   "is_bot": True, "first_name": "共济助手"}, "text": sent.text}
        query = {"id": query_id(user_id, next(self._ids)), "from": self._user(user_id),
                 "chat_instance": str(sent.chat_id), "data": button.callback_data,
                 "message": message}
        return self._process({"update_id": update_id or next(self._ids), "callback_query": query})

    def tap(self, user_id: int, label: str = "") -> list[Sent]:
        """``user_id`` presses a button (label containing ``label``) in their own chat."""
        return self.press(user_id, self.buttons_message(user_id, label), label)

    def pending(self) -> list[dict[str, Any]]:
        """The stored confirmations (for asserting on tokens and payloads)."""
        from sqlalchemy import select

        from bot.state import Confirmation
        with self.services.sessions() as s:
            return [{"token": c.token, "owner": c.owner_user_id, "action": c.action,
                     "payload": json.loads(c.payload), "used": c.used_at is not None,
                     "result": c.result} for c in s.scalars(select(Confirmation))]


def texts(sent: list[Sent], chat_id: int | None = None) -> str:
    """Everything sent (to ``chat_id`` when given), joined — for ``in`` assertions."""
    return "\n".join(s.text for s in sent if chat_id is None or s.chat_id == chat_id)


def to(sent: list[Sent], chat_id: int) -> list[Sent]:
    return [s for s in sent if s.chat_id == chat_id and s.kind != "toast"]


@pytest.fixture(name="chat")
def chat_fixture(db_url: str) -> Iterator[Chat]:
    """A bot on a fresh database (SQLite, and PostgreSQL when configured)."""
    engine = make_engine(db_url)
    create_schema(engine)  # the app creates it only on SQLite
    engine.dispose()
    harness = Chat(db_url)
    yield harness
    harness.close()


__all__ = ["PLACES", "STAFF", "Chat", "chat_fixture", "texts", "to"]
