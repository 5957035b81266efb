"""Text normalisation for matching: a pure function of the text and a data table.

``normalize("请问，咋把老婆关联到我的社保卡上？")`` → ``"怎么把配偶绑定到我的医保卡上"``.

Steps: NFKC (full-width letters, digits and spaces become half-width), invisible characters
dropped, case folded, punctuation/symbols/whitespace removed (a space survives only between two
ASCII words), then one longest-first pass that maps synonyms to their canonical form and
deletes filler words and story-telling chatter (听人说, 那玩意儿, 急死了 …). The word lists
live in ``synonyms.yaml``, not here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SYNONYMS_FILE = Path(__file__).with_name("synonyms.yaml")

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f"), None)
_ASCII_WORD = re.compile(r"[0-9a-z]")


class NormalizeDataError(ValueError):
    """synonyms.yaml is malformed; the message names the file and the key."""


_MARKS = re.compile(r"[\W_]+")


def _strip_marks(text: str) -> str:
    """Replace runs of punctuation, symbols, controls and whitespace by one space."""
    return _MARKS.sub(" ", text)


def _join_words(text: str) -> str:
    """Drop spaces, except one between two ASCII words ("hi there" stays apart)."""
    parts = text.split()
    if not parts:
        return ""
    joined = parts[0]
    for part in parts[1:]:
        if _ASCII_WORD.match(joined[-1]) and _ASCII_WORD.match(part[0]):
            joined += " "
        joined += part
    return joined


@dataclass(frozen=True)
class Normalizer:
    """A compiled synonym/filler table. ``normalize`` is pure: same text in, same text out."""

    replacements: Mapping[str, str]
    regions: Mapping[str, str] = field(default_factory=dict)   # name as typed → region key
    broader: Mapping[str, str] = field(default_factory=dict)   # word → its broader word
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    kept: frozenset[str] = frozenset()     # shields: matched as themselves, not one word

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str = "synonyms") -> Normalizer:
        replacements: dict[str, str] = {}
        synonyms = data.get("synonyms") or {}
        if not isinstance(synonyms, dict):
            raise NormalizeDataError(f"{where}: synonyms: must be a mapping")
        for canonical, variants in synonyms.items():
            if not isinstance(variants, list):
                raise NormalizeDataError(f"{where}: synonyms.{canonical}: must be a list")
            replacements.setdefault(_fold(str(canonical)), _fold(str(canonical)))
            for variant in variants:
                replacements[_fold(str(variant))] = _fold(str(canonical))
        for key in ("fillers", "chatter"):
            fillers = data.get(key) or []
            if not isinstance(fillers, list):
                raise NormalizeDataError(f"{where}: {key}: must be a list")
            for filler in fillers:
                replacements.setdefault(_fold(str(filler)), "")
        keep = data.get("keep") or []
        if not isinstance(keep, list):
            raise NormalizeDataError(f"{where}: keep: must be a list")
        kept = frozenset(_fold(str(w)) for w in keep)
        for word in kept:
            replacements.setdefault(word, word)
        regions: dict[str, str] = {}
        for key, names in (data.get("regions") or {}).items():
            if not isinstance(names, list):
                raise NormalizeDataError(f"{where}: regions.{key}: must be a list")
            for name in names:
                regions[_fold(str(name))] = str(key)
        broader = {_fold(str(k)): _fold(str(v)) for k, v in (data.get("broader") or {}).items()}
        keys = sorted((k for k in replacements if k), key=lambda k: (-len(k), k))
        pattern = re.compile("|".join(map(re.escape, keys))) if keys else None
        return cls(replacements, regions, broader, pattern, kept)

    def normalize(self, text: str) -> str:
        """The canonical matching form of ``text`` (may be empty)."""
        return self.canonical(light(text))

    def canonical(self, light_text: str) -> str:
        """Synonyms and fillers applied to text already in ``light`` form."""
        s = light_text
        if self._pattern is not None and s:
            s = self._pattern.sub(lambda m: self.replacements[m.group(0)], s)
        return s.strip()

    def regions_named(self, normalized: str) -> tuple[str, frozenset[str]]:
        """Region names found in a normalised text, and the text without them."""
        found: set[str] = set()
        for name in sorted(self.regions, key=len, reverse=True):
            if name in normalized:
                found.add(self.regions[name])
                normalized = normalized.replace(name, "")
        return normalized, frozenset(found)

    @property
    def vocabulary(self) -> Sequence[str]:
        """Canonical words (worth keeping whole when segmenting)."""
        return sorted({v for v in self.replacements.values() if len(v) > 1} - self.kept)


def light(text: str) -> str:
    """Folded (NFKC, case) with punctuation and whitespace removed; no word rewriting."""
    return _join_words(_strip_marks(_fold(text)))


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", str(text)).translate(_INVISIBLE).casefold()


def load_normalizer(path: Path | None = None) -> Normalizer:
    """Read a synonyms file (default: the bundled ``synonyms.yaml``)."""
    p = path or SYNONYMS_FILE
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise NormalizeDataError(f"{p}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise NormalizeDataError(f"{p}: must be a mapping")
    return Normalizer.from_data(data, str(p))


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=1)
def default_normalizer() -> Normalizer:
    return load_normalizer()


def normalize(text: str) -> str:
    """Normalise with the bundled table (see module docstring)."""
    return default_normalizer().normalize(text)
