"""The KB-level learned ranker: what the model is trained on, its cache key, and calibrated
probabilities for one question.

Training data (``samples``): every entry's canonical question and phrasings (taught questions
included: ``KnowledgeBase.with_phrasings``), the out-of-scope topics' phrasings, and the labelled
development questions of ``questions.yaml`` (written by ``bench/fold_questions.py``: real questions
from the public, the colloquial development sets, off-topic questions as the "none" class). A
development question whose entry the KB lacks is skipped, so a small test KB trains on its own.

Calibration (``calibration.yaml``, fitted by ``bench/real_eval.py --fit`` on out-of-fold scores of
the development questions): the model's margins times a temperature, softmaxed, give class
probabilities; the confidence that answering the top entry is right is P(the question is about
the entries: the in-scope model's margin, the mass on "none" and the topics, whether it names
the scheme's people or acts) × P(the top entry is the right one: its probability and lead), each
a Platt scaling fitted mostly on the questions from the public, judged as they are evaluated (an
entry is right when its answer has what the question needs) and seen as the matcher decides on
them (``View``: after its region rules). The confidence becomes the 0–100 score by a
piecewise-linear map that puts the fitted answer band on the configured answer threshold and
the fitted suggestion band on the suggestion threshold (so ``config.yaml``'s 72 / 50 mean "the
bands fitted on data").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from knowledge.cache import digest
from knowledge.kb import Entry
from knowledge.normalize import light
from knowledge.ranker import NONE, VERSION, Model, Sample, trained
from knowledge.typed import Typed, read, reading_key

QUESTIONS_FILE = Path(__file__).with_name("questions.yaml")
CALIBRATION_FILE = Path(__file__).with_name("calibration.yaml")
MATCHING_FILE = Path(__file__).with_name("matching.yaml")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TOP = 12                   # classes returned per question
SAMPLES = "samples-2"      # bump when what the model is trained on changes (cache key)
WRONG = 0.03               # on-topic questions answered wrong, at most
# Off-topic questions answered, at most. The band is the lowest confidence that keeps to it on
# the fitting questions, so it sits just above the highest off-topic question it refuses: with
# ~40 real off-topic ones, allowing one answered (3 %) leaves a new one above the band about
# 2 times in 41, the whole 5 % the refusal target (95 %) allows (real_dev 5-fold: 93.6 % on two
# seeds of 11–15); 0.02 allows none.
OFF_ANSWERED = 0.02
# An off-topic question just below the answer band counts as partly answered, σ((conf − band) /
# SOFT): the band is fitted on a few dozen real off-topic questions, and one that another sample
# would put a little higher should not sit right under it (real_dev 5-fold, seeds 11–20: refused
# 93.6–97.9 → 93.6–97.9 % with 8 of 10 seeds at 97.9 instead of 5, direct right unchanged on
# every seed; 0.1: one right answer fewer on two seeds)
SOFT = 0.05
# Off-topic questions we wrote offered a "did you mean", at most. 0.05 left 5.7 % of the real
# on-topic questions with a plain "I don't know", 0.10 1.9 % (bench/real_eval.py, seed 11);
# 0.15 none, but then 5.3 % of the eval set's off-topic questions got suggestions (its target: 5).
LEAK = 0.10
RELATED_SHARE = 0.1        # share of the best entry's probability from which one is offered too
OFFER = 3                  # entries offered at most
NONE_SHARE = 0.25          # "none" training questions, at most this share of the others
SCOPE_CLIP = 3.0           # the in-scope margin, bounded, as a confidence feature
# A real question from the public counts this many written ones in the calibration. The
# written development questions are judged by their one labelled entry (strict: a neighbouring
# entry whose answer serves as well counts as wrong) and are worded by us, so the confidence is
# in effect fitted on the real questions, the written ones only steadying it (bench/real_eval.py,
# real_dev 5-fold, seeds 11/12/13: 100 → 67.9/73.6/52.8 % answered right, 20 → 49.1–69.8 %;
# with the answer band fitted on all development questions instead, 30–38 %).
REAL_WEIGHT = 100.0
REAL_WEIGHT_RIGHT = 100.0  # … and in the factor "the top entry is the right one"


@dataclass(frozen=True)
class Calibration:
    temperature: float = 1.0   # margins × temperature → softmax: class probabilities
    # Confidence that answering the top entry is right, in two Platt-scaled factors: that the
    # question is about the entries at all, σ(u · (scope, log p_other, family, 1)), times that
    # the top entry is the right one if so, σ(v · (log p1, log p1 − log p2, 1)); p1, p2: the two
    # best entries, p_other: the mass on "none" and the out-of-scope topics (each at least
    # 0.01); scope: the in-scope model's margin (``ranker.Model.scope``); family: 1 when the
    # question names the scheme's people or acts (``family``). ``weights`` = v + u (six
    # weights: a calibration from before the family feature, without it).
    # Default: the top entry's probability.
    weights: tuple[float, ...] = ()
    answer: float = 0.5        # confidence from which a question is answered (fitted)
    suggest: float = 0.2       # confidence from which candidates are offered (fitted)

    def confidence(self, p1: float, p2: float, p_other: float, scope: float = 0.0,
                   family: float = 0.0) -> float:
        if len(self.weights) not in (6, 7):
            return p1
        right, inside = confidence_features(p1, p2, p_other, scope)
        if len(self.weights) == 7:
            inside = np.insert(inside, 2, family)
        w = np.asarray(self.weights)
        return float(_sigmoid(float(w[:3] @ right)) * _sigmoid(float(w[3:] @ inside)))

    def score(self, conf: float, answer_threshold: float, suggest_threshold: float) -> float:
        """Confidence → 0–100, monotone; the fitted bands land on the configured thresholds."""
        points = [(0.0, 0.0), (self.suggest, suggest_threshold),
                  (self.answer, answer_threshold), (1.0, 100.0)]
        for (c0, s0), (c1, s1) in zip(points, points[1:], strict=False):
            if conf <= c1:
                return s0 + (s1 - s0) * (conf - c0) / (c1 - c0) if c1 > c0 else s1
        return 100.0


def _sigmoid(x: float | np.ndarray) -> float | np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def confidence_features(p1: float, p2: float, p_other: float, scope: float = 0.0
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The two factors' features: (log p1, log p1 − log p2, 1) and (scope, log p_other, 1)."""
    floor = 0.01               # log-odds-like, bounded: tiny masses do not extrapolate
    l1, l2, lo = (np.log(max(p, floor)) for p in (p1, p2, p_other))
    return (np.array([l1, l1 - l2, 1.0]),
            np.array([max(-SCOPE_CLIP, min(SCOPE_CLIP, scope)), lo, 1.0]))


