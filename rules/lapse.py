"""Lapse (断缴): what it means this month, attributed to the article that states it.

The structured rule is the Ji'an article's [003]; Hangzhou's different treatment [002] is
attached as a note so the bot can mention that regions differ.
"""

from __future__ import annotations

from rules.policy import Policies
from rules.views import LapseStatus

RULE_REGION = "jian"
NOTE_REGIONS = ("hangzhou",)
NOTE_SOURCES = ("002_e0fe56e24f898bf0.txt",)
CLEARED_AFTER_MONTHS = 3


def _month_number(month: str) -> int:
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1


def _month_text(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def lapse_status(policies: Policies, person_id: int, status: str, lapsed_since: str | None,
                 current_month: str, region: str | None = None) -> LapseStatus:
    """``current_month`` is the clock's China month; months count from ``lapsed_since``.

    The Ji'an article's bands (3+ months clears the cumulative years) are stated for Ji'an
    only: a person insured elsewhere (``region``) is not told them as their own."""
    sources = policies.get(RULE_REGION).sources
    if status != "lapsed":
        return LapseStatus(person_id=person_id, lapsed=False, rule_sources=sources)
    months = 0
    suspended_from = None
    suspended = True
    if lapsed_since:
        since = _month_number(lapsed_since)
        months = max(_month_number(current_month) - since, 0)
        suspended_from = _month_text(since + 1)
        suspended = _month_number(current_month) >= since + 1
    band = "3_plus" if months >= CLEARED_AFTER_MONTHS else "under_3"
    applies = region == RULE_REGION
    return LapseStatus(
        person_id=person_id, lapsed=True, since=lapsed_since, months=months, band=band,
        benefits_suspended_from=suspended_from, benefits_suspended=suspended,
        balance_usable=True, credits_paused=True, years_cleared=applies and band == "3_plus",
        rule_region=RULE_REGION, rule_applies=applies, rule_sources=sources, notes=NOTE_REGIONS,
        note_sources=NOTE_SOURCES,
    )
