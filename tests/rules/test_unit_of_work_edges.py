"""UnitOfWork on its own, with trivial bodies: what a unit writes on its Transaction row, how
often and how long it retries, and what a failed attempt replays (bench/mutation.py found
these unpinned)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

import rules.unit_of_work as uow_module
from rules.decision import Decision
from rules.schema import Transaction
from rules.unit_of_work import Conflict, KeyClash, TxnContext, UnitOfWork

NOW = datetime(2026, 11, 1, 2, 0)


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    """The backoff's random ranges, recorded; nothing really sleeps."""
    ranges: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        ranges.append((low, high))
        return low

    monkeypatch.setattr(uow_module.random, "uniform", uniform)
    monkeypatch.setattr(uow_module.time, "sleep", lambda _seconds: None)
    return ranges


def _row(engine: Engine, key: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(Transaction.kind, Transaction.purpose, Transaction.person_id)
                            .where(Transaction.key == key)).one()


def test_a_unit_records_its_key_kind_purpose_and_person(engine: Engine) -> None:
    from tests.rules.factories import add_person
    pid = add_person(engine)
    seen: list[TxnContext] = []

    def body(_s: Session, ctx: TxnContext) -> Decision:
        seen.append(ctx)
        return Decision.allow(n=1)

    d = UnitOfWork(engine).run("k1", "settle", pid, NOW, body, purpose="pharmacy")
    assert d == Decision.allow(n=1) and not d.replayed
    (ctx,) = seen
    assert (ctx.key, ctx.now, ctx.person_id) == ("k1", NOW, pid)
    assert tuple(_row(engine, "k1")) == ("settle", "pharmacy", pid)


def test_conflicts_are_retried_five_times_with_a_doubling_backoff(
        engine: Engine, no_sleep: list[tuple[float, float]]) -> None:
    calls: list[int] = []

    def body(_s: Session, _ctx: TxnContext) -> Decision:
        calls.append(1)
        raise Conflict("always")

    with pytest.raises(Conflict):
        UnitOfWork(engine).run("k", "settle", None, NOW, body)
    assert len(calls) == 6
    assert no_sleep == [(0.001, 0.005), (0.001, 0.01), (0.001, 0.02), (0.001, 0.04),
                        (0.001, 0.08)]


def test_a_conflict_on_the_last_retry_still_succeeds(engine: Engine,
                                                     no_sleep: list[tuple[float, float]]) -> None:
    calls: list[int] = []

    def body(_s: Session, _ctx: TxnContext) -> Decision:
        calls.append(1)
        if len(calls) <= 5:
            raise Conflict("not yet")
        return Decision.allow()

    assert UnitOfWork(engine).run("k", "settle", None, NOW, body).ok
    assert len(calls) == 6


def _locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))


def test_a_retryable_database_error_is_retried_up_to_the_limit(
        engine: Engine, no_sleep: list[tuple[float, float]]) -> None:
    calls: list[int] = []

    def body(_s: Session, _ctx: TxnContext) -> Decision:
        calls.append(1)
        raise _locked()

    with pytest.raises(OperationalError):
        UnitOfWork(engine, retries=2).run("k", "settle", None, NOW, body)
    assert len(calls) == 3 and len(no_sleep) == 2


def test_a_database_error_after_the_key_committed_elsewhere_replays_it(
        engine: Engine, monkeypatch: pytest.MonkeyPatch,
        no_sleep: list[tuple[float, float]]) -> None:
    """The connection failed, but the same key's first run had committed: its Decision is
    replayed, not run again; a key of another kind is a clash, not a replay."""
    uow = UnitOfWork(engine)
    first = uow.run("k", "settle", None, NOW, lambda s, ctx: Decision.allow(paid=5))
    attempts: list[int] = []

    def failing(*_args: Any) -> Decision:
        attempts.append(1)
        raise _locked()

    monkeypatch.setattr(uow, "_attempt", failing)
    again = uow.run("k", "settle", None, NOW, lambda s, ctx: Decision.allow(paid=6))
    assert again == first and again.facts == {"paid": 5} and again.replayed is True
    assert attempts == [1]
    with pytest.raises(KeyClash):
        uow.run("k", "contribute", None, NOW, lambda s, ctx: Decision.allow())


def test_a_duplicate_key_replays_only_for_the_same_kind(engine: Engine) -> None:
    uow = UnitOfWork(engine)
    first = uow.run("k", "settle", None, NOW, lambda s, ctx: Decision.allow(paid=5))
    again = uow.run("k", "settle", None, NOW, lambda s, ctx: Decision.allow(paid=6))
    assert again == first and again.replayed is True
    with pytest.raises(KeyClash):
        uow.run("k", "contribute", None, NOW, lambda s, ctx: Decision.allow())


def test_an_integrity_error_without_a_stored_decision_is_raised_after_the_retries(
        engine: Engine, no_sleep: list[tuple[float, float]]) -> None:
    """Not the key's own clash (nothing is stored under it): another constraint, every time."""
    calls: list[int] = []

    def body(s: Session, _ctx: TxnContext) -> Decision:
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: people.x"))

    with pytest.raises(IntegrityError):
        UnitOfWork(engine, retries=2).run("k", "settle", None, NOW, body)
    assert len(calls) == 3 and len(no_sleep) == 2
