"""The learned ranker: character 1–3-gram TF-IDF, a linear model over the KB's entries, the
out-of-scope topics and a "none of these" class, plus the similarity of the nearest training
question of each class, trained from labelled questions (phrasings, canonical questions, taught
questions, development questions).

A class's logit is its linear-model margin plus ``NEAREST`` times the cosine similarity of the
question to that class's most similar training question (2–3-grams): the linear model
generalises across phrasings, the nearest question keeps a KB with few phrasings per entry (a
test KB, an entry just taught) exact.

A second linear model, the in-scope one, tells entry questions from the "none" ones and the
out-of-scope topics' (``Model.scope``): one margin, a factor of the confidence (``knowledge.
learning``), so that a neighbouring medical-insurance question is told apart from ours even
when one entry stands out among the entries.

The linear model is scikit-learn's ``LinearSVC`` (liblinear): on this machine it trains on the
real KB's ~7,000 questions in about 6 s, where ``LogisticRegression`` (lbfgs, multinomial)
takes about a minute; its margins are calibrated into probabilities afterwards
(``knowledge.learning``). scikit-learn is imported only to train (its import costs about a
second, the whole ``ask`` cold-start budget). A trained model is a few numpy arrays, stored in the
on-disk cache under a hash of its training data (``knowledge.cache``); scoring needs only numpy.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from knowledge.cache import cache_dir, digest, prune

NONE = "~none"             # the class of questions that are about nothing in the KB
NGRAMS = (1, 2, 3)
C = 0.5                    # the linear model's regularisation (bench/real_eval.py)
NEAREST = 0.5               # weight of the nearest training question's similarity (0.25–2 tried:
                           # bench/real_eval.py, seeds 11–13, 0.5 answered most right)
SCOPE_C = 0.5              # the in-scope model's regularisation (bench/real_eval.py)
VERSION = "ranker-3"
Sample = tuple[str, str]   # (text in matching form, class)


def grams(text: str) -> list[str]:
    """The text's character n-grams (the text is already in matching form)."""
    out = []
    for n in NGRAMS:
        out += [text[i:i + n] for i in range(len(text) - n + 1)]
    return out


