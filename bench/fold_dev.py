"""Fold labelled development questions into the KB: each in-domain question is appended to its
entry's ``phrasings:`` list in ``knowledge/faq/*.yaml``. Mechanical and uniform, no hand-picking.

    .venv/bin/python bench/fold_dev.py [--set FILE ...] [--passes 3] [--dry-run]

The YAML is edited as text (comments, order and style kept): the entry is found by its
``- id: <id>`` line, new ``- <question>`` lines go after the last item of its ``phrasings:``
block, with that block's indentation; a question is quoted only when plain YAML would not read
it back unchanged. A question is skipped when it normalises (``knowledge.normalize``) to the
same text as an existing question, phrasing or ``not:`` of any entry, or as a question already
folded. The KB is then loaded (validation) and every folded phrasing asked with the matcher
settings of the tests; folded phrasings not answered with their own entry are dropped again
(they are ambiguous between neighbouring entries), repeating until stable (at most --passes).
Off-topic questions are never folded.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from knowledge import Matcher, load_knowledge  # noqa: E402
from knowledge.evaluation import load_eval_set  # noqa: E402
from knowledge.kb import FAQ_DIR, read_entries  # noqa: E402
from knowledge.normalize import normalize  # noqa: E402

DEV_SETS = [REPO / "tests" / "knowledge" / name for name in ("dev_set.yaml", "dev_set_2.yaml")]
_ID_LINE = re.compile(r"^(?P<indent> *)- id: *(?P<id>[A-Za-z0-9_]+) *(#.*)?$")
_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_]+):")
_ITEM_LINE = re.compile(r"^(?P<indent> *)- ")


def yaml_scalar(text: str) -> str:
    """``text`` as a YAML flow scalar: plain when that reads back unchanged, else quoted."""
    try:
        if yaml.safe_load(f"- {text}") == [text]:
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text, ensure_ascii=False)   # a JSON string is a valid YAML double-quoted one


def _entry_span(lines: list[str], entry_id: str) -> tuple[int, int, int]:
    """(first line, end line, key indent) of the entry ``entry_id``."""
    for i, line in enumerate(lines):
        m = _ID_LINE.match(line)
        if m and m.group("id") == entry_id:
            dash = len(m.group("indent"))
            end = i + 1
            while end < len(lines):
                s = lines[end]
                if s.strip() and not s.lstrip().startswith("#"):
                    ind = len(s) - len(s.lstrip(" "))
                    if ind < dash or (ind == dash and s.lstrip().startswith("- ")):
                        break
                end += 1
            return i, end, dash + 2
    raise KeyError(entry_id)


def add_phrasings(text: str, entry_id: str, questions: list[str]) -> str:
    """``text`` (one FAQ file) with ``questions`` appended to ``entry_id``'s phrasings."""
    if not questions:
        return text
    lines = text.split("\n")
    start, end, key_indent = _entry_span(lines, entry_id)
    for k in range(start, end):
        m = _KEY_LINE.match(lines[k].replace("- ", "  ", 1) if k == start else lines[k])
        if m and m.group("key") == "phrasings" and len(m.group("indent")) == key_indent:
            if lines[k].split(":", 1)[1].strip():
                raise ValueError(f"{entry_id}: phrasings is not a block list")
            item_indent = None
            last = k
            j = k + 1
            while j < end:
                s = lines[j]
                if not s.strip() or s.lstrip().startswith("#"):
                    j += 1
                    continue
                ind = len(s) - len(s.lstrip(" "))
                im = _ITEM_LINE.match(s)
                if item_indent is None and im and ind >= key_indent:
                    item_indent = ind
                if item_indent is not None and (ind > item_indent or (im and ind == item_indent)):
                    last = j
                    j += 1
                    continue
                break
            pad = " " * (item_indent if item_indent is not None else key_indent + 2)
            new = [f"{pad}- {yaml_scalar(q)}" for q in questions]
            return "\n".join(lines[:last + 1] + new + lines[last + 1:])
    raise ValueError(f"{entry_id}: no phrasings: block")


def render(originals: dict[Path, str], where: dict[str, Path],
           folded: dict[str, list[str]]) -> dict[Path, str]:
    out = dict(originals)
    for entry_id, questions in folded.items():
        path = where[entry_id]
        out[path] = add_phrasings(out[path], entry_id, questions)
    return out


def write(texts: dict[Path, str]) -> None:
    for path, text in texts.items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", type=Path, nargs="+", default=DEV_SETS)
    parser.add_argument("--faq", type=Path, default=FAQ_DIR)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--dry-run", action="store_true", help="report, leave the files alone")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if any("eval_set" in p.name for p in args.set):
        sys.exit("fold_dev.py folds development sets only")

    entries, _ = read_entries(args.faq)
    files = sorted(args.faq.glob("*.yaml"))
    originals = {p: p.read_text(encoding="utf-8") for p in files}
    where: dict[str, Path] = {}
    for p, text in originals.items():
        for line in text.split("\n"):
            m = _ID_LINE.match(line)
            if m:
                where[m.group("id")] = p
    known = {normalize(t) for e in entries for t in (e.question, *e.phrasings, *e.nots)}

    folded: dict[str, list[str]] = {}
    skipped: list[tuple[str, str]] = []
    unknown: list[tuple[str, str]] = []
    for path in args.set:
        questions, _off_topic = load_eval_set(path)
        for q, entry_id in questions:
            q = q.strip()
            if entry_id not in where:
                unknown.append((q, entry_id))
                continue
            n = normalize(q)
            if not n or n in known:
                skipped.append((q, entry_id))
                continue
            known.add(n)
            folded.setdefault(entry_id, []).append(q)
    n_candidates = sum(map(len, folded.values()))

    dropped: list[tuple[str, str, str]] = []
    try:
        for npass in range(1, args.passes + 1):
            write(render(originals, where, folded))
            kb = load_knowledge(args.faq)                      # validates
            matcher = Matcher(kb, answer_threshold=72, suggest_threshold=50, max_suggestions=3)
            bad = []
            for entry_id, questions in folded.items():
                for q in questions:
                    a = matcher.ask(q)
                    if a.kind != "answer" or a.entry is None or a.entry.id != entry_id:
                        got = (a.entry.id if a.entry is not None else
                               ",".join(s.entry.id for s in a.suggestions) or a.kind)
                        bad.append((q, entry_id, got))
            print(f"pass {npass}: {sum(map(len, folded.values()))} folded, {len(bad)} not "
                  "answered with their own entry")
            if not bad:
                break
            dropped += bad
            drop = {(q, e) for q, e, _ in bad}
            folded = {e: [q for q in qs if (q, e) not in drop] for e, qs in folded.items()}
        else:
            write(render(originals, where, folded))
            load_knowledge(args.faq)
    finally:
        if args.dry_run:
            write(originals)

    n_folded = sum(map(len, folded.values()))
    print(f"in-domain dev questions: {n_candidates + len(skipped) + len(unknown)}; "
          f"folded {n_folded}, skipped {len(skipped)} (duplicate after normalising), "
          f"dropped {len(dropped)} (not top-1 on their own entry), unknown entry {len(unknown)}")
    if args.verbose:
        for q, e in skipped:
            print(f"  skipped: {q} [{e}]")
        for q, e, got in dropped:
            print(f"  dropped: {q} [{e}] → {got}")
        for q, e in unknown:
            print(f"  unknown entry: {q} [{e}]")
    if args.dry_run:
        print("dry run: files left unchanged")


if __name__ == "__main__":
    main()
