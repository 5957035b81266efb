"""The KB-level learned ranker: what the model is trained on, its cache key, and calibrated
probabilities for one question.

Training data (``samples``): every entry's canonical question and phrasings (taught questions
included: ``KnowledgeBase.with_phrasings``), the out-of-scope topics' phrasings, and the labelled
development questions of ``questions.yaml`` (written by ``bench/fold_questions.py``: real questions
from the public, the colloquial development sets, off-topic questions as the "none" class). A
development question whose entry the KB lacks is skipped, so a small test KB trains on its own.

Calibration (``calibration.yaml``, fitted by ``bench/real_eval.py --fit`` on out-of-fold scores of
the development questions): the model's margins times a temperature, softmaxed, give class
probabilities; the top entry's probability becomes the 0–100 score by a piecewise-linear map that
puts the fitted answer band on the configured answer threshold and the fitted suggestion band on
the suggestion threshold (so ``config.yaml``'s 72 / 50 mean "the bands fitted on data").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
from knowledge.typed import Typed, read

QUESTIONS_FILE = Path(__file__).with_name("questions.yaml")
CALIBRATION_FILE = Path(__file__).with_name("calibration.yaml")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TOP = 12                   # classes returned per question
SAMPLES = "samples-2"      # bump when what the model is trained on changes (cache key)
WRONG = 0.03               # on-topic questions answered wrong, at most
LEAK = 0.05                # off-topic questions offered a suggestion, at most
RELATED_SHARE = 0.1        # share of the best entry's probability from which one is offered too
OFFER = 3                  # entries offered at most
NONE_SHARE = 0.25          # "none" training questions, at most this share of the others
REAL_WEIGHT = 5.0          # a real question from the public counts this many written ones


@dataclass(frozen=True)
class Calibration:
    temperature: float = 1.0   # margins × temperature → softmax: class probabilities
    # Platt-style confidence that the top entry is the right one, from the class probabilities:
    # σ(w · (log p1, log p1 − log p2, log p_other, 1)), each probability at least 0.01; p1, p2:
    # the two best entries, p_other: the mass on "none" and the out-of-scope topics. Default:
    # the top entry's probability.
    weights: tuple[float, ...] = ()
    answer: float = 0.5        # confidence from which a question is answered (fitted)
    suggest: float = 0.2       # confidence from which candidates are offered (fitted)

    def confidence(self, p1: float, p2: float, p_other: float) -> float:
        if not self.weights:
            return p1
        x = confidence_features(p1, p2, p_other)
        return float(1.0 / (1.0 + np.exp(-float(np.dot(self.weights, x)))))

    def score(self, conf: float, answer_threshold: float, suggest_threshold: float) -> float:
        """Confidence → 0–100, monotone; the fitted bands land on the configured thresholds."""
        points = [(0.0, 0.0), (self.suggest, suggest_threshold),
                  (self.answer, answer_threshold), (1.0, 100.0)]
        for (c0, s0), (c1, s1) in zip(points, points[1:], strict=False):
            if conf <= c1:
                return s0 + (s1 - s0) * (conf - c0) / (c1 - c0) if c1 > c0 else s1
        return 100.0


def confidence_features(p1: float, p2: float, p_other: float) -> np.ndarray:
    floor = 0.01               # log-odds-like, bounded: tiny masses do not extrapolate
    l1, l2, lo = (np.log(max(p, floor)) for p in (p1, p2, p_other))
    return np.array([l1, l1 - l2, lo, 1.0])


def load_calibration(path: Path = CALIBRATION_FILE) -> Calibration:
    if not path.exists():
        return Calibration()
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    return Calibration(float(data.get("temperature", 1.0)),
                       tuple(float(w) for w in data.get("weights") or ()),
                       float(data.get("answer", 0.5)), float(data.get("suggest", 0.2)))


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


def fit(logits: Sequence[np.ndarray], labels: Sequence[int], on_topic: Sequence[bool],
        entry: Sequence[bool], weights: Sequence[float] | None = None,
        real: Sequence[bool] | None = None, *,
        wrong: float = WRONG, leak: float = LEAK) -> Calibration:
    """Calibration from out-of-fold logits of development questions: the temperature that
    maximises their likelihood; the confidence (a weighted logistic regression, Platt scaling,
    of whether the top entry is the right one); the lowest answer band with at most ``wrong`` of
    the on-topic questions answered wrong and ``wrong`` of the off-topic ones answered; the
    lowest suggestion band with at most ``leak`` of the off-topic questions we wrote offered
    anything (``real``: questions from the public, for whom a "did you mean" on a neighbouring
    question is no harm: what counts for them is not being answered).
    ``entry[c]``: class ``c`` is an FAQ entry (not "none", not an out-of-scope topic);
    ``weights``: per question (real questions count more than the ones we wrote)."""
    from sklearn.linear_model import LogisticRegression

    z = np.vstack(logits)
    y = np.asarray(labels)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, float)
    is_entry = np.asarray(entry, bool)
    best_t, best_nll = 1.0, np.inf
    for t in np.geomspace(0.5, 100, 80):
        zt = z * t
        zt = zt - zt.max(axis=1, keepdims=True)
        nll = -(w * (zt[np.arange(len(y)), y] - np.log(np.exp(zt).sum(axis=1)))).sum()
        if nll < best_nll:
            best_t, best_nll = float(t), float(nll)
    zt = np.exp((z - z.max(axis=1, keepdims=True)) * best_t)
    p = zt / zt.sum(axis=1, keepdims=True)
    views = [entry_view(row, is_entry) for row in p]
    top = np.array([v[0] for v in views])
    x = np.vstack([confidence_features(*v[1:]) for v in views])
    right = top == y
    platt = LogisticRegression(C=1.0, fit_intercept=False).fit(x, right, sample_weight=w)
    weights_ = tuple(round(float(c), 4) for c in platt.coef_[0])
    conf = 1.0 / (1.0 + np.exp(-(x @ np.array(weights_))))
    # a "did you mean" is about the set offered: is the right entry among them?
    set_conf = np.empty(len(y))
    for i, row in enumerate(p):
        pe = np.sort(np.where(is_entry, row, 0.0))[::-1]
        k = offered(list(pe))
        x_set = confidence_features(float(pe[:k].sum()), float(pe[k]), views[i][3])
        set_conf[i] = 1.0 / (1.0 + np.exp(-float(x_set @ np.array(weights_))))
    on = np.asarray(on_topic)
    n_on, n_off = max(float(w[on].sum()), 1.0), max(float(w[~on].sum()), 1.0)
    answer = 0.99
    for a in np.linspace(0.05, 0.99, 95):
        answered = conf >= a
        if (w[answered & on & ~right].sum() / n_on <= wrong
                and w[answered & ~on].sum() / n_off <= wrong):
            answer = float(a)
            break
    written = ~on & ~np.asarray(real if real is not None else np.zeros(len(y), bool), bool)
    n_written = max(float(w[written].sum()), 1.0)
    suggest = answer
    for s in np.linspace(0.02, answer, 50):
        if w[(set_conf >= s) & written].sum() / n_written <= leak:
            suggest = float(s)
            break
    return Calibration(round(best_t, 3), weights_, round(answer, 3), round(suggest, 3))


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
        key = digest([VERSION, SAMPLES, str(NONE_SHARE), kb_digest, *sorted(ids), *topics,
                      *given])

        def samples() -> list[Sample]:
            every = default_questions() if questions is None else questions
            kept = [(q, label) for q, label in every if label == NONE or label in ids]
            own = entry_samples(entries) + [(read(q).text, label) for q, label in kept
                                            if label != NONE]
            # "none" questions: at most NONE_SHARE of the rest, so a small KB is not swamped
            none = [q for q, label in kept if label == NONE]
            step = max(1, -(-len(none) // max(1, int(NONE_SHARE * len(own)))))
            return own + [(read(q).text, NONE) for q in none[::step]]

        self.model: Model = trained(samples, key)
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
        z = self.model.logits(*self.model.features(text)) * self.calibration.temperature
        z = np.exp(z - z.max())
        return z / z.sum()

    def ranked(self, question: str) -> tuple[list[tuple[str, float]], Typed, str | None]:
        """(class, probability) best first; the question as read (``knowledge.typed``); and the
        entry it is word for word a phrasing of, if any. The entries it is word for word a
        ``not:`` phrasing of are left out."""
        typed = read(question)
        p = self.probabilities(typed.text)
        key = light(question)
        refused = self.refused.get(key, set())
        for entry_id in refused:
            if entry_id in self.index:
                p[self.index[entry_id]] = 0.0
        exact = self.exact.get(key)
        order = np.argsort(-p)[:TOP]
        ranked = [(self.model.classes[i], float(p[i])) for i in order if p[i] > 0]
        return ranked, typed, exact if exact not in refused else None
