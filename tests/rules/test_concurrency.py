"""Concurrent writers, idempotency under races, and all-or-nothing settlements."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rules.audit import audit
from rules.codes import Reason
from rules.decision import Decision
from rules.schema import LedgerEntry, RetryWindow, Transaction
from tests.rules.concurrency import race
from tests.rules.factories import World


def _count(engine, model, *where) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def test_sixteen_swipes_against_one_householder(engine) -> None:
    """16 re-swipes of ¥100 each, all charged to one ¥1000 householder: exactly 10 succeed."""
    w = World(engine)
    h = w.householder("qingdao", balance=100_000)  # national rules: no relative maximum
    relatives = [w.person(place="dongying", scheme="resident", balance=0) for _ in range(16)]
    for r in relatives:
        w.bound(h, r, "子女")
        assert w.svc.settle(r, 10_000, "pharmacy", key=f"open-{r}").code == \
            Reason.INSUFFICIENT_BALANCE
    results = race(16, lambda i: w.svc.settle(relatives[i], 10_000, "pharmacy", key=f"swipe-{i}"))
    assert sum(d.ok for d in results) == 10
    assert {d.code for d in results if not d.ok} == {Reason.FAMILY_FUNDS_INSUFFICIENT}
    assert w.balance(h) == 0
    assert _count(engine, LedgerEntry, LedgerEntry.person_id == h) == 10
    assert audit(engine) == []


def test_two_contributions_passing_the_limit(engine) -> None:
    w = World(engine)
    h = w.householder("jinan", balance=100_000)
    w.bound(h, w.person(place="jinan", scheme="resident"), "子女")
    assert w.svc.set_limit(h, "1", 15_000, key="lim").ok
    results = race(2, lambda i: w.svc.contribute(h, "1", 10_000, key=f"c{i}"))
    assert sorted(d.ok for d in results) == [False, True]
    assert [d.code for d in results if not d.ok] == [Reason.LIMIT_EXCEEDED]
    assert w.svc.family(h).relatives[0].used_fen == 10_000
    assert audit(engine) == []


def test_two_ordered_bills_never_pass_the_limit(engine) -> None:
    w = World(engine)
    h = w.householder("jinan", balance=100_000)
    r = w.person(place="jinan", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    assert w.svc.set_limit(h, "1", 15_000, key="lim").ok
    results = race(2, lambda i: w.svc.settle(r, 10_000, "outpatient", key=f"s{i}"))
    assert sorted(d.facts["family_fen"] for d in results) == [5_000, 10_000]
    assert sum(d.facts["cash_fen"] for d in results) == 5_000
    assert w.svc.family(h).relatives[0].used_fen == 15_000
    assert audit(engine) == []


class Boom(RuntimeError):
    pass


def test_fault_between_legs_writes_nothing(engine) -> None:
    calls: list[str] = []

    def fault(stage: str) -> None:
        calls.append(stage)
        if len(calls) == 2:  # after the own leg and the first payer's leg
            raise Boom(stage)

    w = World(engine, fault=fault)
    a, b = w.householder("jinan", balance=3_000), w.householder("jinan", balance=10_000)
    r = w.person(place="jinan", scheme="resident", balance=1_000)
    w.bound(a, r, "子女")
    w.bound(b, r, "子女")
    before = (w.balance(r), w.balance(a), w.balance(b))
    with pytest.raises(Boom):
        w.svc.settle(r, 10_000, "outpatient", key="split")
    assert (w.balance(r), w.balance(a), w.balance(b)) == before
    assert _count(engine, LedgerEntry) == 0
    assert _count(engine, Transaction, Transaction.key == "split") == 0
    assert audit(engine) == []
    w.svc.fault = None  # the same key now goes through once, whole
    d = w.svc.settle(r, 10_000, "outpatient", key="split")
    assert (d.facts["own_fen"], d.facts["family_fen"], d.facts["cash_fen"]) == (1_000, 9_000, 0)
    assert audit(engine) == []


def test_same_key_twice_one_effect(engine) -> None:
    w = World(engine)
    h = w.householder("jinan", balance=100_000)
    r = w.person(place="jinan", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    first = w.svc.settle(r, 1_000, "outpatient", key="once")
    second = w.svc.settle(r, 1_000, "outpatient", key="once")
    assert first == second and first.ok
    assert w.balance(h) == 99_000
    refused = w.svc.unbind(h, "2", key="u")
    assert refused.code == Reason.NOT_BOUND
    other = w.person(place="jinan", scheme="resident", name="某人")
    assert w.svc.bind(h, w.id_number(other), "某人", "子女", key="x").ok  # now "2" exists
    again = w.svc.unbind(h, "2", key="u")
    assert again == refused and again.replayed  # refusals replay too: not re-evaluated
    assert len(w.svc.family(h).relatives) == 2


def test_same_key_eight_threads_one_effect(engine) -> None:
    w = World(engine)
    h = w.householder("jinan", balance=100_000)
    r = w.person(place="jinan", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    results: list[Decision] = race(8, lambda _i: w.svc.settle(r, 1_000, "outpatient", key="k8"))
    assert all(d == results[0] for d in results) and results[0].ok
    assert w.balance(h) == 99_000
    assert _count(engine, Transaction, Transaction.key == "k8") == 1
    assert _count(engine, LedgerEntry, LedgerEntry.person_id == h) == 1
    assert audit(engine) == []


def test_same_key_bind_eight_threads(engine) -> None:
    w = World(engine)
    h = w.householder("dongying")
    r = w.person(place="dongying", scheme="resident", name="孙七")
    results = race(8, lambda _i: w.svc.bind(h, w.id_number(r), "孙七", "子女", key="bind8"))
    assert all(d == results[0] for d in results) and results[0].ok
    assert len(w.svc.family(h).relatives) == 1


def test_concurrent_binds_respect_exclusivity(engine) -> None:
    """Two Dongying householders binding the same relative at once: exactly one wins."""
    w = World(engine)
    hs = [w.householder("dongying") for _ in range(2)]
    r = w.person(place="dongying", scheme="resident", name="周八")
    results = race(2, lambda i: w.svc.bind(hs[i], w.id_number(r), "周八", "子女", key=f"b{i}"))
    assert sorted(d.ok for d in results) == [False, True]
    assert [d.code for d in results if not d.ok] == [Reason.RELATIVE_ALREADY_BOUND]


def test_same_refused_swipe_eight_threads_opens_one_window(engine) -> None:
    w = World(engine)
    h = w.householder("dongying")
    r = w.person(place="dongying", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    results = race(8, lambda _i: w.svc.settle(r, 5_000, "pharmacy", key="short"))
    assert all(d == results[0] for d in results)
    assert results[0].code == Reason.INSUFFICIENT_BALANCE
    assert _count(engine, Transaction, Transaction.key == "short") == 1
    assert _count(engine, RetryWindow) == 1
    w.clock.advance(30)
    d = w.svc.settle(r, 5_000, "pharmacy", key="again")
    assert d.ok and (d.facts["own_fen"], d.facts["family_fen"]) == (0, 5_000)
    assert [leg["householder_id"] for leg in d.facts["legs"]] == [h]
    assert w.balance(h) == 95_000
    assert _count(engine, RetryWindow) == 0
