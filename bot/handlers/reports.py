"""Staff work on the knowledge base: /unanswered, /teach and /stats (every use is audited)."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import learned, render, store
from bot.context import (
    Context,
    Services,
    answer_press,
    call,
    is_private,
    is_staff,
    reply,
    reply_refusal,
    services,
)
from rules.codes import Reason
from rules.identity import clean_text, redact

log = logging.getLogger(__name__)


async def _staff_only(update: Update, context: Context, action: str) -> bool:
    """Staff, in a private chat (the reports quote what people asked); the use is recorded."""
    user = update.effective_user
    uid = user.id if user else None
    if not is_staff(context, uid):
        log.info("staff command /%s refused for user %s", action, uid)
        await reply_refusal(update, context, Reason.FORBIDDEN)
        return False
    if not is_private(update):
        await reply_refusal(update, context, Reason.PRIVATE_ONLY)
        return False
    await call(record_staff_action, services(context), uid, action)
    return True


def record_staff_action(svc: Services, user_id: int | None, action: str) -> None:
    """Every staff action is logged and kept in the audit log."""
    log.info("staff action /%s by user %s", action, user_id)
    store.note(svc, user_id, action)


async def unanswered(update: Update, context: Context) -> None:
    """Staff: the most recent questions the knowledge base could not answer (masked)."""
    if not await _staff_only(update, context, "unanswered"):
        return
    if context.args:
        await dismiss(update, context, list(context.args))
        return
    rows = await call(store.recent_unanswered, services(context), 30)
    if not rows:
        await reply(update, context, "目前没有未解答的问题。")
        return
    lines = [f"最近{len(rows)}个未解答的问题（已脱敏）："]
    for r in rows:
        best = f"（最接近：{r.best_entry}，{r.score:.0f}分）" if r.best_entry else ""
        lines.append(f"#{r.id} {r.at:%m-%d %H:%M} {redact(r.question)[:200]}{best}")
    lines.append("把其中一个问题加为某条问答的问法：/teach 编号 条目ID")
    lines.append("删除不需要处理的问题（如刷屏、无意义内容）：/unanswered 删除 编号 [编号…]")
    await reply(update, context, "\n".join(lines))


DISMISS_WORDS = frozenset({"删除", "忽略", "del", "delete", "dismiss", "rm"})
DISMISS_USAGE = ("用法：/unanswered 删除 编号 [编号…]，例如 /unanswered 删除 12 15\n"
                 "（一次最多 50 个；已加入知识库的问题不能删除）")


async def dismiss(update: Update, context: Context, args: list[str]) -> None:
    """Staff: /unanswered 删除 编号… removes questions nobody needs to answer (floods, noise)."""
    numbers = [clean_text(a).lstrip("#＃") for a in args[1:]]
    if (clean_text(args[0]).lower() not in DISMISS_WORDS or not numbers or len(numbers) > 50
            or not all(n.isascii() and n.isdigit() and len(n) <= 9 for n in numbers)):
        await reply(update, context, DISMISS_USAGE)
        return
    user = update.effective_user
    svc = services(context)
    gone = await call(store.dismiss_unanswered, svc, sorted({int(n) for n in numbers}),
                      user.id if user else None)
    missing = sorted({int(n) for n in numbers} - set(gone))
    text = f"已删除 {len(gone)} 个问题：" + "、".join(f"#{i}" for i in gone) if gone else ""
    if missing:
        text += ("\n" if text else "") + "没有这些编号的未解答问题（或已加入知识库）：" + \
            "、".join(f"#{i}" for i in missing)
    await reply(update, context, text)


async def teach(update: Update, context: Context) -> None:
    """Staff: /teach 编号 条目ID makes an unanswered question a phrasing of that entry."""
    if not await _staff_only(update, context, "teach"):
        return
    args = context.args or []
    number = clean_text(args[0]).lstrip("#＃") if args else ""  # full-width digits too
    if len(args) not in (1, 2) or not (number.isascii() and number.isdigit()) or len(number) > 9:
        await reply(update, context, render.USAGE["teach"])
        return
    user = update.effective_user
    assert user is not None  # _staff_only checked the sender
    if len(args) == 1:  # no entry id: the matcher's likely entries as buttons
        await offer_entries(update, context, int(number))
        return
    await teach_and_reply(update, context, int(number), args[1].strip(), user.id)


async def teach_and_reply(update: Update, context: Context, number: int, entry_id: str,
                          staff_id: int) -> None:
    svc = services(context)
    done = await call(learned.teach, svc, number, entry_id, staff_id)
    log.info("staff %s taught #%s → %s: %s", staff_id, number, done.entry_id, done.outcome)
    await reply(update, context, taught_text(svc, number, done), undo_buttons(number, done))


def undo_buttons(number: int, done: learned.Taught) -> list[list[tuple[str, str]]]:
    """An 撤销 button under a question that was just taught."""
    return [[("撤销", f"ut:{number}")]] if done.outcome == "taught" else []


async def offer_entries(update: Update, context: Context, number: int) -> None:
    """/teach 编号: the entries the question most likely belongs to, as buttons."""
    from bot import support

    svc = services(context)
    question = await call(store.unanswered_text, svc, number)
    if question is None:
        await reply(update, context,
                    f"没有编号为 #{number} 的未解答问题，发送 /unanswered 查看编号。")
        return
    entries = await call(support.candidates, svc, question)
    rows = [[(e.question if len(e.question) <= 40 else e.question[:39] + "…",
              f"tc:{number}:{e.id}")] for e in entries if len(f"tc:{number}:{e.id}") <= 64]
    if not rows:
        await reply(update, context, f"#{number}“{question[:200]}”没有相近的条目。"
                    + render.USAGE["teach"].split("\n", 1)[1])
        return
    await reply(update, context, f"把 #{number}“{question[:200]}”加为哪条问答的问法？", rows)


async def untaught(update: Update, context: Context) -> None:
    """Staff: /untaught 编号 undoes /teach (the question is unanswered again)."""
    if not await _staff_only(update, context, "untaught"):
        return
    args = context.args or []
    number = clean_text(args[0]).lstrip("#＃") if args else ""
    if len(args) != 1 or not (number.isascii() and number.isdigit()) or len(number) > 9:
        await reply(update, context, render.USAGE["untaught"])
        return
    user = update.effective_user
    assert user is not None
    await reply(update, context, await undo(context, int(number), user.id))


async def undo(context: Context, number: int, staff_id: int) -> str:
    entry_id = await call(learned.untaught, services(context), number, staff_id)
    if entry_id is None:
        return f"#{number} 不是已加入知识库的问题，没有可撤销的。"
    return (f"↩️ 已撤销：#{number} 不再是条目 {entry_id} 的问法，重新回到 /unanswered。"
            f"其他副本在{learned.REFRESH_SECONDS:.0f}秒内生效。")


async def teach_button(update: Update, context: Context) -> None:
    """tc:编号:条目ID teaches; ut:编号 undoes (staff only)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    uid = query.from_user.id
    if not is_staff(context, uid) or not is_private(update):
        await answer_press(query, "仅限工作人员在私聊中使用。")
        return
    await answer_press(query)
    kind, _, rest = query.data.partition(":")
    number, _, entry_id = rest.partition(":")
    if not number.isdigit():
        return
    await call(record_staff_action, services(context), uid,
               "teach" if kind == "tc" else "untaught")
    if kind == "tc":
        await teach_and_reply(update, context, int(number), entry_id, uid)
    else:
        await reply(update, context, await undo(context, int(number), uid))


