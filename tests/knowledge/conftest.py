"""Fixtures for the knowledge tests: the tiny fixture KB and the real one."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import KnowledgeBase, Matcher, load_knowledge

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_FAQ = FIXTURES / "faq"
FIXTURE_SEEDS = FIXTURES / "seeds"
FIXTURE_CODES = ("INVALID_ID", "NOT_BOUND")


@pytest.fixture(scope="session")
def fixture_kb() -> KnowledgeBase:
    return load_knowledge(FIXTURE_FAQ, seeds_dir=FIXTURE_SEEDS, reason_codes=FIXTURE_CODES)


@pytest.fixture(scope="session")
def fixture_matcher(fixture_kb: KnowledgeBase) -> Matcher:
    return Matcher(fixture_kb, answer_threshold=72, suggest_threshold=50, max_suggestions=3)


@pytest.fixture(scope="session")
def real_kb() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="session")
def real_matcher(real_kb: KnowledgeBase) -> Matcher:
    return Matcher(real_kb, answer_threshold=72, suggest_threshold=50, max_suggestions=3)
