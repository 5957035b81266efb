"""audit() names every kind of violation: build a sound ledger, corrupt it one way, look."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import Connection, Engine, insert, select, text, update

from rules.audit import audit
from rules.schema import Binding, LedgerEntry, Person, Transaction
from tests.rules.factories import World


class Scene:
    """A householder, a relative with a limit, a split settlement, a contribution, a credit,
    and a refused settlement — every kind of row the audit looks at."""

    def __init__(self, engine: Engine) -> None:
        w = World(engine)
        self.h = w.householder("jinan", balance=50_000, monthly_credit=1_000)
        self.r = w.person(place="jinan", scheme="resident", balance=1_000)
        w.bound(self.h, self.r, "子女")
        assert w.svc.set_limit(self.h, "1", 40_000, key="limit").ok
        assert w.svc.settle(self.r, 6_000, "outpatient", key="settle").ok
        assert w.svc.contribute(self.h, "1", 2_000, key="contribute").ok
        assert w.svc.credit_month("2026-11").facts["credited"] == 1
        assert not w.svc.contribute(self.h, "1", 10**9, key="refused").ok
        self.binding = w.svc.family(self.h).relatives[0].binding_id


def sound_scene(engine: Engine) -> Scene:
    """The scene, checked sound by every audit check (built once per session on SQLite: see
    ``snapshots`` in tests/rules/conftest.py)."""
    sc = Scene(engine)
    assert audit(engine) == []
    return sc


def _bump_balance(conn: Connection, pid: int, by: int) -> None:
    conn.execute(update(Person).where(Person.id == pid).values(balance=Person.balance + by))


def _txn_id(conn: Connection, key: str) -> int:
    return int(conn.execute(select(Transaction.id).where(Transaction.key == key)).scalar_one())


def balance_drift(conn: Connection, sc: Scene) -> None:
    _bump_balance(conn, sc.h, 1)


def negative_balance(conn: Connection, sc: Scene) -> None:
    conn.execute(update(Person).where(Person.id == sc.r).values(
        balance=-5, opening_balance=Person.opening_balance - Person.balance - 5))


def over_limit(conn: Connection, sc: Scene) -> None:
    conn.execute(update(Binding).where(Binding.id == sc.binding).values(
        limit_fen=Binding.used_fen - 1))


def used_drift(conn: Connection, sc: Scene) -> None:
    conn.execute(update(Binding).where(Binding.id == sc.binding).values(
        used_fen=Binding.used_fen + 7))


def unbalanced(conn: Connection, sc: Scene) -> None:
    conn.execute(update(Transaction).where(Transaction.key == "settle").values(
        cash_fen=Transaction.cash_fen + 1))


def effect_of_refusal(conn: Connection, sc: Scene) -> None:
    conn.execute(insert(LedgerEntry).values(
        txn_id=_txn_id(conn, "refused"), person_id=sc.h, delta_fen=-100, kind="contribute",
        created_at=datetime(2026, 11, 1)))
    _bump_balance(conn, sc.h, -100)


def credit_twice(conn: Connection, sc: Scene) -> None:
    conn.execute(text("DROP INDEX uq_ledger_credit_once"))
    conn.execute(insert(LedgerEntry).values(
        txn_id=_txn_id(conn, "settle"), person_id=sc.h, delta_fen=1_000, kind="credit",
        period="2026-11", created_at=datetime(2026, 11, 1)))
    _bump_balance(conn, sc.h, 1_000)


# Each corruption and every kind of violation it must produce (a credit booked under the
# settlement's transaction also unbalances that settlement).
CORRUPTIONS: list[tuple[Callable[[Connection, Scene], None], set[str]]] = [
    (balance_drift, {"balance mismatch"}),
    (negative_balance, {"negative balance"}),
    (over_limit, {"limit exceeded"}),
    (used_drift, {"used mismatch"}),
    (unbalanced, {"unbalanced settlement"}),
    (effect_of_refusal, {"key applied twice"}),
    (credit_twice, {"credit twice", "unbalanced settlement"}),
]


@pytest.mark.parametrize("corrupt,named", CORRUPTIONS, ids=[c.__name__ for c, _ in CORRUPTIONS])
def test_audit_names_each_violation(engine, db_url, snapshots, corrupt,
                                    named: set[str]) -> None:
    """Exactly the violated invariants are named, each once (the scene has one of each)."""
    sc = snapshots.restore(engine, db_url, "audit-scene", sound_scene)
    assert audit(engine) == []
    with engine.begin() as conn:
        corrupt(conn, sc)
    found = audit(engine)
    assert sorted(line.split(":")[0] for line in found) == sorted(named), found


def test_audit_names_duplicate_keys(engine) -> None:
    """Only reachable when the unique constraint is gone (PostgreSQL can drop it in place)."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite cannot drop a table constraint in place")
    Scene(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE transactions DROP CONSTRAINT uq_transactions_key"))
        conn.execute(insert(Transaction).values(
            key="settle", kind="settle", created_at=datetime(2026, 11, 1),
            result={"ok": True, "code": None, "facts": {}}))
    assert any(line.startswith("key applied twice: settle") for line in audit(engine))


# ---- pinned plans: family money only after 确认, one bill paid once (review H1, H2) ----------

def _pinned_scene(engine: Engine) -> tuple[World, int, int]:
    w = World(engine)
    h = w.householder("jinan", balance=50_000)
    r = w.person(place="jinan", scheme="resident", balance=1_000)
    w.bound(h, r, "子女")
    return w, h, r


def _pin_one(w: World, r: int, amount: int, key: str) -> object:
    pinned: list[object] = []

    def pin(_s: object, plan: object) -> str:
        pinned.append(plan)
        return "t"

    d = w.svc.settle_direct(r, amount, "outpatient", key=key, pin=pin)
    assert d.facts.get("needs_confirm"), d
    return pinned[0]


def test_confirmed_family_money_under_its_origin_is_sound(engine: Engine) -> None:
    w, _h, r = _pinned_scene(engine)
    plan = _pin_one(w, r, 5_000, "tg:1:2:3")
    d = w.svc.execute_settlement(plan, key="confirm:t", pin=lambda s, p: "u",  # type: ignore[arg-type]
                                 origin="tg:1:2:3")
    assert d.ok and d.facts["family_fen"] == 4_000
    assert audit(engine) == []


def test_family_money_under_an_update_key_is_flagged(engine: Engine) -> None:
    w, _h, r = _pinned_scene(engine)
    assert w.svc.settle(r, 5_000, "outpatient", key="tg:1:2:3").facts["family_fen"] == 4_000
    assert any("family money without 确认" in v and "tg:1:2:3" in v for v in audit(engine))


def test_a_bill_paid_by_its_update_and_again_by_a_confirmation_is_flagged(
        engine: Engine) -> None:
    w, _h, r = _pinned_scene(engine)
    assert w.svc.settle(r, 500, "outpatient", key="tg:1:2:9").ok  # own money, at once
    plan = _pin_one(w, r, 800, "tg:1:2:10")
    assert w.svc.execute_settlement(plan, key="confirm:x", pin=lambda s, p: "u",  # type: ignore[arg-type]
                                    origin="tg:1:2:9").ok  # …claims the first bill's origin
    assert any("bill settled twice: tg:1:2:9" in v for v in audit(engine))


def test_distinct_bills_are_not_flagged(engine: Engine) -> None:
    w, _h, r = _pinned_scene(engine)
    assert w.svc.settle(r, 100, "outpatient", key="tg:1:2:1").ok
    assert w.svc.settle(r, 100, "outpatient", key="tg:1:2:2").ok
    plan = _pin_one(w, r, 5_000, "tg:1:2:3")
    assert w.svc.execute_settlement(plan, key="confirm:t", pin=lambda s, p: "u",  # type: ignore[arg-type]
                                    origin="tg:1:2:3").ok
    assert audit(engine) == []
