"""The FAQ knowledge base: ``knowledge/faq/*.yaml`` loaded and validated once.

Every problem stops loading with a ``KnowledgeError`` naming the file and the entry id:
a missing or mistyped field, an unknown key, a duplicate id, a ``related`` id that does not
exist, a source file missing from the seeds directory, or reason entries that do not cover
every reason code exactly once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from knowledge.cache import cached, digest
from rules.codes import ALL_CODES

FAQ_DIR = Path(__file__).with_name("faq")
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEEDS_DIR = REPO_ROOT.parent / "shared" / "seeds"
REGIONS = ("national", "dongying", "jinan", "jian", "hainan")
MIN_PHRASINGS = 8

_REQUIRED = ("id", "topic", "region", "question", "phrasings", "answer", "sources",
             "related", "not")
_OPTIONAL = ("reason", "place")
ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KnowledgeError(ValueError):
    """The knowledge base is invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class Entry:
    id: str
    topic: str
    region: str
    question: str
    phrasings: tuple[str, ...]
    answer: str
    sources: tuple[str, ...]
    related: tuple[str, ...]
    nots: tuple[str, ...]            # the YAML ``not:`` list: phrasings that must not match
    reason: str | None = None
    file: str = ""
    place: str | None = None         # a place without its own policy the entry is about (杭州):
                                     # answered only to those who name it (knowledge.matcher)


@dataclass(frozen=True)
class KnowledgeBase:
    entries: tuple[Entry, ...]
    digest: str = ""                 # hash of the YAML files: keys derived caches
    _by_id: Mapping[str, Entry] = field(default_factory=dict, repr=False, compare=False)
    _by_reason: Mapping[str, Entry] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, entries: Sequence[Entry], digest_: str = "") -> KnowledgeBase:
        by_reason = {e.reason: e for e in entries if e.reason}
        return cls(tuple(entries), digest_, {e.id: e for e in entries}, by_reason)

    def entry(self, entry_id: str) -> Entry | None:
        """The entry with this id, or None."""
        return self._by_id.get(entry_id)

    def for_reason(self, code: str) -> Entry | None:
        """The entry explaining a reason code (``/why CODE``), or None."""
        return self._by_reason.get(str(code).strip().upper())

    def __len__(self) -> int:
        return len(self.entries)

    def with_phrasings(self, extra: Mapping[str, Sequence[str]]) -> KnowledgeBase:
        """This KB with more phrasings for some entries (questions staff taught it, see
        ``bot.learned``). Ids it does not have are skipped, as are blank phrasings and ones the
        entry already has; the digest (which keys the derived caches) covers what was added."""
        added: list[str] = []
        entries = []
        for e in self.entries:
            known = set(e.phrasings)
            more = [p for p in dict.fromkeys(t.strip() for t in extra.get(e.id, ()))
                    if p and p not in known]
            entries.append(replace(e, phrasings=e.phrasings + tuple(more)) if more else e)
            added += [f"{e.id}\n{p}" for p in more]
        if not added:
            return self
        return KnowledgeBase.of(entries, digest([self.digest, *added]))


def _seeds_dir(seeds_dir: str | Path | None) -> Path:
    if seeds_dir is not None:
        return Path(seeds_dir)
    return Path(os.environ.get("GONGJI_SEEDS_DIR") or DEFAULT_SEEDS_DIR)


def required_text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeError(f"{where}: {key}: must be non-empty text")
    return value.strip()


def text_list(raw: Mapping[str, Any], key: str, where: str, minimum: int = 0) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        value = []
    if not isinstance(value, list):
        raise KnowledgeError(f"{where}: {key}: must be a list")
    out = []
    for i, item in enumerate(value):
        is_text = isinstance(item, (str, int, float)) and not isinstance(item, bool)
        if not is_text or not str(item).strip():
            raise KnowledgeError(f"{where}: {key}[{i}]: must be non-empty text")
        out.append(str(item).strip())
    if len(out) < minimum:
        raise KnowledgeError(f"{where}: {key}: needs at least {minimum}, has {len(out)}")
    return tuple(out)


