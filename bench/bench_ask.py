"""Speed of the matcher: median per query on the real KB and on a synthetic 50,000-phrasing KB,
and the cold-start wall time of ``python -m bot ask "问题"``.

    .venv/bin/python bench/bench_ask.py [--synthetic N] [--queries FILE ...]

The questions timed are those of the development sets (``dev_set.yaml``, ``dev_set_2.yaml`` and
``dev_offtopic.yaml``) by default: timing needs questions, not the eval set, which is read only
by tests/knowledge/test_eval.py. Only the questions are used; no answers are checked.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import machine  # noqa: E402  (bench/machine.py; the script folder is on sys.path)

from knowledge import KnowledgeBase, Matcher, load_knowledge  # noqa: E402
from knowledge.evaluation import load_eval_set  # noqa: E402

DEV_SETS = [REPO / "tests" / "knowledge" / name for name in ("dev_set.yaml", "dev_set_2.yaml",
                                                         "dev_offtopic.yaml")]


def _queries(kb: KnowledgeBase, paths: list[Path]) -> list[str]:
    queries = []
    for path in paths:
        if path.exists():
            questions, off_topic = load_eval_set(path)
            queries += [q for q, _ in questions] + off_topic
    return queries or [p for e in kb.entries for p in e.phrasings[:2]]


def median_ms(matcher: Matcher, queries: list[str], rounds: int = 3) -> float:
    for q in queries[:20]:
        matcher.ask(q)
    times = []
    for _ in range(rounds):
        for q in queries:
            t = time.perf_counter()
            matcher.ask(q)
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def synthetic(kb: KnowledgeBase, phrasings: int, seed: int = 7) -> KnowledgeBase:
    """Copies of the real entries whose phrasings are shuffled and salted with KB words."""
    rng = random.Random(seed)
    words = sorted({p[i:i + 2] for e in kb.entries for p in e.phrasings
                    for i in range(0, len(p) - 1, 2)})
    entries = []
    copy = 0
    while sum(len(e.phrasings) + 1 for e in entries) < phrasings:
        for e in kb.entries:
            mutated = []
            for p in e.phrasings:
                chars = list(p)
                for _ in range(rng.randint(1, 3)):
                    chars.insert(rng.randrange(len(chars) + 1), rng.choice(words))
                mutated.append("".join(chars))
            entries.append(dataclasses.replace(e, id=f"{e.id}_s{copy}", phrasings=tuple(mutated),
                                               related=(), nots=(), reason=None))
        copy += 1
    return KnowledgeBase.of(entries, f"synthetic-{phrasings}-{seed}")


def cold_start(runs: int = 5) -> float:
    cmd = [sys.executable, "-m", "bot", "ask", "怎么绑定家人"]
    subprocess.run(cmd, cwd=REPO, capture_output=True, check=True)      # warm the cache
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic", type=int, default=50_000)
    parser.add_argument("--queries", type=Path, nargs="+", default=DEV_SETS,
                        help="question sets timed (default: the development sets; only their "
                             "questions are used, no answers are checked)")
    args = parser.parse_args()
    print(machine.line(), flush=True)
    kb = load_knowledge()
    queries = _queries(kb, args.queries)
    matcher = Matcher(kb, answer_threshold=72, suggest_threshold=50, max_suggestions=3)
    phr = len(matcher.index.docs)
    topics = len(matcher.index.outside)
    print(f"real KB: {len(kb.entries)} entries + {topics} out-of-scope topics, {phr} texts: median "
          f"{median_ms(matcher, queries):.3f} ms/query over {len(queries)} queries")
    t = time.perf_counter()
    big = synthetic(kb, args.synthetic)
    big_matcher = Matcher(big, answer_threshold=72, suggest_threshold=50, max_suggestions=3)
    built = time.perf_counter() - t
    phr = sum(len(e.phrasings) + 1 for e in big.entries)
    print(f"synthetic KB: {len(big.entries)} entries, {phr} texts (index built in {built:.1f} s): "
          f"median {median_ms(big_matcher, queries, rounds=1):.3f} ms/query")
    print(f"cold start: python -m bot ask \"怎么绑定家人\": "
          f"median {cold_start():.3f} s wall (5 runs)")


if __name__ == "__main__":
    main()
