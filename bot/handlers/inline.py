"""Inline mode: ``@bot 问题`` in any chat offers the best-matching answers."""

from __future__ import annotations

from typing import Any

from telegram import InlineQueryResultArticle, InputTextMessageContent, Update
from telegram.ext import Application, InlineQueryHandler

from bot import learned
from bot.context import Context, call, services
from rules.identity import clean_text

MAX_RESULTS = 5
MAX_ANSWER = 3500


def results_for(svc: Any, question: str) -> list[InlineQueryResultArticle]:
    """The answer and its suggestions as articles (best first, no duplicates)."""
    answer = svc.matcher.ask(question)
    if answer.outside is not None:
        # a neighbouring topic the KB does not cover: the referral, to pass on as it is
        topic = answer.outside
        return [InlineQueryResultArticle(
            id=topic.id[:64], title=f"不在家庭共济范围：{topic.question}"[:100],
            description=topic.answer.replace("\n", " ")[:120],
            input_message_content=InputTextMessageContent(answer.text[:MAX_ANSWER]),
        )]
    entries = [answer.entry] if answer.kind == "answer" and answer.entry is not None else []
    entries += [s.entry for s in answer.suggestions]
    seen: set[str] = set()
    out = []
    for entry in entries:
        if entry.id in seen:
            continue
        seen.add(entry.id)
        body = f"问：{entry.question}\n{entry.answer.strip()}"[:MAX_ANSWER]
        out.append(InlineQueryResultArticle(
            id=entry.id[:64], title=entry.question[:100],
            description=entry.answer.strip().replace("\n", " ")[:120],
            input_message_content=InputTextMessageContent(body),
        ))
        if len(out) >= MAX_RESULTS:
            break
    return out


async def inline_query(update: Update, context: Context) -> None:
    """Answer an inline query with the top knowledge-base entries."""
    query = update.inline_query
    assert query is not None
    question = clean_text(query.query)[:500]
    svc = services(context)
    await learned.keep_current(svc)
    results = await call(results_for, svc, question) if question else []
    await query.answer(results, cache_time=60)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Inline queries."""
    app.add_handler(InlineQueryHandler(inline_query))
