"""Examples that pin down what the mutation run found loose in the pure model: exclusivity
refusals with their facts and each region that makes them, the payer loop once the bill is
paid, a 5-digit 序号, and a 13-digit number that is not a +86 phone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rules.binding_rules import (
    BIND_ATTEMPTS,
    BindRequest,
    BindSnapshot,
    decide_bind,
    in_scope,
    resolve_ref,
)
from rules.codes import Reason
from rules.decision import Decision
from rules.identity import normalize_phone
from rules.planning import SettlePlan
from tests.rules.unit.test_binding_rules import POLICIES, bond, householder, relative
from tests.rules.unit.test_money_edges import payer, settle, snap


def _bind(h, r, word: str, *bonds) -> Decision:  # type: ignore[no-untyped-def]
    return decide_bind(POLICIES, BindSnapshot(h, r, tuple(bonds), 0),
                       BindRequest(h.id, r.id_number, r.name, word))


def test_a_householder_of_a_jinan_family_is_protected_by_a_dongying_binder() -> None:
    """The binder's region is exclusive, the relative's own family is not."""
    h, x, k = householder("dongying"), householder("jinan"), relative("jinan")
    assert _bind(h, x, "父母", bond(x, k)) == Decision.refuse(
        Reason.RELATIVE_IS_HOUSEHOLDER, relative_id=x.id, relation="parent", region="dongying")


def test_a_householder_of_a_dongying_relative_is_protected_from_a_jinan_binder() -> None:
    """Neither side's region is exclusive; the relative's own relative's region is."""
    h, x, k = householder("jinan"), householder("jinan"), relative("dongying")
    assert _bind(h, x, "父母", bond(x, k)) == Decision.refuse(
        Reason.RELATIVE_IS_HOUSEHOLDER, relative_id=x.id, relation="parent", region="jinan")


def test_a_second_dongying_householder_is_refused_with_the_facts() -> None:
    h1, h2, kid = householder("dongying"), householder("dongying"), relative("dongying")
    assert _bind(h2, kid, "子女", bond(h1, kid)) == Decision.refuse(
        Reason.RELATIVE_ALREADY_BOUND, relative_id=kid.id, relation="child", region="dongying")


def test_once_the_bill_is_paid_later_payers_are_not_looked_at() -> None:
    p = settle(snap("jinan", 0, payer(1), payer(2, region="hainan")), 1_000)
    assert isinstance(p, SettlePlan)
    assert p.purpose_blocked is False and [leg.binding_id for leg in p.legs] == [1]


def test_the_last_fen_comes_from_the_next_payer() -> None:
    p = settle(snap("jinan", 0, payer(1, balance=999), payer(2)), 1_000)
    assert isinstance(p, SettlePlan)
    assert [(leg.binding_id, leg.amount_fen) for leg in p.legs] == [(1, 999), (2, 1)]
    assert p.cash_fen == 0


def test_a_five_digit_number_is_not_a_position() -> None:
    rows = [(i, f"id{i}") for i in range(12_345)]
    assert resolve_ref("12345", rows) == Decision.refuse(Reason.NOT_BOUND, ref="12345")
    assert resolve_ref("1234", rows) == Decision.allow(position=1_233)


@pytest.mark.parametrize("text", ["0013800000000", "4413800000000", "8813800000000"])
def test_thirteen_digits_without_86_are_not_a_phone(text: str) -> None:
    assert normalize_phone(text) is None


# ---- scopes no shipped region uses yet (a region file may) ---------------------------------

@pytest.mark.parametrize("scope, same_city, same_province, other_province", [
    ("same_province", True, True, False),
    ("same_city", True, False, False),
    ("anywhere", True, True, True),
])
def test_every_scope_the_loader_accepts(scope: str, same_city: bool, same_province: bool,
                                        other_province: bool) -> None:
    policy = replace(POLICIES.get("jinan"), scope=scope)
    h = householder("jinan")
    assert in_scope(policy, h, relative("jinan")) is same_city
    assert in_scope(policy, h, relative("qingdao")) is same_province
    assert in_scope(policy, h, relative("hainan")) is other_province
    city_elsewhere = replace(relative("jinan"), province="江苏省")  # same city name, other province
    assert in_scope(policy, h, city_elsewhere) is other_province


def test_too_many_attempts_is_a_bind_refusal() -> None:
    h, r = householder(), relative()
    d = decide_bind(POLICIES, BindSnapshot(h, r, (), BIND_ATTEMPTS),
                    BindRequest(h.id, r.id_number, r.name, "子女"), max_misses=BIND_ATTEMPTS)
    assert d == Decision.refuse(Reason.TOO_MANY_ATTEMPTS, bind=True)


# ---- every check_pair refusal with its facts -------------------------------------------------

def _facts(r, relation: str, region: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"relative_id": r.id, "relation": relation, "region": region}


def test_check_pair_refusals_state_every_fact() -> None:
    h = householder("dongying")
    r = relative("dongying")
    assert _bind(h, r, "兄弟姐妹") == Decision.refuse(
        Reason.RELATION_NOT_ALLOWED, **_facts(r, "sibling", "dongying"))
    uninsured = replace(relative("dongying"), scheme="none")
    assert _bind(h, uninsured, "子女") == Decision.refuse(
        Reason.NOT_INSURED, **_facts(uninsured, "child", "dongying"))
    far = relative("national")
    assert _bind(h, far, "子女") == Decision.refuse(
        Reason.OUT_OF_SCOPE, scope="same_province", **_facts(far, "child", "dongying"))
    assert _bind(h, r, "子女", bond(h, r)) == Decision.refuse(
        Reason.ALREADY_BOUND, **_facts(r, "child", "dongying"))
    full = tuple(bond(h, relative("dongying")) for _ in range(7))
    assert _bind(h, r, "子女", *full) == Decision.refuse(
        Reason.MAX_RELATIVES, max_relatives=7, **_facts(r, "child", "dongying"))
    assert _bind(h, r, "子女", *full[:6]).ok


def test_spouse_refusals_state_every_fact() -> None:
    h, wife, other = householder("jinan"), relative("jinan"), householder("jinan")
    assert _bind(h, wife, "配偶", bond(other, wife, "spouse")) == Decision.refuse(
        Reason.RELATIVE_ALREADY_BOUND, spouse_elsewhere=True, **_facts(wife, "spouse", "jinan"))
    second = relative("jinan")
    assert _bind(h, second, "配偶", bond(h, wife, "spouse")) == Decision.refuse(
        Reason.RELATION_NOT_ALLOWED, spouse_elsewhere=True, **_facts(second, "spouse", "jinan"))


def test_an_allowed_bind_and_an_unknown_word_state_their_facts() -> None:
    h, r = householder("jinan"), relative("jinan")
    assert _bind(h, r, "子女") == Decision.allow(**_facts(r, "child", "jinan"))
    assert _bind(h, r, " 老铁\u200b ") == Decision.refuse(Reason.UNKNOWN_RELATION, word="老铁")


def test_a_jinan_householder_who_is_a_dongying_relative_cannot_bind() -> None:
    """Neither side of the new binding is exclusive; the binding that makes the householder
    someone's relative was made under Dongying rules."""
    d, h, k = householder("dongying"), householder("jinan"), relative("jinan")
    assert _bind(h, k, "子女", bond(d, h, "parent")) == Decision.refuse(
        Reason.HOUSEHOLDER_IS_BOUND, **_facts(k, "child", "jinan"))
