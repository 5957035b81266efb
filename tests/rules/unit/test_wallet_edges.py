"""医保钱包 decisions asserted whole — every fact the bot renders — and at their edges: exact
balances, exact caps, the payer's gates (rules/wallet_rules.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from rules.codes import Reason
from rules.decision import Decision
from rules.wallet_rules import (
    MAX_WRONG,
    NOT_ACTIVATED,
    Attempts,
    Holder,
    TransferPlan,
    TransferSnapshot,
    WalletState,
    cap_refusal,
    decide_activation,
    decide_wallet_contribution,
    password_shape,
)
from tests.rules.unit.test_wallet_rules import (
    ACTIVE,
    CAPPED,
    NOW,
    PAYEE,
    PAYER,
    WALLETS,
    req,
    snap,
    transfer,
)


def test_a_transfer_plan_states_every_fact() -> None:
    p = transfer(snap(), req(30_000))
    assert isinstance(p, TransferPlan)
    assert p.facts() == {
        "amount_fen": 30_000, "relation": "parent", "payer_id": 1, "payee_id": 2,
        "payee_name_masked": "王**", "payee_id_masked": PAYEE.id_number[:4] + "*" * 10
        + PAYEE.id_number[-4:], "payee_province": "四川省", "payee_city": "成都市",
        "payer_name_masked": "王**", "payer_province": "山东省", "balance_fen": 70_000}


def test_a_transfer_snapshot_survives_json_with_and_without_a_payee() -> None:
    for s in (snap(sent_today=4_200), snap(payee=None)):
        assert TransferSnapshot.from_json(s.to_json()) == s
    assert TransferSnapshot.from_json(snap(sent_today=4_200).to_json()).sent_today_fen == 4_200


@pytest.mark.parametrize("change, expected", [
    (dict(payer=replace(PAYER, scheme="resident", employment=None)),
     Decision.refuse(Reason.NO_PERSONAL_ACCOUNT)),
    (dict(payer=replace(PAYER, province="海南省")),
     Decision.refuse(Reason.WALLET_NOT_ENABLED, side="self", province="海南省")),
    (dict(payer_wallet=NOT_ACTIVATED), Decision.refuse(Reason.WALLET_NOT_ACTIVE, side="self")),
    (dict(payee=replace(PAYEE, id=1)), Decision.refuse(Reason.SELF_BINDING, transfer=True)),
    (dict(payee=replace(PAYEE, scheme="none")),
     Decision.refuse(Reason.NOT_INSURED, relation="parent")),
    (dict(payee=replace(PAYEE, province="海南省")),
     Decision.refuse(Reason.WALLET_NOT_ENABLED, side="payee", payee=True, province="海南省")),
    (dict(payee_wallet=NOT_ACTIVATED),
     Decision.refuse(Reason.WALLET_NOT_ACTIVE, side="payee", payee=True)),
    (dict(payer=replace(PAYER, balance_fen=9_999)),
     Decision.refuse(Reason.INSUFFICIENT_BALANCE, balance_fen=9_999, amount_fen=10_000,
                     transfer=True)),
])
def test_transfer_refusals_state_every_fact(change: dict[str, object],
                                            expected: Decision) -> None:
    assert transfer(snap(**change), req(10_000)) == expected  # type: ignore[arg-type]


def test_relation_refusals_name_the_word_and_the_relation() -> None:
    assert transfer(snap(), req(relation=" 老铁 ")) == \
        Decision.refuse(Reason.UNKNOWN_RELATION, word="老铁")
    d = transfer(snap(), req(relation="岳父"))
    assert isinstance(d, Decision) and d.code == Reason.RELATION_NOT_ALLOWED
    assert d.facts["transfer"] is True and d.facts["relation"] == "parent_in_law"


def test_a_transfer_of_exactly_the_balance_is_planned() -> None:
    p = transfer(snap(payer=replace(PAYER, balance_fen=10_000)), req(10_000))
    assert isinstance(p, TransferPlan) and p.facts()["balance_fen"] == 0


def test_a_locked_payer_is_told_until_when() -> None:
    since = NOW - timedelta(minutes=10)
    d = transfer(snap(), req(), attempts=Attempts(MAX_WRONG, since))
    assert d == Decision.refuse(Reason.WALLET_LOCKED,
                                until=(since + timedelta(hours=1)).isoformat())


# ---- caps ----------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, sent, expected", [
    (50_000, 0, None),                                                   # exactly per transfer
    (50_001, 0, Decision.refuse(Reason.TRANSFER_LIMIT_EXCEEDED, cap="per_transfer",
                                cap_fen=50_000, amount_fen=50_001)),
    (30_000, 50_000, None),                                              # exactly per day
    (30_001, 50_000, Decision.refuse(Reason.TRANSFER_LIMIT_EXCEEDED, cap="per_day",
                                     cap_fen=80_000, amount_fen=30_001, remaining_fen=30_000)),
    (1, 90_000, Decision.refuse(Reason.TRANSFER_LIMIT_EXCEEDED, cap="per_day", cap_fen=80_000,
                                amount_fen=1, remaining_fen=0)),
    (1, 80_000, Decision.refuse(Reason.TRANSFER_LIMIT_EXCEEDED, cap="per_day", cap_fen=80_000,
                                amount_fen=1, remaining_fen=0)),
])
def test_caps_at_their_edges(amount: int, sent: int, expected: Decision | None) -> None:
    assert cap_refusal(CAPPED, "山东省", amount, sent) == expected


def test_no_caps_where_the_province_sets_none() -> None:
    assert cap_refusal(CAPPED, "四川省", 10**9, 10**9) is None
    assert cap_refusal(CAPPED, "海南省", 10**9, 10**9) is None


# ---- activation and the holder's own contribution ------------------------------------------

def test_activation_decisions_state_every_fact() -> None:
    assert decide_activation(WALLETS, PAYER, NOT_ACTIVATED) == Decision.allow(
        already_active=False, province="山东省", city="济南市")
    assert decide_activation(WALLETS, PAYER, ACTIVE).facts["already_active"] is True
    assert decide_activation(WALLETS, replace(PAYER, scheme="none"), NOT_ACTIVATED) == \
        Decision.refuse(Reason.NOT_INSURED, province="山东省", city="济南市")
    hainan = replace(PAYER, province="海南省", city="海口市")
    assert decide_activation(WALLETS, hainan, NOT_ACTIVATED) == Decision.refuse(
        Reason.WALLET_NOT_ENABLED, side="self", province="海南省", city="海口市")


RESIDENT = Holder(3, PAYEE.id_number, "王桂英", "四川省", "成都市", "resident")
FACTS = {"amount_fen": 500, "purpose": "resident_contribution", "wallet": True}


@pytest.mark.parametrize("holder, wallet, expected", [
    (RESIDENT, WalletState(True, "成都市", 500), Decision.allow(wallet_balance_fen=0, **FACTS)),
    (RESIDENT, WalletState(True, "成都市", 499),
     Decision.refuse(Reason.INSUFFICIENT_BALANCE, balance_fen=499, **FACTS)),
    (RESIDENT, NOT_ACTIVATED, Decision.refuse(Reason.WALLET_NOT_ACTIVE, side="self", **FACTS)),
    (replace(RESIDENT, province="海南省"), WalletState(True, "海口市", 500),
     Decision.refuse(Reason.WALLET_NOT_ENABLED, side="self", **FACTS)),
    (PAYER, WalletState(True, "济南市", 500), Decision.refuse(Reason.NOT_RESIDENT, **FACTS)),
])
def test_own_contribution_from_the_wallet(holder: Holder, wallet: WalletState,
                                          expected: Decision) -> None:
    assert decide_wallet_contribution(WALLETS, holder, wallet, 500) == expected


@pytest.mark.parametrize("text, shape", [("123456", "123456"), (" １２３４５６ ", "123456"),
                                         ("", None), (None, None), ("12345", None)])
def test_password_shape(text: str | None, shape: str | None) -> None:
    assert password_shape(text) == shape  # type: ignore[arg-type]

