"""Typed access to the process's services from a handler, plus the reply helpers.

Every handler reaches the domain through :func:`services` and talks back through
:func:`reply` / :func:`reply_refusal`, so paging, buttons and the "为什么?" link to the
knowledge base behave the same everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker
from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType, MessageLimit
from telegram.ext import CallbackContext, ContextTypes, ExtBot

from bot.caches import AnswerCache, Asker, AskerCache
from bot.messages import refusal
from bot.settings import Settings
from bot.state import Link
from rules.clock import Clock
from rules.codes import Reason
from rules.db import single_read

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from knowledge import KnowledgeBase, Matcher
    from rules.policy import Policies
    from rules.service import FamilyService
    from rules.views import PersonView

log = logging.getLogger(__name__)
T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

Buttons = Sequence[Sequence[tuple[str, str]]]
MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096


@dataclass
class Services:
    """Everything a handler may use; created once in ``post_init``."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    policies: Policies
    family: FamilyService
    kb: KnowledgeBase
    matcher: Matcher
    clock: Clock
    counters: Counter[str] = field(default_factory=Counter)  # answers given by this process
    askers: AskerCache = field(default_factory=AskerCache)
    answers: AnswerCache = field(default_factory=AnswerCache)
    batchers: dict[str, Batcher[Any, Any]] = field(default_factory=dict)  # see handlers/errors.py
    knowledge_version: int = 0   # newest taught question in ``matcher`` (see bot/learned.py)
    knowledge_checked: datetime | None = None  # when this process last looked for new ones


class BotData(dict[str, Any]):
    """``application.bot_data``: a dict (PTB persistence expects one) with a typed slot."""

    services: Services | None = None
    settings: Settings | None = None  # set by build_application, read by post_init
    clock: Clock | None = None
    inline_work: bool = False  # the console: domain work runs inline, not in worker threads


Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)


def services(context: CallbackContext[Any, Any, Any, Any]) -> Services:
    """The process's services (raises when ``post_init`` has not run)."""
    found = getattr(context.bot_data, "services", None)
    if found is None:
        raise RuntimeError("services are not initialised (post_init has not run)")
    return found


