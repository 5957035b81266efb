"""A person when needed: 人工 / 转人工 / /human hand the conversation to support staff.

Staff (``staff_ids``) get the question and the user's recent questions, masked, with buttons:
回复 (their next message is relayed to the user as the assistant's message), 关闭, and 教给知识库
(the likely entries as buttons; one tap teaches the question like /teach). /tickets lists open
hand-offs. State is in the database (bot/support.py), so any replica takes any button.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import render, store, support
from bot.context import (
    Batcher,
    Context,
    Services,
    answer_press,
    call,
    is_private,
    is_staff,
    linked_person,
    notify,
    reply,
    reply_refusal,
    services,
)
from rules.codes import Reason
from rules.identity import redact

log = logging.getLogger(__name__)

AWAIT_REPLY = "handoff_reply"
HANDED = ("已为您转接人工客服（工单 #{id}），工作人员看到后会在这里回复您，请稍候。\n"
          "在此期间您也可以继续提问。")
ADDED = "您的问题已补充到人工工单 #{id}，工作人员会尽快在这里回复您。"
TOO_MANY = ("今天转人工的次数已达上限（{n}次）。您可以继续直接提问，或拨打医保服务热线 "
            "{hotline} 咨询。")
STAFF_PREFIX = "💬 人工客服回复：\n"
CLOSED_NOTICE = "您的人工咨询（工单 #{id}）已结束。如还有问题，可以直接提问或再次发送“人工”。"


# ---- the user's side ----------------------------------------------------------------------

async def hand_off(update: Update, context: Context, question: str) -> None:
    """Open (or add to) the user's hand-off and tell every staff member."""
    user = update.effective_user
    if user is None:
        return
    if not is_private(update):
        await reply_refusal(update, context, Reason.PRIVATE_ONLY)
        return
    svc = services(context)
    opened = await call(support.open_handoff, svc, user.id, question)
    if opened.outcome == "too_many" or opened.ticket is None:
        await reply(update, context, TOO_MANY.format(n=support.MAX_PER_DAY,
                                                     hotline=svc.settings.knowledge.hotline))
        return
    t = opened.ticket
    await reply(update, context, (HANDED if opened.outcome == "opened" else ADDED).format(id=t.id))
    person = await linked_person(context, user.id)
    who = (f"{render.who(person.name, person.id_number)}，{svc.policies.get(person.region).name}"
           if person is not None else "未验证身份的用户")
    text = render.lines(
        f"🙋 转人工 #{t.id}{'（补充）' if opened.outcome == 'added' else ''}",
        f"来自：{who}（tg:{user.id}）",
        f"问题：{redact(t.question)}",
        ("最近的对话（已脱敏）：\n" + opened.context) if opened.context else "最近没有其他提问。",
    )
    for staff_id in svc.settings.staff_ids:
        await notify(context, staff_id, text, ticket_buttons(t.id))


async def human(update: Update, context: Context) -> None:
    """/human [问题]."""
    await hand_off(update, context, " ".join(context.args or []))


def ticket_buttons(ticket_id: int) -> list[list[tuple[str, str]]]:
    return [[("回复", f"ho:r:{ticket_id}"), ("关闭", f"ho:c:{ticket_id}")],
            [("教给知识库", f"ho:t:{ticket_id}")]]


async def intercept(update: Update, context: Context) -> bool:
    """Private free text that is not a question: a staff member's awaited reply, or 人工."""
    message, user = update.effective_message, update.effective_user
    if message is None or not message.text or user is None:
        return False
    if is_staff(context, user.id):
        pending = await call(awaited_ticket, services(context), user.id)
        if pending is not None:
            await relay(update, context, pending, message.text)
            return True
    request = support.handoff_request(message.text)
    if request is None:
        return False
    await hand_off(update, context, request)
    return True


# ---- the staff side -----------------------------------------------------------------------

def awaited_ticket(svc: Services, staff_id: int) -> int | None:
    """The ticket a staff member pressed 回复 for (their next message is the reply)."""
    data = store.state_of(svc, staff_id, AWAIT_REPLY)
    if data is None:
        return None
    return int(data.get("ticket", 0)) or None


def await_reply(svc: Services, staff_id: int, ticket_id: int | None) -> None:
    """The staff member's next message answers ``ticket_id`` (None: nothing awaited)."""
    if ticket_id is None:
        store.drop_state(svc, staff_id)
    else:
        store.put_state(svc, staff_id, AWAIT_REPLY, {"ticket": ticket_id})


async def relay(update: Update, context: Context, ticket_id: int, text: str) -> None:
    """Send a staff member's text to the ticket's user as the assistant's message."""
    from bot.handlers.staff import record

    svc, staff = services(context), update.effective_user
    assert staff is not None
    await call(await_reply, svc, staff.id, None)
    t = await call(support.count_reply, svc, ticket_id)
    if t is None or t.status != "open":
        await reply(update, context, f"工单 #{ticket_id} 已经关闭（或不存在），没有发送。")
        return
    await context.bot.send_message(t.user_id, STAFF_PREFIX + text)
    await record(context, staff.id, "handoff_reply", f"#{ticket_id} {len(text)} chars")
    await reply(update, context, f"已发送给用户（工单 #{ticket_id}）。",
                [[("继续回复", f"ho:r:{ticket_id}"), ("关闭", f"ho:c:{ticket_id}")],
                 [("教给知识库", f"ho:t:{ticket_id}")]])


