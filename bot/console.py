"""``gongji console``: chat with the real handlers in a terminal (or from a script).

Each input line becomes a Telegram update fed to ``Application.process_update``; the
in-process Bot API (:mod:`bot.loopback`) records what the bot sends, which is printed —
as JSON lines with ``--json`` (see the shared contract).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar, cast

from telegram import Chat, Message, MessageEntity, TelegramObject, Update, User

from bot.app import build_application, running
from bot.logs import setup_logging
from bot.loopback import BOT_USER, LoopbackRequest, Sent, query_id
from bot.settings import Settings
from rules.clock import ManualClock
from rules.identity import redact

DEFAULT_USER = 100001  # the console's first Telegram user (not linked: try /start)
DELETED = "••••••（此消息已被机器人删除）"
_Parsed = TypeVar("_Parsed", bound=TelegramObject)


class ConsoleError(ValueError):
    """A directive the console cannot carry out (shown, never a traceback)."""


class Console:
    """Turns input lines into updates and returns what the bot sent because of each."""

    def __init__(self, app: Any, loopback: LoopbackRequest, clock: ManualClock,
                 user_id: int = DEFAULT_USER, first_update_id: int = 1) -> None:
        self.app, self.loopback, self.clock = app, loopback, clock
        self.user_id = user_id
        self.group_id: int | None = None
        self._updates = itertools.count(first_update_id)
        self._messages = itertools.count(1)
        self._queries = itertools.count(1)
        self._objects: dict[tuple[Any, ...], TelegramObject] = {}
        self.last_message: tuple[int, int] | None = None  # (chat, id) of the latest input

    @property
    def chat_id(self) -> int:
        return self.group_id if self.group_id is not None else self.user_id

    def _user(self, user_id: int | None = None) -> dict[str, Any]:
        uid = self.user_id if user_id is None else user_id
        return {"id": uid, "is_bot": False, "first_name": f"用户{uid}", "language_code": "zh-hans"}

    def _next_message(self) -> tuple[int, int]:
        """The id and date of a new input message (remembered as the latest)."""
        self.last_message = (self.chat_id, next(self._messages))
        return self.last_message[1], int(self.clock.now().timestamp())

    def _message(self, **fields: Any) -> dict[str, Any]:
        message_id, date = self._next_message()
        return {"message_id": message_id, "date": date,
                "chat": self.loopback.chat(self.chat_id), "from": self._user(), **fields}

    async def _feed(self, data: dict[str, Any]) -> None:
        data["update_id"] = next(self._updates)
        await self.app.process_update(Update.de_json(data, self.app.bot))

    def input_deleted(self) -> bool:
        """Whether the bot deleted the message the latest input line became."""
        return self.last_message is not None and self.last_message in self.loopback.deleted

    async def line(self, text: str) -> list[Sent]:
        """Process one input line; the messages the bot sent because of it."""
        mark = self.loopback.mark()
        self.last_message = None
        stripped = text.strip()
        if stripped.startswith(":"):
            await self.directive(stripped)
        else:
            await self.say(stripped)  # Telegram trims messages too
        return self.loopback.since(mark)

    async def say(self, text: str) -> None:
        """A text message from the current user in the current chat: the Update that
        ``Update.de_json`` makes of Telegram's JSON for it, built without the parsing (an
        eighth of a console settlement's CPU; ``tests/bot/test_console_basics.py`` holds the
        two equal)."""
        entities: tuple[MessageEntity, ...] = ()
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0] if text.split() else text
            entities = (MessageEntity(MessageEntity.BOT_COMMAND, 0, len(command)),)
        message_id, date = self._next_message()
        bot = self.app.bot
        message = Message(message_id, datetime.fromtimestamp(date, UTC),
                          self._parsed(Chat, self.loopback.chat(self.chat_id)),
                          from_user=self._parsed(User, self._user()), text=text,
                          entities=entities)
        message.set_bot(bot)
        update = Update(next(self._updates), message=message)
        update.set_bot(bot)
        await self.app.process_update(update)

    def _parsed(self, kind: type[_Parsed], data: dict[str, Any]) -> _Parsed:
        """``kind.de_json(data)``, once per distinct ``data`` (Telegram objects are frozen)."""
        key = (kind, tuple(sorted(data.items())))
        found = self._objects.get(key)
        if found is None:
            found = self._objects[key] = kind.de_json(data, self.app.bot)
        return cast(_Parsed, found)

    async def directive(self, line: str) -> None:
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name == ":as":
            self.user_id, self.group_id = _int(arg, ":as ID"), None
        elif name == ":group":
            self.group_id = _int(arg, ":group ID")
            self.loopback.chat_types[self.group_id] = "group"
        elif name == ":private":
            self.group_id = None
        elif name == ":contact":
            await self.contact(self.user_id, _need(arg, ":contact PHONE"))
        elif name == ":contact-of":
            who, _, phone = arg.partition(" ")
            await self.contact(_int(who, ":contact-of ID PHONE"),
                               _need(phone, ":contact-of ID PHONE"))
        elif name == ":tap":
            await self.tap(arg)
        elif name == ":sleep":
            self.clock.advance(_seconds(arg))
        elif name == ":inline":
            await self.inline(arg)
        else:
            raise ConsoleError(f"未知指令 {name}（可用：:as :group :private :contact :contact-of "
                               ":tap :sleep :inline）")

    async def contact(self, owner_id: int, phone: str) -> None:
        contact = {"phone_number": phone.strip(), "first_name": f"用户{owner_id}",
                   "user_id": owner_id}
        await self._feed({"message": self._message(contact=contact)})

    async def inline(self, query: str) -> None:
        """``@bot 问题`` from the current user (inline mode)."""
        qid = query_id(self.user_id, next(self._queries))
        await self._feed({"inline_query": {"id": qid, "from": self._user(), "query": query,
                                           "offset": ""}})

    async def tap(self, wanted: str) -> None:
        """Press the button of the latest bot message in this chat whose label contains TEXT."""
        for sent in self.loopback.latest_for(self.chat_id):
            for button in (b for row in sent.buttons for b in row):
                if wanted and wanted not in button.label:
                    continue
                if button.request_contact:
                    raise ConsoleError("这个按钮会分享手机号：请用 :contact 手机号")
                if button.callback_data is None:
                    await self.say(button.label)
                    return
                await self._press(sent, button.callback_data)
                return
        raise ConsoleError(f"没有找到按钮：{wanted or '（任意）'}")

    async def _press(self, sent: Sent, data: str) -> None:
        markup = {"inline_keyboard": [[{"text": b.label, "callback_data": b.callback_data}
                                       for b in row if b.callback_data] for row in sent.buttons]}
        message = {"message_id": sent.message_id, "date": int(self.clock.now().timestamp()),
                   "chat": self.loopback.chat(sent.chat_id), "from": BOT_USER,
                   "text": sent.text, "reply_markup": markup}
        query = {"id": query_id(self.user_id, next(self._queries)), "from": self._user(),
                 "chat_instance": str(sent.chat_id), "data": data, "message": message}
        await self._feed({"callback_query": query})


def _need(text: str, usage: str) -> str:
    if not text.strip():
        raise ConsoleError(f"用法：{usage}")
    return text


def _int(text: str, usage: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConsoleError(f"用法：{usage}（ID 是整数）") from None


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1
    if not 0 <= seconds < 10 ** 9:
        raise ConsoleError("用法：:sleep 秒数（非负数）")
    return seconds


class Prompt:
    """The interactive prompt names who is typing and where."""

    text = "> "


PROMPT = Prompt()


def _prompt_for(console: Console) -> str:
    where = f"@群{console.group_id}" if console.group_id is not None else ""
    return f"[{console.user_id}{where}] > "


def as_json(sent: Sent) -> dict[str, Any]:
    """The contract's reply line."""
    return {"to": sent.chat_id, "text": sent.text, "buttons": sent.labels()}