async def call(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """Run synchronous domain code in a worker thread so the event loop never blocks."""
    return await asyncio.to_thread(fn, *args, **kw)


class Batcher(Generic[K, V]):
    """Coalesces one kind of small database work from concurrent updates into one worker-thread
    hop and one transaction (a "group commit").

    :meth:`run` queues an item and waits for its result. Everything queued while a batch is
    in flight goes into the next batch, so a lone update waits for one hop as before, and
    32 concurrent updates share a hop instead of taking 32. ``work(items)`` runs in a worker
    thread and returns one result per item, in order; if it raises, every item of that batch
    gets the exception. Items whose waiter was cancelled before their batch started are left
    out. Loop-bound state only (no locks): call from the event loop.
    """

    def __init__(self, work: Callable[[list[K]], list[V]], max_batch: int = 256) -> None:
        self.work, self.max_batch = work, max_batch
        self._queue: list[tuple[K, asyncio.Future[V]]] = []
        self._task: asyncio.Task[None] | None = None  # the batch in flight (a strong reference)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, item: K) -> V:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests): forget the old one's state
            self._loop, self._queue, self._task = loop, [], None
        future: asyncio.Future[V] = loop.create_future()
        self._queue.append((item, future))
        if self._task is None:  # first step after this tick's other updates have queued
            self._task = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        batch = [(i, f) for i, f in self._queue[: self.max_batch] if not f.done()]
        del self._queue[: self.max_batch]
        try:
            if batch:
                results = await asyncio.to_thread(self.work, [i for i, _ in batch])
                for (_, f), r in zip(batch, results, strict=True):
                    if not f.done():
                        f.set_result(r)
        except asyncio.CancelledError:  # the loop is shutting down
            for _, f in batch:
                f.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 — handed to every waiter of the batch
            for _, f in batch:
                if not f.done():
                    f.set_exception(exc)
        finally:
            loop = asyncio.get_running_loop()
            if self._queue and self._loop is loop:
                self._task = loop.create_task(self._flush())
            elif self._loop is loop:
                self._task = None


def keyboard(buttons: Buttons | None) -> InlineKeyboardMarkup | None:
    """Rows of ``(label, callback_data)`` as an inline keyboard (None when empty)."""
    rows = _rows(buttons)
    return _markup(rows) if rows else None


@functools.lru_cache(maxsize=2048)
def _markup(rows: tuple[tuple[tuple[str, str], ...], ...]) -> InlineKeyboardMarkup:
    """Built once per distinct keyboard (the same FAQ entry's buttons are sent over and over);
    sharing is safe because Telegram objects are immutable once built."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)
                                  for label, data in row] for row in rows])


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut a long text into pages of at most ``limit`` characters, at line ends when possible."""
    text = text or "（空）"
    pages: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        pages.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        pages.append(text)
    return pages or ["（空）"]


def _rows(buttons: Buttons | None) -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(tuple((label, data) for label, data in row) for row in (buttons or []) if row)


@functools.lru_cache(maxsize=2048)
def _markup_json(rows: tuple[tuple[tuple[str, str], ...], ...]) -> str:
    """The keyboard as the Bot API parameter, serialised once: PTB turns an object into a dict
    and then JSON on every call (about 15 % of a cached FAQ answer's CPU in a profile), and a
    string parameter goes out as it is, the same bytes."""
    return json.dumps(_markup(rows).to_dict())


NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # as the Application's Defaults say
_NO_PREVIEW_JSON = json.dumps(NO_PREVIEW.to_dict())


def _text_params(text: str, buttons: Buttons | None, **where: int) -> dict[str, Any]:
    """A raw sendMessage/editMessageText call's parameters (the Defaults' no-preview included)."""
    params: dict[str, Any] = {**where, "text": text, "link_preview_options": _NO_PREVIEW_JSON}
    rows = _rows(buttons)
    if rows:
        params["reply_markup"] = _markup_json(rows)
    return params


async def send(context: CallbackContext[Any, Any, Any, Any], chat_id: int, text: str,
               buttons: Buttons | None = None) -> None:
    """Send ``text`` to a chat, paged at 4096 characters; buttons go on the last page."""
    pages = split_text(text)
    for i, page in enumerate(pages):
        # The raw method: nobody reads the sent Message back, and building it from Telegram's
        # answer cost more than the rest of a typical reply (bench/bench_updates.py).
        await context.bot.do_api_request("sendMessage", api_kwargs=_text_params(
            page, buttons if i == len(pages) - 1 else None, chat_id=chat_id))


# The one Bot API call that may ride in the webhook's HTTP response (see :func:`answer_press`).
_WEBHOOK_REPLY: ContextVar[list[dict[str, Any]] | None] = ContextVar("webhook_reply",
                                                                     default=None)


@contextlib.contextmanager
def webhook_reply() -> Iterator[list[dict[str, Any]]]:
    """While an update is processed for a webhook request: the method (at most one) that the
    response should carry for Telegram to run."""
    slot: list[dict[str, Any]] = []
    token = _WEBHOOK_REPLY.set(slot)
    try:
        yield slot
    finally:
        _WEBHOOK_REPLY.reset(token)


async def answer_press(query: CallbackQuery, text: str | None = None, *,
                       show_alert: bool = False) -> None:
    """Answer a pressed button (stop the client's spinner; ``text`` as a toast, or an alert).

    Under a webhook the answer goes back in the HTTP response, and Telegram makes the call:
    a press then costs the replica one Bot API request fewer. Telegram reports nothing about
    such a call, which is all an answer needs (a lost one only leaves the spinner to time out).
    Elsewhere (polling, the console) it is an ordinary call."""
    slot = _WEBHOOK_REPLY.get()
    if slot is None or slot:
        await query.answer(text, show_alert=show_alert)
        return
    call: dict[str, Any] = {"method": "answerCallbackQuery", "callback_query_id": query.id}
    if text:
        call["text"] = text
    if show_alert:
        call["show_alert"] = True
    slot.append(call)


async def edit_pressed(query: CallbackQuery, text: str, buttons: Buttons | None = None) -> None:
    """Show ``text`` (and ``buttons``, or none) in place of the message whose button was
    pressed; raw, like :func:`send`, when the message is at hand."""
    message = query.message
    if not isinstance(message, Message):  # too old to see, or an inline message
        await query.edit_message_text(text, reply_markup=keyboard(buttons))
        return
    await query.get_bot().do_api_request("editMessageText", api_kwargs=_text_params(
        text, buttons, chat_id=message.chat.id, message_id=message.message_id))


async def reply(update: Update, context: CallbackContext[Any, Any, Any, Any], text: str,
                buttons: Buttons | None = None) -> None:
    """Answer in the chat the update came from (no-op for updates without a chat)."""
    chat = update.effective_chat
    if chat is None:
        return
    await send(context, chat.id, text, buttons)


async def notify(context: CallbackContext[Any, Any, Any, Any], user_id: int, text: str,
                 buttons: Buttons | None = None) -> None:
    """Tell another linked user something (their private chat id is their user id)."""
    try:
        await send(context, user_id, text, buttons)
    except Exception:
        log.warning("could not notify a linked user", exc_info=True)


def why_button(code: Reason | str) -> list[tuple[str, str]]:
    """The one-button row that explains a reason code from the knowledge base."""
    return [("为什么?", f"why:{Reason(code).value}")]


async def reply_refusal(update: Update, context: CallbackContext[Any, Any, Any, Any],
                        code: Reason | str, facts: dict[str, Any] | None = None) -> None:
    """Reply with the refusal text for ``code`` and a "为什么?" button."""
    await reply(update, context, refusal(code, facts), [why_button(code)])


def is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


def is_staff(context: CallbackContext[Any, Any, Any, Any], user_id: int | None) -> bool:
    """Whether the Telegram user is listed under ``staff_ids``."""
    return user_id is not None and user_id in services(context).settings.staff_ids


def person_id_for_user(sessions: sessionmaker[Session], user_id: int) -> int | None:
    """The linked person's id for a Telegram user, or None."""
    with sessions() as session:
        return session.scalar(select(Link.person_id).where(Link.user_id == user_id))


def user_id_for_person(session: Session, person_id: int) -> int | None:
    """The Telegram user linked to a person (for notifying relatives/householders), or None."""
    return session.scalar(select(Link.user_id).where(Link.person_id == person_id))


def linked_user(sessions: sessionmaker[Session], person_id: int) -> int | None:
    """:func:`user_id_for_person` in its own session."""
    with sessions() as session:
        return user_id_for_person(session, person_id)


def _statements() -> tuple[Any, Any]:
    """The two per-update lookups, built once (building a select costs more than running it)."""
    from rules.schema import FamilyAccount, Person

    people = Person.__table__
    asker = (select(people.c.id, people.c.region).join(Link, Link.person_id == people.c.id)
             .where(Link.user_id == bindparam("user_id")))
    person = (select(people, FamilyAccount.householder_id.label("account_holder"))
              .join(Link, Link.person_id == people.c.id)
              .outerjoin(FamilyAccount, FamilyAccount.householder_id == people.c.id)
              .where(Link.user_id.in_(bindparam("ids", expanding=True))))
    return asker, person.add_columns(Link.user_id.label("linked_user"))


_ASKER, _PERSON = _statements()


def lookup_asker(svc: Services, user_id: int) -> Asker | None:
    """The linked person's id and region (one indexed query)."""
    with single_read(svc.engine) as conn:
        row = conn.execute(_ASKER, {"user_id": user_id}).first()
    return None if row is None else Asker(row[0], row[1])


def people_of(conn: Connection, user_ids: list[int]) -> dict[int, PersonView]:
    """The people linked to these Telegram users, in one query (read before every account
    command, through :func:`batched_read`)."""
    from rules.registry import person_view

    return {row.linked_user: person_view(cast(Any, row), row.account_holder is not None)
            for row in conn.execute(_PERSON, {"ids": user_ids})}


# fn(conn, keys) → {key: value}: one statement reads every key asked for at the same time
ReadMany = Callable[["Connection", list[K]], dict[K, V]]


async def batched_read(context: CallbackContext[Any, Any, Any, Any], fn: ReadMany[K, V],
                       key: K) -> V | None:
    """The value ``fn`` reads for ``key`` (None when there is none), on a connection of its
    own; keys asked for at the same time share one statement (see :func:`batched`)."""
    engine = services(context).engine

    def many(keys: list[K]) -> dict[K, V]:
        with single_read(engine) as conn:
            return fn(conn, keys)
    return await batched(context, many, key, name=f"{fn.__module__}.{fn.__qualname__}")


async def batched(context: CallbackContext[Any, Any, Any, Any],
                  many: Callable[[list[K]], dict[K, V]], key: K, *, name: str) -> V | None:
    """``many([key]).get(key)``, where ``many`` reads several keys in one statement. The keys
    concurrent updates ask for at the same time are read together: one worker-thread hop and
    one statement (:class:`Batcher`, one per ``name``); a lone key costs what :func:`call`
    does. The console (one person, inline work) reads directly. ``name`` names what is read:
    the batcher keeps the ``many`` it was made with, so every call with one name must read
    the same thing."""
    if context.bot_data.inline_work:
        return many([key]).get(key)
    batchers = services(context).batchers
    batcher = batchers.get("read:" + name)
    if batcher is None:
        def work(keys: list[K]) -> list[V | None]:
            found = many(list(dict.fromkeys(keys)))
            return [found.get(k) for k in keys]
        batcher = batchers["read:" + name] = Batcher(work)
    return cast("V | None", await batcher.run(key))


async def linked_person(context: CallbackContext[Any, Any, Any, Any],
                        user_id: int | None) -> PersonView | None:
    """The person linked to a Telegram user, without replying anything."""
    if user_id is None:
        return None
    return await batched_read(context, people_of, user_id)


async def current_person(update: Update, context: CallbackContext[Any, Any, Any, Any], *,
                         private: bool = True) -> PersonView | None:
    """The sender's linked person; replies PRIVATE_ONLY / NOT_LINKED and returns None otherwise."""
    if private and not is_private(update):
        await reply_refusal(update, context, Reason.PRIVATE_ONLY)
        return None
    user = update.effective_user
    person = await linked_person(context, user.id if user else None)
    if person is None:
        await reply_refusal(update, context, Reason.NOT_LINKED)
    return person


def _bot_id(update: Update) -> str:
    """The bot's id from its token (``123456:ABC…`` → ``123456``); ``0`` with no bot."""
    try:
        return update.get_bot().token.split(":", 1)[0]
    except RuntimeError:  # an update built without a bot (tests)
        return "0"


def update_key(update: Update) -> str:
    """The idempotency key of a direct action: ``tg:{bot}:{chat}:{update_id}``.

    Telegram's update ids are per bot and may restart at random after a quiet week, and a
    console on the same database counts its own: the bot and the chat make an id mean one
    message, so a key never replays another user's result (security review M2).
    """
    chat = update.effective_chat
    return f"tg:{_bot_id(update)}:{chat.id if chat else 0}:{update.update_id}"


def update_marker(update: Update) -> int:
    """``processed_updates``' number for an update: the key hashed into 63 bits."""
    digest = hashlib.blake2b(update_key(update).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1