def load_calibration(path: Path = CALIBRATION_FILE) -> Calibration:
    if not path.exists():
        return Calibration()
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    return Calibration(float(data.get("temperature", 1.0)),
                       tuple(float(w) for w in data.get("weights") or ()),
                       float(data.get("answer", 0.5)), float(data.get("suggest", 0.2)))


def kin_of(entries: Iterable[Entry]) -> dict[str, frozenset[str]]:
    """Per entry, the entries that are not its rivals: those it names as related or that name
    it (a neighbouring answer on the same question: 借卡给家人 / 拿我的卡给家人刷)."""
    kin: dict[str, set[str]] = {}
    for e in entries:
        for other in e.related:
            kin.setdefault(e.id, set()).add(other)
            kin.setdefault(other, set()).add(e.id)
    return {k: frozenset(v) for k, v in kin.items()}


def entry_view(p: np.ndarray, entry: np.ndarray) -> tuple[int, float, float, float]:
    """The best entry class, its probability, the second entry's, and the rest's mass."""
    pe = np.where(entry, p, -1.0)
    order = np.argsort(-pe)[:2]
    p1, p2 = float(p[order[0]]), float(max(pe[order[1]], 0.0))
    return int(order[0]), p1, p2, float(p[~entry].sum())


def offered(p_entries: Sequence[float]) -> int:
    """How many of the best entries (probabilities best first) a "did you mean" would offer:
    those with at least ``RELATED_SHARE`` of the best one's probability, at most ``OFFER``."""
    if not p_entries:
        return 0
    return sum(1 for p in p_entries[:OFFER] if p >= RELATED_SHARE * p_entries[0])