def render(sent: Sent) -> str:
    """A reply for people reading the terminal."""
    tag = {"toast": "（提示）", "inline": "（内联结果）", "edit": "（已更新）"}.get(sent.kind, "")
    out = f"🤖 → {sent.chat_id}{tag}\n{sent.text}"
    if sent.buttons:
        out += "\n" + "\n".join("  " + "  ".join(f"[{b.label}]" for b in row)
                                for row in sent.buttons)
    return out


def next_update_id(svc: Any) -> int:
    """A start for this run's update ids that no other run shares (microseconds since the
    epoch, then +1 per update): two consoles on one database never reuse each other's ids.
    Effects are keyed by chat as well (bot.context.update_key), so even a clash is harmless."""
    del svc  # the ids no longer depend on what the database holds
    return time.time_ns() // 1000


def _load_demo(svc: Any) -> bool:
    from rules.demo import load_demo_if_empty

    return bool(load_demo_if_empty(svc.engine, svc.policies))


async def run_lines(settings: Settings, lines: Iterable[str], out: TextIO, *, as_json_lines: bool,
                    interactive: bool = False, err: TextIO = sys.stderr) -> int:
    """Drive the bot with ``lines`` and print the transcript to ``out``."""
    loopback, clock = LoopbackRequest(), ManualClock()
    loopback.keep_calls = False
    app = build_application(settings, request=loopback, clock=clock)
    app.bot_data.inline_work = True
    async with running(app) as svc:
        loaded = settings.demo.load_when_empty and await asyncio.to_thread(_load_demo, svc)
        console = Console(app, loopback, clock, first_update_id=next_update_id(svc))
        PROMPT.text = _prompt_for(console)
        if not as_json_lines:
            _welcome(out, loaded, interactive, settings)
        for raw in lines:
            text = raw.rstrip("\r\n")
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            sender = console.user_id
            try:
                sent = await console.line(text)
            except ConsoleError as exc:
                print(f"控制台：{exc}", file=err, flush=True)
                sent = []
            # The echo follows the processing: a message the bot deleted (a wallet password)
            # is shown blanked, never as typed; a terminal also erases what was typed.
            shown = DELETED if console.input_deleted() else text
            if as_json_lines:
                print(json.dumps({"from": sender, "in": shown}, ensure_ascii=False),
                      file=out, flush=True)
            elif not interactive:
                print(f"[{sender}] {shown}", file=out, flush=True)
            elif shown is DELETED:
                print(f"\x1b[1A\x1b[2K[{sender}] {DELETED}", file=out, flush=True)
            for s in sent:
                print(json.dumps(as_json(s), ensure_ascii=False) if as_json_lines else render(s),
                      file=out)
            out.flush()
            PROMPT.text = _prompt_for(console)
    return 0


