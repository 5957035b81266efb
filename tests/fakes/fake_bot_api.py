"""A small fake Telegram Bot API server on 127.0.0.1 for tests and the load bench.

It speaks enough of the Bot API for python-telegram-bot's ``HTTPXRequest`` (form-encoded
parameters, JSON-encoded where not plain strings) and for plain JSON bodies, serves queued
updates to ``getUpdates`` with a short long-poll, and records every call so a test can assert
on what the bot sent. Run ``FakeBotApi().start()`` in-process (a daemon thread) or
``python -m tests.fakes.fake_bot_api`` to serve until interrupted.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl

BOT_USER = {
    "id": 7_000_000_001, "is_bot": True, "first_name": "共济助手", "username": "gongji_test_bot",
    "can_join_groups": True, "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}
LONG_POLL_CAP_SECONDS = 0.5
_JSON_KEYS = {
    "chat_id", "message_id", "reply_markup", "entities", "offset", "limit", "timeout",
    "allowed_updates", "results", "commands", "scope", "show_alert", "cache_time",
    "drop_pending_updates", "max_connections", "link_preview_options", "user_id",
    "reply_parameters", "disable_notification", "protect_content",
}


@dataclass(frozen=True)
class Call:
    """One request the bot made: method name, decoded parameters, monotonic time."""

    method: str
    params: dict[str, Any]
    at: float
    result: Any = None


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    next_update_id: int = 1
    next_message_id: int = 1
    webhook: dict[str, Any] = field(default_factory=dict)
    last_buttons: dict[int, tuple[int, list[str]]] = field(default_factory=dict)


def _decode(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in _JSON_KEYS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid long-poll (the bot stopping) is not an error here."""
        return


class FakeBotApi:
    """The fake server; thread-safe; ``base_url`` is what ``TELEGRAM_API_BASE_URL`` takes."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token  # when set, any other token gets 401 Unauthorized
        self._state = _State()
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ------------------------------------------------------------------------
    def start(self, port: int = 0) -> Self:
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = _Server(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.1})
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # test-facing API ------------------------------------------------------------------
    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; assigns ``update_id`` when missing."""
        with self._cond:
            update = dict(update)
            update.setdefault("update_id", self._state.next_update_id)
            self._state.next_update_id = max(self._state.next_update_id, update["update_id"]) + 1
            self._state.updates.append(update)
            self._cond.notify_all()
            return int(update["update_id"])

    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self._state.calls if method is None or c.method == method]

    def sent_texts(self, chat_id: int) -> list[str]:
        """Texts of sendMessage and editMessageText calls addressed to ``chat_id``, in order."""
        return [
            str(c.params.get("text", "")) for c in self.calls()
            if c.method in ("sendMessage", "editMessageText") and c.params.get("chat_id") == chat_id
        ]

    def wait_for(self, predicate: Callable[[FakeBotApi], bool], timeout: float = 10.0) -> bool:
        """Block until ``predicate(self)`` holds (checked on every call), or time out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
            return True

    def last_button(self, chat_id: int, prefix: str) -> tuple[str, int] | None:
        """``(callback_data, message_id)`` of a button starting with ``prefix`` on the newest
        message with inline buttons sent to ``chat_id`` (what a user would press next)."""
        with self._cond:
            message_id, datas = self._state.last_buttons.get(chat_id, (0, []))
        found = next((d for d in datas if d.startswith(prefix)), None)
        return (found, message_id) if found else None

    def pending_updates(self) -> int:
        with self._cond:
            return len(self._state.updates)

    # Bot API --------------------------------------------------------------------------
    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "getUpdates":
            updates = self._get_updates(params)
            with self._cond:
                self._state.calls.append(Call(method, params, time.monotonic(), len(updates)))
            return 200, {"ok": True, "result": updates}
        with self._cond:
            action = getattr(self, "_m_" + method, None)
            result = None if action is None else action(params)
            self._state.calls.append(Call(method, params, time.monotonic(), result))
            self._cond.notify_all()
            if action is None:
                return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
            return 200, {"ok": True, "result": result}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        wait = min(float(params.get("timeout") or 0), LONG_POLL_CAP_SECONDS)
        deadline = time.monotonic() + wait
        with self._cond:
            # Telegram forgets updates below the offset: they are confirmed.
            self._state.updates = [u for u in self._state.updates if u["update_id"] >= offset]
            while not self._state.updates and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return [dict(u) for u in self._state.updates[:limit]]

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message_id = self._state.next_message_id
        self._state.next_message_id += 1
        msg: dict[str, Any] = {
            "message_id": message_id, "date": int(time.time()), "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "text": str(params.get("text", "")),
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup  # Telegram echoes only inline keyboards
            self._state.last_buttons[chat_id] = (message_id, [
                str(b.get("callback_data", "")) for row in markup["inline_keyboard"] for b in row])
        self._state.messages[(chat_id, message_id)] = msg
        return msg

    def _edit(self, params: dict[str, Any], **changes: Any) -> dict[str, Any] | bool:
        if "inline_message_id" in params:
            return True
        key = (int(params["chat_id"]), int(params["message_id"]))
        msg = self._state.messages.get(key) or {
            "message_id": key[1], "date": int(time.time()), "from": BOT_USER,
            "chat": {"id": key[0], "type": "private"}, "text": "",
        }
        msg.update({k: v for k, v in changes.items() if k != "reply_markup" and v is not None})
        markup = changes.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)
        self._state.messages[key] = msg
        return msg

    def _m_getMe(self, _p: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    def _m_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._message(p)

    def _m_editMessageText(self, p: dict[str, Any]) -> dict[str, Any] | bool:
        return self._edit(p, text=str(p.get("text", "")), reply_markup=p.get("reply_markup"))

    def _m_editMessageReplyMarkup(self, p: dict[str, Any]) -> dict[str, Any] | bool:
        return self._edit(p, reply_markup=p.get("reply_markup"))

    def _m_setWebhook(self, p: dict[str, Any]) -> bool:
        self._state.webhook = {"url": p.get("url", ""), "has_secret": bool(p.get("secret_token"))}
        return True

    def _m_deleteWebhook(self, _p: dict[str, Any]) -> bool:
        self._state.webhook = {}
        return True

    def _m_getWebhookInfo(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {"url": self._state.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._state.updates)}

    def _ok(self, _p: dict[str, Any]) -> bool:
        return True

    _m_answerCallbackQuery = _m_setMyCommands = _m_deleteMyCommands = _ok
    _m_answerInlineQuery = _m_close = _m_logOut = _m_sendChatAction = _ok


class _Handler(BaseHTTPRequestHandler):
    api: FakeBotApi
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment: otherwise Nagle + delayed ACK add ~40 ms per call.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._dispatch(self.rfile.read(length) if length else b"")

    def _dispatch(self, body: bytes) -> None:
        path, _, query = self.path.partition("?")
        if path == "/_fake/last_button":  # for a load generator in another process
            q = dict(parse_qsl(query))
            found = self.api.last_button(int(q["chat_id"]), q.get("prefix", ""))
            return self._reply(200, {"ok": True, "result": found})
        parts = path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if self.api.token is not None and parts[0] != f"bot{self.api.token}":
            return self._reply(401, {"ok": False, "error_code": 401,
                                     "description": "Unauthorized"})
        params: dict[str, Any] = dict(parse_qsl(query))
        ctype = self.headers.get("Content-Type", "")
        if body and "json" in ctype:
            params.update(json.loads(body))
        elif body:
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        status, payload = self.api.handle(parts[1], _decode(params))
        self._reply(status, payload)

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    import sys

    fake = FakeBotApi().start(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(fake.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()
