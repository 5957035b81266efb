"""The same quality figures for a naive baseline, next to the matcher's: rapidfuzz WRatio over
the raw questions and phrasings (no normalisation, no segmentation, no guards), same bands.

    .venv/bin/python bench/baseline.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from rapidfuzz import fuzz, process

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from knowledge import KnowledgeBase, Matcher, load_knowledge  # noqa: E402
from knowledge.evaluation import Verdict, evaluate, load_eval_set, matcher_judge  # noqa: E402

EVAL_SET = REPO / "tests" / "knowledge" / "eval_set.yaml"
ANSWER, SUGGEST, MAX_SUGGESTIONS = 72.0, 50.0, 3


def baseline_judge(kb: KnowledgeBase):
    texts = [(e.id, t) for e in kb.entries for t in (e.question, *e.phrasings)]
    choices = [t for _, t in texts]

    def judge(q: str) -> Verdict:
        ranked: list[tuple[str, float]] = []
        for _, score, k in process.extract(q, choices, scorer=fuzz.WRatio, limit=60):
            if texts[k][0] not in (e for e, _ in ranked):
                ranked.append((texts[k][0], round(score, 1)))
        if ranked and ranked[0][1] >= ANSWER:
            return Verdict([ranked[0][0]], ranked[0][0], ranked)
        return Verdict([e for e, s in ranked if s >= SUGGEST][:MAX_SUGGESTIONS], None, ranked)

    return judge


def main() -> None:
    if not EVAL_SET.exists():
        print(f"{EVAL_SET} not found: nothing to measure")
        return
    kb = load_knowledge()
    questions, off_topic = load_eval_set(EVAL_SET)
    matcher = Matcher(kb, answer_threshold=ANSWER, suggest_threshold=SUGGEST,
                      max_suggestions=MAX_SUGGESTIONS)
    print(evaluate(baseline_judge(kb), questions, off_topic, SUGGEST).summary("baseline"))
    print(evaluate(matcher_judge(matcher), questions, off_topic, SUGGEST).summary("matcher"))


if __name__ == "__main__":
    main()
