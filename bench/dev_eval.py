"""Quality figures on the development sets (``tests/knowledge/dev_set.yaml``; ``dev_set_2.yaml``
and ``dev_set_3.yaml``, the first and second editions of the evaluation set, now tuning material;
``dev_set_4.yaml``; ``dev_set_5.yaml``, the third edition of the evaluation set; tune against
these, never against the eval set), on the development hard negatives
(``tests/knowledge/dev_offtopic.yaml``, ``dev_offtopic_2.yaml`` and ``dev_offtopic_3.yaml``:
off-topic questions only), each and combined, and band-aware leave-one-phrasing-out figures over
the KB (FAQ phrasings only; the out-of-scope topics of ``knowledge/out_of_scope.yaml`` are not
questions to answer).

The in-domain questions of ``dev_set.yaml``, ``dev_set_2.yaml`` and ``dev_set_3.yaml`` were folded
into the KB's phrasings on 2026-11-22 (``bench/fold_dev.py``): their figures are now near 100 % by
construction and measure nothing. ``dev_set_4.yaml`` (1,610 harder questions) and ``dev_set_5.yaml``
are not folded and still measure generalisation. No off-topic set was folded.

    .venv/bin/python bench/dev_eval.py [-v] [--loo] [--answer 72] [--suggest 50]
                                       [--set FILE ...] [--offtopic FILE ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from knowledge import Matcher, load_knowledge  # noqa: E402
from knowledge.evaluation import (  # noqa: E402
    Report,
    evaluate,
    held_out,
    load_eval_set,
    matcher_judge,
)

DEV_SETS = [REPO / "tests" / "knowledge" / name
            for name in ("dev_set.yaml", "dev_set_2.yaml", "dev_set_3.yaml", "dev_set_4.yaml",
                         "dev_set_5.yaml")]
# folded into the KB on 2026-11-22 (bench/fold_dev.py); dev_set_4.yaml is kept out of the KB
FOLDED = {"dev_set.yaml", "dev_set_2.yaml", "dev_set_3.yaml"}
DEV_OFFTOPIC = [REPO / "tests" / "knowledge" / name
                for name in ("dev_offtopic.yaml", "dev_offtopic_2.yaml", "dev_offtopic_3.yaml")]


def loo_report(matcher: Matcher) -> tuple[Report, float, float]:
    """Each KB phrasing (not the entries' questions) asked with itself, and its terms and bigrams
    in its entry's vocabulary, held out; the report, and top-1 / top-3 of the ranking alone."""
    idx = matcher.index
    report = Report()
    rank1 = rank3 = 0
    questions = {idx.normalizer.normalize(e.question) for e in idx.entries}
    for k, doc in enumerate(idx.docs):
        if not doc.positive or doc.text in questions or doc.entry in idx.outside:
            continue
        with held_out(matcher, k):
            answer = matcher.ask(doc.text)
            ranked = [(s.entry.id, s.score) for s in matcher.rank(doc.text)[:3]]
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


def _print_details(result: Report, label: str) -> None:
    for q, target, got in result.misses:
        print(f"  {label} miss: {q} → want {target}, got {got}")
    for q, shown in result.leaks:
        print(f"  {label} off-topic not refused: {q} → {shown}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--loo", action="store_true", help="also leave-one-phrasing-out")
    parser.add_argument("--answer", type=float, default=72.0)
    parser.add_argument("--suggest", type=float, default=50.0)
    parser.add_argument("--set", type=Path, nargs="+", default=DEV_SETS,
                        help="labelled development sets (questions and off_topic)")
    parser.add_argument("--offtopic", type=Path, nargs="+", default=DEV_OFFTOPIC,
                        help="off-topic-only development sets")
    args = parser.parse_args()
    if any("eval_set" in p.name for p in [*args.set, *args.offtopic]):
        sys.exit("dev_eval.py measures the development sets only")
    matcher = Matcher(load_knowledge(), answer_threshold=args.answer,
                      suggest_threshold=args.suggest, max_suggestions=3)
    judge = matcher_judge(matcher)
    all_q: list[tuple[str, str]] = []
    all_off: list[str] = []
    for path in [*args.set, *args.offtopic]:
        if not path.exists():
            print(f"{path} not found")
            continue
        questions, off_topic = load_eval_set(path)
        if path not in args.set:
            questions = []
        all_q += questions
        all_off += off_topic
        result = evaluate(judge, questions, off_topic, args.suggest)
        if questions:
            print(result.summary(path.stem))
            if path.name in FOLDED:
                print(f"  note: {path.name} was folded into the KB (2026-11-22); "
                      "its questions are KB phrasings now, so these figures measure nothing")
        else:
            print(f"{path.stem:<10} off-topic refused {result.rate('off_refused'):6.1%}  "
                  f"(n={result.off_total})")
        if args.verbose:
            _print_details(result, path.stem)
    if all_q or all_off:
        print(evaluate(judge, all_q, all_off, args.suggest).summary("combined"))
        if any(p.name in FOLDED for p in args.set):
            print("  note: combined includes folded sets; only off-topic refusal still measures")
    if args.loo:
        result, rank1, rank3 = loo_report(matcher)
        print(result.summary("loo"))
        print(f"loo ranking alone: top-1 {rank1:.1%} top-3 {rank3:.1%}")
        if args.verbose:
            for q, target, got in result.misses:
                print(f"  loo miss: {q} → want {target}, got {got}")


if __name__ == "__main__":
    main()
