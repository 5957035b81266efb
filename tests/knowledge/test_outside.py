"""knowledge.outside: the out-of-scope topics load strictly, and a question about one gets an
honest referral (a fallback), while questions about family mutual aid that share its words still
reach their FAQ entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import KnowledgeError, Matcher
from knowledge.outside import load_outside

# words of family mutual aid: a topic's phrasing using one would compete with the FAQ itself
MUTUAL_AID_WORDS = ("共济", "绑定", "亲情账户", "个人账户", "个账", "家庭账户")


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "out_of_scope.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def _topic(topic_id: str = "oos_demo", n: int = 8, extra: str = "") -> str:
    phrasings = "".join(f"\n      - 示例问题{i}" for i in range(n))
    return (f"  - id: {topic_id}\n    topic: 示例\n    reply: 示例回复。\n{extra}"
            f"    phrasings:{phrasings}\n")


def test_real_topics_load_and_stay_off_the_faqs_ground(real_kb) -> None:
    topics = load_outside(taken=(e.id for e in real_kb.entries))
    assert len(topics) >= 15
    for t in topics:
        assert t.id.startswith("oos_") and t.topic == "out_of_scope" and t.answer
        assert len(t.phrasings) >= 8
        for p in t.phrasings:
            assert not any(w in p for w in MUTUAL_AID_WORDS), (t.id, p)
    assert not {t.id for t in topics} & {e.id for e in real_kb.entries}


@pytest.mark.parametrize(("body", "message"), [
    ("entries: []\n", "'topics:' list"),
    ("topics:\n" + _topic("demo"), "starting with oos_"),
    ("topics:\n" + _topic() + _topic(), "already used"),
    ("topics:\n" + _topic(n=7), "at least 8"),
    ("topics:\n" + _topic(extra="    sources: [x.md]\n"), "unknown key"),
    ("topics: [\n", "cannot be read"),
])
def test_bad_files_are_refused_with_the_topic_named(tmp_path, body, message) -> None:
    with pytest.raises(KnowledgeError, match=message):
        load_outside(_write(tmp_path, body))


def test_a_topic_may_not_reuse_an_faq_id(tmp_path) -> None:
    with pytest.raises(KnowledgeError, match="already used"):
        load_outside(_write(tmp_path, "topics:\n" + _topic("oos_x")), taken=["oos_x"])


@pytest.mark.parametrize(("question", "topic"), [
    ("我妈住院花了三万，医保大概给报百分之多少", "oos_reimbursement"),
    ("异地备案有效期多久，到期了要重新办吗", "oos_remote_filing"),
    ("从青岛调到济南上班了，医保关系咋转过来", "oos_transfer"),
    ("旧社保卡坏了芯片读不出来咋换", "oos_card_service"),
])
def test_neighbouring_topic_gets_an_honest_referral(real_matcher: Matcher, question, topic
                                                    ) -> None:
    answer = real_matcher.ask(question)
    assert answer.kind == "fallback" and answer.entry is None and answer.suggestions == []
    assert answer.outside is not None and answer.outside.id == topic
    assert "不属于医保个人账户家庭共济" in answer.text and answer.outside.answer in answer.text
    assert "医保服务热线 12393" in answer.text and "{" not in answer.text


@pytest.mark.parametrize(("question", "entry"), [
    ("在外地住院，家里人能刷我的医保个人账户吗", "scope_remote_treatment"),
    ("能用我的个人账户给我妈交居民医保吗", "payable_resident_premium"),
    ("家人住院花的钱能用我的共济账户付吗", None),
])
def test_family_questions_with_the_same_words_are_not_turned_away(real_matcher: Matcher,
                                                                 question, entry) -> None:
    answer = real_matcher.ask(question)
    assert answer.outside is None
    shown = [answer.entry.id] if answer.entry else [s.entry.id for s in answer.suggestions]
    assert shown, answer.kind
    assert entry is None or shown[0] == entry
    assert not any(e.startswith("oos_") for e in shown)


def test_a_near_tie_with_a_topic_is_never_answered_directly(real_matcher: Matcher) -> None:
    # the card's bank side is also what the Hainan financial-zone entry is about: a close call
    ranked = [s.entry.id for s in real_matcher.rank("社保卡寄到了，要去银行开通才能用吗")[:2]]
    assert "oos_card_service" in ranked
    assert real_matcher.ask("社保卡寄到了，要去银行开通才能用吗").kind != "answer"


def test_topics_are_never_suggested(real_matcher: Matcher) -> None:
    # a family question near a topic: whatever is offered comes from the FAQ
    for question in ("报销", "医保卡", "门诊能报多少，家人能用吗", "住院押金能用个人账户交吗"):
        answer = real_matcher.ask(question)
        offered = [s.entry.id for s in answer.suggestions]
        assert not any(e.startswith("oos_") for e in offered), (question, offered)
        assert answer.entry is None or not answer.entry.id.startswith("oos_")


def test_a_matcher_can_be_built_without_topics(real_kb) -> None:
    bare = Matcher(real_kb, answer_threshold=72, suggest_threshold=50, max_suggestions=3,
                   outside=())
    assert not bare.index.outside and len(bare.index.entries) == len(real_kb.entries)
    assert bare.ask("住院报销比例是多少").outside is None
