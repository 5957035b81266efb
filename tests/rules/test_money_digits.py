"""Amounts in ASCII or full-width digits only (review L7): ``٣`` is not ¥3."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.money import AmountError, parse_yuan

FULLWIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")
# Every decimal digit of every script, except ASCII and full-width ones.
FOREIGN = st.characters(whitelist_categories=("Nd",)).filter(
    lambda c: not ("0" <= c <= "9" or "０" <= c <= "９"))


@pytest.mark.parametrize("text", [
    "٣", "١٢٠", "१२", "𝟙𝟚", "𝟏𝟐𝟎.𝟓", "৩", "๓", "²", "12³", "①", "⑫", "¥٣", "٣元", "1٢0",
    "120.٥", "𝟎.𝟎𝟏",
])
def test_other_digits_are_refused(text: str) -> None:
    with pytest.raises(AmountError):
        parse_yuan(text)


@settings(max_examples=300, deadline=None)
@given(before=st.from_regex(r"[0-9]{0,4}", fullmatch=True), digit=FOREIGN,
       after=st.from_regex(r"[0-9]{0,4}(\.[0-9]{1,2})?", fullmatch=True))
def test_any_foreign_digit_anywhere_is_refused(before: str, digit: str, after: str) -> None:
    with pytest.raises(AmountError):
        parse_yuan(before + digit + after, allow_zero=True)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[1-9][0-9]{0,6}(\.[0-9]{1,2})?", fullmatch=True))
def test_ascii_and_full_width_agree(text: str) -> None:
    wide = text.translate(FULLWIDTH)
    assert unicodedata.normalize("NFKC", wide) == text
    assert parse_yuan(wide) == parse_yuan(text) == parse_yuan(f"¥{wide}元")
