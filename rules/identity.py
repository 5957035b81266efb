"""ID numbers (GB 11643-1999), phones, names, and their masked forms."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f"), None)


def clean_text(text: str) -> str:
    """NFKC, invisible characters removed, outer whitespace stripped."""
    return unicodedata.normalize("NFKC", str(text)).translate(_INVISIBLE).strip()


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def normalize_id(text: str) -> str | None:
    """The canonical 18-character ID number, or None when it is not a valid one.

    Valid means: 17 digits and a check character that matches GB 11643, and a real
    birth date between 1900-01-01 and today.
    """
    s = re.sub(r"\s+", "", clean_text(text)).upper()
    if not re.fullmatch(r"\d{17}[\dX]", s):
        return None
    if check_digit(s[:17]) != s[17]:
        return None
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return None
    if born.year < 1900 or born > date.today():
        return None
    return s


def make_id(first17: str) -> str:
    """Complete 17 digits with their check character (demo data, tests)."""
    return first17 + check_digit(first17)


def normalize_phone(text: str) -> str | None:
    """A mainland mobile number as 11 digits (``+86 138-0000-0000`` → ``13800000000``)."""
    s = re.sub(r"[\s\-()]", "", clean_text(text))
    if s.startswith("+"):
        s = s[1:]
    if s.startswith("0086"):
        s = s[4:]
    elif s.startswith("86") and len(s) == 13:
        s = s[2:]
    return s if re.fullmatch(r"1\d{10}", s) else None


def mask_id(id_number: str) -> str:
    """``370102199001011234`` → ``3701**********1234``."""
    s = str(id_number)
    return s[:4] + "*" * max(len(s) - 8, 0) + s[-4:] if len(s) > 8 else "*" * len(s)


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``."""
    s = str(phone)
    return s[:3] + "****" + s[-4:] if len(s) >= 8 else "*" * len(s)


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``: enough to recognise family, not a stranger."""
    return name[:1] + "*" * (len(name) - 1) if name else name


_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1\d{2})[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")


def redact(text: str) -> str:
    """Mask every ID number and mobile phone found in free text (log lines, questions)."""
    text = _ID_IN_TEXT.sub(lambda m: mask_id(m.group(0)), text)
    return _PHONE_IN_TEXT.sub(lambda m: f"{m[1]}****{m[3]}", text)
