"""Question → FAQ entry, with a score from 0 to 100 and three bands.

Two rankers. Up to ``LEARNED_MAX`` KB texts (the real KB and every test KB), the learned one
(``knowledge.learning``: character n-gram TF-IDF and a linear model trained on the KB's
phrasings, taught questions and labelled development questions, with probabilities calibrated on
development data). Questions are read as typed (``knowledge.typed``: traditional characters,
places from data, the question inside a long paragraph). Then:

- a question word for word one of an entry's phrasings is answered from that entry;
- regions: an entry of a region other than the one named (or the asker's), or about a place
  the question does not name (``place:`` 杭州), is never given; a
  national entry whose own region variant (in its ``related``) exists gives way to it; a place
  with no policy of its own here gets national entries only, with a pointer to its 医保部门;
- the top class "none" or an out-of-scope topic → an honest fallback (naming the topic);
- a word or two (绑定, 家人), or two entries on different topics about as likely (``TORN``) and
  not related to each other (``related`` either way: 借卡给家人 and 拿我的卡给家人刷 are one
  answer told twice, not rivals), is offered as "did you mean", never answered;
- the calibrated confidence (about the entries at all × the top entry right) ≥ the fitted
  answer band → answered, with the runners-up as related questions; else the entries from the
  fitted suggestion band are offered as "did you mean"; else the fallback.

Larger KBs (the synthetic 50,000-phrasing speed test) use the rule-based scorer below, which is
also the fallback when the learned model cannot be built.

Rule-based scoring (all KB-side work is done once, in ``knowledge.index``):

1. Small talk (你好, 谢谢 …) is answered before any matching.
2. The question is normalised (``knowledge.normalize``), the regions it names are noted, and
   it is segmented with the KB's small jieba dictionary.
3. Cheap stage: rapidfuzz scans every KB phrasing (C speed, on single-byte character codes:
   ``_Code``) and keeps the ``CHEAP_K`` closest by spelling; on very large KBs (synthetic 50k
   texts) an inverted index over the question's most telling terms takes its place (terms found
   in a large share of the KB are skipped).
4. Fine stage, on those texts only (``knowledge.scoring``): a weighted term overlap (F1 of how
   much of the question and of the phrasing the shared terms cover; rare domain words weigh
   most, 怎么/办理 little) blended with a character-level similarity. An entry scores its best
   phrasing, blended with how much of the question its whole vocabulary covers (terms and
   character bigrams used by enough of its phrasings count fully, weighted by inverse entry
   frequency) and, a little, how much its answer text covers.
5. Guards: no shared domain content → heavily discounted; most of the question's content words
   absent from the entry's phrasings and answer → penalty; a word naming another scheme or
   service (公积金, 养老金 … matching.yaml ``foreign``) that the entry never uses → discounted;
   an intent conflicting with the entry's (绑定/解绑, 缴费/断缴, 亲情账户/共济账户, 谁绑定了我/怎么
   绑定) → penalty; the question word for word one of the entry's ``not:`` phrasings, or closer
   to one of them than to its phrasings → penalty; region rule (the asker's or the named
   region's entry wins over a near-equal one, a region's own variant of the national entry on
   top takes its place, and a region-specific entry yields to a national one scoring about the
   same when no region is known or named). And for the question as a whole (every candidate
   alike, so only the bands move): no term that many entries share (共济, 医保, 亲属 …) and many
   character bigrams the KB never uses → penalty; no Chinese and no KB word (digits, a URL,
   English) → fallback at once.
6. Bands from configuration: ≥ answer_threshold (and a clear lead over the runner-up) answers;
   ≥ suggest_threshold offers up to
   ``max_suggestions`` "did you mean" entries; below, an honest fallback with the hotline.
7. Out-of-scope topics (``knowledge.outside``: reimbursement ratios, 异地就医备案 …) are scored
   like entries. One on top (from ``OUTSIDE_FLOOR``) makes the answer an honest fallback that
   names the topic and where to ask; they are never answered or suggested.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz, process

from knowledge.index import Index
from knowledge.kb import Entry, KnowledgeBase
from knowledge.learning import OFFER, Calibration, Learned, View, family, kin_of, offered
from knowledge.normalize import light
from knowledge.outside import load_outside
from knowledge.ranker import NONE
from knowledge.scoring import (
    EXACT,
    TERM_SHARE,
    Query,
    calibrated,
    entry_score,
    make_query,
    raw_score,
    similarity,
)
from knowledge.smalltalk import SmallTalk, Texts
from knowledge.typed import simplified

Kind = Literal["answer", "suggest", "fallback", "smalltalk"]

MAX_CHARS = 300          # longer messages are matched on their start only
_CJK = re.compile(r"[\u3400-\u9fff]")  # questions without Chinese go to the rule-based scorer
LEARNED_MAX = 20_000     # KB texts up to which the learned ranker is used (training time)
VARIANT_SHARE = 0.01     # a region's related entry on the same topic this close to the national
                         # top is its variant
UNNAMED_REGION = 0.03    # no region known or named: a regional entry's probability weighs this
TORN = 0.8               # two entries on different topics this close (second/first) are a
                         # "did you mean", not an answer (real_dev seeds 11–13: 1 right answer
                         # in 53 becomes a suggestion on two of them)
MIN_ANSWERED = 3         # Chinese characters from which a question can be answered directly
PLACE_NOTE = "具体以{place}医保部门的规定为准。"
OUTSIDE_SHARE = 0.5      # not answered: a topic this close to the best entry gets its referral
OUTSIDE_MIN = 0.002      # … if its probability is at least this (else: the plain fallback)
CHEAP_K = 28             # texts kept by the cheap stage
CHEAP_TERMS = 8          # the question's most telling terms looked up in the term stage
MAX_ENTRIES = 10         # candidate entries (by best phrasing) that get a full score
# CHEAP_K was 40, then 36 when the out-of-scope topics added 290 texts to scan; MAX_ENTRIES was
# 12. With 4,298 texts the real-KB median had drifted to 0.53 ms (bench/bench_ask.py), over the
# 0.5 ms goal. 28 and 10: 9 % faster, for top-1 84.0 → 83.8 % and top-3 92.8 → 92.6 % on the
# unfolded dev sets (dev_set_4 + dev_set_5) and 82.3 → 82.1 % / 92.4 → 92.1 % leave-one-out;
# answers, wrong answers and off-topic refusal unchanged.
MAX_POSTING = 60         # a term in more texts than this (or 4 % of them) is not looked up
NOT_CHECKED = 6          # entries near the top whose not: phrasings are compared
RAPIDFUZZ_MAX = 20_000   # up to this many texts the cheap stage is a character scan
NOT_PENALTY = 10.0       # the question is closer to one of the entry's not: phrasings
NOT_EXACT_PENALTY = 50.0  # the question is one of the entry's not: phrasings, word for word
VARIANT_GAP = 40.0       # reported points within which a region's variant of an entry goes first
NEAR_TIE = 5.0           # reported points within which a national entry still goes first
MIN_MARGIN = 10.0        # raw points the best entry must lead the next by to answer directly
# An out-of-scope topic (knowledge.outside) on top from this reported score gets its referral
# rather than the plain fallback. Below the suggest band nothing else could be shown anyway; on
# 1,932 development questions about family mutual aid (dev_set_4, dev_set_5) a topic is on top
# from 30 points for the same 2 as from 50, and 137 of 350 off-topic ones (dev_offtopic_2, _3).
OUTSIDE_FLOOR = 35.0


class _Code(dict):
    """A recoding of the KB's characters into single bytes for the character stage, so that
    rapidfuzz compares every text by table lookup (measured: the scan a third faster than with
    the rare characters left above U+00FF). The FREQUENT most used characters keep a code of
    their own; the rest of the KB's characters share the remaining codes, so two rare ones can
    look alike there. That only raises a text's character score (an upper bound of the true
    one), and every text kept is scored again on its real characters. Characters the KB never
    uses become 0, which no KB text contains."""

    FREQUENT = 200
    last_own = chr(FREQUENT)

    @classmethod
    def of(cls, texts: Iterable[str]) -> _Code:
        counts = Counter(ch for text in texts for ch in text)
        ranked = [ch for ch, _ in counts.most_common()]
        shared = 255 - cls.FREQUENT
        return cls({ord(ch): i + 1 if i < cls.FREQUENT else cls.FREQUENT + 1 + i % shared
                    for i, ch in enumerate(ranked)})

    def __missing__(self, key: int) -> int:
        return 0


@dataclass(frozen=True)
class Suggestion:
    entry: Entry
    score: float


@dataclass(frozen=True)
class Where:
    """Where the asker is, as far as the question (or their record) tells."""
    pointer: str | None = None             # a named place with no policy of its own here
    regions: frozenset[str] = frozenset()  # the asker's or named regions
    places: frozenset[str] = frozenset()   # places the question names
    known: bool = False                    # a region, a place, or "national" is known

    def local(self, entry: Entry) -> bool:
        """An entry of the asker's region, or about a place the question names (杭州)."""
        return entry.region in self.regions or (entry.place is not None
                                                and entry.place in self.places)

    def fits(self, entry: Entry) -> bool:
        """Whether ``entry`` may be offered to this asker: anyone's entry, or one of their
        region or of a place they named; when nothing is known, every entry (a region's entry
        names its region in its question)."""
        return not self.known or general(entry) or self.local(entry)


