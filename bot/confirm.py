"""Confirmation tokens: a masked summary with 确认/取消 buttons; nothing changes until 确认.

A token is short and opaque; its row in ``confirmations`` holds the owner, the action, a
JSON payload and the expiry. Pressing 确认 re-authorises the presser, claims the row with
``UPDATE … SET used_at WHERE used_at IS NULL`` and only the press that wins executes the
action, with the idempotency key ``confirm:{token}``, edits the summary and sends notices.
A second press, a redelivered update or a racing 取消 changes nothing more; should the
action fail half-way, the claim is given back and a new press replays the same key, which
the domain turns into the first Decision rather than a second effect. A token claimed for
确认 whose outcome was never recorded (the replica died mid-action) is run again under the
same key by the next press, on any replica; only the press that records the outcome first
edits the summary and sends the notices, so nothing is said twice. The row remembers which
press recorded the outcome (``claimed_by``, its processed marker): should that replica die
before showing it, Telegram's redelivery of that very press shows the stored outcome, where
any other press only hears 已处理.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, DateTime, bindparam, text
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler

from bot.context import (
    Context,
    Services,
    answer_press,
    batched_read,
    call,
    current_person,
    edit_pressed,
    is_staff,
    notify,
    reply,
    reply_refusal,
    services,
    update_marker,
    why_button,
)
from bot.messages import refusal
from bot.state import Confirmation
from rules.codes import Reason
from rules.db import single_read
from rules.decision import Decision
from rules.planning import SettlePlan
from rules.settlement import Pin
from rules.unit_of_work import AlreadyClaimed

log = logging.getLogger(__name__)

ALREADY_DONE = "已处理"
CANCELLED = "已取消，没有做任何更改。"


@dataclass(frozen=True)
class Pending:
    """A confirmation row as the handlers see it."""

    token: str
    owner_user_id: int
    action: str
    payload: dict[str, Any]
    expired: bool
    used: bool
    result: str | None
    marker: int | None = None  # the pressing update's processed marker (bot.redelivery)
    claimed_by: int | None = None  # the marker of the press that recorded the outcome


@dataclass
class Outcome:
    """What a confirmed action produced: the text for the summary, notices to others."""

    text: str
    notices: list[tuple[int, str]] = field(default_factory=list)
    code: str | None = None  # a refusal keeps its 为什么? button
    # a fresh summary to send after the old one (PLAN_CHANGED): text, token, 确认 label
    fresh: tuple[str, str, str] | None = None
    replayed: bool = False  # a stored outcome shown again: nobody else is told twice


Executor = Callable[[Any, Pending, Any, str], Awaitable[Outcome]]
_EXECUTORS: dict[str, Executor] = {}
_PINNED: set[str] = set()  # actions whose executor claims the token in its own transaction


def executor(action: str, *, pinned: bool = False) -> Callable[[Executor], Executor]:
    """Register the coroutine that performs ``action`` once confirmed.

    A *pinned* executor runs a plan stored with the token and claims the token itself, in
    the same database transaction as the money it moves (:class:`TokenClaim`); it returns
    ``None`` in place of an Outcome when another press or a 取消 claimed the token first.
    """
    def wrap(fn: Executor) -> Executor:
        _EXECUTORS[action] = fn
        if pinned:
            _PINNED.add(action)
        return fn
    return wrap


class TokenClaim:
    """A token's single use, taken inside the action's transaction (rules.unit_of_work.Claim):
    claiming, paying and recording what the press showed (and which press it was) commit
    together or not at all."""

    def __init__(self, token: str, now: datetime, describe: Callable[[Decision], str], *,
                 marker: int | None = None) -> None:
        self.token, self.now, self.describe, self.marker = token, now, describe, marker

    def take(self, s: Session) -> None:
        # result, not used_at: a claim a crashed older replica left without an outcome is
        # taken again, and the action's key replays whatever it did
        done = s.connection().execute(_TAKE, {"token": self.token, "now": self.now})
        if done.rowcount != 1:
            raise AlreadyClaimed(self.token)

    def record(self, s: Session, decision: Decision) -> None:
        """The outcome on the token, with the marker of the press that produced it."""
        s.connection().execute(_RECORD, {"token": self.token, "by": self.marker,
                                         "result": self.describe(decision)})


# Plain SQL compiled once: ORM statements built per press cost more than the database work.
_TAKE = text("UPDATE confirmations SET used_at = :now WHERE token = :token AND result IS NULL") \
    .bindparams(bindparam("now", type_=DateTime))
_RECORD = text("UPDATE confirmations SET result = :result, claimed_by = :by WHERE token = :token")
_PIN = text(
    "INSERT INTO confirmations (token, owner_user_id, action, payload, created_at, expires_at)"
    " VALUES (:token, :owner, :action, :payload, :now, :until)"
).bindparams(bindparam("now", type_=DateTime), bindparam("until", type_=DateTime))


def pinner(svc: Services, owner: int, action: str, payload: dict[str, Any]) -> Pin:
    """Stores a plan behind a fresh token, in the caller's transaction (rules.settlement.Pin):
    the summary a redelivered update replays is then the very one that can be confirmed."""
    def pin(s: Session, plan: SettlePlan) -> str:
        token = secrets.token_urlsafe(8)
        now = svc.clock.now()
        ttl = timedelta(seconds=svc.settings.confirmation_ttl_seconds)
        s.connection().execute(_PIN, {
            "token": token, "owner": owner, "action": action, "now": now, "until": now + ttl,
            "payload": json.dumps({**payload, "plan": plan.to_json()}, ensure_ascii=False)})
        return token
    return pin


def _insert(svc: Services, owner: int, action: str, payload: dict[str, Any]) -> str:
    token = secrets.token_urlsafe(8)
    now = svc.clock.now()
    ttl = timedelta(seconds=svc.settings.confirmation_ttl_seconds)
    with svc.sessions.begin() as session:
        session.add(Confirmation(
            token=token, owner_user_id=owner, action=action,
            payload=json.dumps(payload, ensure_ascii=False),
            created_at=now, expires_at=now + ttl, used_at=None, result=None,
        ))
    return token


_LOAD = text("SELECT token, owner_user_id, action, payload, expires_at, used_at, result,"
             " claimed_by FROM confirmations WHERE token IN :tokens") \
    .bindparams(bindparam("tokens", expanding=True)).columns(expires_at=DateTime, used_at=DateTime)


# What secrets.token_urlsafe makes. Anything else in a button's data names no confirmation and
# is not sent to the database (PostgreSQL refuses a NUL, and one bad key would fail the
# whole batched read, other people's presses included).
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _rows_of(conn: Connection, tokens: list[str]) -> dict[str, Any]:
    wanted = [t for t in tokens if _TOKEN_SHAPE.fullmatch(t)]
    if not wanted:
        return {}
    return {row.token: row for row in conn.execute(_LOAD, {"tokens": wanted})}


def _load(svc: Services, token: str) -> Pending | None:
    """The confirmation a press names (one read that takes no write lock)."""
    with single_read(svc.engine) as conn:
        return _pending(svc, _rows_of(conn, [token]).get(token))


def _pending(svc: Services, row: Any) -> Pending | None:
    if row is None:
        return None
    return Pending(
        token=row.token, owner_user_id=row.owner_user_id, action=row.action,
        payload=json.loads(row.payload), expired=svc.clock.now() >= row.expires_at,
        used=row.used_at is not None, result=row.result, claimed_by=row.claimed_by,
    )


def _claim(svc: Services, token: str, result: str | None) -> bool:
    """Mark the token used; True only for the one caller whose UPDATE changed the row."""
    with svc.sessions.begin() as session:
        done = cast(CursorResult[Any], session.execute(
            sql_update(Confirmation)
            .where(Confirmation.token == token, Confirmation.used_at.is_(None))
            .values(used_at=svc.clock.now(), result=result)
        ))
        return done.rowcount == 1


def _record(svc: Services, token: str, result: str | None, *, by: int | None = None,
            release: bool = False) -> bool:
    """Store the outcome of a claimed token once, with the marker of the press ``by`` which
    it was reached (or give the claim back after a failure).

    True only for the caller whose outcome was stored: that caller tells the users.
    """
    values: dict[str, Any] = {"result": result, "claimed_by": by}
    if release:
        values["used_at"] = None
    with svc.sessions.begin() as session:
        done = cast(CursorResult[Any], session.execute(
            sql_update(Confirmation)
            .where(Confirmation.token == token, Confirmation.result.is_(None))
            .values(**values)
        ))
        return done.rowcount == 1


async def ask(update: Update, context: Context, action: str, payload: dict[str, Any],
              summary: str, label: str = "确认") -> str:
    """Store a pending action and reply with its summary and the 确认/取消 buttons."""
    user = update.effective_user
    assert user is not None
    token = await call(_insert, services(context), user.id, action, payload)
    await show(update, context, token, summary, label)
    return token


def summary_message(context: Context, token: str, summary: str, label: str,
                    ) -> tuple[str, list[list[tuple[str, str]]]]:
    """The text and buttons of a summary waiting for 确认."""
    minutes = max(1, services(context).settings.confirmation_ttl_seconds // 60)
    text = f"{summary}\n\n请在{minutes}分钟内点击“{label}”完成操作；点击前不会有任何更改。"
    return text, [[(label, f"cf:{token}"), ("取消", f"cx:{token}")]]


async def show(update: Update, context: Context, token: str, summary: str, label: str) -> None:
    """Reply with the summary of an already stored token (a pinned plan, or its replay)."""
    text, buttons = summary_message(context, token, summary, label)
    await reply(update, context, text, buttons)


async def _finish(update: Update, text: str, code: str | None = None) -> None:
    """Answer the button press and show ``text`` in place of the summary (buttons removed)."""
    query = update.callback_query
    assert query is not None
    await answer_press(query)
    try:
        await edit_pressed(query, text, [why_button(code)] if code else None)
    except Exception:
        log.debug("could not edit confirmation message", exc_info=True)


async def _authorise(update: Update, context: Context, pending: Pending) -> tuple[bool, Any]:
    """Re-check, at press time, that the presser may still do this; returns (ok, person)."""
    if pending.payload.get("staff"):
        user = update.effective_user
        if is_staff(context, user.id if user else None):
            return True, None
        await reply_refusal(update, context, Reason.FORBIDDEN)
        return False, None
    person = await current_person(update, context)
    if person is None:
        return False, None
    if person.id != pending.payload.get("person_id"):
        await reply_refusal(update, context, Reason.FORBIDDEN)
        return False, None
    return True, person


async def _pending_for(update: Update, context: Context) -> Pending | None:
    """The confirmation a press refers to, once the presser is known to own it."""
    query = update.callback_query
    assert query is not None and query.data is not None
    pending = _pending(services(context), await batched_read(context, _rows_of, query.data[3:]))
    if pending is None:
        await answer_press(query, refusal(Reason.EXPIRED), show_alert=True)
        return None
    if pending.owner_user_id != query.from_user.id:
        await answer_press(query, refusal(Reason.FORBIDDEN), show_alert=True)
        await reply_refusal(update, context, Reason.FORBIDDEN)
        return None
    if pending.used and pending.result is not None and not _acted(update, pending):
        await answer_press(query, f"{ALREADY_DONE}：{pending.result}"[:190])
        return None
    return pending


def _acted(update: Update, pending: Pending) -> bool:
    """Whether this very update recorded the token's outcome: it is Telegram's redelivery of
    a press whose replica stopped before answering, so the outcome was perhaps never shown."""
    return pending.claimed_by is not None and pending.claimed_by == update_marker(update)


async def on_confirm(update: Update, context: Context) -> None:
    """确认 pressed: re-authorise, execute once, edit the summary to the outcome."""
    pending = await _pending_for(update, context)
    if pending is None:
        return
    svc = services(context)
    if pending.expired and not pending.used:
        text = refusal(Reason.EXPIRED, {"ttl_seconds": svc.settings.confirmation_ttl_seconds})
        if await call(_claim, svc, pending.token, text):
            await _finish(update, text, Reason.EXPIRED)
        else:
            await answer_press(update.callback_query, ALREADY_DONE)  # type: ignore[arg-type]
        return
    if pending.result is not None and pending.action not in _PINNED:
        await _finish(update, pending.result)  # a redelivery of the press that acted (_acted)
        return
    ok, person = await _authorise(update, context, pending)
    if not ok:
        await answer_press(update.callback_query)  # type: ignore[arg-type]
        return
    if pending.action in _PINNED:  # a redelivery replays the first Decision by its key
        await _run_pinned(update, context, replace(pending, marker=update_marker(update)),
                          person)
        return
    # Claim before executing, so a racing 取消 cannot also win. Losing the claim to another
    # 确认 (running, or dead with no outcome) is fine: the same key makes re-running safe.
    if not pending.used and not await call(_claim, svc, pending.token, None):
        latest = await call(_load, svc, pending.token)
        if latest is None or latest.result is not None:
            await answer_press(update.callback_query, ALREADY_DONE)  # type: ignore[arg-type]
            return
    try:
        outcome = await _EXECUTORS[pending.action](context, pending, person,
                                                   f"confirm:{pending.token}")
    except Exception:
        # Give the token back: a later press re-runs under the same idempotency key,
        # which the domain replays instead of doing the action twice.
        await call(_record, svc, pending.token, None, release=True)
        raise
    if not await call(_record, svc, pending.token, outcome.text, by=update_marker(update)):
        await answer_press(update.callback_query, ALREADY_DONE)  # type: ignore[arg-type]
        return
    await _finish(update, outcome.text, outcome.code)
    for user_id, text in outcome.notices:
        await notify(context, user_id, text)


async def _run_pinned(update: Update, context: Context, pending: Pending, person: Any) -> None:
    """Claim, execute and record in one transaction; tell others only the first time."""
    try:
        outcome = await _EXECUTORS[pending.action](context, pending, person,
                                                   f"confirm:{pending.token}")
    except AlreadyClaimed:
        await answer_press(update.callback_query, ALREADY_DONE)  # type: ignore[arg-type]
        return
    await _finish(update, outcome.text, outcome.code)
    if outcome.fresh is not None:
        text, token, label = outcome.fresh
        body, buttons = summary_message(context, token, text, label)
        user = update.effective_user
        assert user is not None
        await notify(context, user.id, body, buttons)
    for user_id, text in outcome.notices:
        await notify(context, user_id, text)


async def on_cancel(update: Update, context: Context) -> None:
    """取消 pressed: mark the token used without doing anything."""
    pending = await _pending_for(update, context)
    if pending is None:
        return
    if await call(_claim, services(context), pending.token, CANCELLED):
        await _finish(update, CANCELLED)
    else:
        await answer_press(update.callback_query, ALREADY_DONE)  # type: ignore[arg-type]


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The 确认 (cf:) and 取消 (cx:) buttons."""
    if app.bot_data.get("confirm_registered"):
        return
    app.bot_data["confirm_registered"] = True
    app.add_handler(CallbackQueryHandler(on_confirm, pattern=r"^cf:"))
    app.add_handler(CallbackQueryHandler(on_cancel, pattern=r"^cx:"))
