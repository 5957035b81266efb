"""Edges of the pure money core, asserted whole: every fact a plan, a refusal or a binding
decision carries (the bot renders them), contributions planned without a database, JSON round
trips, and yuan / ID / phone / name handling at their boundaries."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from rules.binding_rules import (
    Tie,
    decide_leave,
    decide_limit,
    decide_order,
    decide_pick,
    decide_unbind,
    resolve_ref,
    stored_limit,
)
from rules.codes import Reason
from rules.decision import Decision
from rules.identity import (
    check_digit,
    make_id,
    mask_id,
    mask_name,
    mask_phone,
    normalize_id,
    normalize_phone,
    redact,
)
from rules.money import MAX_FEN, AmountError, format_fen, parse_yuan
from rules.planning import (
    ContributionPlan,
    ContributionSnapshot,
    Leg,
    Payer,
    Refused,
    SettlePlan,
    Snapshot,
    plan_contribution,
    plan_settlement,
)
from rules.policy import Policies

NOW = datetime(2026, 12, 6, 10, 0, 0)
POLICIES = Policies.load()


def payer(n: int, *, balance: int = 100_000, limit: int | None = None, used: int = 0,
          region: str = "jinan") -> Payer:
    return Payer(binding_id=n, householder_id=100 + n, name=f"户主{n}", region=region,
                 balance_fen=balance, limit_fen=limit, used_fen=used)


def snap(region: str, balance: int, *payers: Payer, window: datetime | None = None,
         wallet: int = 0) -> Snapshot:
    return Snapshot(patient_id=1, region=region, name="病人", balance_fen=balance,
                    payers=payers, window_expires=window, wallet_fen=wallet)


def settle(s: Snapshot, amount: int, purpose: str = "outpatient") -> SettlePlan | Refused:
    return plan_settlement(POLICIES, NOW, s, amount, purpose)


# ---- settlement plans: every fact ----------------------------------------------------------

def test_an_ordered_plan_states_every_fact() -> None:
    p = settle(snap("jinan", 1_000, payer(1, balance=3_000), payer(2, limit=500, used=100)),
               5_000)
    assert isinstance(p, SettlePlan)
    assert p.facts() == {
        "mode": "ordered", "amount_fen": 5_000, "purpose": "outpatient", "own_fen": 1_000,
        "family_fen": 3_400, "cash_fen": 600, "uses_family": True, "purpose_blocked": False,
        "balance_fen": 0,
        "legs": [{"binding_id": 1, "householder_id": 101, "name": "户主1", "name_masked": "户**",
                  "amount_fen": 3_000},
                 {"binding_id": 2, "householder_id": 102, "name": "户主2", "name_masked": "户**",
                  "amount_fen": 400}]}
    assert p.legs == (Leg(1, 101, "户主1", 3_000), Leg(2, 102, "户主2", 400))


def test_an_own_account_plan_reports_the_balance_left() -> None:
    p = settle(snap("hainan", 5_000, payer(1)), 1_200)
    assert isinstance(p, SettlePlan)
    assert (p.own_fen, p.cash_fen, p.legs, p.facts()["balance_fen"]) == (1_200, 0, (), 3_800)
    assert p.facts()["uses_family"] is False and "wallet_fen" not in p.facts()


def test_a_wallet_leg_is_shown_with_what_it_leaves() -> None:
    p = settle(snap("jinan", 1_000, payer(1), wallet=2_500), 5_000)
    assert isinstance(p, SettlePlan)
    facts = p.facts()
    assert (facts["own_fen"], facts["wallet_fen"], facts["wallet_balance_fen"]) == \
        (1_000, 2_500, 0)
    assert (facts["family_fen"], facts["cash_fen"]) == (1_500, 0)


def test_a_skipped_payer_is_reported_as_purpose_blocked() -> None:
    p = settle(snap("jinan", 0, payer(1, region="hainan"), payer(2, balance=700)), 1_000)
    assert isinstance(p, SettlePlan)
    assert p.purpose_blocked is True and p.facts()["purpose_blocked"] is True
    assert [(leg.binding_id, leg.amount_fen) for leg in p.legs] == [(2, 700)]
    assert p.cash_fen == 300


def test_no_payer_passed_over_is_not_purpose_blocked() -> None:
    p = settle(snap("jinan", 0, payer(1, balance=0), payer(2, balance=700)), 1_000)
    assert isinstance(p, SettlePlan) and p.purpose_blocked is False


@pytest.mark.parametrize("balances, legs", [
    ((1, 100_000), [(1, 1), (2, 999)]),      # a 1-fen payer still pays their fen
    ((0, 100_000), [(2, 1_000)]),            # nothing to take: no 0-fen leg
    ((1_000, 100_000), [(1, 1_000)]),        # exactly paid: the next payer is not asked
])
def test_ordered_legs_at_one_fen_and_at_zero(balances: tuple[int, int],
                                            legs: list[tuple[int, int]]) -> None:
    p = settle(snap("jinan", 0, payer(1, balance=balances[0]), payer(2, balance=balances[1])),
               1_000)
    assert isinstance(p, SettlePlan)
    assert [(leg.binding_id, leg.amount_fen) for leg in p.legs] == legs
    assert p.cash_fen == 0


def test_a_payer_with_more_room_than_due_pays_only_the_due() -> None:
    p = settle(snap("jinan", 0, payer(1, balance=10_000, limit=9_000)), 1_000)
    assert isinstance(p, SettlePlan) and p.family_fen == 1_000


def test_the_window_refusal_states_every_fact() -> None:
    r = settle(snap("dongying", 100, payer(1), wallet=200), 5_000, "pharmacy")
    assert isinstance(r, Refused)
    assert r.decision == Decision.refuse(
        Reason.INSUFFICIENT_BALANCE, retry_window_seconds=300, balance_fen=100,
        amount_fen=5_000, purpose="pharmacy", wallet_fen=200)
    assert r.window is not None
    assert (r.window.opens_until, r.window.amount_fen, r.window.purpose) == \
        (NOW + timedelta(seconds=300), 5_000, "pharmacy")


def test_the_window_refusal_without_a_wallet_names_none() -> None:
    r = settle(snap("dongying", 0, payer(1)), 5_000, "pharmacy")
    assert isinstance(r, Refused) and "wallet_fen" not in r.decision.facts


def test_inside_the_window_the_plan_is_the_first_payers_whole_bill() -> None:
    s = snap("dongying", 0, payer(1), payer(2), window=NOW + timedelta(seconds=1))
    p = settle(s, 5_000, "pharmacy")
    assert isinstance(p, SettlePlan)
    assert (p.mode, p.own_fen, p.closes_window) == ("retry_window", 0, True)
    assert p.legs == (Leg(1, 101, "户主1", 5_000),)


def test_a_window_refusal_names_the_first_payer_and_the_purpose() -> None:
    s = snap("dongying", 0, payer(1, region="hainan"), window=NOW + timedelta(seconds=1))
    r = settle(s, 5_000, "pharmacy")
    assert isinstance(r, Refused)
    assert r.decision == Decision.refuse(Reason.PURPOSE_NOT_ALLOWED, purpose="pharmacy",
                                         householder_id=101, amount_fen=5_000,
                                         window_closed=True)


def test_a_plan_with_a_wallet_and_a_blocked_payer_survives_json() -> None:
    p = settle(snap("jinan", 0, payer(1, region="hainan"), payer(2), wallet=100), 1_000)
    assert isinstance(p, SettlePlan)
    again = SettlePlan.from_json(p.to_json())
    assert again == p and again.purpose_blocked and again.wallet_fen == 100
    assert p.to_json()["purpose_blocked"] is True


# ---- contributions planned on values -------------------------------------------------------

def csnap(*, balance: int = 10_000, limit: int | None = None, used: int = 0,
          scheme: str = "resident", region: str = "jinan") -> ContributionSnapshot:
    return ContributionSnapshot(householder_id=7, householder_region=region, balance_fen=balance,
                                binding_id=3, limit_fen=limit, used_fen=used, relative_id=9,
                                relative_name="李四", relative_id_number="370102199001011234",
                                relative_scheme=scheme)


def contribution(s: ContributionSnapshot, amount: int,
                 purpose: str = "resident_contribution") -> ContributionPlan | Decision:
    return plan_contribution(POLICIES, s, amount, purpose)


def test_a_contribution_plan_states_every_fact() -> None:
    p = contribution(csnap(), 10_000)
    assert isinstance(p, ContributionPlan)
    assert p.facts() == {"relative_id": 9, "amount_fen": 10_000,
                         "purpose": "resident_contribution", "binding_id": 3, "balance_fen": 0,
                         "name": "李四", "id_number": "370102199001011234"}
    assert ContributionPlan.from_json(p.to_json()) == p
    assert p.to_json()["kind"] == "contribution"


FACTS = {"relative_id": 9, "purpose": "resident_contribution"}


@pytest.mark.parametrize("kw, amount, expected", [
    ({}, 10_001, Decision.refuse(Reason.FAMILY_FUNDS_INSUFFICIENT, amount_fen=10_001, **FACTS)),
    ({"limit": 500, "used": 100}, 401,
     Decision.refuse(Reason.LIMIT_EXCEEDED, remaining_fen=400, amount_fen=401, **FACTS)),
    ({"limit": 100, "used": 300}, 1,
     Decision.refuse(Reason.LIMIT_EXCEEDED, remaining_fen=0, amount_fen=1, **FACTS)),
    ({"scheme": "employee"}, 100,
     Decision.refuse(Reason.NOT_RESIDENT, amount_fen=100, **FACTS)),
    ({}, 0, Decision.refuse(Reason.INVALID_AMOUNT)),
    ({}, -1, Decision.refuse(Reason.INVALID_AMOUNT)),
    ({}, MAX_FEN + 1, Decision.refuse(Reason.INVALID_AMOUNT)),
])
def test_contribution_refusals(kw: dict[str, object], amount: int, expected: Decision) -> None:
    assert contribution(csnap(**kw), amount) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("kw, amount", [
    ({}, 10_000), ({"limit": 500, "used": 100}, 400), ({"limit": None, "used": 10**6}, 1),
])
def test_contributions_at_exactly_the_balance_and_the_room(kw: dict[str, object],
                                                           amount: int) -> None:
    assert isinstance(contribution(csnap(**kw), amount), ContributionPlan)  # type: ignore[arg-type]


def test_a_care_contribution_follows_the_householders_region() -> None:
    employee = csnap(scheme="employee", region="dongying")
    assert isinstance(contribution(employee, 100, "ltc_contribution"), ContributionPlan)
    assert contribution(csnap(), 100, "ltc_contribution") == Decision.refuse(
        Reason.PURPOSE_NOT_ALLOWED, relative_id=9, amount_fen=100, purpose="ltc_contribution")


# ---- binding decisions: every fact ---------------------------------------------------------

def tie(n: int, used: int = 0) -> Tie:
    return Tie(200 + n, 10 + n, f"37010219900101{n:03d}" + "0", f"亲{n}", "child", None, used)


TIES = [tie(1, used=50), tie(2, used=70), tie(3)]


def test_pick_unbind_and_leave_state_every_fact() -> None:
    assert decide_pick(TIES, "2") == Decision.allow(binding_id=202, person_id=12, index=2)
    assert decide_unbind(TIES, "2") == Decision.allow(binding_id=202, relative_id=12, index=2,
                                                      used_fen=70)
    assert decide_leave(TIES, "1") == Decision.allow(binding_id=201, householder_id=11,
                                                     index=1, relation="child", used_fen=50)


def test_an_unknown_ref_is_named_back_cleaned() -> None:
    assert decide_pick(TIES, " 9\u200b") == Decision.refuse(Reason.NOT_BOUND, ref="9")


@pytest.mark.parametrize("ref, expected", [
    ("4", Decision.refuse(Reason.NOT_BOUND, ref="4")),
    ("1234", Decision.refuse(Reason.NOT_BOUND, ref="1234")),
    ("12345", Decision.refuse(Reason.NOT_BOUND, ref="12345")),       # not a 序号, not an ID
    ("12345678901234", Decision.refuse(Reason.NOT_BOUND, ref="12345678901234")),
    ("123456789012345", Decision.refuse(Reason.INVALID_ID)),         # 15 chars: a bad ID
])
def test_refs_at_the_edges_of_an_index_and_an_id(ref: str, expected: Decision) -> None:
    assert resolve_ref(ref, [(1, "x")]) == expected


def test_a_four_digit_index_still_picks() -> None:
    rows = [(i, f"id{i}") for i in range(1000)]
    assert resolve_ref("1000", rows) == Decision.allow(position=999)


def test_a_limit_decision_states_every_fact() -> None:
    assert decide_limit(TIES, "2", 30) == Decision.allow(
        binding_id=202, relative_id=12, index=2, limit_fen=70, requested_fen=30, used_fen=70,
        below_used=True)
    assert decide_limit(TIES, "2", 70).facts["below_used"] is False  # limit == used
    assert decide_limit(TIES, "3", MAX_FEN).facts["limit_fen"] == MAX_FEN
    assert decide_limit(TIES, "3", MAX_FEN + 1) == Decision.refuse(Reason.INVALID_AMOUNT)
    assert decide_limit(TIES, "3", 0).facts["limit_fen"] == 0


@pytest.mark.parametrize("limit, used, stored", [(70, 70, 70), (69, 70, 70), (71, 70, 71)])
def test_stored_limit_at_used(limit: int, used: int, stored: int) -> None:
    assert stored_limit(limit, used) == stored


def test_an_order_states_householders_and_bindings() -> None:
    d = decide_order(POLICIES.get("jinan"), TIES, ["3", "3", "1"])
    assert d == Decision.allow(order=[13, 11, 12], bindings=[203, 201, 202])
    assert decide_order(POLICIES.get("dongying"), TIES, ["1"]) == \
        Decision.refuse(Reason.ORDER_NOT_SUPPORTED, region="dongying")


# ---- yuan ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, fen", [
    ("RMB120", 12_000), ("rmb 1.5", 150), ("CNY3", 300), ("cny3", 300), ("100块", 10_000),
    ("100块钱", 10_000), ("12元整", 1_200), ("１２０．５", 12_050), ("1，000", 100_000),
    ("100000000", MAX_FEN), ("99999999.99", MAX_FEN - 1),
])
def test_parse_yuan_accepts(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["100000000.01", "100000001", "999999999999", "0", "0.00"])
def test_parse_yuan_refuses_above_the_ceiling_and_zero(text: str) -> None:
    with pytest.raises(AmountError):
        parse_yuan(text)


def test_parse_yuan_allows_zero_only_when_asked() -> None:
    assert parse_yuan("0", allow_zero=True) == 0


@pytest.mark.parametrize("fen, text", [
    (0, "¥0.00"), (-1, "-¥0.01"), (-123_456, "-¥1,234.56"), (100_000, "¥1,000.00"),
    (99_999, "¥999.99"), (MAX_FEN, "¥100,000,000.00"), (5, "¥0.05"),
])
def test_format_fen(fen: int, text: str) -> None:
    assert format_fen(fen) == text


# ---- IDs, phones, names --------------------------------------------------------------------

def test_the_published_gb11643_example_checks() -> None:
    """The standard's own example, not our make_id: a wrong weight table fails here."""
    assert check_digit("11010519491231002") == "X"
    assert normalize_id("11010519491231002x") == "11010519491231002X"
    assert normalize_id("110105194912310021") is None


