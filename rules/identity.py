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


# Separators people put inside numbers: spaces (also full-width / no-break), dashes of any kind.
_SEP = r"[\s\-\u2010-\u2015\u2212\uff0d]"
# A run of digits with up to three separator characters between two digits, then perhaps a
# check letter. One of 15+ digits is an ID number whatever surrounds it (``ID3705…``,
# ``sfz3705…``, ``3705 0219 8006 2202 24``, ``370502-19800622-0224``, glued to other digits).
_RUN = re.compile(rf"(?<!\d)\d(?:{_SEP}{{0,3}}\d)*(?:{_SEP}{{0,3}}[XxＸｘ])?")
_GROUP = re.compile(r"\d+")
# A mobile number 1xx xxxx xxxx, with separators or brackets between the groups; any country
# prefix (``+86``, ``0086``, ``(+86)``) stays and is not secret. No look-around: digits around
# it (``8613905461002``) do not hide it.
_GAP = rf"(?:{_SEP}|[()（）]){{0,4}}"
_PHONE_IN_TEXT = re.compile(rf"([1１]\d{_GAP}\d){_GAP}(\d{{4}}){_GAP}(\d{{2}}{_SEP}?\d{{2}})")


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdecimal())


def _windows(sizes: list[int]) -> list[tuple[int, int]]:
    """The ID-sized windows of a run of digit groups: each group of 15+ digits with the short
    groups (≤3 digits) beside it while the window stays within 18 digits. A long run with no
    such group is one window: better mask too much than split an ID in the wrong place."""
    if sum(sizes) <= 18 or max(sizes) < 15:
        return [(0, len(sizes) - 1)]
    out: list[tuple[int, int]] = []
    for i, size in enumerate(sizes):
        if size < 15:
            continue
        lo = hi = i
        total = size
        floor = out[-1][1] + 1 if out else 0
        while lo - 1 >= floor and sizes[lo - 1] <= 3 and total + sizes[lo - 1] <= 18:
            lo -= 1
            total += sizes[lo]
        while hi + 1 < len(sizes) and sizes[hi + 1] <= 3 and total + sizes[hi + 1] <= 18:
            hi += 1
            total += sizes[hi]
        out.append((lo, hi))
    return out


def _mask_run(m: re.Match[str]) -> str:
    run = m.group(0)
    groups = list(_GROUP.finditer(run))
    sizes = [len(g.group(0)) for g in groups]
    if sum(sizes) < 15:
        return run
    letter = run[-1] in "XxＸｘ"
    pieces, cursor = [], 0
    for lo, hi in _windows(sizes):
        number = "".join(g.group(0) for g in groups[lo:hi + 1])
        end = groups[hi].end()
        if letter and hi == len(groups) - 1 and len(number) == 17:
            number, end = number + "X", len(run)  # the check letter belongs to the ID
        pieces += [run[cursor:groups[lo].start()], mask_id(number)]
        cursor = end
    return "".join(pieces) + run[cursor:]


def _mask_phone(m: re.Match[str]) -> str:
    return f"{_digits(m[1])}****{_digits(m[3])}"


def redact(text: str) -> str:
    """Mask every ID number and mobile phone found in free text (log lines, questions).

    Errs on the side of masking: any run of 15+ digits is treated as an ID number.
    """
    text = _RUN.sub(_mask_run, text)
    return _PHONE_IN_TEXT.sub(_mask_phone, text)
