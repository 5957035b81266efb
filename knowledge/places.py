"""Places named in a question, from data (``places.yaml``: every province and prefecture-level
division of China). A place with its own policy in the knowledge base maps to its region key
(东营 → dongying, 海口 → hainan …); any other place is still recognised, so that the answer can
be the national one with a pointer to that place's own 医保部门. A province's government-service
app names it too (浙里办 → 浙江)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PLACES_FILE = Path(__file__).with_name("places.yaml")
_PROVINCE_SUFFIXES = ("省", "市", "自治区")
_CITY_SUFFIXES = ("市", "地区", "州", "盟")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Place:
    name: str                  # as listed (short form): 无锡, 海南, 吉林市
    region: str | None         # the KB region with its own policy, or None
    province: str


@dataclass(frozen=True)
class Places:
    by_name: dict[str, Place]
    pattern: re.Pattern[str]

    def find(self, text: str) -> list[Place]:
        """Places named in ``text``, in order, each once (longest name wins: 海南州 ≠ 海南)."""
        seen: dict[str, Place] = {}
        for m in self.pattern.finditer(text):
            place = self.by_name[m.group(0)]
            seen.setdefault(place.name, place)
        return list(seen.values())

    def __len__(self) -> int:
        return len({p.name for p in self.by_name.values()})


def load_places(path: Path | None = None) -> Places:
    data = yaml.load((path or PLACES_FILE).read_text(encoding="utf-8"), Loader=_LOADER)
    own = {str(k): str(v) for k, v in (data.get("regions") or {}).items()}
    listed: list[tuple[Place, tuple[str, ...]]] = []
    for province, spec in data["provinces"].items():
        province_region = spec.get("region")
        listed.append((Place(str(province), province_region, str(province)), _PROVINCE_SUFFIXES))
        listed += [(Place(str(c), own.get(str(c), province_region), str(province)), _CITY_SUFFIXES)
                   for c in spec.get("cities") or []]
    # names as listed first, then suffixed forms (吉林市 the city, not 吉林 + 市)
    by_name: dict[str, Place] = {}
    for place, _ in listed:
        by_name.setdefault(place.name, place)
    for place, suffixes in listed:
        base = place.name.removesuffix("市")
        for suffix in suffixes:
            by_name.setdefault(base + suffix, place)
    for province, spec in data["provinces"].items():
        for app in spec.get("apps") or []:   # 浙里办: the asker is in 浙江
            by_name.setdefault(str(app), by_name[str(province)])
    keys = sorted(by_name, key=lambda k: (-len(k), k))
    return Places(by_name, re.compile("|".join(map(re.escape, keys))))


@lru_cache(maxsize=1)
def default_places() -> Places:
    return load_places()
