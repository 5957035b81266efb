"""This machine's speed, printed by the speed benches beside their figures.

Figures from different machines, or from one machine at different hours, differ by more than
most changes do (the same commit ran the update bench 2.5x faster in one session than in the
session before). Each speed bench therefore prints a reference: a fixed pure-Python workload
of the kind a handler does (JSON in and out, dict and string work), timed as process CPU, the
best of several runs, and the load average when it ran. Scale a figure by the ratio of two
references before comparing it with one measured elsewhere; compare builds interleaved on
one machine when the difference matters.

    .venv/bin/python bench/machine.py
"""

from __future__ import annotations

import json
import os
import time

_DOC = {"update_id": 1, "message": {"message_id": 7, "text": "家庭共济可以绑定哪些亲属？",
                                    "chat": {"id": 42, "type": "private"},
                                    "from": {"id": 42, "first_name": "测试"}}}


def _workload() -> int:
    total = 0
    for i in range(4_000):
        doc = json.loads(json.dumps(_DOC, ensure_ascii=False))
        text = doc["message"]["text"] * 3
        words = {text[j:j + 2]: j for j in range(0, len(text) - 1)}
        total += len(words) + len(f"{i}:{text[:4]}")
    return total


def reference_ms(runs: int = 7) -> float:
    """The workload's process CPU in ms, best of ``runs``."""
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        _workload()
        best = min(best, time.process_time() - started)
    return best * 1000


def line() -> str:
    return (f"machine: reference workload {reference_ms():.1f} ms CPU (lower is faster; "
            f"bench/machine.py), load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    print(line())
