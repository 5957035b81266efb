"""ID-number windows in long digit runs, ID and phone normalising at their edges, and yuan
errors that name what was typed (rules/identity.py, rules/money.py), by example."""

from __future__ import annotations

import pytest

from rules.identity import _windows, check_digit, make_id, normalize_id, redact
from rules.money import AmountError, parse_yuan


@pytest.mark.parametrize("sizes, windows", [
    ([18], [(0, 0)]), ([6, 8, 4], [(0, 2)]), ([4, 4, 4, 4, 4], [(0, 4)]), ([15, 3], [(0, 1)]),
    ([15, 3, 1], [(0, 1)]), ([1, 15, 2, 1], [(0, 2)]), ([4, 15, 3], [(1, 2)]),
    ([18, 18], [(0, 0), (1, 1)]), ([15, 3, 15, 3], [(0, 1), (2, 3)]),
    ([16, 2, 2, 16], [(0, 1), (2, 3)]), ([15, 1, 1, 1, 1], [(0, 3)]), ([3, 15, 5], [(0, 1)]),
    ([4, 15, 5], [(1, 1)]), ([2, 2, 15, 5], [(1, 2)]), ([14, 5], [(0, 1)]), ([15, 5], [(0, 0)]),
    ([14, 1, 15, 3], [(1, 2)]), ([5, 15], [(1, 1)]), ([15, 4, 2], [(0, 0)]),
    ([1, 1, 1, 15, 5], [(0, 3)]), ([16, 3], [(0, 0)]),
])
def test_id_windows_in_a_run_of_digit_groups(sizes: list[int],
                                              windows: list[tuple[int, int]]) -> None:
    assert _windows(sizes) == windows


@pytest.mark.parametrize("text, masked", [
    ("370502198006220224 370502198006220224", "3705**********0224 3705**********0224"),
    ("账号370502198006220224123", "账号3705*************4123"),
    ("3705 0219 8006 2202 24", "3705**********0224"),
    ("号码 37050219800622022 4 结束", "号码 3705**********0224 结束"),
])
def test_redact_long_runs(text: str, masked: str) -> None:
    assert redact(text) == masked


def test_check_digit_wants_exactly_seventeen_digits() -> None:
    with pytest.raises(ValueError, match="zip"):
        check_digit("1101051949123100")


@pytest.mark.parametrize("text, number", [
    ("110105 19491231 002x", "11010519491231002X"),
    ("\u200b11010519491231002X ", "11010519491231002X"),
    (make_id("11010519000101002"), make_id("11010519000101002")),     # 1900-01-01
    (make_id("11010518991231002"), None),                               # 1899-12-31
    (make_id("11010519490229002"), None),                               # no 29 February
    (make_id("11010519481301002"), None),                               # month 13
])
def test_normalize_id_edges(text: str, number: str | None) -> None:
    assert normalize_id(text) == number


@pytest.mark.parametrize("text", ["1 000", "1,000", " ¥1 000元 "])
def test_separators_inside_an_amount_are_ignored(text: str) -> None:
    assert parse_yuan(text) == 100_000


@pytest.mark.parametrize("text", ["abc", "1.234", "0", "100000000.01", "١٢٠", "１２𝟘"])
def test_an_amount_error_names_what_was_typed(text: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_yuan(text)
    assert str(caught.value) == text


@pytest.mark.parametrize("text, masked", [
    ("身份证11010519491231002X请查", "身份证1101**********002X请查"),
    ("身份证11010519491231002Ｘ请查", "身份证1101**********002X请查"),
    ("1234 370502198006220224", "1234 3705**********0224"),     # the window starts later
])
def test_redact_check_letters_and_a_leading_short_group(text: str, masked: str) -> None:
    assert redact(text) == masked
