"""Staff work on the knowledge base: /unanswered, /teach and /stats (every use is audited)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, func, select
from telegram import Update
from telegram.ext import Application, CommandHandler

from bot import learned, render
from bot.context import (
    Context,
    Services,
    call,
    is_private,
    is_staff,
    reply,
    reply_refusal,
    services,
)
from bot.state import Feedback, LearnedPhrasing, Link, UnansweredQuestion
from rules.codes import Reason
from rules.identity import clean_text, redact
from rules.schema import Binding, FamilyAccount, Note, Person

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
    with svc.sessions.begin() as s:
        s.add(Note(at=svc.clock.now(), actor=f"tg:{user_id}", action=f"staff_{action}"))


async def unanswered(update: Update, context: Context) -> None:
    """Staff: the most recent questions the knowledge base could not answer (masked)."""
    if not await _staff_only(update, context, "unanswered"):
        return
    if context.args:
        await dismiss(update, context, list(context.args))
        return
    rows = await call(recent_unanswered, services(context), 30)
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
    gone = await call(dismiss_unanswered, svc, sorted({int(n) for n in numbers}),
                      user.id if user else None)
    missing = sorted({int(n) for n in numbers} - set(gone))
    text = f"已删除 {len(gone)} 个问题：" + "、".join(f"#{i}" for i in gone) if gone else ""
    if missing:
        text += ("\n" if text else "") + "没有这些编号的未解答问题（或已加入知识库）：" + \
            "、".join(f"#{i}" for i in missing)
    await reply(update, context, text)


def dismiss_unanswered(svc: Services, ids: list[int], user_id: int | None) -> list[int]:
    """Delete those unanswered questions that were not taught; the ids deleted (audited)."""
    taught = select(LearnedPhrasing.id).where(
        LearnedPhrasing.unanswered_id == UnansweredQuestion.id)
    with svc.sessions.begin() as s:
        found = list(s.scalars(select(UnansweredQuestion.id).where(
            UnansweredQuestion.id.in_(ids), ~taught.exists()).order_by(UnansweredQuestion.id)))
        if found:
            s.execute(delete(UnansweredQuestion).where(UnansweredQuestion.id.in_(found)))
        s.add(Note(at=svc.clock.now(), actor=f"tg:{user_id}", action="staff_unanswered_dismiss",
                   details=" ".join(f"#{i}" for i in found) or "none"))
    log.info("staff %s dismissed unanswered %s", user_id, found)
    return found


def recent_unanswered(svc: Services, limit: int) -> list[UnansweredQuestion]:
    """The newest questions not yet taught to the knowledge base."""
    taught = select(LearnedPhrasing.id).where(
        LearnedPhrasing.unanswered_id == UnansweredQuestion.id)
    with svc.sessions() as s:
        return list(s.scalars(select(UnansweredQuestion).where(~taught.exists())
                              .order_by(UnansweredQuestion.id.desc()).limit(limit)))


async def teach(update: Update, context: Context) -> None:
    """Staff: /teach 编号 条目ID makes an unanswered question a phrasing of that entry."""
    if not await _staff_only(update, context, "teach"):
        return
    args = context.args or []
    number = clean_text(args[0]).lstrip("#") if args else ""  # full-width digits too
    if len(args) != 2 or not (number.isascii() and number.isdigit()) or len(number) > 9:
        await reply(update, context, render.USAGE["teach"])
        return
    user = update.effective_user
    assert user is not None  # _staff_only checked the sender
    svc = services(context)
    done = await call(learned.teach, svc, int(number), args[1].strip(), user.id)
    log.info("staff %s taught #%s → %s: %s", user.id, number, done.entry_id, done.outcome)
    await reply(update, context, taught_text(svc, int(number), done))


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
    c = await call(counts, svc)
    asked = svc.counters
    text = (f"参保人：{c['people']}\n已验证身份的用户：{c['links']}\n"
            f"家庭共济账户：{c['accounts']}\n有效绑定：{c['bindings']}\n"
            f"已回答的问题（本进程启动以来）：{asked['answer']}，推荐候选：{asked['suggest']}\n"
            f"未解答的问题（累计）：{c['unanswered']}，已加入知识库：{c['taught']}\n"
            f"反馈：👍 {c['helpful']} / 👎 {c['unhelpful']}")
    await reply(update, context, text)


def counts(svc: Services) -> dict[str, int]:
    """Row counts for /stats."""
    def n(stmt: Any) -> int:
        return int(s.scalar(stmt) or 0)

    with svc.sessions() as s:
        return {
            "people": n(select(func.count()).select_from(Person)),
            "links": n(select(func.count()).select_from(Link)),
            "accounts": n(select(func.count()).select_from(FamilyAccount)),
            "bindings": n(select(func.count()).select_from(Binding)
                          .where(Binding.removed_at.is_(None))),
            "unanswered": n(select(func.count()).select_from(UnansweredQuestion)),
            "taught": n(select(func.count()).select_from(LearnedPhrasing)),
            "helpful": n(select(func.count()).select_from(Feedback).where(Feedback.helpful)),
            "unhelpful": n(select(func.count()).select_from(Feedback)
                           .where(Feedback.helpful.is_(False))),
        }


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """/unanswered, /teach and /stats."""
    app.add_handler(CommandHandler("unanswered", unanswered))
    app.add_handler(CommandHandler("teach", teach))
    app.add_handler(CommandHandler("stats", stats))
