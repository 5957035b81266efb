"""One row of the people CSV checked and turned into stored values (``rules.importer`` reads
the file, ``RowValidator.row`` checks each row).

Validation has a fast path for the common, already-clean row (ASCII ID, 11-digit phone, plain
amounts) and falls back to the full normalisers in rules.identity / rules.money for everything
else; property tests (tests/rules/test_importer.py) check that both agree.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date, timedelta
from typing import Any

from rules.identity import check_digit, clean_text, mask_id, normalize_id, normalize_phone
from rules.money import AmountError, parse_yuan
from rules.policy import Policies

SCHEMES = frozenset({"employee", "resident", "none"})
EMPLOYMENTS = frozenset({"employed", "flexible", "retired"})
STATUSES = frozenset({"active", "lapsed"})
MAX_NAME = 64
MAX_PLACE = 32


_CHECK = "10X98765432"
_AMOUNT = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,2}))?")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


class RowError(ValueError):
    """One bad field; the message is the Chinese text shown to the operator."""


def _no_hidden_characters(text: str, what: str) -> None:
    """Refuse control and format characters (NUL, ``\x01``, bidi overrides such as U+202E,
    zero-width joiners): they would be shown to relatives and staff, and PostgreSQL refuses
    NUL outright — so every database gets the same refusal, with the line number (review L8)."""
    if text.isascii() and text.isprintable():
        return
    for c in text:  # tabs and line breaks are whitespace: folded into one space, not refused
        if unicodedata.category(c) in ("Cc", "Cf") and c not in "\t\n\r":
            raise RowError(f"{what}含有控制字符或不可见的格式字符（U+{ord(c):04X}），请删除后重试")


@functools.lru_cache(maxsize=2)
def _valid_birth_dates(today: date) -> frozenset[str]:
    """Every YYYYMMDD from 1900-01-01 to today: one set lookup checks a birth date."""
    day, out = date(1900, 1, 1), []
    while day <= today:
        out.append(day.strftime("%Y%m%d"))
        day += timedelta(days=1)
    return frozenset(out)


class RowValidator:
    """Turns one CSV row into stored values, or raises RowError. Caches what repeats."""

    def __init__(self, policies: Policies) -> None:
        self.policies = policies
        self.birth_dates = _valid_birth_dates(date.today())
        self.places: dict[tuple[str, str], tuple[str, str, str]] = {}
        self.names: dict[str, str] = {}
        self.kinds_seen: dict[tuple[str, str, str], tuple[str, str | None, str]] = {}
        self.amounts: dict[str, int] = {}
        today = date.today()
        self.this_month = f"{today.year:04d}-{today.month:02d}"

    def row(self, raw: list[str]) -> tuple[str, tuple[Any, ...], int]:
        id_text, name, phone, province, city, scheme, employment, status, lapsed, bal, credit = raw
        id_number = self.id_number(id_text)
        province, city, region = self.place(province, city)
        kinds = self.kinds_seen.get((scheme, employment, status))
        if kinds is None:
            kinds = self.kinds(scheme, employment, status)
            self.kinds_seen[(scheme, employment, status)] = kinds
        scheme, job, status = kinds
        lapsed_since = None if status == "active" and not lapsed else self.lapse(status, lapsed)
        fields = (
            self.name(name), self.phone(phone), province, city, region,
            scheme, job, status, lapsed_since, self.fen(credit, "monthly_credit"),
        )
        return id_number, fields, self.fen(bal, "balance")

    def fen(self, text: str, column: str) -> int:
        """_fen, remembered: amounts repeat a lot (0.00, the usual monthly credits)."""
        fen = self.amounts.get(text)
        if fen is None:
            fen = _fen(text, column)
            if len(self.amounts) < 100_000:
                self.amounts[text] = fen
        return fen

    def explain(self, raw: list[str]) -> str:
        """Every problem of a refused row, not just the first (slow; bad rows only)."""
        id_text, name, phone, province, city, scheme, employment, status, lapsed, bal, credit = raw
        checks = (
            lambda: self.id_number(id_text), lambda: self.name(name), lambda: self.phone(phone),
            lambda: self.place(province, city), lambda: self.kinds(scheme, employment, status),
            lambda: self.lapse(st, lapsed) if (st := status.strip().lower()) in STATUSES else None,
            lambda: _fen(bal, "balance"), lambda: _fen(credit, "monthly_credit"),
        )
        problems: list[str] = []
        for check in checks:
            try:
                check()
            except RowError as exc:
                if str(exc) not in problems:
                    problems.append(str(exc))
        return "；".join(problems)

    def id_number(self, text: str) -> str:
        s = text
        if len(s) == 18 and s.isascii() and s[:17].isdigit():
            if s[17] == "x":
                s = s[:17] + "X"
            # GB 11643 weights are 2^(17-i) mod 11, and 13 ≡ 2 (mod 11): reading the 17
            # digits as a base-13 number gives the weighted sum / 2 modulo 11, in C.
            if _CHECK[2 * int(s[:17], 13) % 11] == s[17] and s[6:14] in self.birth_dates:
                return s
        canonical = normalize_id(text)
        if canonical is None:
            raise RowError(_id_problem(text))
        return canonical

    def name(self, text: str) -> str:
        cached = self.names.get(text)
        if cached is not None:
            return cached
        _no_hidden_characters(text, "姓名")
        s = " ".join(clean_text(text).split())  # no runs of spaces in a name
        if not s:
            raise RowError("姓名为空")
        if len(s) > MAX_NAME:
            raise RowError(f"姓名过长（最多 {MAX_NAME} 个字）")
        if len(self.names) < 200_000:
            self.names[text] = s
        return s

    @staticmethod
    def phone(text: str) -> str | None:
        if len(text) == 11 and text.isascii() and text.isdigit() and text[0] == "1":
            return text
        if not text.strip():
            return None
        canonical = normalize_phone(text)
        if canonical is None:
            raise RowError("手机号无效（应为 11 位手机号，可带 +86、空格或短横线）")
        return canonical

    def place(self, province: str, city: str) -> tuple[str, str, str]:
        cached = self.places.get((province, city))
        if cached is not None:
            return cached
        _no_hidden_characters(province, "省份")
        _no_hidden_characters(city, "城市")
        p, c = clean_text(province), clean_text(city)
        if not p:
            raise RowError("省份为空")
        if len(p) > MAX_PLACE or len(c) > MAX_PLACE:
            raise RowError(f"省份或城市名称过长（最多 {MAX_PLACE} 个字）")
        result = (p, c, self.policies.region_for(p, c or None))
        self.places[(province, city)] = result
        return result

    @staticmethod
    def kinds(scheme: str, employment: str, status: str) -> tuple[str, str | None, str]:
        scheme = _choice(scheme, SCHEMES, "scheme 应为 employee、resident 或 none")
        job = _choice(employment, EMPLOYMENTS, "employment 应为 employed、flexible、retired 或留空",
                      optional=True) or None
        if job is None and scheme == "employee":
            raise RowError("职工医保（employee）人员必须填写 employment")
        return scheme, job, _choice(status, STATUSES, "status 应为 active 或 lapsed")

    def lapse(self, status: str, text: str) -> str | None:
        s = text.strip()
        if status == "active":
            if s:
                raise RowError("status 为 active 时 lapsed_since 应留空")
            return None
        m = _MONTH.fullmatch(s)
        if not s:
            raise RowError("status 为 lapsed 时必须填写 lapsed_since（YYYY-MM）")
        if not m or not 1 <= int(m[2]) <= 12 or int(m[1]) < 1900:
            raise RowError("lapsed_since 应为 YYYY-MM 格式的月份")
        if s > self.this_month:
            raise RowError("lapsed_since 不能晚于本月")
        return s


def _id_problem(text: str) -> str:
    """Why an ID number is invalid, with the number masked."""
    s = re.sub(r"\s+", "", clean_text(text)).upper()
    if not s:
        return "身份证号为空"
    if not re.fullmatch(r"[0-9]{17}[0-9X]", s):
        why = "应为 18 位：17 位数字加 1 位数字或 X"
    elif check_digit(s[:17]) != s[17]:
        why = "校验位不对"
    else:
        why = "出生日期不对"
    return f"身份证号无效（{why}）：{mask_id(s)}"


def _choice(value: str, allowed: frozenset[str], message: str, *, optional: bool = False) -> str:
    """``value`` when it is one of ``allowed`` (case and outer spaces ignored), else RowError."""
    if value in allowed:
        return value
    v = value.strip().lower()
    if v in allowed or (optional and not v):
        return v
    raise RowError(message)


def _fen(text: str, column: str) -> int:
    """Yuan text → fen; zero allowed, at most two decimals, never a float."""
    m = _AMOUNT.fullmatch(text)
    if m:
        frac = m[2]
        fen = int(m[1]) * 100 + (int(frac) * (10 if len(frac) == 1 else 1) if frac else 0)
        if fen <= 100_000_000_00:
            return fen
    try:
        return parse_yuan(text, allow_zero=True)
    except AmountError:
        raise RowError(f"{column} 金额无效（元，最多两位小数，不能为负）") from None
