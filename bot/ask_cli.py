"""``python -m bot ask``: answer questions from the knowledge base (shared contract, `ask --json`).

No Telegram and no database here: this command must start in well under a second.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from bot.settings import Settings
from knowledge import Answer, KnowledgeError, Matcher, load_knowledge
from knowledge.kb import REGIONS


def _clean(text: str) -> str:
    """Text that can always be printed: lone surrogates (undecodable argv bytes) become '?'."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _questions(args: argparse.Namespace, stdin: TextIO) -> Iterator[str]:
    if args.question:
        yield _clean(" ".join(args.question))
        return
    stream: Iterable[Any] = getattr(stdin, "buffer", stdin)
    for line in stream:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else _clean(line)
        text = text.strip()
        if text:                      # a blank line is not a question
            yield text


def to_json(answer: Answer) -> dict[str, Any]:
    """The contract's ``ask --json`` object."""
    answered = answer.kind == "answer" and answer.entry is not None
    return {
        "question": answer.question,
        "entry": answer.entry.id if answered and answer.entry else None,
        "score": answer.score,
        "answer": answer.text,
        "suggestions": [
            {"entry": s.entry.id, "question": s.entry.question, "score": s.score}
            for s in answer.suggestions
        ],
    }


def to_plain(answer: Answer) -> str:
    lines = [f"问：{answer.question}", f"答：{answer.text}"]
    if answer.kind == "answer" and answer.entry is not None:
        lines.append(f"（条目 {answer.entry.id}，匹配度 {answer.score:g}）")
    elif answer.outside is not None:      # a neighbouring topic the KB does not cover
        lines.append(f"（不在知识库范围：{answer.outside.id}，匹配度 {answer.score:g}）")
    return "\n".join(lines)


def run_ask(settings: Settings, args: argparse.Namespace, *, stdin: TextIO | None = None,
            stdout: TextIO | None = None) -> int:
    """Answer the question argument, or each stdin line; 0 on success, 2 on a bad KB/option."""
    out = stdout or sys.stdout
    region = getattr(args, "region", None) or None
    if region is not None and region not in REGIONS:
        print(f"未知地区 (unknown region): {region}; 可选: {', '.join(REGIONS)}", file=sys.stderr)
        return 2
    try:
        kb = load_knowledge()
    except KnowledgeError as exc:
        print(f"知识库错误 (knowledge base error): {exc}", file=sys.stderr)
        return 2
    if getattr(args, "taught", False):
        from bot.admin_cli import load_taught

        taught = load_taught(settings)
        if taught is None:
            return 1
        kb = kb.with_phrasings(taught)
    k = settings.knowledge
    matcher = Matcher(kb, answer_threshold=k.answer_threshold,
                      suggest_threshold=k.suggest_threshold,
                      max_suggestions=k.max_suggestions, hotline=k.hotline)
    as_json = bool(getattr(args, "json", False))
    first = True
    for question in _questions(args, stdin or sys.stdin):
        answer = matcher.ask(question, region)
        if as_json:
            out.write(json.dumps(to_json(answer), ensure_ascii=False) + "\n")
        else:
            out.write(("" if first else "\n") + to_plain(answer) + "\n")
        out.flush()
        first = False
    return 0

