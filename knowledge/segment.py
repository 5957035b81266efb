"""Chinese word segmentation with a small, KB-derived jieba dictionary.

jieba's full dictionary (350k words) takes ~0.6–2.6 s to load, too slow for a one-shot
``python -m bot ask``. Segmenting a sentence only ever uses dictionary words that occur inside
it, so a dictionary holding just the full-dictionary words that occur somewhere in the KB
(plus the domain words of ``userdict.txt``) segments every KB text exactly as the full one
would (HMM off), keeping the full dictionary's total so path probabilities are unchanged.
It is derived once per KB version and cached (see ``knowledge.cache``); loading it is a few ms.
Common words of the full dictionary (frequency ≥ GENERAL_MIN_FREQ, ~36k of them) are kept too:
they cannot change how a KB text is cut (a word absent from a text never enters its
segmentation), but a question's everyday words (简单, 带上, 名字) stay whole instead of falling
apart into characters that look like rare content (measured on dev_set_3: top-1 +0.7, top-3
+0.8 points, off-topic refusal +0.6). Rarer words unknown to the KB still fall apart into
characters, which the matcher treats as unknown content.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

USERDICT_FILE = Path(__file__).with_name("userdict.txt")
DOMAIN_FREQ = 200_000      # domain words outweigh any split of them
GENERAL_MIN_FREQ = 100     # full-dictionary words at least this common are kept as well
_MAX_WORD = 8              # longest dictionary word worth looking for


def _jieba() -> Any:
    """jieba, imported on first use (about 0.4 s: the learned ranker never needs it)."""
    import jieba

    return jieba


def jieba_dict_path() -> Path:
    return Path(os.path.dirname(_jieba().__file__)) / "dict.txt"


def read_userdict(path: Path = USERDICT_FILE) -> dict[str, int]:
    """``word [freq]`` per line; ``#`` starts a comment."""
    words: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        words[parts[0].casefold()] = int(parts[1]) if len(parts) > 1 else DOMAIN_FREQ
    return words


def derive_dictionary(
    texts: Iterable[str], extra: Mapping[str, int], fallback: Mapping[str, int] | None = None,
    general_min: int = GENERAL_MIN_FREQ,
) -> tuple[dict[str, int], int]:
    """Full-dictionary words occurring in ``texts`` or at least ``general_min`` frequent, plus
    ``extra`` (frequency raised to at least the given one) and ``fallback`` (used only for words
    the full dictionary lacks); and the full dictionary's total."""
    pieces: set[str] = set()
    for text in texts:
        n = len(text)
        for i in range(n):
            for j in range(i + 1, min(n, i + _MAX_WORD) + 1):
                pieces.add(text[i:j])
    words: dict[str, int] = {}
    total = 0
    with open(jieba_dict_path(), encoding="utf-8") as fh:
        for line in fh:
            parts = line.split(" ", 2)
            if len(parts) < 2:
                continue
            freq = int(parts[1])
            total += freq
            if freq >= general_min or parts[0] in pieces:
                words[parts[0]] = freq
    for word, freq in extra.items():
        words[word] = max(freq, words.get(word, 0))
    for word, freq in (fallback or {}).items():
        words.setdefault(word, freq)
    return words, total


class Segmenter:
    """Segments normalised text with a given word → frequency dictionary."""

    def __init__(self, words: Mapping[str, int], total: int) -> None:
        self.words = dict(words)
        tokenizer = _jieba().Tokenizer()
        prefixes: dict[str, int] = {}
        for word, freq in self.words.items():
            prefixes[word] = freq
            for k in range(1, len(word)):
                prefixes.setdefault(word[:k], 0)
        # jieba builds exactly this prefix table in initialize(); doing it here skips its
        # default dictionary and its temp-file cache entirely.
        tokenizer.FREQ = prefixes
        tokenizer.total = max(total, sum(self.words.values()), 1)
        tokenizer.initialized = True
        self._tokenizer = tokenizer

    def cut(self, text: str) -> list[str]:
        """Words of ``text`` (HMM off: unknown stretches come out character by character)."""
        return [w for w in self._tokenizer.lcut(text, HMM=False) if w.strip()]

    def parts(self, word: str) -> list[str]:
        """Dictionary sub-words of a long word (个人账户 → 个人, 账户), for partial credit."""
        if len(word) < 3:
            return []
        found = []
        for size in (2, 3):
            for i in range(len(word) - size + 1):
                piece = word[i:i + size]
                if piece != word and self.words.get(piece, 0) > 0:
                    found.append(piece)
        return found
