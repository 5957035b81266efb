"""The row locks, on PostgreSQL: each lock helper holds exactly the rows it names until the
transaction ends, and every money operation holds its rows when it decides.

A lock is seen from a second connection: ``SELECT … FOR UPDATE NOWAIT`` on a held row fails
with lock_not_available (55P03). SQLite has no row locks (BEGIN IMMEDIATE serialises
writers), so only ``is_sqlite`` is checked there. bench/mutation.py runs these on PostgreSQL
against the lock helpers' mutants (its ``locks`` group)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

import rules.settlement as settlement
import rules.wallets as wallets
from rules.ledger import is_sqlite, lock_bindings, lock_household, lock_people
from tests.rules.factories import World
from tests.rules.test_wallets import Family, cheap_kdf  # noqa: F401  (autouse fixture)


@pytest.fixture
def pg(engine: Engine) -> Engine:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has no row locks")
    return engine


def held(engine: Engine, table: str, ids: Iterable[int]) -> set[int]:
    """Those of ``ids`` whose row another transaction holds locked right now."""
    found = set()
    for row_id in ids:
        with engine.connect() as conn:
            try:
                conn.execute(text(f"SELECT id FROM {table} WHERE id = :id FOR UPDATE NOWAIT"),
                             {"id": row_id})
            except DBAPIError as exc:
                assert getattr(exc.orig, "sqlstate", None) == "55P03", exc
                found.add(row_id)
            conn.rollback()
    return found


def _bindings(w: World, householder: int) -> dict[int, int]:
    """relative id → binding id of the householder's active bindings."""
    return {r.person_id: r.binding_id for r in w.svc.family(householder).relatives}


def test_is_sqlite_names_the_backend(engine: Engine) -> None:
    with Session(engine) as s:
        assert is_sqlite(s) is (engine.dialect.name == "sqlite")


def test_lock_people_holds_exactly_the_named_people_until_the_end(pg: Engine) -> None:
    w = World(pg)
    a, b, c = (w.person() for _ in range(3))
    with Session(pg) as s, s.begin():
        lock_people(s, [b, a, b])
        assert held(pg, "people", [a, b, c]) == {a, b}
    assert held(pg, "people", [a, b, c]) == set()


def test_lock_people_with_no_one_holds_nothing(pg: Engine) -> None:
    w = World(pg)
    a = w.person()
    with Session(pg) as s, s.begin():
        lock_people(s, [])
        assert held(pg, "people", [a]) == set()


def test_lock_household_holds_the_householder_and_active_relatives_only(pg: Engine) -> None:
    w = World(pg)
    h, other = w.householder(), w.householder()
    kept, removed = w.person(), w.person()
    w.bound(h, kept, "子女")
    w.bound(h, removed, "配偶")
    assert w.svc.unbind(h, w.id_number(removed), key="unbind").ok
    stranger = w.person()
    w.bound(other, stranger, "子女")
    with Session(pg) as s, s.begin():
        lock_household(s, h)
        assert held(pg, "people", [h, kept, removed, other, stranger]) == {h, kept}


def test_lock_bindings_holds_exactly_the_named_bindings(pg: Engine) -> None:
    w = World(pg)
    h = w.householder()
    b1, b2, b3 = (w.bound(h, w.person(), "子女") for _ in range(3))
    with Session(pg) as s, s.begin():
        lock_bindings(s, [b3, b1, b3])
        assert held(pg, "bindings", [b1, b2, b3]) == {b1, b3}
    with Session(pg) as s, s.begin():
        lock_bindings(s, [])
        assert held(pg, "bindings", [b1, b2, b3]) == set()


def _settlement_scene(w: World) -> tuple[int, list[int], list[int], int]:
    """A patient with two current payers and a former one: (patient, payers, bindings,
    former payer)."""
    patient = w.person(scheme="resident")
    payers = [w.householder(), w.householder()]
    bindings = [w.bound(h, patient, "子女") for h in payers]
    former = w.householder()
    w.bound(former, patient, "子女")
    assert w.svc.unbind(former, w.id_number(patient), key="gone").ok
    return patient, payers, bindings, former


def test_lock_for_settlement_holds_the_patient_the_payers_and_their_bindings(pg: Engine) -> None:
    w = World(pg)
    patient, payers, bindings, former = _settlement_scene(w)
    other_h, other_r = w.householder(), w.person(scheme="resident")  # another family
    other_b = w.bound(other_h, other_r, "子女")
    with Session(pg) as s, s.begin():
        settlement.lock_for_settlement(s, patient)
        assert held(pg, "people", [patient, *payers, former, other_h, other_r]) == \
            {patient, *payers}
        assert held(pg, "bindings", [*bindings, other_b]) == set(bindings)


def test_wallet_of_locks_the_wallet_only_when_asked(pg: Engine) -> None:
    f = Family(pg)
    with Session(pg) as s, s.begin():
        w = wallets.wallet_of(s, f.payer, lock=True)
        assert w is not None and held(pg, "wallets", [w.id]) == {w.id}
    with Session(pg) as s, s.begin():
        w = wallets.wallet_of(s, f.payer)
        assert w is not None and held(pg, "wallets", [w.id]) == set()


# ---- every money operation decides under its locks --------------------------------------------

