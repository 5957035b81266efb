"""Questions in chat: free text, /ask, /why, the faq:/dym:/why:/fb: buttons, staff reports."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import learned, personal, steps, store
from bot.caches import Asker
from bot.context import (
    Buttons,
    Context,
    Services,
    answer_press,
    call,
    is_private,
    lookup_asker,
    reply,
    services,
)
from bot.handlers import reports, support, taps
from rules.codes import ALL_CODES
from rules.identity import clean_text

log = logging.getLogger(__name__)

MAX_LABEL = 40
MAX_QUESTION = 1000
INLINE_MATCH = 64  # questions up to this long are matched on the event loop (see work_out_async)
FALLBACK = "抱歉，这个问题我暂时答不上来。您可以换个说法再问，或拨打医保服务热线 {hotline} 咨询。"
RECORDED = "（您的问题已记录，工作人员会据此补充知识库。）"
NOT_KEPT = ""  # follow_up's note when a fallback question was not kept (bot/limits.py)
SUGGEST = "我不太确定您问的是哪一个，您是不是想问："
ASK_USAGE = "用法：/ask 问题\n例如：/ask 家庭共济能绑定哪些亲属？"
WHY_USAGE = "用法：/why 代码，例如 /why RELATIVE_ALREADY_BOUND（代码在拒绝消息末尾的方括号里）。"
THANKS = {True: "谢谢反馈！", False: "谢谢反馈，我们会改进这条回答。"}


_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\n\t")


def tidy(question: str) -> str:
    """Normalised, control characters dropped (PostgreSQL text cannot hold NUL), bounded."""
    return clean_text(question).translate(_CONTROL)[:MAX_QUESTION]


def label(text: str) -> str:
    """A button label short enough to read on a phone."""
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def entry_buttons(entry: Any, kb: Any, runners_up: Any = (), where: Any = None) -> Buttons:
    """Related-question rows (the matcher's runner-ups first, then the entry's ``related``
    that suit the asker: ``where``, no other region's or place's), then 👍/👎 for this entry."""
    rows: list[list[tuple[str, str]]] = []
    ids = [s.entry.id for s in runners_up] + list(getattr(entry, "related", None) or [])
    found = (_entry(kb, i) for i in dict.fromkeys(ids) if i != entry.id)
    suits = [e for e in found if e is not None and (where is None or where.fits(e))]
    for related in suits[:3]:
        rows.append([(label(related.question), f"faq:{related.id}")])
    rows.append([("👍 有帮助", f"fb:{entry.id}:1"), ("👎 没帮助", f"fb:{entry.id}:0")])
    return rows


def _entry(kb: Any, entry_id: str) -> Any:
    try:
        return kb.entry(entry_id)
    except (KeyError, LookupError):
        return None


def _asker(svc: Services, update: Update) -> Asker | None:
    user = update.effective_user
    return svc.askers.get(user.id, lambda uid: lookup_asker(svc, uid)) if user else None


def follow_up(svc: Services, asker: Asker | None, question: str, answer: Any, *, personal: bool,
              user_id: int | None = None) -> Any:
    """The database work an answer needs: the asker's own figures (bot/personal.py), or
    storing an unanswered question."""
    if answer.kind == "answer" and answer.entry is not None and personal:
        return personal_note(svc, answer.entry, asker)
    if answer.kind == "fallback" and question:
        # a neighbouring topic the KB does not cover (oos_…) tells staff what was asked about
        near = answer.entry or answer.outside
        best = near.id if near is not None else None
        if not store.keep_unanswered(svc, question, best, float(answer.score or 0), user_id):
            return NOT_KEPT
    return None


def needs_follow_up(answer: Any, asker: Asker | None, question: str, *, personal: bool) -> bool:
    """Whether :func:`follow_up` would touch the database (else no worker-thread hop)."""
    if answer.kind == "answer" and answer.entry is not None:
        return personal and asker is not None and personal_note_applies(answer.entry)
    return answer.kind == "fallback" and bool(question)


def work_out(svc: Services, asker: Asker | None, question: str, *, personal: bool,
             user_id: int | None = None) -> tuple[Any, str | None]:
    """All the blocking work for one question, in one worker-thread hop (long questions)."""
    answer = svc.answers.ask(svc.matcher, question, asker.region if asker else None)
    return answer, follow_up(svc, asker, question, answer, personal=personal, user_id=user_id)


async def work_out_async(svc: Services, update: Update, question: str, *, personal: bool
                         ) -> tuple[Any, str | None]:
    """:func:`work_out` with worker-thread hops only for what blocks.

    A short question is matched on the event loop: the matcher is pure CPU (~0.5 ms, ~1 ms at
    :data:`INLINE_MATCH` characters), less than a thread hop plus the GIL hand-over costs, and
    a worker thread would hold the GIL for that time anyway. The asker's link (unless cached)
    and the follow-up writes still run in worker threads.
    """
    user = update.effective_user
    uid = user.id if user else None
    if len(question) > INLINE_MATCH:
        return await call(lambda: work_out(svc, _asker(svc, update), question, personal=personal,
                                           user_id=uid))
    known, asker = svc.askers.peek(user.id) if user else (True, None)
    if not known:
        asker = await call(_asker, svc, update)
    answer = svc.answers.ask(svc.matcher, question, asker.region if asker else None)
    note = None
    if needs_follow_up(answer, asker, question, personal=personal):
        note = await call(follow_up, svc, asker, question, answer, personal=personal,
                          user_id=uid)
    return answer, note


def cached(svc: Services, update: Update, question: str) -> tuple[Any, str | None] | None:
    """Answer from memory when nothing needs the database (no event-loop blocking)."""
    user = update.effective_user
    known, asker = svc.askers.peek(user.id) if user else (True, None)
    answer = svc.answers.peek(question, asker.region if asker else None) if known else None
    if answer is None or answer.kind == "fallback" or answer.entry is None:
        return None
    if asker is not None and is_private(update) and personal_note_applies(answer.entry):
        return None
    return answer, None


async def answer_question(update: Update, context: Context, question: str) -> None:
    """Answer ``question`` from the knowledge base; personal notes only in a private chat."""
    svc = services(context)
    await learned.keep_current(svc)
    question = tidy(question)
    result = cached(svc, update, question)
    if result is None:
        result = await work_out_async(svc, update, question, personal=is_private(update))
    answer, note = result
    svc.counters[answer.kind] += 1
    await support.log_question(svc, update, question, answer)
    if answer.kind == "answer" and answer.entry is not None:
        text = (answer.text or answer.entry.answer).strip()   # may end with a local pointer
        buttons = entry_buttons(answer.entry, svc.kb, getattr(answer, "related", ()),
                                getattr(answer, "where", None))
        if isinstance(note, personal.Personal):  # the asker's own figures first
            text, buttons = note.compose(text), [*note.buttons, *buttons]
        await reply(update, context, text, buttons)
    elif answer.kind == "suggest" and answer.suggestions:
        rows = [[(label(f"{i}. {s.entry.question}"), f"dym:{s.entry.id}")]
                for i, s in enumerate(answer.suggestions, 1)]
        await reply(update, context, answer.text or SUGGEST, rows)
        if is_private(update) and update.effective_user:  # a number reply picks (bot/steps.py)
            await call(steps.remember_picks, svc, update.effective_user.id,
                       [r[0][1] for r in rows])
    elif answer.kind == "smalltalk" or not question:
        await reply(update, context, answer.text or ASK_USAGE)
    else:
        hotline = svc.settings.knowledge.hotline
        await reply(update, context,
                    f"{answer.text or FALLBACK.format(hotline=hotline)}"
                    + ("" if note == NOT_KEPT else f"\n{RECORDED}"))


def personal_note_applies(entry: Any) -> bool:
    """Entries that get the asker's own figures (the table in bot/personal.py)."""
    return personal.applies(entry)


