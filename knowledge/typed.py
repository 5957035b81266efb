"""Questions as people type them → the form the learned ranker reads.

1. Traditional characters become simplified (OpenCC's t2s tables, ``opencc-python-reimplemented``).
2. Places are found from data (``knowledge.places``): a place with its own policy is written as
   its region's name (海口 → 海南), any other place is taken out of the text and remembered, so
   that the answer can send the asker to that place's own 医保部门.
3. A long paragraph is cut down to its question: the sentences that ask something (吗, 怎么,
   如何, ？ …), with the story around them dropped.
4. The KB's synonym and filler table (``knowledge.normalize``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from knowledge.cache import cached, digest
from knowledge.normalize import SYNONYMS_FILE, default_normalizer, light
from knowledge.places import PLACES_FILE, Place, default_places

LONG = 40                  # characters from which a question is looked for inside the text
_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;\n]*")
_ASKING = re.compile(r"[吗么呢？?]|怎|如何|能否|是否|可否|可以|能不能|会不会|是不是|有没有|多少|"
                     r"哪|什么|啥|咋|为何|为什么|需要|要不要")
SHORT = 5                  # characters below which a sentence starts the next one instead
_PUNCTUATION = re.compile(r"[\s。！？!?；;，,、.…~～]+")
REGION_NAMES = {"dongying": "东营", "jinan": "济南", "jian": "吉安", "hainan": "海南"}


@lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _traditional() -> frozenset[str]:
    """Every character OpenCC's t2s tables rewrite (TSCharacters.txt and TSPhrases.txt keys)."""
    import opencc

    paths = [Path(opencc.__file__).with_name("dictionary") / name
             for name in ("TSCharacters.txt", "TSPhrases.txt")]
    paths = [p for p in paths if p.exists()]

    def build() -> list[str]:
        chars: set[str] = set()
        for path in paths:
            for line in path.read_text(encoding="utf-8").splitlines():
                key, _, value = line.partition("\t")
                chars.update(a for a, b in zip(key, value.split(" ")[0], strict=False) if a != b)
        return sorted(chars)

    key = digest([f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in paths])
    return frozenset(cached("t2s", key, build))


def simplified(text: str) -> str:
    """Traditional → simplified (text already simplified is returned unchanged, cheaply)."""
    if text.isascii() or _traditional().isdisjoint(text):
        return text
    return str(_converter().convert(text))


def question_part(text: str) -> str:
    """The sentences of a long text that ask something, after its first sentence (all of it
    when none asks). The first sentence usually names the topic (我有医保卡，想把家人绑定到我的
    医保卡上。…… 具体该怎么操作？): without it the question is about nothing in particular
    (real_dev 5-fold, seeds 11–15: right entry first 94.3 → 96.2 % on each)."""
    if len(text) < LONG:
        return text
    sentences = _sentences(text)
    asking = [s for s in sentences if _ASKING.search(s)]
    if not asking or len(asking) == len(sentences):
        return text
    if sentences[0] not in asking:
        asking = [sentences[0], *asking]
    return "".join(asking)


def _sentences(text: str) -> list[str]:
    """The sentences of ``text``; one of a few characters (银川的。 — after its place is taken out,
    的。 — or 你好！) is no sentence of its own but the start of the next one."""
    found: list[str] = []
    carry = ""
    for sentence in _SENTENCE.findall(text):
        if not sentence.strip():
            continue
        if len(_PUNCTUATION.sub("", sentence)) < SHORT:
            carry += sentence
            continue
        found.append(carry + sentence)
        carry = ""
    if carry:
        found.append(carry)
    return found


def reading_key() -> str:
    """A hash of the data that shapes the matching form (synonyms, places): a model trained on
    questions read with other tables is another model (the code's part is ``SAMPLES``)."""
    return digest([p.read_bytes() for p in (SYNONYMS_FILE, PLACES_FILE)])


@dataclass(frozen=True)
class Typed:
    text: str                       # matching form
    places: tuple[Place, ...]       # places named, in order
    regions: frozenset[str]         # KB regions where the asker is (places with own policy)

    @property
    def other_place(self) -> Place | None:
        """The first place named that has no policy of its own here (None if a region is named)."""
        if self.regions:
            return None
        return self.places[0] if self.places else None


def _home(place: Place, first: Place) -> bool:
    """Whether ``place`` is where the asker is, as people tell it: the first place named, or
    the same spot told twice (江苏苏州: a province and a city in it)."""
    return place is first or (place.province == first.province
                              and (place.name == place.province or first.name == first.province))


def _written_as(place: Place, at_home: bool, first: Place) -> str:
    """What a named place becomes in the matching form. Where the asker is (``_home``): its
    region's name if it has its own policy, else nothing. Any other place: 外省 or 同省 — a
    question naming two places is about money crossing between them (我在成都交医保，爸妈在
    重庆 …; 我在东营上班，岳父在济南 …), which deleting the names, or naming the relative's
    region as if it were the asker's, would hide."""
    if at_home:
        return REGION_NAMES.get(place.region or "", "")
    return "同省" if place.province == first.province else "外省"


def read(question: str) -> Typed:
    """The question in matching form, with the places it names."""
    text = simplified(question)
    places = tuple(default_places().find(text))
    home = {p.name for p in places if _home(p, places[0])}
    for place in sorted(places, key=lambda p: -len(p.name)):
        text = text.replace(place.name, _written_as(place, place.name in home, places[0]))
    text = question_part(text)
    matching = default_normalizer().canonical(light(text))
    return Typed(matching, places,
                 frozenset(p.region for p in places if p.region and p.name in home))
