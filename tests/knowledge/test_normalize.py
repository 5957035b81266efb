"""knowledge.normalize: a pure function from text to its matching form."""

from __future__ import annotations

import pytest

from knowledge.normalize import Normalizer, default_normalizer, light, normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # NFKC, full-width to half-width, case
        ("ＡＢＣ１２３", "abc123"),
        ("ＡＰＰ里怎么绑定", "app里怎么绑定"),
        # punctuation and whitespace go; a space survives between two ASCII words
        ("怎么，绑定？！", "怎么绑定"),
        ("hi  there!", "hi there"),
        ("“医保卡”《说明》【重要】", "医保卡说明重要"),
        # fillers
        ("请问一下那个共济怎么开通呀", "共济怎么开通"),
        ("能用吗？", "能用"),
        ("好不好呢啊", "好不好"),
        # synonyms (data in synonyms.yaml)
        ("断交了", "断缴了"),
        ("社保卡", "医保卡"),
        ("关联家属", "绑定亲属"),
        ("添加家人", "绑定亲属"),
        ("咋办理", "怎么办理"),
        ("如何开通", "怎么开通"),
        ("老公", "配偶"),
        ("老婆的医保", "配偶的医保"),
        ("我爸妈", "我父母"),
        ("个账", "个人账户"),
        # 解绑 must survive the 绑 → 绑定 rule; 解除绑定 becomes 解绑
        ("怎么解绑", "怎么解绑"),
        ("解除绑定", "解绑"),
        ("取消关联", "解绑"),
        ("被绑了", "被绑定了"),
        # words that contain a kin word keep their own meaning
        ("表哥能绑吗", "其他亲戚能绑定"),
        # nothing left
        ("", ""),
        ("   ", ""),
        ("？？？", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize("text",
                         ["怎么绑定家人", "ＡＢＣ 断交", "请问解除绑定", "🙂🙂", "\x00\x01"])
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


def test_light_keeps_words() -> None:
    assert light("请问，社保卡？") == "请问社保卡"


def test_regions_named() -> None:
    rest, regions = default_normalizer().regions_named(normalize("东营市怎么绑定"))
    assert regions == {"dongying"}
    assert rest == "怎么绑定"


def test_table_from_data() -> None:
    table = Normalizer.from_data({"synonyms": {"甲": ["乙", "乙乙"]}, "fillers": ["吗"]})
    assert table.normalize("乙乙吗") == "甲"
    assert table.normalize("乙丙") == "甲丙"