def personal_note(svc: Services, entry: Any, asker: Asker | None) -> personal.Personal | None:
    """The asker's own figures for this entry (bot/personal.py), or None."""
    return personal.answer(svc, entry, asker) if personal.applies(entry) else None


async def ask(update: Update, context: Context) -> None:
    """/ask 问题 — works in groups too."""
    question = " ".join(context.args or [])
    if not tidy(question):
        await reply(update, context, ASK_USAGE)
        return
    await answer_question(update, context, question)


async def show_entry(update: Update, context: Context, entry_id: str) -> None:
    """Show one knowledge-base entry by id (deep link faq_<id>, faq:/dym: buttons)."""
    svc = services(context)
    entry = _entry(svc.kb, entry_id)
    if entry is None:
        await reply(update, context, "没有找到这条问答，可能已更新。请直接发送您的问题。")
        return
    note = None
    if is_private(update) and personal_note_applies(entry):
        note = await call(lambda: personal_note(svc, entry, _asker(svc, update)))
    text = f"问：{entry.question}\n{entry.answer.strip()}"
    buttons = entry_buttons(entry, svc.kb)
    if note is not None:  # the asker's own figures first
        text, buttons = note.compose(text), [*note.buttons, *buttons]
    await reply(update, context, text, buttons)


async def explain(update: Update, context: Context, code: str) -> None:
    """The knowledge-base entry that explains a reason code."""
    code = clean_text(code).upper().strip("[]【】")
    if code not in ALL_CODES:
        await reply(update, context, WHY_USAGE)
        return
    entry = services(context).kb.for_reason(code)
    if entry is None:
        await reply(update, context, f"暂时没有关于 {code} 的说明，请咨询参保地医保部门"
                    f"（也可拨打医保服务热线 {services(context).settings.knowledge.hotline}）。")
        return
    await show_entry(update, context, entry.id)