def general(entry: Entry) -> bool:
    """An entry for everyone: national, about no place in particular."""
    return entry.region == "national" and entry.place is None


@dataclass(frozen=True)
class Answer:
    question: str
    kind: Kind
    entry: Entry | None
    score: float
    suggestions: list[Suggestion] = field(default_factory=list)
    text: str = ""
    outside: Entry | None = None  # the out-of-scope topic a fallback is about (knowledge.outside)
    related: list[Suggestion] = field(default_factory=list)  # answered: runner-up entries
    where: Where = field(default_factory=Where)  # which related entries suit this asker


class Matcher:
    def __init__(self, kb: KnowledgeBase, *, answer_threshold: float, suggest_threshold: float,
                 max_suggestions: int, hotline: str = "12393",  # bot.settings.HOTLINE
                 outside: Sequence[Entry] | None = None,
                 questions: Sequence[tuple[str, str]] | None = None,
                 calibration: Calibration | None = None) -> None:
        """``outside``: the out-of-scope topics (default: ``knowledge/out_of_scope.yaml``);
        ``questions``: labelled development questions to train on (default:
        ``knowledge/questions.yaml``) and ``calibration`` (default: ``knowledge/calibration.yaml``):
        see ``knowledge.learning``."""
        self.kb = kb
        if outside is None:
            outside = load_outside(taken=(e.id for e in kb.entries))
        self._outside = tuple(outside)
        self._outside_ids = frozenset(e.id for e in outside)
        self.answer_threshold = float(answer_threshold)
        self.suggest_threshold = float(suggest_threshold)
        self.max_suggestions = int(max_suggestions)
        self.smalltalk = SmallTalk.load()
        self.texts = Texts.load(hotline)
        self._hold_out = -1       # a doc index to ignore: leave-one-phrasing-out evaluation
        self._entries = {e.id: e for e in (*kb.entries, *outside)}
        self._kin = kin_of(kb.entries)
        self._index: Index | None = None
        texts = sum(1 + len(e.phrasings) + len(e.nots) for e in self._entries.values())
        self.learned: Learned | None = None
        if texts <= LEARNED_MAX:
            self.learned = Learned([*kb.entries, *outside], kb.digest, questions, calibration)
        else:
            self._classic()

    @property
    def index(self) -> Index:
        """The rule-based scorer's index (built on first use: the learned ranker needs none)."""
        return self._classic()

    def _classic(self) -> Index:
        if self._index is None:
            index = Index(self.kb, outside=self._outside)
            # the character stage scans each distinct phrasing text once; not: phrasings are
            # found by exact text (a question near one is handled by the not: check on the top)
            by_text: dict[str, list[int]] = {}
            self._not_by_text: dict[str, list[int]] = {}
            for k, d in enumerate(index.docs):
                (by_text if d.positive else self._not_by_text).setdefault(d.text, []).append(k)
            self._code = _Code.of(by_text)
            self._choices = [text.translate(self._code) for text in by_text]
            self._choice_docs = list(by_text.values())
            self._index = index
        return self._index

    # -- public ---------------------------------------------------------------------------
    def ask(self, question: str, region: str | None = None) -> Answer:
        """Answer one question (never raises on odd input)."""
        question = question if isinstance(question, str) else str(question)
        raw = simplified(question[:MAX_CHARS])
        text = light(raw)
        talk = self.smalltalk.kind(text)
        if talk is not None:
            return Answer(question, "smalltalk", None, 0.0, [], self.smalltalk.replies[talk])
        if not text:
            return Answer(question, "fallback", None, 0.0, [], self.texts.empty)
        if self.learned is not None and _CJK.search(text):
            stripped = self.smalltalk.strip(text)
            return self._ask_learned(question, raw if stripped == text else stripped, region)
        ranked, exact = self._rank(self.smalltalk.strip(text), region)
        best = ranked[0] if ranked else None
        if (best is not None and best.entry.id in self._outside_ids
                and best.score >= min(OUTSIDE_FLOOR, self.suggest_threshold)):
            # a neighbouring topic the assistant does not cover: say so, and where to ask
            return Answer(question, "fallback", None, best.score, [],
                          self.texts.outside(best.entry.answer), outside=best.entry)
        if (best is not None and best.score >= self.answer_threshold
                and (best.entry.id in exact or self._clear_lead(ranked))):
            return Answer(question, "answer", best.entry, best.score, [], best.entry.answer)
        offered = [s for s in ranked if s.score >= self.suggest_threshold
                   and s.entry.id not in self._outside_ids][: self.max_suggestions]
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
        raw = simplified(str(question)[:MAX_CHARS])
        text = self.smalltalk.strip(light(raw))
        if self.learned is not None and _CJK.search(text):
            ranked, exact, _, p_none, scope, cue = self._learned_rank(
                raw if text == light(raw) else text, region)
            by_id = {s.entry.id: s for s in self._judged(ranked, exact, p_none, scope, cue)[0]}
            return [by_id.get(e.id) or Suggestion(e, self._score(p)) for e, p in ranked]
        return self._rank(text, region, full=full)[0]

    def view(self, question: str, region: str | None = None) -> View:
        """What the learned ranker decides on for this question (``learning.View``): what the
        calibration is fitted on (``bench/real_eval.py``), so that it is fitted on what is
        answered. Small talk and questions with no Chinese are never answered from an entry."""
        raw = simplified(str(question)[:MAX_CHARS])
        text = light(raw)
        if (self.learned is None or not text or self.smalltalk.kind(text) is not None
                or not _CJK.search(text)):
            return View(-1, (), 1.0, answerable=False)
        stripped = self.smalltalk.strip(text)
        text = raw if stripped == text else stripped
        ranked, exact, _, p_none, scope, cue = self._learned_rank(text, region)
        entries = [(e, p) for e, p in ranked if e.id not in self._outside_ids]
        p_other = p_none + sum(p for e, p in ranked if e.id in self._outside_ids)
        if not entries:
            return View(-1, (), p_other, scope, answerable=False)
        return View(self.learned.index[entries[0][0].id],
                    tuple(p for _, p in entries[:OFFER + 2]), p_other, scope,
                    exact is not None,
                    len(_CJK.findall(text)) >= MIN_ANSWERED and not self._torn(ranked), cue)

    # -- the learned ranker -----------------------------------------------------------------
    def _score(self, p: float) -> float:
        assert self.learned is not None
        s = self.learned.calibration.score(p, self.answer_threshold, self.suggest_threshold)
        return round(max(0.0, min(100.0, s)), 1)

    def _learned_rank(self, question: str, region: str | None
                      ) -> tuple[list[tuple[Entry, float]], Entry | None, Where, float,
                                 float, float]:
        """Candidates best first with their probabilities ("none" left out); the entry the
        question is word for word a phrasing of; where the asker is (with the place to point
        to: one with no policy of its own here); the probability that the question is about
        none of the entries; and the in-scope model's margin."""
        assert self.learned is not None
        classes, typed, exact_id, scope = self.learned.ranked(question)
        place = typed.other_place
        regions = set(typed.regions)
        if not regions and place is None and region and region != "national":
            regions = {region}
        p_none = next((p for c, p in classes if c == NONE), 0.0)
        ranked = [(self._entries[c], p) for c, p in classes if c in self._entries]
        exact = self._entries.get(exact_id) if exact_id else None
        known = bool(regions) or region == "national"     # the asker's region, or one named
        where = Where(place.name if place is not None else None, frozenset(regions),
                      frozenset(p.name for p in typed.places), known or place is not None)
        local = where.local
        if known or place is not None:
            # never another region's (or place's) rules: only national entries and the named
            # region's. What the model gave the others is no answer here: it counts as "none of
            # the entries" (天津医保额度超出7500元 is mostly 东营's limit entry, not a national
            # one's question; 东营断缴一个月 is not 杭州's)
            kept = [(e, p) for e, p in ranked if general(e) or local(e)]
            p_none += sum(p for _, p in ranked) - sum(p for _, p in kept)
            ranked = kept
            if exact is not None and not general(exact) and not local(exact) and (
                    known or exact.place is not None):
                exact = None
        elif ranked and exact is None:
            # no region known or named: a region's (or a place's) own entries count for less
            # than national ones
            ranked = sorted(((e, p if general(e) else p * UNNAMED_REGION)
                             for e, p in ranked), key=lambda ep: -ep[1])
        if exact is not None:
            ranked = [(exact, 1.0)] + [(e, p) for e, p in ranked if e.id != exact.id]
            p_none = 0.0
            if exact.id in self._outside_ids:    # word for word an out-of-scope topic's
                exact = None
        # a region's (or named place's) own version of the national entry on top goes first (an
        # exact phrasing that names a place was placed by the KB's authors: it stays)
        if (ranked and general(ranked[0][0])
                and (exact is None or not typed.places)):
            top, top_p = ranked[0]
            variant = next((e for e, p in ranked[1:] if local(e)
                            and e.topic == top.topic
                            and (e.id in top.related or top.id in e.related)
                            and p >= VARIANT_SHARE * top_p), None)
            if variant is None and exact is not None:
                variant = next((v for v in map(self._entries.get, top.related)
                                if v is not None and local(v)
                                and v.topic == top.topic), None)
            if variant is not None:
                ranked = [(variant, 0.0), *((e, p) for e, p in ranked if e is not variant)]
                exact = variant if exact is not None else None
        # the region's (or place's) entry on top and its national version are one answer, not
        # rivals
        if ranked and local(ranked[0][0]):
            top = ranked[0][0]
            same = {e.id for e, _ in ranked[1:] if general(e)
                    and (e.id in top.related or top.id in e.related)}
            mass = ranked[0][1] + sum(p for e, p in ranked if e.id in same)
            ranked = [(top, mass), *((e, p) for e, p in ranked[1:] if e.id not in same)]
        return ranked, exact, where, p_none, scope, family(typed.text)

    def _judged(self, ranked: list[tuple[Entry, float]], exact: Entry | None, p_none: float,
                scope: float = 0.0, cue: float = 0.0) -> tuple[list[Suggestion], float, int]:
        """Entries (out-of-scope topics left out) with 0–100 scores; the score of the first
        (the calibrated confidence that it is the right one, ``knowledge.learning``); and how
        many are offered (the right one is probably among them: scores ≥ the suggest band)."""
        assert self.learned is not None
        cal = self.learned.calibration
        entries = [(e, p) for e, p in ranked if e.id not in self._outside_ids]
        if not entries:
            return [], 0.0, 0
        probs = [p for _, p in entries]
        p_other = p_none + sum(p for e, p in ranked if e.id in self._outside_ids)
        conf = 1.0 if exact is not None else cal.confidence(
            probs[0], probs[1] if len(probs) > 1 else 0.0, p_other, scope, cue)
        top = self._score(conf)
        k = offered(probs)
        set_score = self._score(cal.confidence(sum(probs[:k]), probs[k] if len(probs) > k
                                               else 0.0, p_other, scope, cue))
        k = k if max(top, set_score) >= self.suggest_threshold else 0
        below_answer = self.answer_threshold - 0.1
        scored = []
        for i, (e, p) in enumerate(entries):
            share = p / probs[0] if probs[0] > 0 else 0.0
            s = top if i == 0 else self._score(conf * share)
            if i < k:
                s = max(s, min(below_answer, self.suggest_threshold
                               + (max(top, set_score) - self.suggest_threshold) * share))
            scored.append(Suggestion(e, round(s, 1)))
        return scored, top, k

    def _ask_learned(self, question: str, text: str, region: str | None) -> Answer:
        ranked, exact, where, p_none, scope, cue = self._learned_rank(text, region)
        scored, score, k = self._judged(ranked, exact, p_none, scope, cue)
        if (exact is None and scored and score >= self.answer_threshold
                and (len(_CJK.findall(text)) < MIN_ANSWERED or self._torn(ranked))):
            # a word or two (绑定, 家人, 钱) names a topic, not a question; two entries on
            # different topics about as likely: offer, don't answer
            score = min(score, self.answer_threshold - 0.1)
            scored[0] = Suggestion(scored[0].entry, score)
            k = max(k, min(2, len(scored)))
        if scored and score >= self.answer_threshold:
            best = scored[0].entry
            related = [s for s in scored[1:k]][: self.max_suggestions]
            text = best.answer
            if where.pointer:
                text = f"{text}\n\n{PLACE_NOTE.format(place=where.pointer)}"
            return Answer(question, "answer", best, score, [], text, related=related,
                          where=where)
        offered_ = [s for s in scored[:k] if s.score >= self.suggest_threshold]
        offered_ = offered_[: self.max_suggestions]
        if offered_:
            lines = [self.texts.suggest_intro]
            lines += [f"{i}. {s.entry.question}" for i, s in enumerate(offered_, 1)]
            lines.append(self.texts.suggest_outro)
            return Answer(question, "suggest", None, offered_[0].score, offered_,
                          "\n".join(lines))
        # about something else: name the neighbouring topic when one stands out
        topics = [(e, p) for e, p in ranked if e.id in self._outside_ids]
        p_entry = next((p for e, p in ranked if e.id not in self._outside_ids), 0.0)
        if topics and topics[0][1] >= max(OUTSIDE_SHARE * p_entry, OUTSIDE_MIN):
            return Answer(question, "fallback", None, score, [],
                          self.texts.outside(topics[0][0].answer), outside=topics[0][0])
        return Answer(question, "fallback", None, score, [], self.texts.fallback)

    def _torn(self, ranked: list[tuple[Entry, float]]) -> bool:
        """The two best entries are on different topics, not related to each other, and the
        second is nearly as likely."""
        entries = [(e, p) for e, p in ranked if e.id not in self._outside_ids][:2]
        return (len(entries) == 2 and entries[0][0].topic != entries[1][0].topic
                and entries[1][0].id not in self._kin.get(entries[0][0].id, frozenset())
                and entries[1][1] >= TORN * entries[0][1])

    def _clear_lead(self, ranked: list[Suggestion]) -> bool:
        """Answer only when the runner-up is not nearly as good (else: did you mean). Entries a
        region rule put behind the top one on purpose are not its rivals."""
        rivals = [s.score for s in ranked[1:] if s.score <= ranked[0].score]
        if not rivals:
            return True
        return raw_score(ranked[0].score) - raw_score(max(rivals)) >= MIN_MARGIN

    # -- scoring --------------------------------------------------------------------------
    def _candidates(self, q: Query, full: bool
                    ) -> list[tuple[int, float | None, float | None]]:
        """Texts worth a fine score, each with an upper bound of its character similarity and
        the similarity itself, when the character stage gave them (see ``_Code``)."""
        if full:
            return [(k, None, None) for k in range(len(self.index.docs))]
        if len(self._choices) <= RAPIDFUZZ_MAX:
            # Character stage (C speed at this size). Measured better than the term stage as a
            # first filter: a candidate must also look like the question.
            coded = q.text.translate(self._code)
            hits = process.extract(coded, self._choices, scorer=fuzz.ratio, limit=CHEAP_K)
            # only a shared code in the question lets two different characters meet
            exact = max(coded, default="") <= self._code.last_own
            return [(k, score, score if exact else None)
                    for _, score, i in hits for k in self._choice_docs[i]]
        return [(k, None, None) for k in self._term_candidates(q)]

    def _term_candidates(self, q: Query) -> list[int]:
        """Large KBs: texts sharing the question's most telling terms, by shared weight. A term
        found in a large share of the KB tells little and would cost most: it is skipped."""
        idx = self.index
        cap = max(MAX_POSTING, len(idx.docs) // 25)
        shared: dict[int, float] = {}
        telling = heapq.nlargest(CHEAP_TERMS, q.weights.items(), key=lambda tw: tw[1])
        for term, w in telling:
            posting = idx.postings.get(term)
            if posting is None or len(posting) > cap:
                continue
            for k in posting:
                shared[k] = shared.get(k, 0.0) + w
        return heapq.nlargest(CHEAP_K, shared, key=shared.__getitem__)

    def _rank(self, light_text: str, region: str | None, *, full: bool = False
              ) -> tuple[list[Suggestion], set[str]]:
        """Candidates best first, and the ids of entries the question is a phrasing of."""
        q = make_query(self._classic(), light_text, region)
        if q is None:
            return [], set()
        idx = self.index
        best = self._best_phrasings(q, full)
        kept = heapq.nlargest(MAX_ENTRIES, best, key=lambda e: best[e][0])
        raw = {e: entry_score(idx, q, e, *best[e]) for e in kept}
        order = sorted(raw, key=raw.__getitem__, reverse=True)
        # Penalties only lower scores, so the not: check is needed only near the top, and not
        # for an entry already below the suggest band (it cannot be shown, nor be a rival).
        floor = raw_score(self.suggest_threshold)
        for e in order[:NOT_CHECKED]:
            if e in q.refused:           # word for word one of its not: phrasings
                raw[e] -= NOT_EXACT_PENALTY
            elif (best[e][0] < EXACT and raw[e] >= floor
                  and self._closer_to_not(q, e, best[e][0])):
                raw[e] -= NOT_PENALTY
        order.sort(key=raw.__getitem__, reverse=True)
        scored = [Suggestion(idx.entries[e], round(calibrated(raw[e]), 1)) for e in order]
        exact = {idx.entries[e].id for e, (sim, _) in best.items() if sim >= EXACT}
        scored = self._national_first(q, scored, exact, self._outside_ids)
        if scored and (scored[0].entry.id not in exact or not q.named):
            # (an exact phrasing naming its region was placed by the KB authors: keep it)
            scored = self._regional_variant_first(q, scored)
        return scored, exact

    def _regional_variant_first(self, q: Query, scored: list[Suggestion]) -> list[Suggestion]:
        """A known region's own version of the national entry on top goes first, with the top
        entry's standing: an entry of that region, listed in the top entry's ``related``, that
        matches reasonably well."""
        if not q.regions or not scored or scored[0].entry.region != "national":
            return scored
        top = scored[0]
        for i, s in enumerate(scored[1:], 1):
            if top.score - s.score > VARIANT_GAP:
                break
            if (s.entry.region in q.regions and s.entry.id in top.entry.related
                    and s.score >= self.suggest_threshold):
                # it stands in for the top entry, just below it (so that one is no rival)
                s = Suggestion(s.entry, max(s.score, round(top.score - 0.1, 1)))
                return [s, *scored[:i], *scored[i + 1:]]
        return scored

    def _best_phrasings(self, q: Query, full: bool) -> dict[int, tuple[float, float]]:
        """Per candidate entry: (similarity of its best phrasing, shared content weight)."""
        docs = self.index.docs
        best: dict[int, tuple[float, float]] = {}
        none = (-1.0, 0.0)
        for k, bound, chars in self._candidates(q, full):
            if k == self._hold_out:
                continue
            doc = docs[k]
            if doc.positive:
                known = best.get(doc.entry, none)
                if bound is not None and TERM_SHARE + (1 - TERM_SHARE) * bound / 100 < known[0]:
                    continue             # cannot beat the entry's best phrasing so far
                sim = similarity(self.index, q, doc, chars)
                if sim > known:
                    best[doc.entry] = sim
            else:
                best.setdefault(doc.entry, (0.0, 0.0))
        q.refused.update(docs[k].entry for k in self._not_by_text.get(q.text, ()))
        return best

    def _closer_to_not(self, q: Query, entry: int, sim: float) -> bool:
        docs = self.index.docs
        return any(similarity(self.index, q, docs[k])[0] >= sim for k in self.index.not_docs[entry])

    @staticmethod
    def _national_first(q: Query, scored: list[Suggestion], exact: set[str],
                        outside: frozenset[str]) -> list[Suggestion]:
        """With no region known or named, a near-equal national entry beats a regional one
        (unless the question is word for word one of the regional entry's phrasings); an
        out-of-scope topic (``outside``: their ids) is no national variant of anything."""
        if q.regions or not scored or scored[0].entry.region == "national":
            return scored
        if scored[0].entry.id in exact:
            return scored
        for i, s in enumerate(scored[1:], 1):
            if scored[0].score - s.score > NEAR_TIE:
                break
            if s.entry.region == "national" and s.entry.id not in outside:
                return [s, *scored[:i], *scored[i + 1:]]
        return scored


