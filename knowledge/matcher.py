"""Question → FAQ entry, with a score from 0 to 100 and three bands.

Scoring (all KB-side work is done once, in ``knowledge.index``):

1. Small talk (你好, 谢谢 …) is answered before any matching.
2. The question is normalised (``knowledge.normalize``), the regions it names are noted, and
   it is segmented with the KB's small jieba dictionary.
3. Cheap stage: rapidfuzz scans every KB text (C speed) and keeps the ``CHEAP_K`` closest.
4. Fine stage, on those texts only: a weighted term overlap (F1 of how much of the question
   and of the phrasing the shared terms cover; rare domain words weigh most, 怎么/办理 almost
   nothing) blended with a character-level similarity; an entry scores its best phrasing,
   plus a little for how much of the question its whole vocabulary covers.
5. Guards: no shared domain content → heavily discounted; an intent conflicting with the
   entry's (绑定/解绑, 缴费/断缴, 亲情账户/共济账户, 谁绑定了我/怎么绑定) → penalty; the question
   closer to one of the entry's ``not:`` phrasings than to its phrasings → penalty; region rule
   (the asker's or the named region's entry wins over a near-equal one, and a region-specific
   entry yields to the national one when no region is known or named).
6. Bands from configuration: ≥ answer_threshold answers; ≥ suggest_threshold offers up to
   ``max_suggestions`` "did you mean" entries; below, an honest fallback with the hotline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz, process

from knowledge.index import Doc, Index
from knowledge.kb import Entry, KnowledgeBase
from knowledge.normalize import light
from knowledge.smalltalk import SmallTalk, Texts

Kind = Literal["answer", "suggest", "fallback", "smalltalk"]

MAX_CHARS = 300          # longer messages are matched on their start only
CHEAP_K = 30             # texts kept by the cheap stage
TERM_SHARE = 0.5         # term overlap vs character similarity in a phrasing's score
BAG_SHARE = 0.45         # entry vocabulary coverage vs best phrasing in an entry's score
BAG_GAIN = 3.0           # a term in a third of an entry's phrasings counts fully
CONTENT_MIN = 0.15       # shared non-generic weight below which there is no shared content
NO_CONTENT_FACTOR = 0.45
INTENT_PENALTY = 18.0
NOT_PENALTY = 20.0
REGION_BONUS = 5.0       # entry of the asker's / named region
REGION_OTHER = 15.0      # entry of another region than the known one
REGION_UNKNOWN = 5.0     # region-specific entry, no region known


@dataclass(frozen=True)
class Suggestion:
    entry: Entry
    score: float


@dataclass(frozen=True)
class Answer:
    question: str
    kind: Kind
    entry: Entry | None
    score: float
    suggestions: list[Suggestion] = field(default_factory=list)
    text: str = ""


@dataclass
class _Query:
    text: str                     # normalised
    weights: dict[str, float]
    total: float
    intents: dict[str, str]
    regions: frozenset[str]       # named in the question, or the asker's


class Matcher:
    def __init__(self, kb: KnowledgeBase, *, answer_threshold: float, suggest_threshold: float,
                 max_suggestions: int, hotline: str = "12333") -> None:
        self.kb = kb
        self.index = Index(kb)
        self.answer_threshold = float(answer_threshold)
        self.suggest_threshold = float(suggest_threshold)
        self.max_suggestions = int(max_suggestions)
        self.smalltalk = SmallTalk.load()
        self.texts = Texts.load(hotline)
        self._choices = [d.text for d in self.index.docs]
        self._hold_out = -1       # a doc to ignore (leave-one-out evaluation in bench/)

    # -- public ---------------------------------------------------------------------------
    def ask(self, question: str, region: str | None = None) -> Answer:
        """Answer one question (never raises on odd input)."""
        question = question if isinstance(question, str) else str(question)
        text = light(question[:MAX_CHARS])
        talk = self.smalltalk.kind(text)
        if talk is not None:
            return Answer(question, "smalltalk", None, 0.0, [], self.smalltalk.replies[talk])
        if not text:
            return Answer(question, "fallback", None, 0.0, [], self.texts.empty)
        ranked = self._rank(self.smalltalk.strip(text), region)
        best = ranked[0] if ranked else None
        if best is not None and best.score >= self.answer_threshold:
            return Answer(question, "answer", best.entry, best.score, [], best.entry.answer)
        offered = [s for s in ranked if s.score >= self.suggest_threshold][: self.max_suggestions]
        score = best.score if best else 0.0
        if offered:
            lines = [self.texts.suggest_intro]
            lines += [f"{i}. {s.entry.question}" for i, s in enumerate(offered, 1)]
            lines.append(self.texts.suggest_outro)
            return Answer(question, "suggest", None, score, offered, "\n".join(lines))
        return Answer(question, "fallback", None, score, [], self.texts.fallback)

    def rank(self, question: str, region: str | None = None, *, full: bool = False
             ) -> list[Suggestion]:
        """Every candidate entry, best first (``full``: fine-score every KB text; for tests)."""
        text = self.smalltalk.strip(light(str(question)[:MAX_CHARS]))
        return self._rank(text, region, full=full)

    # -- scoring --------------------------------------------------------------------------
    def _query(self, light_text: str, region: str | None) -> _Query | None:
        idx = self.index
        text = idx.normalizer.canonical(light_text)
        named = idx.strip_regions(text)[1]
        if not text:
            return None
        weights = {t: idx.weight(t) for t in idx.query_terms(text)}
        total = sum(weights.values())
        if total <= 0:
            return None
        intents = {}
        for group in idx.intent_groups:
            label = group.label(text)
            if label is not None:
                intents[group.name] = label
        regions = named or (frozenset([region]) if region and region != "national" else named)
        return _Query(text, weights, total, intents, regions)

    def _similarity(self, q: _Query, doc: Doc) -> tuple[float, float]:
        """(similarity 0–1, shared non-generic weight)."""
        shared = 0.0
        content = 0.0
        generic = self.index.generic
        for term, w in q.weights.items():
            if term in doc.terms:
                shared += w
                if term not in generic:
                    content += w
        term_f1 = 0.0
        if shared > 0 and doc.weight > 0:
            cq, cd = shared / q.total, shared / doc.weight
            term_f1 = 2 * cq * cd / (cq + cd)
        chars = fuzz.ratio(q.text, doc.text) / 100.0
        return TERM_SHARE * term_f1 + (1 - TERM_SHARE) * chars, content

    def _candidates(self, q: _Query, full: bool) -> list[int]:
        if full:
            return list(range(len(self.index.docs)))
        hits = process.extract(q.text, self._choices, scorer=fuzz.ratio, limit=CHEAP_K)
        return [k for _, _, k in hits]

    def _rank(self, light_text: str, region: str | None, *, full: bool = False
              ) -> list[Suggestion]:
        q = self._query(light_text, region)
        if q is None:
            return []
        docs = self.index.docs
        best: dict[int, tuple[float, float]] = {}
        for k in self._candidates(q, full):
            if k == self._hold_out:
                continue
            doc = docs[k]
            if doc.positive:
                sim = self._similarity(q, doc)
                if sim > best.get(doc.entry, (-1.0, 0.0)):
                    best[doc.entry] = sim
            else:
                best.setdefault(doc.entry, (0.0, 0.0))
        scored = []
        for entry, (sim, content) in best.items():
            score = self._entry_score(q, entry, sim, content)
            scored.append(Suggestion(self.index.entries[entry], round(max(0.0, min(100.0, score)), 1)))
        scored.sort(key=lambda s: -s.score)
        return scored

    def _entry_score(self, q: _Query, entry: int, sim: float, content: float) -> float:
        idx = self.index
        bag = idx.bags[entry]
        covered = sum(w * min(1.0, BAG_GAIN * bag[t]) for t, w in q.weights.items() if t in bag)
        bag_content = sum(w for t, w in q.weights.items() if t in bag and t not in idx.generic)
        score = 100.0 * ((1 - BAG_SHARE) * sim + BAG_SHARE * covered / q.total)
        if max(content, bag_content) < CONTENT_MIN:
            score *= NO_CONTENT_FACTOR
        intents = idx.intents[entry]
        if any(intents.get(g, label) != label for g, label in q.intents.items()):
            score -= INTENT_PENALTY
        nots = idx.not_docs[entry]
        if nots:
            worst = max(self._similarity(q, idx.docs[k])[0] for k in nots)
            if worst >= sim:
                score -= NOT_PENALTY
        return score + self._region_adjustment(q, idx.entries[entry].region)

    @staticmethod
    def _region_adjustment(q: _Query, region: str) -> float:
        if region == "national":
            return 0.0
        if region in q.regions:
            return REGION_BONUS
        return -REGION_OTHER if q.regions else -REGION_UNKNOWN