async def why(update: Update, context: Context) -> None:
    """/why CODE."""
    await explain(update, context, (context.args or [""])[0])


async def button(update: Update, context: Context) -> None:
    """why:CODE, faq:ID, dym:ID and fb:ID:1|0 buttons."""
    query = update.callback_query
    assert query is not None and query.data is not None
    kind, _, rest = query.data.partition(":")
    if kind == "fb":
        entry_id, _, flag = rest.rpartition(":")
        helpful = flag == "1"
        stored = await call(store_feedback, services(context), query.from_user.id, entry_id,
                            helpful)
        await answer_press(query, THANKS[helpful] if stored else "这条问答已更新，请重新提问。")
        return
    await answer_press(query)
    if kind == "why":
        await explain(update, context, rest)
    else:
        await show_entry(update, context, rest)


def store_feedback(svc: Services, user_id: int, entry_id: str, helpful: bool) -> bool:
    """One vote per user and entry (pressing the other button changes it); False if no such
    entry."""
    if _entry(svc.kb, entry_id) is None:
        return False
    store.vote(svc, user_id, entry_id, helpful)
    return True


async def other_message(update: Update, context: Context) -> None:
    """Stickers, photos … in a private chat: say what works."""
    if update.effective_message and is_private(update):
        await reply(update, context,
                    "我只能看懂文字消息和命令。发送 /help 查看能做什么，或直接用文字提问。")


async def unknown_command(update: Update, context: Context) -> None:
    """A command nobody handles (in a private chat)."""
    if is_private(update):
        await reply(update, context, "没有这个命令。发送 /help 查看全部命令，或直接用文字提问。")


taps.provide(show_entry=show_entry)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """/ask /why, the knowledge buttons, and the staff reports."""
    app.add_handler(CommandHandler("ask", ask))
    app.add_handler(CommandHandler("why", why))
    app.add_handler(CallbackQueryHandler(button, pattern=r"^(why|faq|dym|fb):"))
    reports.register(app)


def register_fallback(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Last (after bot/handlers/text.py): unknown commands and other messages get a hint."""
    app.add_handler(MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, unknown_command))
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & ~filters.StatusUpdate.ALL,
                                   other_message))

