"""Quality figures on the development set (``tests/knowledge/dev_set.yaml``, written
independently of the eval set; tune against this one, never against the eval set), on the
development hard negatives (``tests/knowledge/dev_offtopic.yaml``: off-topic questions only),
and band-aware leave-one-phrasing-out figures over the KB.

    .venv/bin/python bench/dev_eval.py [-v] [--loo] [--answer 72] [--suggest 50]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from knowledge import Matcher, load_knowledge  # noqa: E402
from knowledge.evaluation import Report, evaluate, load_eval_set, matcher_judge  # noqa: E402

DEV_SET = REPO / "tests" / "knowledge" / "dev_set.yaml"
DEV_OFFTOPIC = REPO / "tests" / "knowledge" / "dev_offtopic.yaml"


def loo_report(matcher: Matcher) -> tuple[Report, float, float]:
    """Each KB phrasing (not the entries' questions) asked with itself, and its terms and bigrams
    in its entry's vocabulary, held out; the report, and top-1 / top-3 of the ranking alone."""
    idx = matcher.index
    report = Report()
    rank1 = rank3 = 0
    questions = {idx.normalizer.normalize(e.question) for e in idx.entries}
    for k, doc in enumerate(idx.docs):
        if not doc.positive or doc.text in questions:
            continue
        others = [d for j, d in enumerate(idx.docs)
                  if d.entry == doc.entry and d.positive and j != k]
        saved = idx.bags[doc.entry], idx.gram_bags[doc.entry]
        idx.bags[doc.entry] = idx.bag(others)
        idx.gram_bags[doc.entry] = idx.bag(others, by_grams=True)
        matcher._hold_out = k
        try:
            answer = matcher.ask(doc.text)
            ranked = [(s.entry.id, s.score) for s in matcher.rank(doc.text)[:3]]
        finally:
            matcher._hold_out = -1
            idx.bags[doc.entry], idx.gram_bags[doc.entry] = saved
        want = idx.entries[doc.entry].id
        shown = ([answer.entry.id] if answer.kind == "answer"
                 else [s.entry.id for s in answer.suggestions])
        report.total += 1
        rank1 += [e for e, _ in ranked[:1]] == [want]
        rank3 += want in [e for e, _ in ranked]
        if shown[:1] == [want]:
            report.top1 += 1
        else:
            report.misses.append((doc.text, want, [f"{e}:{s:g}" for e, s in ranked]))
        if want in [e for e, s in ranked if s >= matcher.suggest_threshold]:
            report.top3 += 1
        if answer.kind == "answer":
            if answer.entry.id == want:
                report.answered += 1
            else:
                report.wrong += 1
    return report, rank1 / max(report.total, 1), rank3 / max(report.total, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--loo", action="store_true", help="also leave-one-phrasing-out")
    parser.add_argument("--answer", type=float, default=72.0)
    parser.add_argument("--suggest", type=float, default=50.0)
    parser.add_argument("--set", type=Path, default=DEV_SET)
    parser.add_argument("--offtopic", type=Path, default=DEV_OFFTOPIC)
    args = parser.parse_args()
    if "eval_set" in args.set.name or "eval_set" in args.offtopic.name:
        sys.exit("dev_eval.py measures the development set only")
    matcher = Matcher(load_knowledge(), answer_threshold=args.answer,
                      suggest_threshold=args.suggest, max_suggestions=3)
    if args.set.exists():
        questions, off_topic = load_eval_set(args.set)
        result = evaluate(matcher_judge(matcher), questions, off_topic, args.suggest)
        print(result.summary("dev"))
        if args.verbose:
            for q, target, got in result.misses:
                print(f"  miss: {q} → want {target}, got {got}")
            for q, shown in result.leaks:
                print(f"  off-topic not refused: {q} → {shown}")
    else:
        print(f"{args.set} not found")
    if args.offtopic.exists():
        _, off_topic = load_eval_set(args.offtopic)
        result = evaluate(matcher_judge(matcher), [], off_topic, args.suggest)
        print(f"{'offtopic':<10} off-topic refused {result.rate('off_refused'):6.1%}  "
              f"(n={result.off_total}, {args.offtopic.name})")
        if args.verbose:
            for q, shown in result.leaks:
                print(f"  hard negative not refused: {q} → {shown}")
    else:
        print(f"{args.offtopic} not found")
    if args.loo:
        result, rank1, rank3 = loo_report(matcher)
        print(result.summary("loo"))
        print(f"loo ranking alone: top-1 {rank1:.1%} top-3 {rank3:.1%}")
        if args.verbose:
            for q, target, got in result.misses:
                print(f"  loo miss: {q} → want {target}, got {got}")


if __name__ == "__main__":
    main()