def _entry(raw: Any, file: str, index: int) -> Entry:
    if not isinstance(raw, dict):
        raise KnowledgeError(f"{file}: entries[{index}]: must be a mapping")
    entry_id = raw.get("id")
    where = f"{file}: entry {entry_id!r}" if entry_id else f"{file}: entries[{index}]"
    for key in raw:
        if key not in _REQUIRED and key not in _OPTIONAL:
            raise KnowledgeError(f"{where}: {key}: unknown key")
    for key in _REQUIRED:
        if key not in raw:
            raise KnowledgeError(f"{where}: {key}: missing")
    if not isinstance(entry_id, str) or not ID_PATTERN.fullmatch(entry_id):
        raise KnowledgeError(f"{where}: id: must be snake_case text")
    region = raw.get("region")
    if region not in REGIONS:
        raise KnowledgeError(f"{where}: region: {region!r} is not one of {', '.join(REGIONS)}")
    reason = raw.get("reason")
    if reason is not None and reason not in ALL_CODES:
        raise KnowledgeError(f"{where}: reason: {reason!r} is not a reason code")
    place = raw.get("place")
    if place is not None and (not isinstance(place, str) or not place.strip()
                              or region != "national"):
        raise KnowledgeError(f"{where}: place: must be a place name, on a national entry "
                             f"(a place with its own policy is a region)")
    return Entry(
        id=entry_id,
        topic=required_text(raw, "topic", where),
        region=region,
        question=required_text(raw, "question", where),
        phrasings=text_list(raw, "phrasings", where, MIN_PHRASINGS),
        answer=required_text(raw, "answer", where),
        sources=text_list(raw, "sources", where),   # [] allowed: entries about the bot itself
        related=text_list(raw, "related", where),
        nots=text_list(raw, "not", where),
        reason=reason,
        file=file,
        place=place.strip() if place else None,
    )


def validate(entries: Sequence[Entry], *, seeds_dir: Path | None,
             reason_codes: Iterable[str] = ALL_CODES) -> None:
    """Cross-entry checks: unique ids, related ids exist, sources exist, reason coverage."""
    seen: dict[str, Entry] = {}
    for e in entries:
        if e.id in seen:
            raise KnowledgeError(f"{e.file}: entry {e.id!r}: id already used in {seen[e.id].file}")
        seen[e.id] = e
    for e in entries:
        for rel in e.related:
            if rel not in seen:
                raise KnowledgeError(f"{e.file}: entry {e.id!r}: related id {rel!r} does not exist")
        if seeds_dir is not None:
            for src in e.sources:
                if not (seeds_dir / src).is_file():
                    raise KnowledgeError(
                        f"{e.file}: entry {e.id!r}: source {src!r} not found in {seeds_dir}")
    by_code: dict[str, Entry] = {}
    for e in entries:
        if e.reason is None:
            continue
        if e.reason in by_code:
            first = by_code[e.reason]
            raise KnowledgeError(f"{e.file}: entry {e.id!r}: reason {e.reason} already explained "
                                 f"by {first.id!r} in {first.file}")
        by_code[e.reason] = e
    missing = [c for c in reason_codes if c not in by_code]
    if missing:
        raise KnowledgeError(
            f"knowledge base: no entry explains reason code(s) {', '.join(missing)}")


def _read_files(directory: Path) -> list[tuple[str, bytes]]:
    if not directory.is_dir():
        raise KnowledgeError(f"{directory}: knowledge directory not found")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise KnowledgeError(f"{directory}: no *.yaml files")
    return [(f.name, f.read_bytes()) for f in files]


def _parse(name: str, data: bytes) -> list[Any]:
    try:
        doc = yaml.load(data.decode("utf-8"), Loader=_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise KnowledgeError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        raise KnowledgeError(f"{name}: must be a mapping with an 'entries:' list")
    return doc["entries"]


def read_entries(dir: str | Path | None = None) -> tuple[list[Entry], str]:
    """Every entry under ``dir`` checked one by one (no cross-entry checks), and the digest."""
    directory = Path(dir) if dir is not None else FAQ_DIR
    files = _read_files(directory)
    key = digest([part for name, data in files for part in (name, data)])
    # Parsing YAML is the slow part of a cold start; the parsed form is cached by content hash.
    raw = cached("faq", key, lambda: {name: _parse(name, data) for name, data in files})
    return [_entry(item, name, i) for name, _ in files for i, item in enumerate(raw[name])], key


def load_knowledge(dir: str | Path | None = None, *, seeds_dir: str | Path | None = None,
                   reason_codes: Iterable[str] = ALL_CODES) -> KnowledgeBase:
    """Load and validate every ``*.yaml`` under ``dir`` (default ``knowledge/faq``).

    Source files are checked against ``seeds_dir`` (default ``../shared/seeds`` from the repo,
    or ``$GONGJI_SEEDS_DIR``); that single check is skipped when the directory is absent.
    ``reason_codes`` are the codes that must each be explained by exactly one entry.
    """
    entries, key = read_entries(dir)
    seeds = _seeds_dir(seeds_dir)
    validate(entries, seeds_dir=seeds if seeds.is_dir() else None, reason_codes=reason_codes)
    return KnowledgeBase.of(entries, key)
