"""The real knowledge base (knowledge/faq/*.yaml) is complete and answers its own phrasings;
and the loader refuses a broken KB naming the file and the entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from knowledge import KnowledgeError, Matcher, load_knowledge
from knowledge.kb import DEFAULT_SEEDS_DIR, FAQ_DIR, MIN_PHRASINGS, REGIONS, read_entries
from rules.codes import ALL_CODES
from tests.knowledge.conftest import FIXTURE_CODES, FIXTURE_FAQ, FIXTURE_SEEDS

ENTRIES, _ = read_entries(FAQ_DIR)
PHRASINGS = [(e.id, p) for e in ENTRIES for p in (e.question, *e.phrasings)]
NOTS = [(e.id, p) for e in ENTRIES for p in e.nots]


def test_real_kb_loads_and_validates() -> None:
    kb = load_knowledge()
    assert len(kb.entries) == len(ENTRIES) > 0


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_entry_is_complete(entry) -> None:
    assert entry.region in REGIONS
    assert entry.topic and entry.question and entry.answer.strip()
    assert len(entry.phrasings) >= MIN_PHRASINGS
    assert len(set(entry.phrasings)) == len(entry.phrasings), "duplicate phrasing"


def test_ids_unique_and_related_exist() -> None:
    ids = [e.id for e in ENTRIES]
    assert len(ids) == len(set(ids))
    for e in ENTRIES:
        assert set(e.related) <= set(ids), e.id


def test_every_reason_code_explained_exactly_once() -> None:
    kb = load_knowledge()
    reasons = [e.reason for e in kb.entries if e.reason]
    assert sorted(reasons) == sorted(ALL_CODES)
    for code in ALL_CODES:
        entry = kb.for_reason(code)
        assert entry is not None and entry.reason == code


@pytest.mark.skipif(not DEFAULT_SEEDS_DIR.is_dir(), reason="seeds directory absent")
def test_every_source_exists() -> None:
    for e in ENTRIES:
        for src in e.sources:
            assert (DEFAULT_SEEDS_DIR / src).is_file(), f"{e.id}: {src}"


@pytest.mark.parametrize(("entry_id", "phrasing"), PHRASINGS)
def test_phrasing_answers_its_entry(real_matcher: Matcher, entry_id: str, phrasing: str) -> None:
    answer = real_matcher.ask(phrasing)
    shown = [(s.entry.id, s.score) for s in answer.suggestions]
    assert answer.kind == "answer", (answer.kind, shown)
    assert answer.entry is not None and answer.entry.id == entry_id


@pytest.mark.parametrize(("entry_id", "phrasing"), NOTS)
def test_not_phrasing_avoids_its_entry(real_matcher: Matcher, entry_id: str, phrasing: str) -> None:
    answer = real_matcher.ask(phrasing)
    assert answer.entry is None or answer.entry.id != entry_id


# -- the loader refuses broken knowledge bases ------------------------------------------------

def _broken(tmp_path: Path, edit) -> Path:
    faq = tmp_path / "faq"
    shutil.copytree(FIXTURE_FAQ, faq)
    path = faq / "binding.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data["entries"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return faq


def _load(faq: Path, seeds: Path = FIXTURE_SEEDS):
    return load_knowledge(faq, seeds_dir=seeds, reason_codes=FIXTURE_CODES)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda es: es[0].pop("answer"), "answer: missing"),
        (lambda es: es[0].update(region="beijing"), "region"),
        (lambda es: es[0].update(phrasings=es[0]["phrasings"][:3]), "phrasings: needs at least 8"),
        (lambda es: es[1].update(id=es[0]["id"]), "id already used"),
        (lambda es: es[0].update(related=["no_such_entry"]), "related id 'no_such_entry'"),
        (lambda es: es[0].update(sources=["missing.txt"]), "source 'missing.txt' not found"),
        (lambda es: es[0].update(colour="red"), "colour: unknown key"),
        (lambda es: es[0].update(reason="NOT_A_CODE"), "not a reason code"),
        (lambda es: es[0].update(region="jinan", place="杭州"), "place: must be a place name"),
        (lambda es: es[0].update(region="national", place=""), "place: must be a place name"),
        (lambda es: es[0].update(reason="INVALID_ID"), "INVALID_ID already explained"),
    ],
)
def test_loader_names_file_and_entry(tmp_path: Path, edit, message: str) -> None:
    faq = _broken(tmp_path, edit)
    with pytest.raises(KnowledgeError) as err:
        _load(faq)
    assert "binding.yaml" in str(err.value)
    assert message in str(err.value)


def test_loader_requires_every_reason_code() -> None:
    with pytest.raises(KnowledgeError, match="NAME_MISMATCH"):
        load_knowledge(FIXTURE_FAQ, seeds_dir=FIXTURE_SEEDS,
                       reason_codes=(*FIXTURE_CODES, "NAME_MISMATCH"))


def test_sources_check_skipped_only_without_seeds_dir(tmp_path: Path) -> None:
    faq = _broken(tmp_path, lambda es: es[0].update(sources=["missing.txt"]))
    kb = _load(faq, seeds=tmp_path / "no-such-dir")
    assert kb.entry("bind_how") is not None


def test_invalid_yaml_is_reported(tmp_path: Path) -> None:
    faq = tmp_path / "faq"
    shutil.copytree(FIXTURE_FAQ, faq)
    (faq / "zz_bad.yaml").write_text("entries: [unclosed", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="zz_bad.yaml"):
        _load(faq)


def test_lookup_helpers(fixture_kb) -> None:
    assert fixture_kb.entry("bind_how").region == "national"
    assert fixture_kb.entry("nope") is None
    assert fixture_kb.for_reason("invalid_id").id == "reason_invalid_id"
    assert fixture_kb.for_reason("EXPIRED") is None
