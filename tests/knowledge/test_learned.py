"""The learned ranker and questions as typed: places from data, traditional characters, the
question inside a paragraph, region rules, the cached model, calibrated bands."""

from __future__ import annotations

import uuid

import pytest

from knowledge import Matcher, ranker
from knowledge.learning import Calibration, Learned, load_calibration
from knowledge.places import default_places
from knowledge.typed import question_part, read, simplified

# -- places ------------------------------------------------------------------------------------


def test_every_province_and_prefecture_is_data() -> None:
    places = default_places()
    provinces = {p.province for p in places.by_name.values()}
    assert len(provinces) == 34
    assert len(places) >= 34 + 330


@pytest.mark.parametrize(
    ("text", "name", "region"),
    [("东营市怎么绑定", "东营", "dongying"), ("我在济南上班", "济南", "jinan"),
     ("吉安的共济", "吉安", "jian"), ("海口看病", "海口", "hainan"),
     ("海南省的政策", "海南", "hainan"),
     ("无锡医保共济", "无锡", None), ("浙江杭州", "浙江", None), ("青海海南州", "青海", None),
     ("吉林市的医保", "吉林市", None), ("乌鲁木齐", "乌鲁木齐", None),
     ("浙里办上怎么绑定", "浙江", None), ("随申办能办共济吗", "上海", None),
     ("海易办上查个账", "海南", "hainan")],
)
def test_places_are_recognised(text: str, name: str, region: str | None) -> None:
    found = default_places().find(text)
    assert found and found[0].name == name and found[0].region == region


# -- reading a question ------------------------------------------------------------------------


def test_traditional_becomes_simplified() -> None:
    assert simplified("卡里的錢比較多，可以給家人使用嗎？醫保綁定賬戶") == \
        "卡里的钱比较多，可以给家人使用吗？医保绑定账户"


def test_the_question_is_found_inside_a_paragraph() -> None:
    """The asking sentences, after the first sentence (which usually names the topic: 想把家人
    绑定到我的医保上); the story in between is left out."""
    text = ("我想把我爸绑到我的医保上。我爸今年七十了，一直在老家住，身体不太好，经常要去医院拿药，"
            "花了不少钱。我的职工医保卡里余额挺多的，具体该怎么操作呢？")
    assert question_part(text) == ("我想把我爸绑到我的医保上。"
                                   "我的职工医保卡里余额挺多的，具体该怎么操作呢？")


def test_a_few_characters_before_the_story_do_not_take_the_topic_sentence_s_place() -> None:
    """银川的。 (的。 once its place is out) would otherwise be the "first sentence" kept, and the
    story that names the topic (绑了儿子, 刷了两千多) would be left out."""
    text = ("银川的。我把儿子绑到我的个账上了，结果他一个月刷了两千多买药。"
            "有没有办法限制他最多能用多少？")
    assert question_part(text) == text
    assert "绑定" in read(text).text and "限制" in read(text).text


def test_a_paragraph_that_opens_with_its_question_is_not_repeated() -> None:
    text = ("我的职工医保卡里余额挺多的，能给我爸用吗？我爸今年七十了，一直在老家住，"
            "身体不太好，经常要去医院拿药，花了不少钱。")
    assert question_part(text) == "我的职工医保卡里余额挺多的，能给我爸用吗？"


def test_a_place_without_its_own_policy_is_noted_and_taken_out() -> None:
    typed = read("无锡医保共济账户怎么解除绑定？")
    assert "无锡" not in typed.text and typed.other_place is not None
    assert typed.other_place.name == "无锡" and not typed.regions


@pytest.mark.parametrize(("text", "kept", "gone"), [
    ("成都的职工医保能给在重庆的爸妈共济吗", "跨省", ("成都", "重庆")),  # 外省, then normalised
    ("我在江苏苏州交的医保，爸妈在安徽老家，能共济吗", "跨省", ("江苏", "苏州", "安徽")),
    ("我在南京上班 爸妈在苏州 能共济吗", "同省", ("南京", "苏州")),
    ("我在江苏苏州交医保能给家人用吗", "", ("江苏", "苏州")),  # one place, told twice
])
def test_a_second_place_says_where_the_money_would_go(text: str, kept: str,
                                                       gone: tuple[str, ...]) -> None:
    typed = read(text)
    assert not any(name in typed.text for name in gone)
    assert kept in typed.text
    if not kept:
        assert "跨省" not in typed.text and "同省" not in typed.text
    assert typed.other_place is not None and typed.other_place.name == gone[0]


@pytest.mark.parametrize(("text", "regions", "kept"), [
    ("我在东营上班，岳父在济南交的居民医保，能绑吗", {"dongying"}, "同省"),
    ("我在海口上班 我妈在东营 她能用我的个账吗", {"hainan"}, "跨省"),
    ("我在成都 爸妈在东营 能用我的医保吗", set(), "跨省"),
])
def test_the_relatives_region_is_not_taken_for_the_askers(text: str, regions: set[str],
                                                           kept: str) -> None:
    typed = read(text)
    assert typed.regions == regions and kept in typed.text


def test_a_second_place_gets_the_cross_province_answer(real_matcher: Matcher) -> None:
    answer = real_matcher.ask("成都的 我的职工医保能给在重庆的爸妈共济吗")
    assert answer.entry is not None and answer.entry.id == "scope_cross_province"
    assert "具体以成都医保部门的规定为准" in answer.text


# -- the matcher ---------------------------------------------------------------------------------


def test_traditional_and_simplified_get_the_same_answer(real_matcher: Matcher) -> None:
    a = real_matcher.ask("家庭共濟怎麼解除綁定？")
    b = real_matcher.ask("家庭共济怎么解除绑定？")
    assert a.entry is not None and a.entry == b.entry


