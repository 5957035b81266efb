"""What the store reports, asserted whole: the /wallet view, credits at one fen, a refused
month's facts, and the unit of work's stored decisions (rules/wallets.py, rules/credit.py,
rules/unit_of_work.py)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, insert, select

from rules.codes import Reason
from rules.decision import Decision
from rules.schema import LedgerEntry, Transaction
from rules.unit_of_work import KeyClash, UnitOfWork
from tests.rules.factories import World
from tests.rules.test_wallets import Family, cheap_kdf  # noqa: F401  (autouse fixture)

NOW = datetime(2026, 11, 1, 2, 0)


def test_the_wallet_view_states_every_fact(engine: Engine) -> None:
    f = Family(engine)
    assert f.confirm(f.ask(10_000)).ok
    f.w.clock.advance(60)
    assert f.confirm(f.ask(2_000)).ok
    view = f.svc.view(f.mother, limit=5)
    with engine.connect() as conn:
        times = conn.execute(select(LedgerEntry.created_at).where(LedgerEntry.kind == "wallet_in")
                             .order_by(LedgerEntry.id.desc())).scalars().all()
    assert view == Decision.allow(
        province="四川省", city="成都市", opened=True, active=True, balance_fen=12_000,
        moves=[{"at": times[0].isoformat(), "kind": "wallet_in", "delta_fen": 2_000},
               {"at": times[1].isoformat(), "kind": "wallet_in", "delta_fen": 10_000}],
        can_activate=False)
    assert f.svc.view(f.mother, limit=1).facts["moves"] == view.facts["moves"][:1]


def test_the_view_of_someone_without_a_wallet(engine: Engine) -> None:
    w = World(engine)
    pid = w.person(place="jinan", scheme="employee")
    assert w.svc.wallets.view(pid) == Decision.allow(
        province="山东省", city="济南市", opened=True, active=False, balance_fen=0, moves=[],
        can_activate=True)
    hainan = w.person(place="hainan", scheme="employee")
    assert w.svc.wallets.view(hainan).facts["opened"] is False
    assert w.svc.wallets.view(hainan).facts["can_activate"] is False
    assert w.svc.wallets.view(999_999) == Decision.refuse(Reason.UNKNOWN_PERSON)


def test_a_monthly_credit_of_one_fen_is_paid(engine: Engine) -> None:
    w = World(engine)
    pid = w.person(monthly_credit=1, balance=0)
    assert w.svc.preview_credit("2026-11").facts["people"] == 1
    assert w.svc.credit_month("2026-11").facts["credited"] == 1
    assert w.balance(pid) == 1


def test_a_refused_preview_names_the_month_and_what_is_allowed(engine: Engine) -> None:
    w = World(engine)
    assert w.svc.preview_credit("2026-12") == Decision.refuse(
        Reason.INVALID_MONTH, month="2026-12", allowed=["2026-11", "2026-10"])


def test_a_key_whose_operation_has_no_result_yet_is_not_stored(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Transaction).values(key="inflight", kind="settle", created_at=NOW,
                                                result={}))
    uow = UnitOfWork(engine)
    assert uow.stored("inflight") is None
    assert uow.stored("inflight", "settle") is None


def test_a_key_clash_names_the_key(engine: Engine) -> None:
    uow = UnitOfWork(engine)
    uow.run("k1", "settle", None, NOW, lambda s, ctx: Decision.allow())
    with pytest.raises(KeyClash) as clash:
        uow.stored("k1", "bind")
    assert clash.value.args == ("k1",)
