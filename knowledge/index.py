"""Everything about the KB that a query needs, computed once at load.

Each question, phrasing and ``not:`` phrasing becomes a ``Doc``: its normalised text and its
set of terms. Terms are jieba words from the small KB dictionary (``knowledge.segment``) plus
the sub-words of long words, so 个人账户 also meets 账户. Term weights are inverse entry
frequencies, scaled to 0–1, with generic words (怎么, 办理, 查 …) pushed down.

Per entry: its vocabulary (``bags``: term → credit, from the share of its phrasings using the
term), the same over character bigrams (``gram_bags``, weighted by the bigrams' inverse entry
frequency: this catches typos and words the small dictionary cannot segment), its answer's
terms, its intents, and which ``foreign`` words (matching.yaml) its own texts use.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from knowledge.cache import cached, digest
from knowledge.kb import Entry, KnowledgeBase
from knowledge.normalize import Normalizer, default_normalizer
from knowledge.segment import (
    GENERAL_MIN_FREQ,
    USERDICT_FILE,
    Segmenter,
    derive_dictionary,
    read_userdict,
)

MATCHING_FILE = Path(__file__).with_name("matching.yaml")
INDEX_VERSION = "4"
ANSWER_DF = True
GENERIC_FACTOR = 0.25       # weight of a generic word relative to its inverse frequency
SOFT_FACTOR = 0.35          # weight of an incidental word (matching.yaml: soft)
VOCAB_FREQ = 5_000          # frequency of a canonical synonym jieba does not know
BAG_GAIN = 5.0              # a term in a fifth of an entry's phrasings counts fully
UNKNOWN_WEIGHT = 0.9        # a word the KB never uses: probably off-topic content
INTENT_USED = 0.05          # an entry expresses an intent group when this share of its texts do
ANCHOR_CREDIT = 0.5         # an entry "uses" a term when its bag credits it at least this much
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Bag(dict):
    """An entry's vocabulary (term or bigram → credit), with its keys as a frozenset: the
    question's terms are met with it by one C-level set intersection."""

    __slots__ = ("terms",)

    def __init__(self, credits: Mapping[str, float]) -> None:
        super().__init__(credits)
        self.terms: frozenset[str] = frozenset(self)


@dataclass(frozen=True)
class Doc:
    entry: int                      # index into Index.entries
    positive: bool                  # False: a ``not:`` phrasing of that entry
    text: str                       # normalised
    terms: frozenset[str]
    weight: float                   # sum of term weights
    grams: frozenset[str] = frozenset()   # character bigrams of the text


@dataclass(frozen=True)
class Marker:
    label: str
    any_of: tuple[str, ...] = ()
    all_of: tuple[str, ...] = ()
    not_before: tuple[str, ...] = ()   # an ``any`` word directly followed by one of these is
                                       # not the marker (绑定了我 in 绑定了我父母)
    pattern: re.Pattern[str] | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the ``any`` words as one regex, searched at C speed: each occurrence of each word is
        # tried, so a word followed by a ``not_before`` word may still be found further on
        if self.any_of:
            words = "|".join(map(re.escape, self.any_of))
            guard = "|".join(map(re.escape, self.not_before))
            source = f"(?:{words})" + (f"(?!{guard})" if guard else "")
            object.__setattr__(self, "pattern", re.compile(source))

    def found(self, text: str) -> bool:
        if self.all_of and not all(m in text for m in self.all_of):
            return False
        return self.pattern is None or self.pattern.search(text) is not None


@dataclass(frozen=True)
class IntentGroup:
    name: str
    markers: tuple[Marker, ...]

    def label(self, text: str) -> str | None:
        for marker in self.markers:
            if marker.found(text):
                return marker.label
        return None


def load_matching(path: Path = MATCHING_FILE) -> tuple[
        frozenset[str], frozenset[str], tuple[IntentGroup, ...], frozenset[str]]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    generic = frozenset(str(w) for w in data.get("generic") or [])
    soft = frozenset(str(w) for w in data.get("soft") or [])
    groups = []
    for group in data.get("intents") or []:
        markers = tuple(Marker(str(m["name"]), *(tuple(str(w) for w in m.get(key) or ())
                                                 for key in ("any", "all", "not_before")))
                        for m in group["markers"])
        groups.append(IntentGroup(str(group["group"]), markers))
    foreign = frozenset(str(w) for w in data.get("foreign") or [])
    return generic, soft, tuple(groups), foreign


def grams(text: str) -> frozenset[str]:
    """Character bigrams (a single character stands for itself)."""
    if len(text) < 2:
        return frozenset([text]) if text else frozenset()
    return frozenset(text[i:i + 2] for i in range(len(text) - 1))


