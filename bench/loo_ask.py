"""Leave-one-phrasing-out quality on the KB itself: each phrasing is asked with that phrasing
(and its terms and bigrams in its entry's vocabulary) taken out of the index, so the matcher
must find its entry from the other phrasings. Harsher than the eval set; with the development
set (bench/dev_eval.py, which also reports the bands) it places the score calibration.

    .venv/bin/python bench/loo_ask.py
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from knowledge import Matcher, load_knowledge  # noqa: E402
from knowledge.evaluation import held_out  # noqa: E402


def main() -> None:
    matcher = Matcher(load_knowledge(), answer_threshold=72, suggest_threshold=50,
                      max_suggestions=3)
    idx = matcher.index
    total = top1 = top3 = 0
    right_scores: list[float] = []
    for k, doc in enumerate(idx.docs):
        if not doc.positive or doc.entry in idx.outside:   # out-of-scope topics: no answer
            continue
        with held_out(matcher, k):
            ranked = [s.entry.id for s in matcher.rank(doc.text)[:3]]
            scores = matcher.rank(doc.text)[:1]
        want = idx.entries[doc.entry].id
        total += 1
        top1 += ranked[:1] == [want]
        top3 += want in ranked
        if ranked[:1] == [want] and scores:
            right_scores.append(scores[0].score)
    print(f"leave-one-phrasing-out: n={total} top-1 {top1 / total:.1%} top-3 {top3 / total:.1%}")
    deciles = [round(x, 1) for x in statistics.quantiles(right_scores, n=10)]
    print(f"reported score of right top-1 candidates, deciles: {deciles}")


if __name__ == "__main__":
    main()