def test_an_id_born_today_is_valid_tomorrow_is_not() -> None:
    today = date.today()
    born_today = make_id(f"110105{today:%Y%m%d}002")
    assert normalize_id(born_today) == born_today
    tomorrow = today + timedelta(days=1)
    assert normalize_id(make_id(f"110105{tomorrow:%Y%m%d}002")) is None


@pytest.mark.parametrize("text, phone", [
    ("13800000000", "13800000000"), ("+86 138-0000-0000", "13800000000"),
    ("008613800000000", "13800000000"), ("8613800000000", "13800000000"),
    ("1380000000", None), ("138000000000", None), ("86138000000", None),
    ("0086 1380000000", None), ("23800000000", None),
])
def test_normalize_phone(text: str, phone: str | None) -> None:
    assert normalize_phone(text) == phone


@pytest.mark.parametrize("text, masked", [
    ("12345678", "********"), ("123456789", "1234*6789"), ("1234", "****"), ("", ""),
    ("370102199001011234", "3701**********1234"),
])
def test_mask_id(text: str, masked: str) -> None:
    assert mask_id(text) == masked


@pytest.mark.parametrize("text, masked", [
    ("13812345678", "138****5678"), ("12345678", "123****5678"), ("1234567", "*******"),
    ("", ""),
])
def test_mask_phone(text: str, masked: str) -> None:
    assert mask_phone(text) == masked


@pytest.mark.parametrize("name, masked", [("张", "张"), ("张三", "张*"), ("张三丰", "张**"),
                                          ("", "")])
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_redact_masks_an_id_ending_in_a_lowercase_x() -> None:
    text = "身份证11010519491231002x请查"
    assert redact(text) == "身份证1101**********002X请查"