async def tickets(update: Update, context: Context) -> None:
    """Staff: /tickets — the open hand-offs, each with its buttons."""
    from bot.handlers.staff import record, staff_only

    staff_id = await staff_only(update, context)
    if staff_id is None:
        return
    rows = await call(support.open_tickets, services(context))
    await record(context, staff_id, "tickets", f"{len(rows)} open")
    if not rows:
        await reply(update, context, "目前没有待处理的转人工工单。")
        return
    lines = [f"待处理的转人工工单（{len(rows)}）："]
    buttons = []
    for t in rows:
        lines.append(f"#{t.id} {t.opened_at:%m-%d %H:%M} tg:{t.user_id} "
                     f"{redact(t.question)[:120]}（已回复{t.replies}次）")
        buttons.append([(f"回复 #{t.id}", f"ho:r:{t.id}"), (f"关闭 #{t.id}", f"ho:c:{t.id}"),
                        (f"教给知识库 #{t.id}", f"ho:t:{t.id}")])
    await reply(update, context, "\n".join(lines), buttons[:10])


async def button(update: Update, context: Context) -> None:
    """ho:r|c|t:ID and ho:l:ID:ENTRY (teach the ticket to that entry) — staff only."""
    from bot.handlers.reports import taught_text, undo_buttons
    from bot.handlers.staff import record

    query = update.callback_query
    assert query is not None and query.data is not None
    if not is_staff(context, query.from_user.id):
        await answer_press(query, "仅限工作人员。")
        return
    await answer_press(query)
    parts = query.data.split(":", 3)
    svc, staff_id = services(context), query.from_user.id
    try:
        ticket_id = int(parts[2])
    except (IndexError, ValueError):
        return
    t = await call(support.ticket, svc, ticket_id)
    if t is None:
        await reply(update, context, f"没有工单 #{ticket_id}。")
        return
    action = parts[1]
    if action == "r":
        if t.status != "open":
            await reply(update, context, f"工单 #{ticket_id} 已经关闭。")
            return
        await call(await_reply, svc, staff_id, ticket_id)
        await reply(update, context, f"请发送给用户的回复（工单 #{ticket_id}），"
                    "您的下一条消息会原样转给用户。发送 /cancel 取消。")
    elif action == "c":
        closed, t = await call(support.close, svc, ticket_id, staff_id)
        if closed and t is not None:
            await record(context, staff_id, "handoff_close", f"#{ticket_id}")
            await notify(context, t.user_id, CLOSED_NOTICE.format(id=ticket_id))
        await reply(update, context, f"工单 #{ticket_id} 已关闭。" if closed
                    else f"工单 #{ticket_id} 已经关闭。")
    elif action == "t":
        entries = await call(support.candidates, svc, t.question.split("\n")[0])
        rows = [[(render_label(e.question), f"ho:l:{ticket_id}:{e.id}")] for e in entries
                if len(f"ho:l:{ticket_id}:{e.id}".encode()) <= 64]
        if not rows:
            await reply(update, context, "知识库里没有找到相近的条目，请用 /teach 编号 条目ID。")
            return
        await reply(update, context, f"把工单 #{ticket_id} 的问题“{redact(t.question)[:200]}”"
                    "加为哪条问答的问法？（加入后工单关闭）", rows)
    elif action == "l" and len(parts) == 4:
        number, done = await call(support.teach_ticket, svc, ticket_id, parts[3], staff_id)
        if number is None or done is None:
            return
        await record(context, staff_id, "handoff_teach", f"#{ticket_id} → {parts[3]}")
        await reply(update, context, taught_text(svc, number, done),
                    undo_buttons(number, done))


def render_label(text: str) -> str:
    return text if len(text) <= 40 else text[:39] + "…"


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """/human, /tickets and the ho: buttons."""
    app.add_handler(CommandHandler("human", human))
    app.add_handler(CommandHandler("tickets", tickets))
    app.add_handler(CallbackQueryHandler(button, pattern=r"^ho:"))


def question_batcher(svc: Services) -> Batcher[tuple[int | None, str, str, str | None], None]:
    """Concurrent questions share one insert (see :class:`bot.context.Batcher`)."""
    found = svc.batchers.get("questions")
    if found is None:
        found = svc.batchers["questions"] = Batcher(lambda rows: support.log_questions(svc, rows))
    return found


async def log_question(svc: Services, update: Update, question: str, answer: Any) -> None:
    """Keep the question and how it was answered (masked), for hand-offs and /stats."""
    if not question:
        return
    user = update.effective_user
    entry = answer.entry.id if getattr(answer, "entry", None) is not None else None
    try:
        await question_batcher(svc).run((user.id if user else None, question, answer.kind, entry))
    except Exception:  # the answer matters more than its statistics
        log.warning("could not log a question", exc_info=True)
