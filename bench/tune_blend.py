"""Coordinate search over the matcher's few blend weights and penalties (``knowledge.scoring``
and ``knowledge.matcher`` constants), on labelled development questions, never the eval set.

A dozen numbers fitted on ~1,600 questions generalise; a phrasing tuned to one question does
not. The objective is top-1 + ½·top-3 on the training sets, plus ``--off-weight`` × off-topic
refusal on the off-topic sets; with --off-weight 0 (the default) refusal may not fall below its
starting value instead. The validation sets are reported only.

    .venv/bin/python bench/tune_blend.py --train A.yaml ... [--validate B.yaml ...]
                                         [--offtopic C.yaml ...] [--off-weight 1] [--rounds 2]

Prints each improvement and, at the end, the values found (to be copied by hand, with the
figures, into knowledge/scoring.py and knowledge/matcher.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import knowledge.index as index_mod  # noqa: E402
import knowledge.matcher as matcher_mod  # noqa: E402
import knowledge.scoring as scoring  # noqa: E402
from knowledge import Matcher, load_knowledge  # noqa: E402
from knowledge.evaluation import evaluate, load_eval_set, matcher_judge  # noqa: E402

OFFTOPIC = [REPO / "tests" / "knowledge" / name
            for name in ("dev_offtopic.yaml", "dev_offtopic_2.yaml", "dev_set_3.yaml")]
GRID: dict[str, list[float]] = {
    "BETA2": [0.5, 1.0, 1.5, 2.5, 4.0],
    "TERM_SHARE": [0.1, 0.2, 0.3, 0.4, 0.5],
    "BAG_SHARE": [0.3, 0.4, 0.5, 0.6],
    "ANSWER_SHARE": [0.0, 0.05, 0.1, 0.15, 0.2],
    "GRAM_SHARE": [0.05, 0.1, 0.15, 0.2, 0.25],
    "MISS_PENALTY": [0.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0],
    "CONTENT_MIN": [0.1, 0.15, 0.2, 0.3],
    "i.UNKNOWN_WEIGHT": [0.7, 0.9, 1.2, 1.5],
    "INTENT_PENALTY": [10.0, 18.0, 25.0, 35.0],
    "INTENT_ABSENT_PENALTY": [5.0, 10.0, 15.0, 22.0],
    "CHATTER_DISCOUNT": [0.3, 0.5, 0.7],
    "NOVEL_RELIEF": [0.3, 0.5, 0.7],
    "REGION_BONUS": [3.0, 6.0, 10.0],
    "REGION_UNKNOWN": [3.0, 7.0, 12.0],
    "m.NOT_PENALTY": [10.0, 20.0, 30.0],
    "m.NEAR_TIE": [0.0, 2.0, 5.0],
    "m.MIN_MARGIN": [6.0, 8.0, 10.0, 12.0],
    "ANCHOR_PENALTY": [8.0, 15.0, 22.0],
    "NOVEL_PENALTY": [40.0, 60.0, 80.0],
    "FOREIGN_FACTOR": [0.2, 0.4, 0.6],
    "MISS_MIN": [0.3, 0.5, 0.7],
    "cal.SUGGEST": [22.0, 24.0, 26.0, 28.0, 30.0],   # raw score reported as 50
}


def _set(name: str, value: float) -> None:
    if name == "cal.SUGGEST":
        points = list(scoring.CALIBRATION)
        points[1] = (value, points[1][1])
        scoring.CALIBRATION = tuple(points)
    elif name.startswith("m."):
        setattr(matcher_mod, name[2:], value)
    elif name.startswith("i."):
        setattr(index_mod, name[2:], value)
    else:
        setattr(scoring, name, value)
        if hasattr(matcher_mod, name):          # imported by name (TERM_SHARE)
            setattr(matcher_mod, name, value)


def _get(name: str) -> float:
    if name == "cal.SUGGEST":
        return scoring.CALIBRATION[1][0]
    if name.startswith("i."):
        return getattr(index_mod, name[2:])
    return getattr(matcher_mod, name[2:]) if name.startswith("m.") else getattr(scoring, name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=Path, nargs="+", required=True)
    parser.add_argument("--validate", type=Path, nargs="*", default=[])
    parser.add_argument("--offtopic", type=Path, nargs="+", default=OFFTOPIC)
    parser.add_argument("--off-weight", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if any("eval_set" in p.name for p in [*args.train, *args.validate, *args.offtopic]):
        sys.exit("tune_blend.py never reads the eval set")
    matcher = Matcher(load_knowledge(), answer_threshold=72, suggest_threshold=50,
                      max_suggestions=3)
    judge = matcher_judge(matcher)
    train = [q for p in args.train for q in load_eval_set(p)[0]]
    valid = [q for p in args.validate for q in load_eval_set(p)[0]]
    off = [q for p in args.offtopic for q in load_eval_set(p)[1]]
    weight = args.off_weight

    def objective(t1: float, t3: float, off_rate: float) -> float:
        return t1 + 0.5 * t3 + weight * off_rate

    def measure(questions):
        r = evaluate(judge, questions, off, matcher.suggest_threshold)
        return r.rate("top1"), r.rate("top3"), r.rate("off_refused")

    def show(label: str) -> tuple[float, float]:
        t1, t3, off_rate = measure(train)
        line = f"{label}: train top-1 {t1:.1%} top-3 {t3:.1%}  off-topic refused {off_rate:.1%}"
        if valid:
            v1, v3, _ = measure(valid)
            line += f"  validate top-1 {v1:.1%} top-3 {v3:.1%}"
        print(line, flush=True)
        return objective(t1, t3, off_rate), off_rate

    best, off_floor = show("start")
    for rnd in range(args.rounds):
        for name, values in GRID.items():
            start = _get(name)
            keep = start
            for value in values:
                if value == start:
                    continue
                _set(name, value)
                t1, t3, off_rate = measure(train)
                if (weight or off_rate >= off_floor) and objective(t1, t3, off_rate) > best + 1e-9:
                    best, keep = objective(t1, t3, off_rate), value
            _set(name, keep)
            if keep != start:
                show(f"round {rnd + 1} {name} {start:g} → {keep:g}")
    show("end")
    print({name: _get(name) for name in GRID})


if __name__ == "__main__":
    main()
