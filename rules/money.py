"""Money is integer fen inside; yuan strings exist only at the edges."""

from __future__ import annotations

import re
import unicodedata

# Anything above this is not a medical bill but a typo or an attack.
MAX_FEN = 100_000_000_00  # ¥100,000,000.00

# [0-9], not \d: \d is every script's digits (Arabic-Indic ٣, Devanagari १२ …).
_AMOUNT = re.compile(r"(?P<int>[0-9]{1,12})(?:\.(?P<frac>[0-9]{1,2}))?")
_FULLWIDTH_DIGITS = frozenset("０１２３４５６７８９")


def _foreign_digit(text: str) -> bool:
    """A character that NFKC would turn into a digit but is neither ASCII nor full-width:
    mathematical 𝟙, superscript ², circled ①, or another script's digit (review L7)."""
    return any(not ("0" <= c <= "9" or c in _FULLWIDTH_DIGITS)
               and any(d.isdigit() for d in unicodedata.normalize("NFKC", c)) for c in text
               if not c.isascii())


class AmountError(ValueError):
    """The text is not a positive yuan amount with at most two decimals."""


def parse_yuan(text: str, *, allow_zero: bool = False) -> int:
    """Parse ``120``, ``120.5``, ``¥120.50``, ``120元``, ``１２０`` into fen.

    Raises AmountError for anything else, including negatives, three decimals,
    exponents and absurdly large values. Never goes through float.
    """
    if _foreign_digit(str(text)):
        raise AmountError(text)
    s = unicodedata.normalize("NFKC", str(text)).strip()
    s = s.replace(",", "").replace(" ", "")
    for prefix in ("¥", "￥", "RMB", "rmb", "CNY", "cny"):
        if s.startswith(prefix):
            s = s[len(prefix):]
    for suffix in ("元整", "元", "块钱", "块"):
        if s.endswith(suffix):
            s = s[: -len(suffix)]
            break
    m = _AMOUNT.fullmatch(s)
    if not m:
        raise AmountError(text)
    fen = int(m["int"]) * 100 + int((m["frac"] or "0").ljust(2, "0"))
    if fen > MAX_FEN or (fen == 0 and not allow_zero):
        raise AmountError(text)
    return fen


def format_fen(fen: int) -> str:
    """``90000`` → ``¥900.00``; always exactly two decimals."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"
