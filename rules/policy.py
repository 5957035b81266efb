"""Region policies as data: the vocabulary is code, the values come from YAML.

A rule file is validated when it is loaded: an unknown key or value stops start-up with
a PolicyError naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rules.identity import clean_text

HERE = Path(__file__).parent
REGIONS_FILE = HERE / "regions.yaml"
VOCABULARY_FILE = HERE / "vocabulary.yaml"

RELATIONS = (
    "spouse", "parent", "child", "parent_in_law", "sibling",
    "grandparent", "maternal_grandparent", "grandchild", "maternal_grandchild",
)
PURPOSES = (
    "outpatient", "inpatient", "pharmacy", "health_check",
    "resident_contribution", "ltc_contribution",
)
CONTRIBUTION_PURPOSES = ("resident_contribution", "ltc_contribution")
SETTLEMENT_MODES = ("retry_window", "ordered", "own_only")
SCOPES = ("same_province", "same_city", "anywhere")

_REGION_KEYS = {
    "name", "province", "cities", "provinces", "default", "relations", "max_relatives",
    "exclusive", "scope", "settlement", "retry_window_seconds", "family_purposes", "sources",
}


class PolicyError(ValueError):
    """A policy file is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class RegionPolicy:
    key: str
    name: str
    province: str | None
    cities: tuple[str, ...]
    provinces: tuple[str, ...]
    default: bool
    relations: frozenset[str]
    max_relatives: int | None
    exclusive: bool
    scope: str
    settlement: str
    retry_window_seconds: int
    family_purposes: frozenset[str]
    sources: tuple[str, ...]

    @property
    def ordered(self) -> bool:
        return self.settlement == "ordered"


def _fail(path: Path, key: str, why: str) -> PolicyError:
    return PolicyError(f"{path}: {key}: {why}")


def _region(path: Path, key: str, raw: Any) -> RegionPolicy:
    if not isinstance(raw, dict):
        raise _fail(path, f"regions.{key}", "must be a mapping")
    for k in raw:
        if k not in _REGION_KEYS:
            raise _fail(path, f"regions.{key}.{k}", "unknown key")

    def listed(name: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        values = raw.get(name) or []
        if not isinstance(values, list):
            raise _fail(path, f"regions.{key}.{name}", "must be a list")
        for v in values:
            if allowed is not None and v not in allowed:
                raise _fail(path, f"regions.{key}.{name}", f"unknown value {v!r}")
        return tuple(str(v) for v in values)

    for required in ("name", "relations", "scope", "settlement", "family_purposes"):
        if required not in raw:
            raise _fail(path, f"regions.{key}.{required}", "missing")
    if raw["scope"] not in SCOPES:
        raise _fail(path, f"regions.{key}.scope", f"unknown value {raw['scope']!r}")
    if raw["settlement"] not in SETTLEMENT_MODES:
        raise _fail(path, f"regions.{key}.settlement", f"unknown value {raw['settlement']!r}")
    max_rel = raw.get("max_relatives")
    if max_rel is not None and (not isinstance(max_rel, int) or max_rel < 1):
        raise _fail(path, f"regions.{key}.max_relatives", "must be a positive integer or null")
    window = raw.get("retry_window_seconds", 300 if raw["settlement"] == "retry_window" else 0)
    if not isinstance(window, int) or window < 0:
        raise _fail(path, f"regions.{key}.retry_window_seconds", "must be a whole number ≥ 0")
    return RegionPolicy(
        key=key,
        name=str(raw["name"]),
        province=raw.get("province"),
        cities=listed("cities"),
        provinces=listed("provinces"),
        default=bool(raw.get("default", False)),
        relations=frozenset(listed("relations", RELATIONS)),
        max_relatives=max_rel,
        exclusive=bool(raw.get("exclusive", False)),
        scope=raw["scope"],
        settlement=raw["settlement"],
        retry_window_seconds=window,
        family_purposes=frozenset(listed("family_purposes", PURPOSES)),
        sources=listed("sources"),
    )


class Policies:
    """All region policies plus the word tables, validated once."""

    def __init__(self, regions: dict[str, RegionPolicy], vocabulary: dict[str, Any]) -> None:
        self.regions = regions
        defaults = [r for r in regions.values() if r.default]
        if len(defaults) != 1:
            raise PolicyError("regions: exactly one region must be marked default: true")
        self.default = defaults[0]
        self._by_city = {c: r.key for r in regions.values() for c in r.cities}
        self._by_province = {p: r.key for r in regions.values() for p in r.provinces}
        self._relation_words = {w: k for k, ws in vocabulary["relations"].items() for w in ws}
        self._purpose_words = {w: k for k, ws in vocabulary["purposes"].items() for w in ws}
        self.relation_names: dict[str, str] = dict(vocabulary["relation_names"])
        self.purpose_names: dict[str, str] = dict(vocabulary["purpose_names"])

    @classmethod
    def load(cls, regions_file: Path = REGIONS_FILE,
             vocabulary_file: Path = VOCABULARY_FILE) -> Policies:
        raw = yaml.safe_load(Path(regions_file).read_text(encoding="utf-8")) or {}
        if set(raw) - {"regions"}:
            raise _fail(Path(regions_file), sorted(set(raw) - {"regions"})[0], "unknown key")
        regions = {k: _region(Path(regions_file), k, v)
                   for k, v in (raw.get("regions") or {}).items()}
        vocab = yaml.safe_load(Path(vocabulary_file).read_text(encoding="utf-8")) or {}
        for section, allowed in (("relations", RELATIONS), ("purposes", PURPOSES),
                                 ("relation_names", RELATIONS), ("purpose_names", PURPOSES)):
            for k in vocab.get(section) or {}:
                if k not in allowed:
                    raise _fail(Path(vocabulary_file), f"{section}.{k}", "unknown key")
            missing = set(allowed) - set(vocab.get(section) or {})
            if missing:
                raise _fail(Path(vocabulary_file), f"{section}.{sorted(missing)[0]}", "missing")
        return cls(regions, vocab)

    def region_for(self, province: str | None, city: str | None) -> str:
        """The policy key for an insured place: city first, then province, else the default."""
        if city and city in self._by_city:
            return self._by_city[city]
        if province and province in self._by_province:
            return self._by_province[province]
        return self.default.key

    def get(self, key: str) -> RegionPolicy:
        return self.regions.get(key, self.default)

    def relation(self, word: str) -> str | None:
        """``老婆`` → ``spouse``; None when the word is not understood."""
        w = clean_text(word)
        return w if w in RELATIONS else self._relation_words.get(w)

    def purpose(self, word: str) -> str | None:
        w = clean_text(word)
        return w if w in PURPOSES else self._purpose_words.get(w)
