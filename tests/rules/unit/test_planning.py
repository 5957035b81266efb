"""The settlement planner without a database: every mode, payer order, limits, purposes and
the retry window's edges, over plain snapshots (rules/planning.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from rules.codes import Reason
from rules.money import MAX_FEN
from rules.planning import (
    Payer,
    Refused,
    SettlePlan,
    Snapshot,
    plan_settlement,
    remaining_limit,
    valid_amount,
)
from rules.policy import Policies

NOW = datetime(2026, 12, 6, 10, 0, 0)
POLICIES = Policies.load()


def payer(n: int, *, balance: int = 100_000, limit: int | None = None, used: int = 0,
          region: str = "jinan") -> Payer:
    return Payer(binding_id=n, householder_id=100 + n, name=f"户主{n}", region=region,
                 balance_fen=balance, limit_fen=limit, used_fen=used)


def snap(region: str, balance: int, *payers: Payer, window: datetime | None = None) -> Snapshot:
    return Snapshot(patient_id=1, region=region, name="病人", balance_fen=balance,
                    payers=payers, window_expires=window)


def plan(s: Snapshot, amount: int, purpose: str = "outpatient",
         now: datetime = NOW) -> SettlePlan:
    result = plan_settlement(POLICIES, now, s, amount, purpose)
    assert isinstance(result, SettlePlan), result
    return result


def refused(s: Snapshot, amount: int, purpose: str = "outpatient",
            now: datetime = NOW) -> Refused:
    result = plan_settlement(POLICIES, now, s, amount, purpose)
    assert isinstance(result, Refused), result
    return result


def legs(p: SettlePlan) -> list[tuple[int, int]]:
    return [(leg.binding_id, leg.amount_fen) for leg in p.legs]


# ---- amounts -------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, ok", [
    (0, False), (-1, False), (1, True), (MAX_FEN, True), (MAX_FEN + 1, False),
    (True, False), (1.0, False), ("1", False),
])
def test_valid_amount_edges(amount: object, ok: bool) -> None:
    assert valid_amount(amount) is ok


def test_invalid_amount_is_refused_without_touching_the_window() -> None:
    r = refused(snap("dongying", 0, payer(1)), 0)
    assert r.decision.code == Reason.INVALID_AMOUNT and r.window is None


@pytest.mark.parametrize("limit, used, room", [
    (None, 0, None), (100, 0, 100), (100, 100, 0), (100, 150, 0), (0, 0, 0), (100, 99, 1),
])
def test_remaining_limit_is_clamped_at_zero(limit: int | None, used: int,
                                            room: int | None) -> None:
    assert remaining_limit(limit, used) == room


# ---- the own account -----------------------------------------------------------------------

@pytest.mark.parametrize("region", sorted(POLICIES.regions))
def test_exact_own_balance_pays_everything_everywhere(region: str) -> None:
    p = plan(snap(region, 5_000, payer(1)), 5_000)
    assert (p.own_fen, p.family_fen, p.cash_fen) == (5_000, 0, 0) and not p.uses_family
    assert p.facts()["balance_fen"] == 0


def test_own_only_region_never_uses_family_money() -> None:
    p = plan(snap("hainan", 1_000, payer(1, region="hainan")), 5_000)
    assert (p.mode, p.own_fen, p.family_fen, p.cash_fen) == ("own_only", 1_000, 0, 4_000)


# ---- ordered -------------------------------------------------------------------------------

def test_ordered_takes_payers_in_order_within_balance_and_limit() -> None:
    s = snap("jinan", 1_000, payer(1, balance=1_500), payer(2, limit=2_000, used=500),
             payer(3))
    p = plan(s, 10_000)
    assert legs(p) == [(1, 1_500), (2, 1_500), (3, 6_000)]
    assert (p.own_fen, p.cash_fen) == (1_000, 0)


def test_ordered_exact_limit_and_exact_balance_are_enough() -> None:
    p = plan(snap("jinan", 0, payer(1, limit=3_000)), 3_000)
    assert legs(p) == [(1, 3_000)] and p.cash_fen == 0
    p = plan(snap("jinan", 0, payer(1, balance=3_000)), 3_000)
    assert legs(p) == [(1, 3_000)] and p.cash_fen == 0


def test_ordered_rest_in_cash_when_family_cannot_cover() -> None:
    p = plan(snap("jinan", 100, payer(1, limit=1_000, used=1_200), payer(2, balance=400)), 2_000)
    assert legs(p) == [(2, 400)] and (p.own_fen, p.cash_fen) == (100, 1_500)


def test_a_disallowed_purpose_skips_that_payer_but_not_the_next() -> None:
    s = snap("jinan", 0, payer(1, region="hainan"), payer(2, region="jinan"))
    p = plan(s, 2_000, "outpatient")
    assert legs(p) == [(2, 2_000)]


def test_a_purpose_no_payer_allows_goes_to_cash() -> None:
    p = plan(snap("jinan", 500, payer(1)), 2_000, "health_check")
    assert legs(p) == [] and p.cash_fen == 1_500


def test_ordered_stops_once_paid() -> None:
    p = plan(snap("jinan", 0, payer(1), payer(2)), 2_000)
    assert legs(p) == [(1, 2_000)]


def test_zero_balance_payer_gets_no_leg() -> None:
    p = plan(snap("jinan", 0, payer(1, balance=0), payer(2)), 2_000)
    assert legs(p) == [(2, 2_000)]


# ---- retry window (Dongying) ---------------------------------------------------------------

def test_short_swipe_is_refused_and_opens_a_window() -> None:
    r = refused(snap("dongying", 100, payer(1, region="dongying")), 5_000, "inpatient")
    assert r.decision.code == Reason.INSUFFICIENT_BALANCE
    assert r.decision.facts["retry_window_seconds"] == 300
    assert r.window is not None and r.window.opens_until == NOW + timedelta(seconds=300)
    assert (r.window.amount_fen, r.window.purpose) == (5_000, "inpatient")


def test_no_payers_means_a_plain_partial_payment() -> None:
    p = plan(snap("dongying", 100), 5_000)
    assert (p.own_fen, p.family_fen, p.cash_fen) == (100, 0, 4_900)


def test_inside_the_window_the_first_payer_pays_all() -> None:
    s = snap("dongying", 100, payer(1, region="dongying"), payer(2, region="dongying"),
             window=NOW + timedelta(seconds=1))
    p = plan(s, 5_000, "inpatient")
    assert legs(p) == [(1, 5_000)] and p.own_fen == 0 and p.closes_window


@pytest.mark.parametrize("expires, open_", [
    (NOW + timedelta(seconds=1), True), (NOW, False), (NOW - timedelta(seconds=1), False),
])
def test_window_is_closed_at_its_exact_expiry(expires: datetime, open_: bool) -> None:
    s = snap("dongying", 0, payer(1, region="dongying"), window=expires)
    result = plan_settlement(POLICIES, NOW, s, 1_000, "inpatient")
    assert isinstance(result, SettlePlan) is open_


@pytest.mark.parametrize("first, code", [
    (payer(1, region="hainan"), Reason.PURPOSE_NOT_ALLOWED),
    (payer(1, region="dongying", limit=4_999), Reason.LIMIT_EXCEEDED),
    (payer(1, region="dongying", balance=4_999), Reason.FAMILY_FUNDS_INSUFFICIENT),
])
def test_window_refusals_use_the_window_up(first: Payer, code: Reason) -> None:
    s = snap("dongying", 0, first, payer(2, region="dongying"), window=NOW + timedelta(60))
    r = refused(s, 5_000, "inpatient")
    assert r.decision.code == code and r.decision.facts["window_closed"] is True
    assert r.window is not None and r.window.opens_until is None  # used up, not reopened


def test_window_exact_limit_and_balance_are_enough() -> None:
    s = snap("dongying", 0, payer(1, region="dongying", limit=5_000, balance=5_000),
             window=NOW + timedelta(seconds=60))
    assert legs(plan(s, 5_000, "inpatient")) == [(1, 5_000)]


def test_limit_refusal_says_what_is_left() -> None:
    s = snap("dongying", 0, payer(1, region="dongying", limit=3_000, used=1_000),
             window=NOW + timedelta(seconds=60))
    assert refused(s, 5_000, "inpatient").decision.facts["remaining_fen"] == 2_000


# ---- plans as values -----------------------------------------------------------------------

def test_a_plan_survives_json_exactly() -> None:
    s = snap("dongying", 0, payer(1, region="dongying", limit=9_000, used=10),
             window=NOW + timedelta(seconds=60))
    p = plan(s, 5_000, "inpatient")
    assert SettlePlan.from_json(p.to_json()) == p


def test_facts_show_full_payer_names_inside_the_family_and_masked_ones() -> None:
    facts = plan(snap("jinan", 0, payer(1)), 1_000).facts()
    assert facts["legs"][0]["name"] == "户主1" and facts["legs"][0]["name_masked"] == "户**"
    assert facts["uses_family"] is True and facts["cash_fen"] == 0
