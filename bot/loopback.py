"""An in-process Telegram Bot API: the console and the transcript tests run the real
handlers through ``Application.process_update`` and read what the bot "sent" from here.

``LoopbackRequest`` is a :class:`telegram.request.BaseRequest`; it answers the Bot API
methods the bot uses with well-formed results and records every outgoing message.
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from telegram.request import BaseRequest, RequestData

BOT_USER = {
    "id": 7_000_000_001, "is_bot": True, "first_name": "共济助手", "username": "gongji_bot",
    "can_join_groups": True, "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}
LOOPBACK_TOKEN = "7000000001:LOOPBACK-not-a-real-token-0000000000"


@dataclass(frozen=True)
class Button:
    """One button as the user sees it."""

    label: str
    callback_data: str | None = None
    request_contact: bool = False


@dataclass
class Sent:
    """A message the bot sent (or its latest edit)."""

    chat_id: int
    message_id: int
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    kind: str = "message"  # message | edit | toast | inline | photo

    def labels(self) -> list[list[str]]:
        return [[b.label for b in row] for row in self.buttons]


def _reply_button(b: Any) -> Button:
    if isinstance(b, str):
        return Button(b)
    return Button(str(b.get("text", "")), request_contact=bool(b.get("request_contact")))


def _buttons(markup: Any) -> list[list[Button]]:
    if isinstance(markup, str):  # the bot sends the same few keyboards over and over
        return [list(row) for row in _parsed_buttons(markup)]
    return _buttons_of(markup)


@functools.lru_cache(maxsize=1024)
def _parsed_buttons(markup: str) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(row) for row in _buttons_of(json.loads(markup)))


def _buttons_of(markup: Any) -> list[list[Button]]:
    if not isinstance(markup, dict):
        return []
    if "inline_keyboard" in markup:
        return [[Button(b.get("text", ""), b.get("callback_data")) for b in row]
                for row in markup["inline_keyboard"]]
    if "keyboard" in markup:
        return [[_reply_button(b) for b in row] for row in markup["keyboard"]]
    return []


def query_id(user_id: int, serial: int) -> str:
    """Callback/inline query ids carry the asker so answers can be shown to them."""
    return f"{user_id}:{serial}"


def _asker(p: dict[str, Any], key: str) -> int:
    try:
        return int(str(p.get(key, "0")).split(":", 1)[0])
    except ValueError:
        return 0


class LoopbackRequest(BaseRequest):
    """Answers Bot API calls in process and keeps a log of what was sent."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.messages: dict[tuple[int, int], Sent] = {}
        self.chat_types: dict[int, str] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.keep_calls = True
        self.deleted: list[tuple[int, int]] = []  # (chat_id, message_id) the bot deleted
        self.photos: list[Sent] = []  # sendPhoto calls (also in :attr:`sent`)

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    def mark(self) -> int:
        """A position in :attr:`sent`; :meth:`since` returns what was sent after it."""
        return len(self.sent)

    def since(self, position: int) -> list[Sent]:
        return self.sent[position:]

    def latest_for(self, chat_id: int) -> list[Sent]:
        """Messages (current state) in this chat, newest first."""
        found = [m for (c, _), m in self.messages.items() if c == chat_id]
        return sorted(found, key=lambda m: m.message_id, reverse=True)

    def chat(self, chat_id: int) -> dict[str, Any]:
        kind = self.chat_types.get(chat_id) or ("private" if chat_id > 0 else "supergroup")
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind != "private":
            chat["title"] = f"群聊 {chat_id}"
        return chat

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = None, write_timeout: Any = None,
                         connect_timeout: Any = None, pool_timeout: Any = None,
                         ) -> tuple[int, bytes]:
        """Dispatch one Bot API call by the method name at the end of the URL."""
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        if self.keep_calls:
            self.calls.append((name, params))
        handler = getattr(self, f"_api_{name}", None)
        result = handler(params) if handler else True
        return 200, json.dumps({"ok": True, "result": result}, ensure_ascii=False).encode()

    # ---- Bot API methods -------------------------------------------------------------
    def _api_getMe(self, _: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    def _message(self, sent: Sent, markup: Any) -> dict[str, Any]:
        """A minimal well-formed Message (the bot never reads the echoed keyboard back)."""
        return {"message_id": sent.message_id, "date": int(time.time()),
                "chat": self.chat(sent.chat_id), "text": sent.text}

    def _api_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        markup = json.loads(p["reply_markup"]) if isinstance(p.get("reply_markup"), str) \
            else p.get("reply_markup")
        sent = Sent(int(p["chat_id"]), next(self._ids), str(p.get("text", "")), _buttons(markup))
        self.sent.append(sent)
        self.messages[(sent.chat_id, sent.message_id)] = sent
        return self._message(sent, markup)

    def _api_sendPhoto(self, p: dict[str, Any]) -> dict[str, Any]:
        """A photo is recorded as the text ``[图片：caption]`` (its bytes in :attr:`photos`)."""
        sent = Sent(int(p["chat_id"]), next(self._ids), f"[图片：{p.get('caption') or ''}]",
                    kind="photo")
        self.sent.append(sent)
        self.messages[(sent.chat_id, sent.message_id)] = sent
        self.photos.append(sent)
        message = self._message(sent, None)
        message.pop("text")
        message["caption"] = str(p.get("caption") or "")
        message["photo"] = [{"file_id": f"photo{sent.message_id}",
                             "file_unique_id": f"p{sent.message_id}", "width": 900,
                             "height": 420}]
        return message

    def _edit(self, p: dict[str, Any], text: str | None) -> dict[str, Any] | bool:
        if "inline_message_id" in p:
            return True
        key = (int(p["chat_id"]), int(p["message_id"]))
        old = self.messages.get(key) or Sent(key[0], key[1], "")
        markup = p.get("reply_markup")
        markup = json.loads(markup) if isinstance(markup, str) else markup
        edited = Sent(key[0], key[1], old.text if text is None else text,
                      _buttons(markup) if markup else [], kind="edit")
        self.messages[key] = edited
        self.sent.append(edited)
        return self._message(edited, markup)

    def _api_editMessageText(self, p: dict[str, Any]) -> dict[str, Any] | bool:
        return self._edit(p, str(p.get("text", "")))

    def _api_editMessageReplyMarkup(self, p: dict[str, Any]) -> dict[str, Any] | bool:
        return self._edit(p, None)

    def _api_deleteMessage(self, p: dict[str, Any]) -> bool:
        """The bot deletes a message (e.g. the one carrying a wallet password): it is gone
        from the chat, and the console blanks the user's line in its transcript."""
        key = (int(p["chat_id"]), int(p["message_id"]))
        self.deleted.append(key)
        self.messages.pop(key, None)
        return True

    def _api_answerCallbackQuery(self, p: dict[str, Any]) -> bool:
        if p.get("text"):
            self.sent.append(Sent(_asker(p, "callback_query_id"), 0, str(p["text"]), kind="toast"))
        return True

    def _api_answerInlineQuery(self, p: dict[str, Any]) -> bool:
        results = p.get("results") or []
        results = json.loads(results) if isinstance(results, str) else results
        for r in results:
            content = r.get("input_message_content") or {}
            text = str(content.get("message_text") or r.get("title", ""))
            self.sent.append(Sent(_asker(p, "inline_query_id"), 0, text, kind="inline"))
        return True

    def _api_setMyCommands(self, p: dict[str, Any]) -> bool:
        scope = p.get("scope") or {"type": "default"}
        scope = json.loads(scope) if isinstance(scope, str) else scope
        key = f"{scope.get('type')}:{scope.get('chat_id', '')}"
        commands = p.get("commands") or []
        self.commands[key] = json.loads(commands) if isinstance(commands, str) else commands
        return True

    def _api_getMyCommands(self, _: dict[str, Any]) -> list[Any]:
        return []

    def _api_getUpdates(self, _: dict[str, Any]) -> list[Any]:
        return []

    def _api_getWebhookInfo(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
