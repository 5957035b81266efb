"""Quality figures on a labelled question set (``tests/knowledge/eval_set.yaml``).

The set: ``questions: [{q, entry}]`` (in-domain, with the entry that should answer) and
``off_topic: [q]`` (must not be answered). Any ranker can be measured: it maps a question to
its ranked candidates ``[(entry_id, score)]`` and its verdict (answered entry, or None).

- top-1: the first thing the user is shown (the answer, or the first "did you mean") is right;
- top-3: the right entry is among the first three candidates scoring ≥ suggest_threshold;
- answered: the question got a direct answer, and it is the right one; wrong: a wrong answer;
- off-topic refused: an off-topic question got neither an answer nor suggestions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Ranked = list[tuple[str, float]]


@dataclass(frozen=True)
class Verdict:
    shown: list[str]          # entry ids shown to the user: [answer] or the suggestions
    answered: str | None      # the entry answered directly, if any
    ranked: Ranked            # candidates, best first, with scores


@dataclass
class Report:
    total: int = 0
    top1: int = 0
    top3: int = 0
    answered: int = 0
    wrong: int = 0
    off_total: int = 0
    off_refused: int = 0
    misses: list[tuple[str, str, list[str]]] = field(default_factory=list)
    leaks: list[tuple[str, list[str]]] = field(default_factory=list)

    def rate(self, name: str) -> float:
        base = self.off_total if name == "off_refused" else self.total
        return getattr(self, name) / base if base else 0.0

    def summary(self, label: str) -> str:
        return (f"{label:<10} top-1 {self.rate('top1'):6.1%}  top-3 {self.rate('top3'):6.1%}  "
                f"answered-right {self.rate('answered'):6.1%}  answered-wrong "
                f"{self.rate('wrong'):6.1%}  off-topic refused {self.rate('off_refused'):6.1%}  "
                f"(n={self.total}, off-topic n={self.off_total})")


def load_eval_set(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    questions = [(str(item["q"]), str(item["entry"])) for item in data.get("questions") or []]
    off_topic = [str(q) for q in data.get("off_topic") or []]
    return questions, off_topic


def evaluate(judge: Callable[[str], Verdict], questions: Sequence[tuple[str, str]],
             off_topic: Sequence[str], suggest_threshold: float) -> Report:
    report = Report()
    for q, target in questions:
        v = judge(q)
        report.total += 1
        if v.shown[:1] == [target]:
            report.top1 += 1
        else:
            report.misses.append((q, target, [f"{e}:{s:g}" for e, s in v.ranked[:3]]))
        if target in [e for e, s in v.ranked[:3] if s >= suggest_threshold]:
            report.top3 += 1
        if v.answered == target:
            report.answered += 1
        elif v.answered is not None:
            report.wrong += 1
    for q in off_topic:
        v = judge(q)
        report.off_total += 1
        if not v.shown:
            report.off_refused += 1
        else:
            report.leaks.append((q, v.shown))
    return report


def matcher_judge(matcher: Any) -> Callable[[str], Verdict]:
    """A judge for ``knowledge.Matcher``."""
    def judge(q: str) -> Verdict:
        answer = matcher.ask(q)
        ranked = [(s.entry.id, s.score) for s in matcher.rank(q)[:3]]
        if answer.kind == "answer":
            return Verdict([answer.entry.id], answer.entry.id, ranked)
        return Verdict([s.entry.id for s in answer.suggestions], None, ranked)
    return judge


@contextmanager
def held_out(matcher: Any, k: int) -> Iterator[Any]:
    """Score as if the index's phrasing ``k`` were not in the KB: its entry's term and bigram
    bags are rebuilt from the entry's other phrasings for the duration (leave-one-out)."""
    idx = matcher.index
    doc = idx.docs[k]
    others = [d for j, d in enumerate(idx.docs) if d.entry == doc.entry and d.positive and j != k]
    saved = idx.bags[doc.entry], idx.gram_bags[doc.entry]
    idx.bags[doc.entry] = idx.bag(others)
    idx.gram_bags[doc.entry] = idx.bag(others, by_grams=True)
    matcher._hold_out = k
    try:
        yield doc
    finally:
        matcher._hold_out = -1
        idx.bags[doc.entry], idx.gram_bags[doc.entry] = saved
