"""Where the answer band should start: direct answers right and wrong, and off-topic questions
answered, for a range of answer thresholds and lead margins, on the development sets only.

Top-1, top-3 and off-topic refusal do not depend on the answer threshold (the first thing shown
is the same entry, as an answer or as the first "did you mean"); what moves is how often a user
gets the answer at once instead of a tap, against how often that answer is the wrong one.

    .venv/bin/python bench/sweep_bands.py [--answers 78,72,68,65] [--margins 8,10,12]

Thresholds are on the reported (calibrated) scale of the current ``knowledge.scoring``; the raw
score each one stands for is printed beside it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import knowledge.matcher as matcher_mod  # noqa: E402
from knowledge import Matcher, load_knowledge  # noqa: E402
from knowledge.evaluation import load_eval_set  # noqa: E402
from knowledge.scoring import raw_score  # noqa: E402

KNOWLEDGE_TESTS = REPO / "tests" / "knowledge"
LABELLED = ("dev_set_4.yaml", "dev_set_5.yaml")          # not folded into the KB
OFF_TOPIC = ("dev_offtopic.yaml", "dev_offtopic_2.yaml", "dev_offtopic_3.yaml",
             "dev_set_4.yaml", "dev_set_5.yaml")


def numbers(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def direct_answers(matcher: Matcher, questions: list[tuple[str, str]]) -> tuple[float, float]:
    """Shares of the questions answered directly with the right entry, and with a wrong one."""
    right = wrong = 0
    for question, want in questions:
        answer = matcher.ask(question)
        if answer.kind == "answer" and answer.entry is not None:
            right += answer.entry.id == want
            wrong += answer.entry.id != want
    return right / len(questions), wrong / len(questions)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=numbers, default=numbers("80,76,72,68,65,62"))
    parser.add_argument("--margins", type=numbers, default=[matcher_mod.MIN_MARGIN])
    args = parser.parse_args()
    labelled = {name: load_eval_set(KNOWLEDGE_TESTS / name)[0] for name in LABELLED}
    off_topic = [q for name in OFF_TOPIC for q in load_eval_set(KNOWLEDGE_TESTS / name)[1]]
    matcher = Matcher(load_knowledge(), answer_threshold=72, suggest_threshold=50,
                      max_suggestions=3)
    print(f"{'margin':>6} {'answer':>6} {'(raw)':>6}  "
          + "  ".join(f"{name[:-5]:>9} right / wrong" for name in LABELLED)
          + f"  off-topic answered (n={len(off_topic)})")
    for margin in args.margins:
        matcher_mod.MIN_MARGIN = margin
        for threshold in args.answers:
            matcher.answer_threshold = threshold
            cells = []
            for questions in labelled.values():
                right, wrong = direct_answers(matcher, questions)
                cells.append(f"{right:15.1%} / {wrong:5.1%}")
            answered = sum(matcher.ask(q).kind == "answer" for q in off_topic) / len(off_topic)
            print(f"{margin:6g} {threshold:6g} {raw_score(threshold):6.1f}  "
                  + "  ".join(cells) + f"  {answered:18.1%}")


if __name__ == "__main__":
    main()