@dataclass(frozen=True)
class Model:
    classes: tuple[str, ...]
    vocab: dict[str, int]
    idf: np.ndarray            # (features,) float32
    weights: np.ndarray        # (features, classes) float32: rows picked by a question's grams
    bias: np.ndarray           # (classes,) float32
    # training questions by feature (CSC of their 2–3-gram TF-IDF rows), for the nearest one
    postings: np.ndarray       # (features + 1,) int64: slice of ``docs``/``values`` per feature
    docs: np.ndarray           # int32 training-question index, grouped by class
    values: np.ndarray         # float32
    starts: np.ndarray         # (classes,) int64: first training question of each class
    # the in-scope model: entry questions against "none" and the out-of-scope topics' ones
    scope_weights: np.ndarray  # (features,) float32
    scope_bias: np.ndarray     # (1,) float32

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sparse TF-IDF vector (sublinear tf, L2-normalised): column ids and values."""
        vocab = self.vocab
        counts = Counter(g for g in grams(text) if g in vocab)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ids = np.fromiter((vocab[g] for g in counts), np.int64, len(counts))
        tf = 1.0 + np.log(np.fromiter(counts.values(), np.float32, len(counts)))
        vals = tf * self.idf[ids]
        return ids, vals / np.linalg.norm(vals)

    def logits(self, ids: np.ndarray, vals: np.ndarray) -> np.ndarray:
        z = vals @ self.weights[ids] + self.bias
        if NEAREST and len(ids):
            z = z + NEAREST * self.nearest(ids, vals)
        return z

    def scope(self, ids: np.ndarray, vals: np.ndarray) -> float:
        """The in-scope model's margin: > 0 when the question is about one of the entries
        rather than about nothing here or a neighbouring out-of-scope topic."""
        return float(vals @ self.scope_weights[ids] + self.scope_bias[0])

    def nearest(self, ids: np.ndarray, vals: np.ndarray) -> np.ndarray:
        """Per class, the cosine similarity (2–3-grams) of its most similar training question."""
        lo, hi = self.postings[ids], self.postings[ids + 1]
        keep = hi > lo
        if not keep.any():
            return np.zeros(len(self.classes), np.float32)
        lo, hi, q = lo[keep], hi[keep], vals[keep]
        q = q / (np.linalg.norm(q) or 1.0)
        lengths = hi - lo
        # the postings' positions, concatenated: lo[i], lo[i]+1, …, hi[i]-1 for each feature
        take = np.arange(int(lengths.sum())) + np.repeat(lo - np.cumsum(lengths) + lengths,
                                                         lengths)
        weight = np.repeat(q, lengths) * self.values[take]
        sims = np.bincount(self.docs[take], weights=weight, minlength=int(self.starts[-1]) + 1)
        return np.maximum.reduceat(sims, self.starts).astype(np.float32)

    def proba(self, text: str) -> np.ndarray:
        """Uncalibrated class probabilities for one question."""
        z = self.logits(*self.features(text))
        z = np.exp(z - z.max())
        return z / z.sum()


def train(samples: Sequence[Sample], c: float = C, outside: frozenset[str] = frozenset()
          ) -> Model:
    """Fit the model (see the module docstring). ``outside``: the classes (besides NONE) that
    are not entries (out-of-scope topics), the negatives of the in-scope model."""
    from scipy.sparse import csr_matrix
    from sklearn.svm import LinearSVC

    samples = sorted(samples, key=lambda s: s[1])          # grouped by class
    classes = tuple(sorted({label for _, label in samples}))
    cls_index = {label: i for i, label in enumerate(classes)}
    df: Counter[str] = Counter()
    doc_grams = [Counter(grams(text)) for text, _ in samples]
    for counts in doc_grams:
        df.update(counts.keys())
    vocab = {g: i for i, g in enumerate(sorted(df))}
    n_docs = len(samples)
    idf = np.zeros(len(vocab), np.float32)
    for g, i in vocab.items():
        idf[i] = np.log((1 + n_docs) / (1 + df[g])) + 1.0
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    near_rows: list[int] = []
    near_cols: list[int] = []
    near_vals: list[float] = []
    for r, counts in enumerate(doc_grams):
        ids = [vocab[g] for g in counts]
        if not ids:
            continue
        v = (1.0 + np.log(np.array([counts[g] for g in counts], np.float32))) * idf[ids]
        v /= np.linalg.norm(v)
        rows += [r] * len(ids)
        cols += ids
        vals += v.tolist()
        long = [k for k, g in enumerate(counts) if len(g) > 1]
        if long:
            w = v[long] / np.linalg.norm(v[long])
            near_rows += [r] * len(long)
            near_cols += [ids[k] for k in long]
            near_vals += w.tolist()
    x = csr_matrix((vals, (rows, cols)), shape=(n_docs, len(vocab)), dtype=np.float32)
    near = csr_matrix((near_vals, (near_rows, near_cols)), shape=(n_docs, len(vocab)),
                      dtype=np.float32).tocsc()
    near.sort_indices()
    y = np.array([cls_index[label] for _, label in samples])
    starts = np.searchsorted(y, np.arange(len(classes))).astype(np.int64)
    if len(classes) == 1:
        coef, bias = np.zeros((1, len(vocab))), np.zeros(1)
    else:
        svm = LinearSVC(C=c, tol=1e-3).fit(x, y)
        coef, bias = svm.coef_, svm.intercept_
        if len(classes) == 2:             # binary: sklearn keeps one row (for class 1)
            coef = np.vstack([-coef / 2, coef / 2])
            bias = np.array([-bias[0] / 2, bias[0] / 2])
    inside = np.array([label != NONE and label not in outside for _, label in samples])
    if inside.all() or not inside.any():
        scope_w, scope_b = np.zeros(len(vocab)), np.array([1.0 if inside.all() else -1.0])
    else:
        scope = LinearSVC(C=SCOPE_C, tol=1e-3).fit(x, inside)
        scope_w, scope_b = scope.coef_[0], scope.intercept_
    return Model(classes, vocab, idf, np.ascontiguousarray(coef.T, np.float32),
                 np.asarray(bias, np.float32), near.indptr.astype(np.int64),
                 near.indices.astype(np.int32), near.data.astype(np.float32), starts,
                 np.asarray(scope_w, np.float32), np.asarray(scope_b, np.float32))


def trained(samples: Callable[[], Sequence[Sample]], key: str, c: float = C,
            outside: frozenset[str] = frozenset()) -> Model:
    """The model for this ``key`` (a hash of everything ``samples()`` is made from): from the
    on-disk cache, else trained on ``samples()`` and stored there."""
    key = digest([VERSION, key, repr((c, SCOPE_C, NGRAMS)), *sorted(outside)])
    directory = cache_dir()
    path = directory / f"ranker-{key}.npz" if directory else None
    if path is not None and path.exists():
        try:
            return _load(path.read_bytes())
        except Exception:  # noqa: BLE001 - a damaged or foreign entry is simply rebuilt
            pass
    model = train(samples(), c, outside)
    if path is not None:
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ranker-", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(_dump(model))
            os.replace(tmp, path)
            prune(path.parent, "ranker", ".npz")
        except OSError:
            pass
    return model


_ARRAYS = ("idf", "weights", "bias", "postings", "docs", "values", "starts", "scope_weights",
           "scope_bias")


def _dump(model: Model) -> bytes:
    buf = io.BytesIO()
    words = sorted(model.vocab, key=model.vocab.__getitem__)
    np.savez(buf, classes=np.array(model.classes), vocab=np.array(words, dtype=str),
             **{name: getattr(model, name) for name in _ARRAYS})
    return buf.getvalue()


def _load(data: bytes) -> Model:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        words = z["vocab"].tolist()
        return Model(tuple(z["classes"].tolist()), {w: i for i, w in enumerate(words)},
                     **{name: z[name] for name in _ARRAYS})