class Index:
    """The precomputed KB: docs, term weights, per-entry term bags and intents."""

    def __init__(self, kb: KnowledgeBase, normalizer: Normalizer | None = None,
                 outside: Sequence[Entry] = ()) -> None:
        self.kb = kb
        # the FAQ's entries, then the out-of-scope topics (``knowledge.outside``)
        self.entries: tuple[Entry, ...] = (*kb.entries, *outside)
        self.outside: frozenset[int] = frozenset(range(len(kb.entries), len(self.entries)))
        self.normalizer = normalizer or default_normalizer()
        self.generic, self.soft, self.intent_groups, self.foreign = load_matching()
        texts = [(i, True, t)
                 for i, e in enumerate(self.entries) for t in (e.question, *e.phrasings)]
        texts += [(i, False, t) for i, e in enumerate(self.entries) for t in e.nots]
        normalised = [self.normalizer.normalize(t) for _, _, t in texts]
        answers = [self.normalizer.normalize(e.answer) for e in self.entries]
        self._cuts: dict[str, list[str]] = {}
        self.segmenter = self._segmenter([*normalised, *answers])
        pos_terms = [self.terms(s) for s, (_, positive, _) in zip(normalised, texts, strict=True)
                     if positive]
        # An entry's answer is weak evidence: people ask in the words they expect back.
        self.answer_terms: list[frozenset[str]] = [self.terms(a) for a in answers]
        self.known: frozenset[str] = frozenset().union(*pos_terms, *self.answer_terms)
        self.weights = self._weights(texts, pos_terms)
        docs: list[Doc] = []
        pos_iter = iter(pos_terms)
        for (entry, positive, _), text in zip(texts, normalised, strict=True):
            # ``not:`` phrasings are questions someone might ask: treat them like queries.
            terms = next(pos_iter) if positive else self.query_terms(text)
            docs.append(Doc(entry, positive, text, terms, self.total(terms), grams(text)))
        self.docs: tuple[Doc, ...] = tuple(docs)
        self.bags: list[Bag] = self._bags(docs)
        self.gram_bags: list[Bag] = self._bags(docs, by_grams=True)
        self.answer_grams: list[frozenset[str]] = [grams(a) for a in answers]
        self.gram_weights = self._gram_weights()
        self.breadth = self._breadth()
        self.postings: dict[str, list[int]] = {}
        for k, d in enumerate(docs):
            for term in d.terms:
                self.postings.setdefault(term, []).append(k)
        self.not_docs: list[list[int]] = [[] for _ in self.entries]
        for k, d in enumerate(docs):
            if not d.positive:
                self.not_docs[d.entry].append(k)
        positive_texts: list[list[str]] = [[] for _ in self.entries]
        for (entry, positive, _), text in zip(texts, normalised, strict=True):
            if positive:
                positive_texts[entry].append(text)
        self.intents = [self._entry_intents(t) for t in positive_texts]
        self.intents_used = [self._intents_used(t) for t in positive_texts]
        # per entry: the foreign words (matching.yaml) its own texts use
        self.entry_foreign: list[frozenset[str]] = [
            frozenset(w for w in self.foreign if any(w in t for t in (*texts_, answer)))
            for texts_, answer in zip(positive_texts, answers, strict=True)]

    # -- text → terms ---------------------------------------------------------------------
    def strip_regions(self, text: str) -> tuple[str, frozenset[str]]:
        return self.normalizer.regions_named(text)

    def terms(self, text: str) -> frozenset[str]:
        words = self.cut(text)
        out = set(words)
        for w in words:
            out.update(self.segmenter.parts(w))
        return frozenset(self._broaden(out))

    def _broaden(self, terms: set[str]) -> set[str]:
        broader = self.normalizer.broader
        terms.update([broader[t] for t in terms if t in broader])
        return terms

    def query_terms(self, text: str) -> frozenset[str]:
        """Terms of a question; runs of characters the KB never uses merge into one term."""
        words = self.cut(text)
        out: set[str] = set()
        run = ""
        for w in words:
            if len(w) == 1 and w not in self.known and w not in self.generic:
                run += w
                continue
            if run:
                out.add(run)
                run = ""
            out.add(w)
            # a sub-word counts only when the KB uses it (有效期 → 有效, not 效期): the parts of
            # an unknown word would count its unknown content twice
            out.update(p for p in self.segmenter.parts(w) if p in self.known)
        if run:
            out.add(run)
        return frozenset(self._broaden(out))

    def weight(self, term: str) -> float:
        w = self.weights.get(term)
        if w is None:
            return GENERIC_FACTOR * 0.5 if term in self.generic else UNKNOWN_WEIGHT
        return w

    def total(self, terms: frozenset[str]) -> float:
        return sum(self.weight(t) for t in terms)

    # -- build steps ----------------------------------------------------------------------
    def _segmenter(self, normalised: Sequence[str]) -> Segmenter:
        extra = read_userdict()
        # canonical synonym forms stay whole, at their natural frequency when jieba knows them
        fallback = {word: VOCAB_FREQ for word in self.normalizer.vocabulary}
        key = digest([INDEX_VERSION, str(GENERAL_MIN_FREQ), self.kb.digest,
                      USERDICT_FILE.read_bytes(), repr(sorted(extra.items())),
                      repr(sorted(fallback)), *normalised])

        def build() -> tuple[dict[str, int], int, dict[str, list[str]]]:
            words, total = derive_dictionary(normalised, extra, fallback)
            segmenter = Segmenter(words, total)
            return words, total, {t: segmenter.cut(t) for t in normalised}

        words, total, cuts = cached("dict", key, build, encode=list,
                                    decode=lambda v: (v[0], v[1], v[2]))
        self._cuts = cuts          # the KB's own texts are segmented once, then cached
        return Segmenter(words, total)

    def cut(self, text: str) -> list[str]:
        known = self._cuts.get(text)
        return known if known is not None else self.segmenter.cut(text)

    def _weights(self, texts: Sequence[tuple[int, bool, str]],
                 pos_terms: Sequence[frozenset[str]]) -> dict[str, float]:
        per_entry: dict[int, set[str]] = {}
        positives = [entry for entry, positive, _ in texts if positive]
        for entry, terms in zip(positives, pos_terms, strict=True):
            per_entry.setdefault(entry, set()).update(terms)
        if ANSWER_DF:
            for entry, terms in enumerate(self.answer_terms):
                per_entry.setdefault(entry, set()).update(terms)
        df = Counter(t for terms in per_entry.values() for t in terms)
        n = max(len(per_entry), 1)
        top = math.log(1 + n)
        weights = {}
        for term, count in df.items():
            w = math.log(1 + n / count) / top
            if term in self.generic:
                w *= GENERIC_FACTOR
            elif term in self.soft:
                w *= SOFT_FACTOR
            weights[term] = w
        return weights

    def gram_weight(self, gram: str) -> float:
        return self.gram_weights.get(gram, UNKNOWN_WEIGHT)

    def _gram_weights(self) -> dict[str, float]:
        """Inverse entry frequency of each character bigram (phrasings and answers)."""
        df: Counter[str] = Counter()
        for bag, answer in zip(self.gram_bags, self.answer_grams, strict=True):
            df.update(set(bag) | answer)
        n = max(len(self.entries), 1)
        top = math.log(1 + n)
        return {g: math.log(1 + n / c) / top for g, c in df.items()}

    def _breadth(self) -> dict[str, float]:
        """Per non-generic term, the share of entries whose vocabulary uses it: the terms most
        entries share (共济, 医保, 亲属 …) are what makes a question one about this KB at all."""
        df: Counter[str] = Counter()
        for bag in self.bags[:len(self.kb.entries)]:     # the FAQ's own, not outside topics
            df.update(t for t, credit in bag.items() if credit >= ANCHOR_CREDIT)
        n = max(len(self.kb.entries), 1)
        return {t: c / n for t, c in df.items() if t not in self.generic}

    def _bags(self, docs: Sequence[Doc], by_grams: bool = False) -> list[Bag]:
        per_entry: list[list[Doc]] = [[] for _ in self.entries]
        for d in docs:
            if d.positive:
                per_entry[d.entry].append(d)
        return [self.bag(ds, by_grams) for ds in per_entry]

    @staticmethod
    def bag(docs: Sequence[Doc], by_grams: bool = False) -> Bag:
        """An entry's vocabulary: each term (or bigram) → its credit, the share of the entry's
        phrasings that use it times ``BAG_GAIN``, at most 1."""
        counts = Counter(t for d in docs for t in (d.grams if by_grams else d.terms))
        size = max(len(docs), 1)
        return Bag({t: min(1.0, BAG_GAIN * c / size) for t, c in counts.items()})

    def _intents_used(self, texts: Sequence[str]) -> frozenset[str]:
        """The intent groups at least a few of the entry's texts express at all."""
        return frozenset(group.name for group in self.intent_groups
                         if sum(group.label(t) is not None for t in texts)
                         >= INTENT_USED * len(texts))

    def _entry_intents(self, texts: Sequence[str]) -> Mapping[str, str]:
        """Per intent group, the label most of the entry's texts carry (if at least half)."""
        out: dict[str, str] = {}
        for group in self.intent_groups:
            # texts without a label in this group do not vote
            labels = Counter(label for label in map(group.label, texts) if label is not None)
            if labels:
                label, count = labels.most_common(1)[0]
                if count * 2 >= len(texts):
                    out[group.name] = label
        return out
