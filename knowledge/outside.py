"""Topics next to family mutual aid that the assistant does not answer (``out_of_scope.yaml``).

People who ask about family mutual aid also ask about reimbursement ratios, 异地就医备案, moving
their insurance to another city … Those questions share the KB's words (医保, 报销, 社保卡), so
without a place of their own they land on some FAQ entry as a "did you mean". Each topic here is
matched like an FAQ entry, from its phrasings; a question it wins gets an honest fallback naming
the topic and where to ask (``knowledge.matcher``), never an answer or a suggestion.

Topics become ``Entry`` objects (topic ``out_of_scope``, region national, no sources) so the index
treats them like any entry; they are not part of the ``KnowledgeBase`` (``/why``, inline answers
and the FAQ meta-test never see them).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from knowledge.kb import ID_PATTERN, MIN_PHRASINGS, Entry, KnowledgeError, required_text, text_list

OUTSIDE_FILE = Path(__file__).with_name("out_of_scope.yaml")
TOPIC = "out_of_scope"
PREFIX = "oos_"
_KEYS = ("id", "topic", "reply", "phrasings")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_outside(path: Path = OUTSIDE_FILE, *, taken: Iterable[str] = ()) -> tuple[Entry, ...]:
    """The out-of-scope topics as entries; ``taken``: the FAQ's ids, which they may not reuse."""
    name = path.name
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise KnowledgeError(f"{name}: cannot be read: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("topics"), list):
        raise KnowledgeError(f"{name}: must be a mapping with a 'topics:' list")
    used = set(taken)
    out = []
    for i, raw in enumerate(doc["topics"]):
        if not isinstance(raw, dict):
            raise KnowledgeError(f"{name}: topics[{i}]: must be a mapping")
        topic_id = raw.get("id")
        where = f"{name}: topic {topic_id!r}" if topic_id else f"{name}: topics[{i}]"
        unknown = [key for key in raw if key not in _KEYS]
        if unknown:
            raise KnowledgeError(f"{where}: {unknown[0]}: unknown key")
        if (not isinstance(topic_id, str) or not ID_PATTERN.fullmatch(topic_id)
                or not topic_id.startswith(PREFIX)):
            raise KnowledgeError(f"{where}: id: must be snake_case text starting with {PREFIX}")
        if topic_id in used:
            raise KnowledgeError(f"{where}: id: already used")
        used.add(topic_id)
        out.append(Entry(id=topic_id, topic=TOPIC, region="national",
                         question=required_text(raw, "topic", where),
                         phrasings=text_list(raw, "phrasings", where, MIN_PHRASINGS),
                         answer=required_text(raw, "reply", where),
                         sources=(), related=(), nots=(), file=name))
    return tuple(out)