def taught_text(svc: Services, number: int, done: learned.Taught) -> str:
    """What /teach did, and what the knowledge base now makes of the question."""
    if done.outcome == "no_entry":
        return f"没有条目ID {done.entry_id[:64]}。" + render.USAGE["teach"].split("\n", 1)[1]
    if done.outcome == "no_question":
        return f"没有编号为 #{number} 的未解答问题，发送 /unanswered 查看编号。"
    if done.outcome == "already":
        return f"#{number}“{done.question[:200]}”已经是条目 {done.entry_id} 的问法，没有重复添加。"
    answer = done.answer
    if answer is not None and answer.kind == "answer" and answer.entry is not None:
        now = f"直接回答条目 {answer.entry.id}"
    elif answer is not None and answer.suggestions:
        now = "推荐 " + "、".join(s.entry.id for s in answer.suggestions)
    else:
        now = "仍然答不上来"
    return (f"✅ 已把 #{number}“{done.question[:200]}”加为条目 {done.entry_id} 的问法。\n"
            f"现在再问这个问题：{now}。其他副本在{learned.REFRESH_SECONDS:.0f}秒内生效。")


async def stats(update: Update, context: Context) -> None:
    """Staff: counts of people, links, bindings, questions and feedback."""
    if not await _staff_only(update, context, "stats"):
        return
    svc = services(context)
    c = await call(store.counts, svc)
    asked = svc.counters
    text = (f"参保人：{c['people']}\n已验证身份的用户：{c['links']}\n"
            f"家庭共济账户：{c['accounts']}\n有效绑定：{c['bindings']}\n"
            f"已回答的问题（本进程启动以来）：{asked['answer']}，推荐候选：{asked['suggest']}\n"
            f"未解答的问题（累计）：{c['unanswered']}，已加入知识库：{c['taught']}\n"
            f"反馈：👍 {c['helpful']} / 👎 {c['unhelpful']}")
    await reply(update, context, text)
    await send_chart(update, context)


async def send_chart(update: Update, context: Context, days: int = 14) -> None:
    """The last ``days`` days as a bar chart (sendPhoto): questions asked, answered directly,
    handed off to staff, unanswered."""
    from bot import chart, support

    chat = update.effective_chat
    if chat is None:
        return
    rows = await call(support.daily_counts, services(context), days)
    png = await call(chart.bar_chart, [(day, [c[k] for k in support.SERIES]) for day, c in rows])
    total = {k: sum(c[k] for _, c in rows) for k in support.SERIES}
    caption = (f"近{days}天每日问答（蓝：提问 {total['questions']}，绿：直接回答 "
               f"{total['answered']}，橙：转人工 {total['handed_off']}，红：未能回答 "
               f"{total['unanswered']}）")
    await context.bot.send_photo(chat.id, png, caption=caption, filename="stats.png")


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """/unanswered, /teach, /untaught and /stats."""
    app.add_handler(CommandHandler("unanswered", unanswered))
    app.add_handler(CommandHandler("teach", teach))
    app.add_handler(CommandHandler("untaught", untaught))
    app.add_handler(CommandHandler("stats", stats))
    app.add_handler(CallbackQueryHandler(teach_button, pattern=r"^(tc|ut):"))
