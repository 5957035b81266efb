"""Quality on the independent evaluation set (tests/knowledge/eval_set.yaml, written by someone
who saw only the entries' questions and answers). Prints the figures; asserts the targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import Matcher
from knowledge.evaluation import evaluate, load_eval_set, matcher_judge

EVAL_SET = Path(__file__).with_name("eval_set.yaml")

pytestmark = pytest.mark.skipif(
    not EVAL_SET.exists(),
    reason=f"{EVAL_SET.name} not written yet (an independent writer produces it)",
)


@pytest.fixture(scope="module")
def report(real_matcher: Matcher):
    questions, off_topic = load_eval_set(EVAL_SET)
    assert questions and off_topic
    known = {e.id for e in real_matcher.kb.entries}
    unknown = sorted({t for _, t in questions} - known)
    assert not unknown, f"eval set names entries the KB lacks: {unknown}"
    result = evaluate(matcher_judge(real_matcher), questions, off_topic,
                      real_matcher.suggest_threshold)
    print("\n" + result.summary("matcher"))
    for q, target, got in result.misses:
        print(f"  miss: {q} → want {target}, got {got}")
    for q, shown in result.leaks:
        print(f"  off-topic not refused: {q} → {shown}")
    return result


# Measured on the first full KB (161 entries, 204 + 50 eval questions): top-1 82.4 %, top-3
# 90.2 % (ranking alone, ignoring the score bands: 88.2 % / 97.5 %), off-topic refused 100 %.
# After the off-topic refusal work: top-1 93.6 %, top-3 97.5 %, off-topic refused 100.0 % on that
# first-edition set, which has since become development material (dev_set_2.yaml).
# Second-edition eval set (written independently; n=265, off-topic n=54), single run after the
# chatty-question work (story-telling chatter dropped in normalisation, unknown short words
# weighing less in questions anchored in the domain, more foreign words, a reissue intent; tuned on
# dev_set, dev_set_2, dev_offtopic and leave-one-out only): top-1 88.7 %, top-3 93.6 %,
# answered-wrong 0.0 %, off-topic refused 98.1 %. Unmet targets stay visible as expected failures
# (strict=False: they pass once the matcher gets there), never lowered.
# After folding the 535 dev_set / dev_set_2 questions into the KB phrasings (bench/fold_dev.py,
# 2026-11-22: 518 folded, 17 skipped as duplicates, 0 dropped), single run on the same set: top-1
# 92.1 %, top-3 95.8 %, answered-right 64.2 %, answered-wrong 1.1 %, off-topic refused 98.1 %.
# That set then became development material too (dev_set_3.yaml, later folded into the KB).
# Third-edition eval set (written independently from bench/canonical_dump.py; n=322, two per entry;
# off-topic n=67, about a dozen of them near-domain traps), first run, 2026-11-22, after the
# blend weights were fitted on dev_set_4 (bench/tune_blend.py): top-1 96.0 %, top-3 99.1 %,
# answered-right 67.4 %, answered-wrong 0.6 %, off-topic refused 83.6 %. Naive baseline on the
# same set: 71.4 % / 89.8 % / 52.2 %.
# Second run on the same set, after refitting the blend weights with near-domain off-topic dev
# questions (dev_offtopic_2.yaml; the eval set's misses were not inspected): top-1 96.0 %, top-3
# 99.1 %, answered-right 63.4 %, answered-wrong 0.6 %, off-topic refused 88.1 %.
# That set then became development material (dev_set_5.yaml, not folded).
# Fourth-edition eval set (session 3; written independently from bench/canonical_dump.py; n=322,
# two per entry; off-topic n=76, 23 of them medical insurance but not family mutual aid), first
# run, 2026-11-22, after the out-of-scope topics (knowledge/out_of_scope.yaml) and the third blend
# fit: top-1 96.9 %, top-3 99.4 %, answered-right 76.4 %, answered-wrong 0.3 %, off-topic refused
# 96.1 % (23 of the 76 referred by a topic, 48 plain fallbacks, 2 small talk, 3 suggestions).
# The same matcher without the topics (outside=()): 96.9 / 99.7 / 92.1 %. Naive baseline: 69.9 %
# / 86.6 % / 60.5 %. The misses were not printed or read.
# Second run, session 4, after the answer band moved from raw 55 to raw 46 (fitted on the dev
# sets with bench/sweep_bands.py; the misses were not read): top-1 96.9 %, top-3 99.4 %,
# answered-right 84.2 % (was 76.4 %), answered-wrong 0.3 % (unchanged), off-topic refused 96.1 %.
# Third run, session 5 (issue 11), the learned ranker answering first (an in-scope model, the
# confidence fitted on real_dev out of fold; the misses were not read): top-1 97.2 %, top-3
# 98.8 %, answered-right 94.1 %, answered-wrong 2.2 %, off-topic refused 98.7 %.


def test_top1_at_least_95_percent(report) -> None:
    assert report.rate("top1") >= 0.95, report.summary("matcher")


def test_off_topic_refused_at_least_95_percent(report) -> None:
    assert report.rate("off_refused") >= 0.95, report.summary("matcher")


def test_top3_at_least_98_percent(report) -> None:
    assert report.rate("top3") >= 0.98, report.summary("matcher")
