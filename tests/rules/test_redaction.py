"""redact (review L2): every ID number and mobile phone, in any written form, inside any text."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rules.identity import redact

SEPARATORS = ["", "", "", " ", "-", "  ", " - ", "\u3000", "\u00a0", "－", "—"]
NEIGHBOURS = ["", "ID", "id:", "sfz", "身份证", "身份证号：", "x", "X", "号码", "tel", "电话",
              "（", "(", "#", "\n", "\t", ":"]


def digits(text: str) -> int:
    return sum(c.isdecimal() for c in text)


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    """An 18-character (17 digits + digit/X/x) or 15-digit ID, separators anywhere inside."""
    if draw(st.booleans()):
        chars = draw(st.lists(st.sampled_from("0123456789"), min_size=17, max_size=17))
        chars.append(draw(st.sampled_from("0123456789Xx")))
    else:
        chars = draw(st.lists(st.sampled_from("0123456789"), min_size=15, max_size=15))
    out = chars[0]
    for c in chars[1:]:
        out += draw(st.sampled_from(SEPARATORS)) + c
    return out


@st.composite
def phones(draw: st.DrawFn) -> tuple[str, str]:
    """(country prefix, the number as written): 1xx xxxx xxxx with separators or brackets."""
    number = "1" + draw(st.sampled_from("3456789")) + "".join(
        draw(st.lists(st.sampled_from("0123456789"), min_size=9, max_size=9)))
    head, mid, tail = number[:3], number[3:7], number[7:]
    sep1, sep2 = draw(st.sampled_from(SEPARATORS)), draw(st.sampled_from(SEPARATORS))
    if draw(st.booleans()):
        written = f"{head}{sep1}{mid}{sep2}{tail}"
    else:
        written = f"({head}){sep1}{mid}{sep2}{tail}"
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "0086", "0086 ", "86", "(+86)",
                                   "(+86) ", "+ 86 ", "＋86"]))
    return prefix, prefix + written


fillers = st.text(max_size=30)
no_digit_fillers = st.text(alphabet=st.characters(blacklist_categories=("Nd", "Cs")),
                           max_size=30)


@settings(max_examples=400, deadline=None)
@given(before=fillers, neighbour=st.sampled_from(NEIGHBOURS), id_text=id_numbers(),
       after=fillers)
@example(before="", neighbour="ID", id_text="370502198507210577", after="")
@example(before="", neighbour="", id_text="3705 0219 8006 2202 24", after="")
@example(before="", neighbour="", id_text="370502-19800622-0224", after="x")
def test_no_id_survives_in_any_text(before: str, neighbour: str, id_text: str,
                                    after: str) -> None:
    out = redact(before + neighbour + id_text + after)
    # At most 8 of the ID's digits stay visible (first and last 4), whatever surrounds it.
    assert digits(out) <= digits(before + neighbour + after) + 8
    assert redact(out) == out


@settings(max_examples=300, deadline=None)
@given(before=no_digit_fillers, id_text=id_numbers(), after=no_digit_fillers)
def test_the_middle_of_an_id_is_gone(before: str, id_text: str, after: str) -> None:
    out = redact(before + id_text + after)
    assert "*" * (digits(id_text) - 8) in out and digits(out) <= 8


@settings(max_examples=400, deadline=None)
@given(before=fillers, neighbour=st.sampled_from(NEIGHBOURS), phone=phones(), after=fillers)
@example(before="", neighbour="", phone=("0086", "008613905461002"), after="")
@example(before="", neighbour="", phone=("", "(139)05461002"), after="")
def test_no_phone_survives_in_any_text(before: str, neighbour: str, phone: tuple[str, str],
                                       after: str) -> None:
    country, written = phone
    out = redact(before + neighbour + written + after)
    # At most 7 of the 11 digits stay visible (first 3, last 4), plus the country code.
    assert digits(out) <= digits(before + neighbour + after) + digits(country) + 7


@settings(max_examples=200, deadline=None)
@given(before=no_digit_fillers, phone=phones(), after=no_digit_fillers)
def test_the_middle_of_a_phone_is_gone(before: str, phone: tuple[str, str], after: str) -> None:
    country, written = phone
    out = redact(before + written + after)
    assert "****" in out and digits(out) <= digits(country) + 7


@pytest.mark.parametrize("text,shown", [
    ("我是吴刚 身份证370502198507210577 电话13905461007 ID370502198507210577",
     "我是吴刚 身份证3705**********0577 电话139****1007 ID3705**********0577"),
    ("sfz37050219850721057x", "sfz3705**********057X"),
    ("3705 0219 8006 2202 24", "3705**********0224"),
    ("370502-19800622-0224x", "3705**********0224x"),
    ("008613905461002", "0086*******1002"),
    ("+86 139 0546 1002", "+86 139****1002"),
    ("(+86) 139-0546-1002", "(+86) 139****1002"),
    ("asdf 370502198507210577 13905461007", "asdf 3705**********0577 139****1007"),
])
def test_review_examples(text: str, shown: str) -> None:
    assert redact(text) == shown


@pytest.mark.parametrize("text", [
    "金额 120.50 元", "2026-11-20 12:00:01", "/limit 1 300", "序号 1 2 3", "¥1,200.00",
    "12333", "12393", "2026-11 月度划入",
])
def test_ordinary_numbers_stay(text: str) -> None:
    assert redact(text) == text
