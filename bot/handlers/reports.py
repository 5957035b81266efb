"""Staff reports on the knowledge base: /unanswered and /stats (every use is audited)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.context import Context, Services, call, is_staff, reply, reply_refusal, services
from bot.state import Feedback, Link, UnansweredQuestion
from rules.codes import Reason
from rules.identity import redact
from rules.schema import Binding, FamilyAccount, Note, Person

log = logging.getLogger(__name__)


async def _staff_only(update: Update, context: Context, action: str) -> bool:
    user = update.effective_user
    uid = user.id if user else None
    if not is_staff(context, uid):
        log.info("staff command /%s refused for user %s", action, uid)
        await reply_refusal(update, context, Reason.FORBIDDEN)
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
    rows = await call(recent_unanswered, services(context), 30)
    if not rows:
        await reply(update, context, "目前没有未解答的问题。")
        return
    lines = [f"最近{len(rows)}个未解答的问题（已脱敏）："]
    for r in rows:
        best = f"（最接近：{r.best_entry}，{r.score:.0f}分）" if r.best_entry else ""
        lines.append(f"{r.at:%m-%d %H:%M} {redact(r.question)[:200]}{best}")
    await reply(update, context, "\n".join(lines))


def recent_unanswered(svc: Services, limit: int) -> list[UnansweredQuestion]:
    with svc.sessions() as s:
        return list(s.scalars(select(UnansweredQuestion)
                              .order_by(UnansweredQuestion.id.desc()).limit(limit)))


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
            f"未解答的问题（累计）：{c['unanswered']}\n"
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
            "helpful": n(select(func.count()).select_from(Feedback).where(Feedback.helpful)),
            "unhelpful": n(select(func.count()).select_from(Feedback)
                           .where(Feedback.helpful.is_(False))),
        }


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """/unanswered and /stats."""
    app.add_handler(CommandHandler("unanswered", unanswered))
    app.add_handler(CommandHandler("stats", stats))