def test_another_city_gets_the_national_answer_and_a_pointer(real_matcher: Matcher) -> None:
    answer = real_matcher.ask("无锡家庭共济怎么解除绑定")
    assert answer.entry is not None and answer.entry.region == "national"
    assert answer.text.endswith("具体以无锡医保部门的规定为准。")


@pytest.mark.parametrize("region", ["dongying", "jinan", "hainan", "national"])
def test_no_one_gets_another_regions_rules(real_matcher: Matcher, region: str) -> None:
    """Nor the rules of a place they did not name (杭州's lapse entries, ``place: 杭州``)."""
    for question in ("医保断缴了卡里的钱还能用吗", "断缴三个月以上会怎样", "断缴了有什么影响",
                     "断交一个月还能用吗"):
        for s in real_matcher.rank(question, region)[:5]:
            assert s.entry.region in ("national", region), (question, s.entry.id)
            assert s.entry.place is None, (question, s.entry.id)


@pytest.mark.parametrize("question", ["东营医保断交一个月还能用吗", "济南医保断缴三个月会怎样",
                                      "成都医保断缴三个月以上怎么办", "断交三个月咋样"])
def test_a_places_own_rules_are_not_told_to_others(real_matcher: Matcher, question: str) -> None:
    """Hangzhou's lapse rules were answered to a Dongying, Jinan or Chengdu asker (and to one who
    named no place) as if they were theirs; they get the general answer, which names whose
    rules it quotes."""
    answer = real_matcher.ask(question)
    assert answer.entry is not None and answer.entry.id == "lapse_general", answer.entry
    assert "各地规定不一样" in answer.text and "12393" in answer.text


def test_where_the_asker_is_decides_which_entries_suit(real_matcher: Matcher) -> None:
    hangzhou = real_matcher.kb.entry("lapse_hangzhou_one_month")
    jian = real_matcher.kb.entry("lapse_over3_jian")
    general = real_matcher.kb.entry("lapse_general")
    dongying = real_matcher.ask("东营医保断交一个月还能用吗").where
    assert dongying.fits(general) and not dongying.fits(hangzhou) and not dongying.fits(jian)
    assert real_matcher.ask("杭州断交一个月还能用吗").where.fits(hangzhou)
    anyone = real_matcher.ask("断交三个月咋样").where
    assert anyone.fits(hangzhou) and anyone.fits(jian)


@pytest.mark.parametrize(("question", "entry"), [
    ("杭州医保断缴三个月会怎样", "lapse_hangzhou_three_months"),
    ("杭州断交一个月还能用吗", "lapse_hangzhou_one_month"),
])
def test_a_named_place_gets_its_own_entry(real_matcher: Matcher, question: str, entry: str) -> None:
    answer = real_matcher.ask(question)
    assert answer.entry is not None and answer.entry.id == entry


def test_a_named_region_gets_its_own_entry(real_matcher: Matcher) -> None:
    answer = real_matcher.ask("东营最多能绑几个亲属")
    assert answer.entry is not None and answer.entry.id == "binding_max_dongying"


def test_answers_offer_runners_up_not_did_you_mean(real_matcher: Matcher) -> None:
    answer = real_matcher.ask("家庭共济怎么解除绑定？")
    assert answer.kind == "answer" and answer.suggestions == []
    assert all(s.entry.id != answer.entry.id for s in answer.related)


def test_scores_are_the_calibrated_bands() -> None:
    cal = Calibration(temperature=5.0, weights=(), answer=0.8, suggest=0.4)
    assert cal.score(0.8, 72, 50) == pytest.approx(72)
    assert cal.score(0.4, 72, 50) == pytest.approx(50)
    assert cal.score(0.0, 72, 50) == 0 and cal.score(1.0, 72, 50) == 100
    assert 0 < load_calibration().suggest <= load_calibration().answer < 1


def test_a_cached_model_is_not_trained_again(real_kb, monkeypatch) -> None:
    entries = list(real_kb.entries)
    Learned(entries, real_kb.digest)                  # trained or cached by now

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(ranker, "train", no_training)
    Learned(entries, real_kb.digest)


def test_new_synonyms_or_places_train_a_new_model(real_kb, monkeypatch, tmp_path) -> None:
    """The training questions are read through synonyms.yaml and places.yaml: a model cached
    under the old tables would read the asker's question one way and its own another."""
    from knowledge import typed

    entries = list(real_kb.entries)
    Learned(entries, real_kb.digest)                  # trained or cached by now
    before = typed.reading_key()
    places = tmp_path / "places.yaml"
    # a line of its own each run: a model cached under it by an earlier run would be found
    places.write_bytes(typed.PLACES_FILE.read_bytes() + f"# {uuid.uuid4()}\n".encode())
    monkeypatch.setattr(typed, "PLACES_FILE", places)
    assert typed.reading_key() != before

    def training(*args, **kwargs):
        raise RuntimeError("trained again")

    monkeypatch.setattr(ranker, "train", training)
    with pytest.raises(RuntimeError, match="trained again"):
        Learned(entries, real_kb.digest)


def test_a_taught_question_is_answered_at_once(fixture_kb) -> None:
    question = "老伴的卡能和我的一起用不"
    taught = fixture_kb.with_phrasings({"bind_how": [question]})
    matcher = Matcher(taught, answer_threshold=72, suggest_threshold=50, max_suggestions=3)
    answer = matcher.ask(question)
    assert answer.kind == "answer" and answer.entry is not None and answer.entry.id == "bind_how"
