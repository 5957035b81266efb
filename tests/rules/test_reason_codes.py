"""Every reason code the rules engine can produce, each reached by at least one real case."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rules.codes import Reason
from rules.decision import Decision
from rules.identity import make_id
from rules.money import MAX_FEN
from tests.rules.factories import World

# Codes only the bot can produce (linking, chats, staff, confirmation buttons).
BOT_ONLY = {
    Reason.NOT_LINKED, Reason.CONTACT_NOT_OWN, Reason.PHONE_NOT_FOUND, Reason.VERIFY_FAILED,
    Reason.TOO_MANY_ATTEMPTS, Reason.PRIVATE_ONLY, Reason.FORBIDDEN, Reason.EXPIRED,
}
Case = Callable[[World], Decision]


def _bind_text(w: World, h: int, id_text: str, name: str = "某人",
               relation: str = "配偶") -> Decision:
    return w.svc.bind(h, id_text, name, relation, key=w.key())


def invalid_id(w: World) -> Decision:
    return _bind_text(w, w.householder(), "37010219900101123X")


def unknown_person(w: World) -> Decision:
    return _bind_text(w, w.householder(), make_id("11010119900101999"))


def name_mismatch(w: World) -> Decision:
    h, r = w.householder(), w.person(scheme="resident", name="李四")
    return _bind_text(w, h, w.id_number(r), name="李五")


def self_binding(w: World) -> Decision:
    h = w.householder()
    return w.bind(h, h)


def unknown_relation(w: World) -> Decision:
    return w.bind(w.householder(), w.person(scheme="resident"), "朋友")


def relation_not_allowed(w: World) -> Decision:
    h, r = w.householder("dongying"), w.person(place="dongying", scheme="resident")
    return w.bind(h, r, "哥哥")


def not_insured(w: World) -> Decision:
    return w.bind(w.householder(), w.person(scheme="none"))


def out_of_scope(w: World) -> Decision:
    return w.bind(w.householder("jinan"), w.person(place="jian", scheme="resident"))


def already_bound(w: World) -> Decision:
    h, r = w.householder(), w.person(scheme="resident")
    w.bound(h, r)
    return w.bind(h, r, "老婆")


def max_relatives(w: World) -> Decision:
    h = w.householder("dongying")
    for _ in range(7):
        w.bound(h, w.person(place="dongying", scheme="resident"), "子女")
    return w.bind(h, w.person(place="dongying", scheme="resident"), "子女")


def relative_already_bound(w: World) -> Decision:
    h1, h2 = w.householder("dongying"), w.householder("dongying")
    r = w.person(place="dongying", scheme="resident")
    w.bound(h1, r, "子女")
    return w.bind(h2, r, "子女")


def relative_is_householder(w: World) -> Decision:
    h1, h2 = w.householder("dongying"), w.householder("dongying")
    w.bound(h1, w.person(place="dongying", scheme="resident"), "子女")
    return w.bind(h2, h1, "配偶")


def householder_is_bound(w: World) -> Decision:
    h1, h2 = w.householder("dongying"), w.householder("dongying")
    w.bound(h1, h2, "子女")
    return w.bind(h2, w.person(place="dongying", scheme="resident"), "子女")


def no_personal_account(w: World) -> Decision:
    flexible = w.person(employment="flexible")
    return w.svc.open_account(flexible, letter_version="v1", letter_sha256="0" * 64, key=w.key())


def account_not_open(w: World) -> Decision:
    return w.bind(w.person(), w.person(scheme="resident"))


def not_bound_unbind(w: World) -> Decision:
    return w.svc.unbind(w.householder(), "1", key=w.key())


def not_bound_order(w: World) -> Decision:
    r = w.person(scheme="resident")
    w.bound(w.householder(), r)
    return w.svc.set_order(r, [make_id("11010119900101999")], key=w.key())


def invalid_amount(w: World) -> Decision:
    return w.svc.settle(w.person(balance=100), MAX_FEN + 1, "pharmacy", key=w.key())


def invalid_amount_zero(w: World) -> Decision:
    return w.svc.settle(w.person(balance=100), 0, "pharmacy", key=w.key())


def invalid_limit(w: World) -> Decision:
    h = w.householder()
    w.bound(h, w.person(scheme="resident"))
    return w.svc.set_limit(h, "1", -1, key=w.key())


def _dongying_pair(w: World, balance: int = 100_000, place: str = "dongying") -> tuple[int, int]:
    h = w.householder(place, balance=balance)
    r = w.person(place="dongying", scheme="resident", balance=1_000)
    w.bound(h, r, "子女")
    return h, r


def insufficient_balance(w: World) -> Decision:
    _h, r = _dongying_pair(w)
    return w.svc.settle(r, 5_000, "pharmacy", key=w.key())


def _swipe_twice(w: World, r: int, amount: int, purpose: str = "pharmacy") -> Decision:
    first = w.svc.settle(r, amount, purpose, key=w.key())
    assert first.code == Reason.INSUFFICIENT_BALANCE
    w.clock.advance(60)
    return w.svc.settle(r, amount, purpose, key=w.key())


def family_funds_insufficient(w: World) -> Decision:
    _h, r = _dongying_pair(w, balance=2_000)
    return _swipe_twice(w, r, 5_000)


def limit_exceeded_window(w: World) -> Decision:
    h, r = _dongying_pair(w)
    assert w.svc.set_limit(h, "1", 4_000, key=w.key()).ok
    return _swipe_twice(w, r, 5_000)


def limit_exceeded_contribute(w: World) -> Decision:
    h = w.householder()
    w.bound(h, w.person(scheme="resident"))
    assert w.svc.set_limit(h, "1", 100, key=w.key()).ok
    return w.svc.contribute(h, "1", 101, key=w.key())


def purpose_not_allowed_window(w: World) -> Decision:
    # A Dongying patient bound by a Qingdao householder (national rules: no health checks).
    _h, r = _dongying_pair(w, place="qingdao")
    return _swipe_twice(w, r, 5_000, "health_check")


def purpose_not_allowed_contribute(w: World) -> Decision:
    h = w.householder("jinan")
    w.bound(h, w.person(scheme="resident"))
    return w.svc.contribute(h, "1", 100, key=w.key(), purpose="ltc_contribution")


def order_not_supported(w: World) -> Decision:
    _h, r = _dongying_pair(w)
    return w.svc.set_order(r, ["1"], key=w.key())


def not_resident(w: World) -> Decision:
    h = w.householder()
    w.bound(h, w.person(scheme="employee"))
    return w.svc.contribute(h, "1", 100, key=w.key())


def invalid_month(w: World) -> Decision:
    w.person(monthly_credit=500)
    return w.svc.credit_month("2099-06")  # the clock is in 2026-11 (China time)


def plan_changed(w: World) -> Decision:
    h = w.householder(balance=100_000)
    r = w.person(scheme="resident", balance=0)
    w.bound(h, r, "子女")
    pinned: list[object] = []

    def pin(_s: object, plan: object) -> str:
        pinned.append(plan)
        return f"t{len(pinned)}"

    w.svc.settle_direct(r, 5_000, "outpatient", key=w.key(), pin=pin)
    assert w.svc.set_limit(h, "1", 1_000, key=w.key()).ok  # the leg can no longer be ¥50
    return w.svc.execute_settlement(pinned[0], key=w.key(), pin=pin)  # type: ignore[arg-type]


def _wallet_pair(w: World, *, activate_payee: bool = True,
                 payee_place: str = "chengdu") -> tuple[int, int]:
    payer = w.person(place="jinan", balance=100_000)
    payee = w.person(place=payee_place, scheme="resident")
    assert w.svc.wallets.activate(payer, "135790", key=w.key()).ok
    if activate_payee:
        assert w.svc.wallets.activate(payee, "135790", key=w.key()).ok
    return payer, payee


def _transfer(w: World, payer: int, payee: int, amount: int = 10_000) -> Decision:
    from rules.wallet_rules import TransferRequest

    req = TransferRequest(w.id_number(payee), w.name(payee), "母亲", amount)
    return w.svc.wallets.request_transfer(payer, req, key=w.key(), pin=lambda _s, _p: "t")


def wallet_not_enabled(w: World) -> Decision:
    return w.svc.wallets.activate(w.person(place="hainan"), "135790", key=w.key())


def wallet_not_active(w: World) -> Decision:
    payer, payee = _wallet_pair(w, activate_payee=False)
    return _transfer(w, payer, payee)


def wallet_password_wrong(w: World) -> Decision:
    return wallet_password_wrong_for(w, *_wallet_pair(w))


def wallet_locked(w: World) -> Decision:
    payer, payee = _wallet_pair(w)
    for _ in range(4):
        assert wallet_password_wrong_for(w, payer, payee).code == Reason.WALLET_PASSWORD_WRONG
    return wallet_password_wrong_for(w, payer, payee)


def wallet_password_wrong_for(w: World, payer: int, payee: int) -> Decision:
    from rules.wallet_rules import TransferPlan, TransferRequest

    plans: list[TransferPlan] = []

    def pin(_s: object, plan: TransferPlan) -> str:
        plans.append(plan)
        return "t"

    req = TransferRequest(w.id_number(payee), w.name(payee), "母亲", 10_000)
    w.svc.wallets.request_transfer(payer, req, key=w.key(), pin=pin)
    return w.svc.wallets.execute_transfer(plans[0], "000000", key=w.key(), pin=pin)


def transfer_limit_exceeded(w: World) -> Decision:
    from rules.service import FamilyService
    from rules.wallet_policy import WalletPolicy

    payer, payee = _wallet_pair(w)
    capped = WalletPolicy.parse({"provinces": {"山东省": {"per_transfer_yuan": 50}, "四川省": {}}})
    w.svc = FamilyService(w.engine, w.policies, w.clock, wallets=capped)
    return _transfer(w, payer, payee, 5_001)


CASES: list[tuple[Case, Reason]] = [
    (invalid_id, Reason.INVALID_ID),
    (unknown_person, Reason.UNKNOWN_PERSON),
    (name_mismatch, Reason.NAME_MISMATCH),
    (self_binding, Reason.SELF_BINDING),
    (unknown_relation, Reason.UNKNOWN_RELATION),
    (relation_not_allowed, Reason.RELATION_NOT_ALLOWED),
    (not_insured, Reason.NOT_INSURED),
    (out_of_scope, Reason.OUT_OF_SCOPE),
    (already_bound, Reason.ALREADY_BOUND),
    (max_relatives, Reason.MAX_RELATIVES),
    (relative_already_bound, Reason.RELATIVE_ALREADY_BOUND),
    (relative_is_householder, Reason.RELATIVE_IS_HOUSEHOLDER),
    (householder_is_bound, Reason.HOUSEHOLDER_IS_BOUND),
    (no_personal_account, Reason.NO_PERSONAL_ACCOUNT),
    (account_not_open, Reason.ACCOUNT_NOT_OPEN),
    (not_bound_unbind, Reason.NOT_BOUND),
    (not_bound_order, Reason.NOT_BOUND),
    (invalid_amount, Reason.INVALID_AMOUNT),
    (invalid_amount_zero, Reason.INVALID_AMOUNT),
    (invalid_limit, Reason.INVALID_AMOUNT),
    (insufficient_balance, Reason.INSUFFICIENT_BALANCE),
    (family_funds_insufficient, Reason.FAMILY_FUNDS_INSUFFICIENT),
    (limit_exceeded_window, Reason.LIMIT_EXCEEDED),
    (limit_exceeded_contribute, Reason.LIMIT_EXCEEDED),
    (purpose_not_allowed_window, Reason.PURPOSE_NOT_ALLOWED),
    (purpose_not_allowed_contribute, Reason.PURPOSE_NOT_ALLOWED),
    (order_not_supported, Reason.ORDER_NOT_SUPPORTED),
    (not_resident, Reason.NOT_RESIDENT),
    (invalid_month, Reason.INVALID_MONTH),
    (plan_changed, Reason.PLAN_CHANGED),
    (wallet_not_enabled, Reason.WALLET_NOT_ENABLED),
    (wallet_not_active, Reason.WALLET_NOT_ACTIVE),
    (wallet_password_wrong, Reason.WALLET_PASSWORD_WRONG),
    (wallet_locked, Reason.WALLET_LOCKED),
    (transfer_limit_exceeded, Reason.TRANSFER_LIMIT_EXCEEDED),
]


def test_every_engine_code_has_a_case() -> None:
    assert {code for _case, code in CASES} == set(Reason) - BOT_ONLY


@pytest.mark.parametrize("case,code", CASES, ids=[c.__name__ for c, _ in CASES])
def test_reason_code(engine, case: Case, code: Reason) -> None:
    from rules.audit import audit

    w = World(engine)
    decision = case(w)
    assert not decision.ok
    assert decision.code == code, decision
    assert audit(engine) == []


def test_check_bind_agrees_and_writes_nothing(engine) -> None:
    w = World(engine)
    h, r = w.householder("dongying"), w.person(place="dongying", scheme="resident", name="王五")
    preview = w.svc.check_bind(h, w.id_number(r), " 王五 ", "妈妈")
    assert preview.ok and preview.facts["relation"] == "parent"
    assert w.svc.family(h).relatives == ()
    wrong = w.svc.check_bind(h, w.id_number(r), "王五", "哥哥")
    assert wrong.code == Reason.RELATION_NOT_ALLOWED
    done = w.svc.bind(h, w.id_number(r), "王五", "妈妈", key="b")
    assert done.ok and done.facts["relative_id"] == r
    assert [row.person_id for row in w.svc.family(h).relatives] == [r]


def test_checks_run_in_the_issue_order(engine) -> None:
    """A request breaking several rules names the first one in the issue's order."""
    w = World(engine)
    h = w.householder("dongying")
    stranger = w.person(place="jian", scheme="none", name="赵六")
    # wrong name, unknown relation, not insured and out of scope at once → name first
    d = w.svc.check_bind(h, w.id_number(stranger), "赵七", "朋友")
    assert d.code == Reason.NAME_MISMATCH
    d = w.svc.check_bind(h, w.id_number(stranger), "赵六", "哥哥")
    assert d.code == Reason.RELATION_NOT_ALLOWED
    d = w.svc.check_bind(h, w.id_number(stranger), "赵六", "配偶")
    assert d.code == Reason.NOT_INSURED