def _probe(monkeypatch: pytest.MonkeyPatch, module: Any, name: str,
           look: Callable[[], None]) -> list[None]:
    """Wrap ``module.name`` so that ``look`` runs (and is counted) each time it is called."""
    real = getattr(module, name)
    seen: list[None] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        seen.append(look())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return seen


def test_a_payment_holds_every_payer_and_a_summary_only_the_patient(
        pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(pg)
    patient, payers, bindings, _former = _settlement_scene(w)
    seen: list[tuple[set[int], set[int]]] = []

    def look() -> None:
        seen.append((held(pg, "people", [patient, *payers]), held(pg, "bindings", bindings)))

    _probe(monkeypatch, settlement, "load_snapshot", look)
    everyone = ({patient, *payers}, set(bindings))
    assert w.svc.settle(patient, 5_000, "outpatient", key="s").ok
    plans: dict[str, Any] = {}

    def pin(_s: Any, plan: Any) -> str:
        plans["t"] = plan
        return "t"

    # the summary (family money pinned, not paid) blocks no householder's other payments
    asked = w.svc.settle_direct(patient, 10_000, "outpatient", key="ask", pin=pin)
    assert asked.facts["token"] == "t" and asked.facts["family_fen"] > 0
    assert w.svc.execute_settlement(plans["t"], key="go", pin=pin).ok  # the pinned plan, paid
    assert seen == [everyone, ({patient}, set()), everyone]


def test_a_contribution_plans_and_pays_with_the_household_locked(
        pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(pg)
    h = w.householder()
    r = w.person(scheme="resident")
    w.bound(h, r, "子女")

    def look() -> None:
        assert held(pg, "people", [h, r]) == {h, r}

    seen = _probe(monkeypatch, settlement, "load_contribution", look)
    assert w.svc.contribute(h, "1", 2_000, key="c").ok
    pins: dict[str, Any] = {}

    def pin(_s: Any, plan: Any) -> str:
        pins["t"] = plan
        return "t"

    assert w.svc.pin_contribution(h, "1", 1_000, key="p", pin=pin).ok
    assert w.svc.execute_contribution(pins["t"], key="x").ok
    assert len(seen) == 3


def test_wallet_operations_decide_with_the_holders_and_wallets_locked(
        pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    f = Family(pg, activate=False)
    people = [f.payer, f.mother]
    calls: list[tuple[set[int], set[int]]] = []  # (people held, holders whose wallet is held)

    def look() -> None:
        with pg.connect() as conn:
            owner = dict(conn.execute(text("SELECT id, person_id FROM wallets")).all())
        calls.append((held(pg, "people", people),
                      {owner[w] for w in held(pg, "wallets", owner)}))

    for name in ("decide_activation", "check_password", "decide_wallet_contribution"):
        _probe(monkeypatch, wallets, name, look)
    assert f.svc.activate(f.payer, "135790", key="a").facts["activated"]
    assert calls[-1] == ({f.payer}, set())  # no wallet row yet
    assert f.svc.activate(f.mother, "135790", key="b").facts["activated"]
    assert calls[-1] == ({f.mother}, set())
    assert f.svc.activate(f.payer, "135790", key="a2").facts["already_active"]
    assert calls[-1] == ({f.payer}, {f.payer})
    assert f.confirm(f.ask(10_000)).ok  # the transfer checks the password under the locks
    assert calls[-1] == ({f.payer, f.mother}, {f.payer})
    assert f.svc.contribute(f.mother, 1_000, key="own").ok
    assert calls[-1] == ({f.mother}, {f.mother})


def _order_scene(w: World) -> tuple[int, int]:
    """Two people whose rows lie on disk against id order: the lower id was updated, so its
    live row version now comes after the other's in a sequential scan."""
    low, high = w.person(), w.person()
    with w.engine.begin() as conn:
        conn.execute(text("UPDATE people SET balance = balance WHERE id = :id"), {"id": low})
    return low, high


@pytest.mark.parametrize("table", ["people", "bindings"])
def test_rows_are_locked_in_id_order_not_in_disk_order(pg: Engine, table: str) -> None:
    """Lock order is what keeps two lockers of overlapping rows from deadlocking. While the
    lower id is held elsewhere, a locker of both waits on it *before* taking the higher one:
    rows are taken in id order even when a sequential scan meets them the other way round."""
    import threading

    w = World(pg)
    if table == "people":
        low, high = _order_scene(w)
        lock: Callable[[Session, list[int]], None] = lock_people
    else:
        h = w.householder()
        low, high = (w.bound(h, w.person(), "子女") for _ in range(2))
        with pg.begin() as conn:
            conn.execute(text("UPDATE bindings SET used_fen = used_fen WHERE id = :id"),
                         {"id": low})
        lock = lock_bindings
    with pg.connect() as holder:
        holder.execute(text(f"SELECT id FROM {table} WHERE id = :id FOR UPDATE"), {"id": low})
        started = threading.Event()

        def locker() -> None:
            with Session(pg) as s, s.begin():
                s.execute(text("SET LOCAL enable_indexscan = off"))
                s.execute(text("SET LOCAL enable_bitmapscan = off"))
                s.execute(text("SET LOCAL lock_timeout = '3s'"))
                started.set()
                try:
                    lock(s, [high, low])
                except DBAPIError:
                    pass

        t = threading.Thread(target=locker)
        t.start()
        started.wait()
        import time
        time.sleep(0.5)  # the locker is now waiting on the lower id
        assert held(pg, table, [high]) == set()
        holder.rollback()
    t.join()