def try_this() -> list[str]:
    """Lines for a newcomer: bind, settle, a wallet transfer, ask (from the demo people)."""
    from rules.demo import by_name

    holder, wife = by_name("张建国"), by_name("李秀兰")
    bind = (f"① 绑定：:contact {holder.phone} 后输入 {holder.id_number[-4:]}（{holder.name}），"
            f"再 /open，然后 /bind {wife.id_number} {wife.name} 配偶")
    settle = (f"② 结算：:as {DEFAULT_USER + 1}，:contact {wife.phone} "
              f"后输入 {wife.id_number[-4:]}，"
              "/settle 100 门诊 两次（东营：个账不足时5分钟内再刷走家庭共济）")
    son, mother = by_name("刘建华"), by_name("刘桂芳")
    wallet = (f"③ 医保钱包：:as {DEFAULT_USER + 2}，:contact {mother.phone} 后输入 "
              f"{mother.id_number[-4:]}（{mother.name}，四川），"
              "/wallet → 确认使用钱包 → 发6位密码；"
              f"再 :as {DEFAULT_USER + 3}，:contact {son.phone} 后输入 {son.id_number[-4:]}"
              f"（{son.name}，江苏）同样激活，然后 /transfer {mother.id_number} {mother.name} "
              "母亲 300 → 确认 → 密码")
    return [bind, settle, wallet, "④ 提问：直接输入“东营最多能绑几个人？”；/help 查看全部命令"]


def _welcome(out: TextIO, loaded: bool, interactive: bool, settings: Settings) -> None:
    if interactive:
        print("共济助手控制台 — 每行是一条发给机器人的消息；:as ID 切换用户，Ctrl-D 退出。",
              file=out)
    staff = f"（工作人员：:as {settings.staff_ids[0]}）" if settings.staff_ids else ""
    print(f"您现在是 Telegram 用户 {DEFAULT_USER}{staff}", file=out)
    if loaded or interactive:
        for line in try_this():
            print(line, file=out)
    out.flush()


def _prompted(prompt: Prompt) -> Iterable[str]:
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:  # pragma: no cover — not on every platform
        pass
    while True:
        try:
            yield input(prompt.text)
        except EOFError:
            print()
            return
        except KeyboardInterrupt:
            print()
            return


def run_console(settings: Settings, args: Any) -> int:
    """Entry point of ``gongji console``."""
    debug = settings.logging.level == "DEBUG"
    setup_logging("DEBUG" if debug else "WARNING", tracebacks=debug)
    script = getattr(args, "script", None)
    as_json_lines = bool(getattr(args, "json", False))
    if script:
        try:
            lines: Iterable[str] = Path(script).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"无法读取脚本 {script}：{exc}", file=sys.stderr)
            return 2
        interactive = False
    elif sys.stdin.isatty() and not as_json_lines:
        lines, interactive = _prompted(PROMPT), True
    else:
        lines, interactive = sys.stdin, False
    try:
        return asyncio.run(run_lines(settings, lines, sys.stdout, as_json_lines=as_json_lines,
                                     interactive=interactive))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 — start-up failures (DB, data files) as one line
        print(f"控制台无法启动：{type(exc).__name__}: {redact(str(exc))[:500]}", file=sys.stderr)
        return 1
