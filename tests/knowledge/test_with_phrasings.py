"""KnowledgeBase.with_phrasings: questions staff taught, added to their entries (bot.learned)."""

from __future__ import annotations

from knowledge import KnowledgeBase, Matcher


def test_adds_new_phrasings_only_to_known_entries(fixture_kb: KnowledgeBase) -> None:
    first = fixture_kb.entries[0]
    extra = {first.id: ["  一个新问法  ", first.phrasings[0], "", "一个新问法"],
             "no_such_entry": ["没人认领的问法"]}
    taught = fixture_kb.with_phrasings(extra)
    entry = taught.entry(first.id)
    assert entry is not None and entry.phrasings == (*first.phrasings, "一个新问法")
    assert [e.id for e in taught.entries] == [e.id for e in fixture_kb.entries]
    assert taught.entries[1:] == fixture_kb.entries[1:]
    assert taught.digest != fixture_kb.digest
    assert fixture_kb.entry(first.id) == first  # the original is left as it was


def test_nothing_new_returns_the_same_base(fixture_kb: KnowledgeBase) -> None:
    first = fixture_kb.entries[0]
    assert fixture_kb.with_phrasings({}) is fixture_kb
    assert fixture_kb.with_phrasings({first.id: [first.phrasings[0]], "x": ["y"]}) is fixture_kb


def test_a_taught_question_is_matched_as_a_phrasing(fixture_kb: KnowledgeBase) -> None:
    question = "宠物医院的账单能不能走这个"
    target = fixture_kb.entries[-1]
    plain = Matcher(fixture_kb, answer_threshold=72, suggest_threshold=50, max_suggestions=3)
    taught = Matcher(fixture_kb.with_phrasings({target.id: [question]}),
                     answer_threshold=72, suggest_threshold=50, max_suggestions=3)
    assert plain.ask(question).entry != target
    answer = taught.ask(question)
    assert answer.kind == "answer" and answer.entry is not None and answer.entry.id == target.id