@dataclass(frozen=True)
class View:
    """One question as the matcher decides on it: its best entry (a class index; -1: none),
    the entries' probabilities best first, the mass on "none" and the out-of-scope topics (and
    on entries its region rules set aside), the in-scope margin, whether it is word for word a
    phrasing, and whether it could be answered at all (not a word or two, not torn)."""
    top: int
    probs: tuple[float, ...]
    p_other: float
    scope: float = 0.0
    exact: bool = False
    answerable: bool = True
    family: float = 0.0        # the question names the scheme's people or acts (``family_words``)

    @property
    def pair(self) -> tuple[float, float]:
        """The best entry's probability and the second's."""
        return (self.probs[0] if self.probs else 0.0,
                self.probs[1] if len(self.probs) > 1 else 0.0)


def _raw_view(p: np.ndarray, entry: np.ndarray, scope: float) -> View:
    top, _, _, p_other = entry_view(p, entry)
    probs = np.sort(np.where(entry, p, 0.0))[::-1][:OFFER + 2]
    return View(top, tuple(float(x) for x in probs), p_other, scope)


def fit(logits: Sequence[np.ndarray], labels: Sequence[int], on_topic: Sequence[bool],
        entry: Sequence[bool], weights: Sequence[float] | None = None,
        real: Sequence[bool] | None = None, *, scopes: Sequence[float] | None = None,
        accept: Sequence[frozenset[int]] | None = None, band: Sequence[bool] | None = None,
        right_weights: Sequence[float] | None = None,
        views: Callable[[int, float], View] | None = None,
        wrong: float = WRONG, off_answered: float = OFF_ANSWERED, leak: float = LEAK
        ) -> Calibration:
    """Calibration from out-of-fold logits of development questions: the temperature that
    maximises their likelihood; the confidence (a weighted logistic regression, Platt scaling,
    of whether answering the top entry is right); the lowest answer band with at most ``wrong``
    of the on-topic questions answered wrong and ``off_answered`` of the off-topic ones
    answered (those just below the band counted in part: ``SOFT``), among the ``band``
    questions (default: all; ``bench/real_eval.py`` fits it on the questions from the public,
    the askers it is for); the lowest suggestion band with at most
    ``leak`` of the off-topic questions we wrote offered anything (``real``: questions from the
    public, for whom a "did you mean" on a neighbouring question is no harm: what counts for
    them is not being answered).
    ``entry[c]``: class ``c`` is an FAQ entry (not "none", not an out-of-scope topic);
    ``weights``: per question (real questions count more than the ones we wrote);
    ``right_weights``: the same for the factor "the top entry is right" (default: ``weights``);
    ``scopes``:
    the in-scope model's margins; ``accept``: per question, the classes whose answer is right
    for it (default: its label alone); ``views``: question index, temperature → what the
    matcher decides on (``View``: after its region rules, exact phrasings, torn pairs), so that
    the confidence and the bands are fitted on what is answered (default: the model's
    probabilities as they are)."""
    from sklearn.linear_model import LogisticRegression

    z = np.vstack(logits)
    y = np.asarray(labels)
    n = len(y)
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    sc = np.zeros(n) if scopes is None else np.asarray(scopes, float)
    ok = [frozenset([int(label)]) for label in y] if accept is None else list(accept)
    is_entry = np.asarray(entry, bool)
    best_t, best_nll = 1.0, np.inf
    for t in np.geomspace(0.5, 100, 80):
        zt = z * t
        zt = zt - zt.max(axis=1, keepdims=True)
        nll = -(w * (zt[np.arange(n), y] - np.log(np.exp(zt).sum(axis=1)))).sum()
        if nll < best_nll:
            best_t, best_nll = float(t), float(nll)
    zt = np.exp((z - z.max(axis=1, keepdims=True)) * best_t)
    p = zt / zt.sum(axis=1, keepdims=True)
    if views is None:
        seen = [_raw_view(row, is_entry, s) for row, s in zip(p, sc, strict=True)]
    else:
        seen = [views(i, best_t) for i in range(n)]
    feats = [confidence_features(*x.pair, x.p_other, x.scope) for x in seen]
    xr = np.vstack([f[0] for f in feats])
    xi = np.vstack([f[1] for f in feats])
    xi = np.insert(xi, 2, [x.family for x in seen], axis=1)
    right = np.array([x.top in good for x, good in zip(seen, ok, strict=True)])
    on = np.asarray(on_topic, bool)
    # P(top entry right | about the entries), fitted on the on-topic questions; P(about the
    # entries), on all of them
    wr = w if right_weights is None else np.asarray(right_weights, float)
    v = LogisticRegression(C=1.0, fit_intercept=False).fit(xr[on], right[on],
                                                           sample_weight=wr[on]).coef_[0]
    u = LogisticRegression(C=1.0, fit_intercept=False).fit(xi, on, sample_weight=w).coef_[0]
    weights_ = tuple(round(float(c), 4) for c in (*v, *u))
    cal = Calibration(1.0, weights_)
    conf = np.array([1.0 if x.exact else cal.confidence(*x.pair, x.p_other, x.scope, x.family)
                     for x in seen])
    # a "did you mean" is about the set offered: is the right entry among them?
    set_conf = np.empty(n)
    for i, x in enumerate(seen):
        k = offered(list(x.probs))
        rest = x.probs[k] if len(x.probs) > k else 0.0
        set_conf[i] = cal.confidence(float(sum(x.probs[:k])), rest, x.p_other, x.scope,
                                     x.family)
    answerable = np.array([x.exact or x.answerable for x in seen])
    fitted = np.ones(n, bool) if band is None else np.asarray(band, bool)
    n_on = max(float(w[on & fitted].sum()), 1.0)
    n_off = max(float(w[~on & fitted].sum()), 1.0)
    answer = 0.99
    for a in np.linspace(0.05, 0.99, 95):
        answered = (conf >= a) & answerable & fitted
        near = _sigmoid((conf - a) / SOFT) * (answerable & fitted & ~on)
        if (w[answered & on & ~right].sum() / n_on <= wrong
                and (w * near).sum() / n_off <= off_answered):
            answer = float(a)
            break
    written = ~on & ~np.asarray(real if real is not None else np.zeros(n, bool), bool)
    n_written = max(float(w[written].sum()), 1.0)
    suggest = answer
    for s in np.linspace(0.02, answer, 50):
        if w[(set_conf >= s) & written].sum() / n_written <= leak:
            suggest = float(s)
            break
    return Calibration(round(best_t, 3), weights_, round(answer, 3), round(suggest, 3))


