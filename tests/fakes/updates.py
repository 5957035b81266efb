"""Telegram update JSON as the Bot API delivers it: text (commands get their entity),
shared contacts and inline-button presses. ``update_id`` values come from one counter per
:class:`UpdateFactory` so a stream can be split, replayed and redelivered."""

from __future__ import annotations

import itertools
import time
from typing import Any


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"用户{user_id % 1000}",
            "language_code": "zh-hans"}


class UpdateFactory:
    """Builds updates with increasing ``update_id`` (and message ids) from ``start``."""

    def __init__(self, start: int = 1000) -> None:
        self._ids = itertools.count(start)

    def _envelope(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"update_id": next(self._ids), key: body}

    def _message(self, user_id: int, **fields: Any) -> dict[str, Any]:
        uid = next(self._ids)
        user = _user(user_id)
        body = {"message_id": uid, "date": int(time.time()), "from": user,
                "chat": {"id": user_id, "type": "private", "first_name": user["first_name"]},
                **fields}
        return {"update_id": uid, "message": body}

    def text(self, user_id: int, text: str) -> dict[str, Any]:
        """A private text message; a leading /command gets its bot_command entity."""
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._message(user_id, **fields)

    def contact(self, user_id: int, phone: str, owner: int | None = None) -> dict[str, Any]:
        """The request-contact button: the user's own phone unless ``owner`` says otherwise."""
        contact = {"phone_number": phone, "first_name": "我", "user_id": owner or user_id}
        return self._message(user_id, contact=contact)

    def press(self, user_id: int, data: str, message_id: int, chat_id: int | None = None,
              ) -> dict[str, Any]:
        """An inline-button press on the bot's message ``message_id``."""
        uid = next(self._ids)
        message = {"message_id": message_id, "date": int(time.time()),
                   "chat": {"id": chat_id or user_id, "type": "private"},
                   "from": {"id": 7_000_000_001, "is_bot": True, "first_name": "共济助手"},
                   "text": "…"}
        return {"update_id": uid, "callback_query": {
            "id": str(uid), "from": _user(user_id), "chat_instance": str(user_id),
            "data": data, "message": message,
        }}


def buttons(markup: Any) -> list[tuple[str, str]]:
    """``(label, callback_data)`` of every inline button in a recorded reply_markup."""
    if not isinstance(markup, dict):
        return []
    return [(b.get("text", ""), b.get("callback_data", ""))
            for row in markup.get("inline_keyboard", []) for b in row]
