"""医保钱包 decisions without a database (rules/wallet_rules.py, rules/wallet_policy.py,
rules/wallet_secret.py), and the planner's wallet leg (rules/planning.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rules import wallet_secret
from rules.codes import Reason
from rules.decision import Decision
from rules.identity import make_id
from rules.planning import Payer, Refused, SettlePlan, Snapshot, plan_settlement
from rules.policy import Policies, PolicyError
from rules.wallet_policy import WALLET_FILE, WalletPolicy
from rules.wallet_rules import (
    MAX_WRONG,
    NOT_ACTIVATED,
    Attempts,
    Holder,
    TransferPlan,
    TransferRequest,
    TransferSnapshot,
    WalletState,
    decide_activation,
    decide_wallet_contribution,
    locked_until,
    password_shape,
    plan_transfer,
)

NOW = datetime(2026, 12, 6, 10, 0, 0)
POLICIES = Policies.load()
WALLETS = WalletPolicy.load()
CAPPED = WalletPolicy.parse({"provinces": {
    "山东省": {"per_transfer_yuan": 500, "per_day_yuan": "800.00"}, "四川省": {}}})
ACTIVE = WalletState(True, "成都市", 0)
PAYER_WALLET = WalletState(True, "济南市", 0)
NO_ATTEMPTS = Attempts()

PAYER = Holder(1, make_id("37010219800101001"), "王志强", "山东省", "济南市", "employee",
               "employed", 100_000)
PAYEE = Holder(2, make_id("51010219520101002"), "王桂英", "四川省", "成都市", "resident")


def snap(payer: Holder = PAYER, payee: Holder | None = PAYEE, *,
         payer_wallet: WalletState = PAYER_WALLET,
         payee_wallet: WalletState = ACTIVE, sent_today: int = 0) -> TransferSnapshot:
    return TransferSnapshot(payer, payer_wallet, payee, payee_wallet, sent_today)


def req(amount: int = 10_000, *, id_number: str = PAYEE.id_number, name: str = PAYEE.name,
        relation: str = "母亲") -> TransferRequest:
    return TransferRequest(id_number, name, relation, amount)


def transfer(s: TransferSnapshot, r: TransferRequest, *, wallets: WalletPolicy = WALLETS,
             attempts: Attempts = NO_ATTEMPTS) -> TransferPlan | Decision:
    return plan_transfer(POLICIES, wallets, s, r, attempts, NOW)


# ---- provinces as data ------------------------------------------------------------------

def test_the_nine_provinces_of_the_source_and_no_caps() -> None:
    assert set(WALLETS.names) == {"河北省", "江苏省", "安徽省", "山东省", "河南省", "湖北省",
                                  "重庆市", "四川省", "甘肃省"}
    assert all(p.per_transfer_fen is None and p.per_day_fen is None
               for p in WALLETS.provinces.values())
    assert not WALLETS.opened("海南省") and not WALLETS.opened("江西省")


@pytest.mark.parametrize("raw, where", [
    ({"provinces": {"山东省": {}}, "extra": 1}, "extra: unknown key"),
    ({"provinces": {}}, "provinces: must be a non-empty mapping"),
    ({"provinces": {"山东": {}}}, "provinces.山东: not a province"),
    ({"provinces": {"山东省": {"per_week_yuan": 5}}}, "provinces.山东省.per_week_yuan: unknown"),
    ({"provinces": {"山东省": {"per_day_yuan": -5}}}, "provinces.山东省.per_day_yuan: must be"),
    ({"provinces": {"山东省": {"per_day_yuan": "1e3"}}}, "per_day_yuan: must be a positive"),
    ({"provinces": {"山东省": {"per_transfer_yuan": True}}}, "per_transfer_yuan: must be"),
    ({"provinces": {"山东省": []}}, "provinces.山东省: must be a mapping"),
])
def test_wallet_file_is_validated_naming_the_key(raw: dict, where: str) -> None:
    with pytest.raises(PolicyError, match=where):
        WalletPolicy.parse(raw, Path("wallet.yaml"))


def test_the_bundled_file_loads_and_caps_parse_to_fen(tmp_path: Path) -> None:
    assert WalletPolicy.load(WALLET_FILE) == WALLETS
    shandong = CAPPED.get("山东省")
    assert shandong is not None
    assert (shandong.per_transfer_fen, shandong.per_day_fen) == (50_000, 80_000)
    bad = tmp_path / "w.yaml"
    bad.write_text("provinces: [山东省]\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="provinces"):
        WalletPolicy.load(bad)


# ---- activation ---------------------------------------------------------------------------

@pytest.mark.parametrize("who, wallet, outcome", [
    (PAYER, NOT_ACTIVATED, "ok"),
    (PAYEE, NOT_ACTIVATED, "ok"),  # resident insurance may hold a wallet too
    (PAYER, WalletState(True, "济南市", 5), "already"),
    (replace(PAYER, province="海南省", city="海口市"), NOT_ACTIVATED, Reason.WALLET_NOT_ENABLED),
    (replace(PAYER, province="江西省", city="吉安市"), NOT_ACTIVATED, Reason.WALLET_NOT_ENABLED),
    (replace(PAYER, scheme="none"), NOT_ACTIVATED, Reason.NOT_INSURED),
])
def test_activation(who: Holder, wallet: WalletState, outcome: object) -> None:
    d = decide_activation(WALLETS, who, wallet)
    if isinstance(outcome, Reason):
        assert d.code == outcome
    else:
        assert d.ok and d.facts["already_active"] is (outcome == "already")
        assert d.facts["city"] == who.city


@pytest.mark.parametrize("text, digits", [
    ("123456", "123456"), (" 654321 ", "654321"), ("１２３４５６", "123456"),
    ("12345", None), ("1234567", None), ("12345a", None), ("", None), ("12 3456", None),
    ("١٢٣٤٥٦", None),  # Arabic-Indic digits are digits, but not ASCII
])
def test_password_shape(text: str, digits: str | None) -> None:
    assert password_shape(text) == digits


def test_lock_after_five_wrong_within_the_hour() -> None:
    assert locked_until(Attempts(MAX_WRONG - 1, NOW), NOW) is None
    assert locked_until(Attempts(MAX_WRONG, NOW), NOW) == NOW + timedelta(hours=1)
    assert locked_until(Attempts(MAX_WRONG, NOW), NOW + timedelta(minutes=59)) is not None
    assert locked_until(Attempts(MAX_WRONG, NOW), NOW + timedelta(hours=1)) is None
    assert locked_until(Attempts(), NOW) is None


def test_password_hash_is_salted_scrypt_and_never_the_password() -> None:
    a, b = wallet_secret.hash_password("123456", n=2 ** 10), \
        wallet_secret.hash_password("123456", n=2 ** 10)
    assert a != b and "123456" not in a and a.startswith("scrypt$1024$8$1$")
    assert wallet_secret.verify_password("123456", a)
    assert not wallet_secret.verify_password("123457", a)
    assert not wallet_secret.verify_password("123456", "pbkdf2$x")
    assert not wallet_secret.verify_password("123456", "scrypt$bad")


# ---- transfer: every refusal --------------------------------------------------------------

OTHER_ID = make_id("51010219520101003")
REFUSALS: list[tuple[str, TransferSnapshot, TransferRequest, WalletPolicy, Reason]] = [
    ("zero amount", snap(), req(0), WALLETS, Reason.INVALID_AMOUNT),
    ("flexible worker", snap(replace(PAYER, employment="flexible")), req(), WALLETS,
     Reason.NO_PERSONAL_ACCOUNT),
    ("resident payer", snap(replace(PAYER, scheme="resident", employment=None)), req(), WALLETS,
     Reason.NO_PERSONAL_ACCOUNT),
    ("payer's province closed", snap(replace(PAYER, province="海南省")), req(), WALLETS,
     Reason.WALLET_NOT_ENABLED),
    ("payer not activated", snap(payer_wallet=NOT_ACTIVATED), req(), WALLETS,
     Reason.WALLET_NOT_ACTIVE),
    ("bad ID", snap(), req(id_number="123"), WALLETS, Reason.INVALID_ID),
    ("nobody has the ID", snap(payee=None), req(id_number=OTHER_ID), WALLETS,
     Reason.UNKNOWN_PERSON),
    ("wrong name", snap(), req(name="王桂花"), WALLETS, Reason.UNKNOWN_PERSON),
    ("oneself", snap(payee=PAYER), req(id_number=PAYER.id_number, name=PAYER.name), WALLETS,
     Reason.SELF_BINDING),
    ("unknown relation", snap(), req(relation="朋友"), WALLETS, Reason.UNKNOWN_RELATION),
    ("in-law: not on the 2024 list", snap(), req(relation="岳父"), WALLETS,
     Reason.RELATION_NOT_ALLOWED),
    ("payee uninsured", snap(payee=replace(PAYEE, scheme="none")), req(), WALLETS,
     Reason.NOT_INSURED),
    ("payee's province closed", snap(payee=replace(PAYEE, province="江西省", city="吉安市")),
     req(), WALLETS, Reason.WALLET_NOT_ENABLED),
    ("payee not activated", snap(payee_wallet=NOT_ACTIVATED), req(), WALLETS,
     Reason.WALLET_NOT_ACTIVE),
    ("above the per-transfer cap", snap(), req(50_001), CAPPED, Reason.TRANSFER_LIMIT_EXCEEDED),
    ("above the per-day cap", snap(sent_today=30_001), req(50_000), CAPPED,
     Reason.TRANSFER_LIMIT_EXCEEDED),
    ("more than the account holds", snap(), req(100_001), WALLETS, Reason.INSUFFICIENT_BALANCE),
]


@pytest.mark.parametrize("s, r, wallets, code", [c[1:] for c in REFUSALS],
                         ids=[c[0] for c in REFUSALS])
def test_transfer_refusals(s: TransferSnapshot, r: TransferRequest, wallets: WalletPolicy,
                           code: Reason) -> None:
    d = transfer(s, r, wallets=wallets)
    assert isinstance(d, Decision) and d.code == code, d


def test_every_wallet_code_has_a_refusal_case() -> None:
    codes = {c[-1] for c in REFUSALS}
    assert {Reason.WALLET_NOT_ENABLED, Reason.WALLET_NOT_ACTIVE,
            Reason.TRANSFER_LIMIT_EXCEEDED} <= codes


def test_a_locked_payer_is_refused_before_anything_about_the_payee() -> None:
    d = transfer(snap(payee=None), req(id_number="bad"), attempts=Attempts(MAX_WRONG, NOW))
    assert isinstance(d, Decision) and d.code == Reason.WALLET_LOCKED


def test_which_side_is_not_enabled_or_not_active() -> None:
    closed = transfer(snap(payee=replace(PAYEE, province="海南省")), req())
    inactive = transfer(snap(payer_wallet=NOT_ACTIVATED), req())
    assert isinstance(closed, Decision) and closed.facts["side"] == "payee"
    assert isinstance(inactive, Decision) and inactive.facts["side"] == "self"


@pytest.mark.parametrize("amount, sent, ok", [
    (50_000, 0, True), (50_000, 30_000, True), (50_001, 0, False), (1, 80_000, False),
])
def test_caps_at_their_edges(amount: int, sent: int, ok: bool) -> None:
    result = transfer(snap(sent_today=sent), req(amount), wallets=CAPPED)
    assert isinstance(result, TransferPlan) is ok


def test_a_plan_is_what_was_asked_and_round_trips() -> None:
    plan = transfer(snap(), req(10_000, relation="妈妈"))
    assert isinstance(plan, TransferPlan)
    assert (plan.amount_fen, plan.relation) == (10_000, "parent")
    facts = plan.facts()
    assert facts["balance_fen"] == 90_000 and facts["payee_name_masked"] == "王**"
    assert PAYEE.id_number not in str(facts)
    assert TransferPlan.from_json(plan.to_json()) == plan


# ---- spending -----------------------------------------------------------------------------

@pytest.mark.parametrize("who, wallet, amount, code", [
    (PAYEE, WalletState(True, "成都市", 50_000), 38_000, None),
    (PAYEE, WalletState(True, "成都市", 50_000), 50_001, Reason.INSUFFICIENT_BALANCE),
    (PAYEE, NOT_ACTIVATED, 100, Reason.WALLET_NOT_ACTIVE),
    (PAYER, WalletState(True, "济南市", 50_000), 100, Reason.NOT_RESIDENT),
    (replace(PAYEE, province="海南省"), ACTIVE, 100, Reason.WALLET_NOT_ENABLED),
    (PAYEE, ACTIVE, 0, Reason.INVALID_AMOUNT),
])
def test_wallet_pays_its_holders_own_contribution(who: Holder, wallet: WalletState,
                                                  amount: int, code: Reason | None) -> None:
    d = decide_wallet_contribution(WALLETS, who, wallet, amount)
    assert d.code == code
    if code is None:
        assert d.facts["wallet_balance_fen"] == wallet.balance_fen - amount


def settle_snap(region: str, balance: int, wallet: int, *payers: Payer,
                window: datetime | None = None) -> Snapshot:
    return Snapshot(1, region, "病人", balance, payers, window, wallet_fen=wallet)


HOUSEHOLDER = Payer(7, 107, "户主", "jinan", 100_000, None, 0)


@pytest.mark.parametrize("region, balance, wallet, amount, split", [
    # own, wallet, family, cash
    ("jinan", 1_000, 2_000, 5_000, (1_000, 2_000, 2_000, 0)),
    ("jinan", 1_000, 9_000, 5_000, (1_000, 4_000, 0, 0)),
    ("jinan", 9_000, 9_000, 5_000, (5_000, 0, 0, 0)),
    ("hainan", 1_000, 2_000, 5_000, (1_000, 2_000, 0, 2_000)),
    ("dongying", 1_000, 4_000, 5_000, (1_000, 4_000, 0, 0)),  # together they cover it
    ("national", 0, 3_000, 5_000, (0, 3_000, 2_000, 0)),
])
def test_settlement_spends_account_then_wallet_then_family_then_cash(
        region: str, balance: int, wallet: int, amount: int,
        split: tuple[int, int, int, int]) -> None:
    plan = plan_settlement(POLICIES, NOW, settle_snap(region, balance, wallet, HOUSEHOLDER),
                           amount, "outpatient")
    assert isinstance(plan, SettlePlan), plan
    assert (plan.own_fen, plan.wallet_fen, plan.family_fen, plan.cash_fen) == split
    assert SettlePlan.from_json(plan.to_json()) == plan
    assert plan.facts()["wallet_balance_fen"] == wallet - plan.wallet_fen


def test_retry_window_refuses_when_account_and_wallet_fall_short() -> None:
    result = plan_settlement(POLICIES, NOW, settle_snap("dongying", 1_000, 3_999, HOUSEHOLDER),
                             5_000, "outpatient")
    assert isinstance(result, Refused)
    assert result.decision.code == Reason.INSUFFICIENT_BALANCE
    assert result.decision.facts["wallet_fen"] == 3_999
    inside = plan_settlement(POLICIES, NOW, settle_snap(
        "dongying", 1_000, 3_999, HOUSEHOLDER, window=NOW + timedelta(minutes=3)),
        5_000, "outpatient")
    assert isinstance(inside, SettlePlan) and inside.family_fen == 5_000


def test_a_plan_without_a_wallet_is_unchanged() -> None:
    plan = plan_settlement(POLICIES, NOW, settle_snap("jinan", 1_000, 0, HOUSEHOLDER), 5_000,
                           "outpatient")
    assert isinstance(plan, SettlePlan)
    assert plan.wallet_fen == 0 and "wallet_fen" not in plan.facts()
    assert Snapshot.from_json({k: v for k, v in plan.snapshot.to_json().items()
                               if k != "wallet_fen"}) == plan.snapshot