@lru_cache(maxsize=1)
def family_words(path: Path = MATCHING_FILE) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The words naming the scheme's people and acts, and those naming another scheme or
    service (``matching.yaml``: family, foreign)."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    return (tuple(str(w) for w in data.get("family") or ()),
            tuple(sorted((str(w) for w in data.get("foreign") or ()), key=len, reverse=True)))


def family(text: str) -> float:
    """1.0 when a question in matching form names the scheme's people or acts (outside the
    name of another service: the 亲属 in 亲属卡 is WeChat's), else 0.0."""
    words, foreign = family_words()
    for w in foreign:
        text = text.replace(w, " ")
    return float(any(w in text for w in words))


@lru_cache(maxsize=4)
def _questions_file(path: Path) -> tuple[tuple[str, str], ...]:
    if not path.exists():
        return ()
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    out = [(str(item["q"]), str(item["entry"])) for item in data.get("questions") or []]
    out += [(str(q), NONE) for key in ("none", "vague", "real_none") for q in data.get(key) or []]
    return tuple(out)


def default_questions() -> tuple[tuple[str, str], ...]:
    """The labelled development questions trained on (question, entry id or NONE)."""
    return _questions_file(QUESTIONS_FILE)


def entry_samples(entries: Iterable[Entry]) -> list[Sample]:
    return [(read(text).text, e.id) for e in entries for text in (e.question, *e.phrasings)]


