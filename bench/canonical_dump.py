"""Print every entry's id, topic, region, canonical question and answer — and nothing else.

This is all an independent writer of an evaluation set may see: never the phrasings, the
``not:`` lists or any other question set, so the set measures how the matcher generalises.

    .venv/bin/python bench/canonical_dump.py > /tmp/kb_canonical.txt
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from knowledge.kb import read_entries  # noqa: E402


def main() -> None:
    entries, _ = read_entries()
    for entry in entries:
        print(f"## {entry.id}  (topic: {entry.topic}; region: {entry.region})")
        print(f"问：{entry.question}")
        print("答：" + entry.answer.strip().replace("\n", "\n    "))
        print()


if __name__ == "__main__":
    main()
