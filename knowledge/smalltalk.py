"""Greetings, thanks and goodbyes (data in ``smalltalk.yaml``) and the matcher's fixed texts
(``fallback.yaml``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SMALLTALK_FILE = Path(__file__).with_name("smalltalk.yaml")
TEXTS_FILE = Path(__file__).with_name("fallback.yaml")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a mapping")
    return data


_ASCII = re.compile(r"[0-9a-z]")
_NOT_AFTER = r"(?<![0-9a-z])"    # an ASCII greeting starts a word: not the "hi" in "ship"
_NOT_BEFORE = r"(?![0-9a-z])"    # … and ends it: not the "hi" of "history"


def _bounded(word: str) -> str:
    """A pattern for ``word``; ASCII words only as whole words (light text keeps a space
    between two ASCII words, so "hi there" still starts with the greeting "hi")."""
    out = re.escape(word)
    if _ASCII.match(word[:1]):
        out = _NOT_AFTER + out
    if _ASCII.match(word[-1:]):
        out += _NOT_BEFORE
    return out


def _alternation(words: list[str]) -> str:
    return "|".join(_bounded(w) for w in sorted(words, key=len, reverse=True))


@dataclass(frozen=True)
class SmallTalk:
    """Recognises small talk in *light* text (folded, punctuation removed, no synonyms)."""

    replies: dict[str, str]
    whole: dict[str, re.Pattern[str]]
    start: re.Pattern[str] | None
    end: re.Pattern[str] | None

    @classmethod
    def load(cls, path: Path = SMALLTALK_FILE) -> SmallTalk:
        data = _read(path)
        particles = f"(?:{_alternation([str(p) for p in data.get('particles') or []])})*"
        replies: dict[str, str] = {}
        whole: dict[str, re.Pattern[str]] = {}
        starts: list[str] = []
        ends: list[str] = []
        for kind, spec in (data.get("kinds") or {}).items():
            words = [str(w).casefold() for w in spec["patterns"]]
            unit = f"(?:(?:{_alternation(words)}){particles} ?)"
            replies[kind] = str(spec["reply"]).strip()
            whole[kind] = re.compile(f"{unit}+")
            if spec.get("at_start"):
                starts.append(unit)
            if spec.get("at_end"):
                ends.append(unit)
        start = re.compile(f"^(?:{'|'.join(starts)})+") if starts else None
        end = re.compile(f"(?:{'|'.join(ends)})+$") if ends else None
        return cls(replies, whole, start, end)

    def kind(self, light: str) -> str | None:
        """The small-talk kind when the whole message is small talk."""
        if not light:
            return None
        for kind, pattern in self.whole.items():
            if pattern.fullmatch(light):
                return kind
        mixed = light
        if self.start is not None:
            mixed = self.start.sub("", mixed)
        if self.end is not None:
            mixed = self.end.sub("", mixed)
        if not mixed.strip() and mixed != light:
            for kind, pattern in self.whole.items():
                if pattern.match(light):
                    return kind
        return None

    def strip(self, light: str) -> str:
        """A question without its leading greeting and trailing thanks."""
        out = light
        if self.start is not None:
            out = self.start.sub("", out)
        if self.end is not None:
            out = self.end.sub("", out)
        return out.strip() or light


@dataclass(frozen=True)
class Texts:
    fallback: str
    empty: str
    suggest_intro: str
    suggest_outro: str
    out_of_scope: str             # {reply}: the topic's own line (``knowledge.outside``)

    @classmethod
    def load(cls, hotline: str, path: Path = TEXTS_FILE) -> Texts:
        data = _read(path)
        return cls(*(str(data[k]).strip().replace("{hotline}", hotline)
                     for k in ("fallback", "empty", "suggest_intro", "suggest_outro",
                               "out_of_scope")))

    def outside(self, reply: str) -> str:
        return self.out_of_scope.replace("{reply}", reply.strip())