class Learned:
    """The trained model of one KB (plus out-of-scope topics), with its exact-phrasing tables."""

    def __init__(self, entries: Sequence[Entry], kb_digest: str,
                 questions: Sequence[tuple[str, str]] | None = None,
                 calibration: Calibration | None = None) -> None:
        ids = {e.id for e in entries}
        self.calibration = calibration or load_calibration()
        topics = [f"{e.id}\n{e.question}\n" + "\n".join(e.phrasings)
                  for e in entries if e.topic == "out_of_scope"]
        if questions is None:
            # keyed by the file's bytes: a cached model needs no YAML parsing at start-up
            given: list[bytes | str] = [QUESTIONS_FILE.read_bytes()
                                        if QUESTIONS_FILE.exists() else b""]
        else:
            given = [f"{label}\t{q}" for q, label in questions]
        key = digest([VERSION, SAMPLES, str(NONE_SHARE), kb_digest, reading_key(), *sorted(ids),
                      *topics, *given])

        def samples() -> list[Sample]:
            every = default_questions() if questions is None else questions
            kept = [(q, label) for q, label in every if label == NONE or label in ids]
            own = entry_samples(entries) + [(read(q).text, label) for q, label in kept
                                            if label != NONE]
            # "none" questions: at most NONE_SHARE of the rest, so a small KB is not swamped
            none = [q for q, label in kept if label == NONE]
            step = max(1, -(-len(none) // max(1, int(NONE_SHARE * len(own)))))
            return own + [(read(q).text, NONE) for q in none[::step]]

        outside = frozenset(e.id for e in entries if e.topic == "out_of_scope")
        self.model: Model = trained(samples, key, outside=outside)
        self.index = {c: i for i, c in enumerate(self.model.classes)}
        # A question typed exactly as one of an entry's phrasings (or ``not:`` phrasings).
        self.exact: dict[str, str] = {}
        self.refused: dict[str, set[str]] = {}
        for e in entries:
            for text in (e.question, *e.phrasings):
                self.exact.setdefault(light(text), e.id)
            for text in e.nots:
                self.refused.setdefault(light(text), set()).add(e.id)

    def probabilities(self, text: str) -> np.ndarray:
        """Calibrated class probabilities for a question in matching form."""
        return self.scored(text)[0]

    def scored(self, text: str) -> tuple[np.ndarray, float]:
        """Calibrated class probabilities and the in-scope margin, for a question in matching
        form."""
        ids, vals = self.model.features(text)
        z = self.model.logits(ids, vals) * self.calibration.temperature
        z = np.exp(z - z.max())
        return z / z.sum(), self.model.scope(ids, vals)

    def ranked(self, question: str
               ) -> tuple[list[tuple[str, float]], Typed, str | None, float]:
        """(class, probability) best first; the question as read (``knowledge.typed``); the
        entry it is word for word a phrasing of, if any; and the in-scope margin. The entries
        it is word for word a ``not:`` phrasing of are left out."""
        typed = read(question)
        p, scope = self.scored(typed.text)
        key = light(question)
        refused = self.refused.get(key, set())
        for entry_id in refused:
            if entry_id in self.index:
                p[self.index[entry_id]] = 0.0
        exact = self.exact.get(key)
        order = np.argsort(-p)[:TOP]
        ranked = [(self.model.classes[i], float(p[i])) for i in order if p[i] > 0]
        return ranked, typed, exact if exact not in refused else None, scope
