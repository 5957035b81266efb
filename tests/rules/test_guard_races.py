"""Races that really overlap, on PostgreSQL: two settlements both load their snapshot before
either writes (a barrier right after ``load_snapshot``). With the row locks switched off only
the SQL guards in rules/ledger.py stand between them and an overdraft or a passed limit; with
the locks on, the second settlement waits for the first and never even meets a guard.

SQLite serialises writers with BEGIN IMMEDIATE, so these races cannot happen there."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

import rules.settlement as settlement
from rules.audit import audit
from tests.rules.concurrency import race
from tests.rules.factories import World


@pytest.fixture
def pg(engine: Engine) -> Engine:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers: no two settlements overlap")
    return engine


@pytest.fixture
def rendezvous(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The first two snapshot loads wait for each other (at most 2 s: a load that cannot
    happen before the other settlement commits, because of a row lock, goes on alone)."""
    barrier = threading.Barrier(2, timeout=2)
    loads: list[int] = []
    real = settlement.load_snapshot

    def load(s: Any, patient_id: int) -> Any:
        snap = real(s, patient_id)
        loads.append(patient_id)
        if len(loads) <= 2:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
        return snap

    monkeypatch.setattr(settlement, "load_snapshot", load)
    yield loads


def _no_locks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settlement, "lock_for_settlement", lambda s, patient_id: None)


def test_without_row_locks_the_balance_guard_alone_prevents_an_overdraft(
        pg: Engine, rendezvous: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    _no_locks(monkeypatch)
    w = World(pg)
    h = w.householder("jinan", balance=10_000)
    patients = [w.person(place="jinan", scheme="resident", balance=0) for _ in range(2)]
    for p in patients:
        w.bound(h, p, "子女")
    results = race(2, lambda i: w.svc.settle(patients[i], 10_000, "outpatient", key=f"s{i}"))
    assert sorted(d.facts["family_fen"] for d in results) == [0, 10_000]
    assert sorted(d.facts["cash_fen"] for d in results) == [0, 10_000]
    assert w.balance(h) == 0
    assert len(rendezvous) == 3  # both planned on the old balance; one re-planned
    assert audit(pg) == []


def test_without_row_locks_the_limit_guard_alone_keeps_the_limit(
        pg: Engine, rendezvous: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    _no_locks(monkeypatch)
    w = World(pg)
    h = w.householder("jinan", balance=100_000)
    r = w.person(place="jinan", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    assert w.svc.set_limit(h, "1", 15_000, key="lim").ok
    results = race(2, lambda i: w.svc.settle(r, 10_000, "outpatient", key=f"s{i}"))
    assert sorted(d.facts["family_fen"] for d in results) == [5_000, 10_000]
    assert w.svc.family(h).relatives[0].used_fen == 15_000
    assert w.balance(h) == 85_000
    assert len(rendezvous) == 3
    assert audit(pg) == []


def test_with_row_locks_the_second_settlement_waits_and_needs_no_retry(
        pg: Engine, rendezvous: list[int]) -> None:
    """No retries allowed: a settlement that planned on a stale balance would raise Conflict.
    The locks make the second one load only after the first committed."""
    w = World(pg, retries=0)
    h = w.householder("jinan", balance=10_000)
    patients = [w.person(place="jinan", scheme="resident", balance=0) for _ in range(2)]
    for p in patients:
        w.bound(h, p, "子女")
    results = race(2, lambda i: w.svc.settle(patients[i], 10_000, "outpatient", key=f"s{i}"))
    assert sorted(d.facts["family_fen"] for d in results) == [0, 10_000]
    assert w.balance(h) == 0
    assert len(rendezvous) == 2
    assert audit(pg) == []


def test_with_row_locks_two_bills_of_one_patient_keep_the_limit_without_retry(
        pg: Engine, rendezvous: list[int]) -> None:
    w = World(pg, retries=0)
    h = w.householder("jinan", balance=100_000)
    r = w.person(place="jinan", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    assert w.svc.set_limit(h, "1", 15_000, key="lim").ok
    results = race(2, lambda i: w.svc.settle(r, 10_000, "outpatient", key=f"s{i}"))
    assert sorted(d.facts["family_fen"] for d in results) == [5_000, 10_000]
    assert w.svc.family(h).relatives[0].used_fen == 15_000
    assert audit(pg) == []
