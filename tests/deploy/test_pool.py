"""Connection pooling on PostgreSQL: the pool is sized from settings, and connections the
server drops between calls (failover, idle timeout, pg_terminate_backend) are replaced
transparently (rules/db.py's checkout guard, without a round trip), with the idempotency
key keeping replays harmless."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from rules.clock import SystemClock
from rules.db import make_engine
from rules.migrate import upgrade
from rules.policy import Policies
from rules.schema import Base, Person
from rules.service import FamilyService
from tests.deploy.family import Family, bind_directly, seed_family

APP = "gongji_pool_test"


@pytest.fixture
def service(pg_url: str, tmp_path: Path) -> Iterator[tuple[FamilyService, Engine, Family]]:
    upgrade(pg_url, metadata=Base.metadata)
    engine = make_engine(f"{pg_url}&application_name={APP}", pool_size=3, max_overflow=0)
    family = seed_family(engine, tmp_path, relatives=2, householder_yuan=300)
    yield FamilyService(engine, Policies.load(), SystemClock(), retries=3), engine, family
    engine.dispose()


def _terminate_pool_connections(admin: Engine) -> int:
    with admin.begin() as conn:
        return len(conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = :app AND pid <> pg_backend_pid()"), {"app": APP}).all())


def _person_id(engine: Engine, id_number: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(Person.id).where(Person.id_number == id_number)) or 0)


def test_pool_is_sized_from_settings(service: tuple[FamilyService, Engine, Family]) -> None:
    _svc, engine, _family = service
    assert engine.pool.size() == 3  # type: ignore[attr-defined]
    assert engine.pool._max_overflow == 0  # type: ignore[attr-defined]


def test_dropped_connections_are_replaced(service: tuple[FamilyService, Engine, Family],
                                          pg_url: str) -> None:
    svc, engine, family = service
    head = _person_id(engine, family.householder.id_number)
    with ThreadPoolExecutor(3) as pool:  # fill the pool with three live connections
        assert all(d.ok for d in pool.map(lambda _: svc.balance(head), range(6)))
    admin = make_engine(pg_url)
    try:
        assert _terminate_pool_connections(admin) >= 1
        first = svc.settle(head, 10_000, "pharmacy", key="drop-test:1")
        assert first.ok, first
        assert _terminate_pool_connections(admin) >= 1
        again = svc.settle(head, 10_000, "pharmacy", key="drop-test:1")  # a replay after a drop
        assert again.to_json() == first.to_json()
        assert svc.balance(head).facts["balance_fen"] == 30_000 - 10_000
    finally:
        admin.dispose()


def test_one_key_applies_once_under_concurrency(service: tuple[FamilyService, Engine, Family],
                                                ) -> None:
    """The same idempotency key raced from three threads (as two replicas redelivering the
    same press would): one effect, one Decision."""
    svc, engine, family = service
    head = _person_id(engine, family.householder.id_number)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(
            lambda _: svc.settle(head, 5_000, "pharmacy", key="race:1").to_json(), range(3)))
    assert len(set(map(str, results))) == 1
    assert svc.balance(head).facts["balance_fen"] == 30_000 - 5_000


def test_connection_dropped_mid_transaction_is_retried_under_the_same_key(
        service: tuple[FamilyService, Engine, Family], pg_url: str) -> None:
    """The server kills the connection between two legs of a settlement: the whole
    operation is rolled back and retried with its key — one charge, no error."""
    _svc, engine, family = service
    admin = make_engine(pg_url)
    dropped: list[int] = []

    def drop_once(_where: str) -> None:
        if not dropped:
            dropped.append(_terminate_pool_connections(admin))

    bind_directly(engine, family)  # Jinan: ordered deduction, the householder pays the rest
    svc = FamilyService(engine, Policies.load(), SystemClock(), retries=3, fault=drop_once)
    head = _person_id(engine, family.householder.id_number)
    kid = _person_id(engine, family.relatives[0].id_number)
    own = svc.balance(kid).facts["balance_fen"]
    bill = own + 10_000  # the family leg pays ¥100
    try:
        first = svc.settle(kid, bill, "pharmacy", key="mid-drop:1")
        assert first.ok, first
        assert dropped and dropped[0] >= 1  # the connection really was killed mid-way
        assert svc.balance(head).facts["balance_fen"] == 30_000 - 10_000
        again = svc.settle(kid, bill, "pharmacy", key="mid-drop:1")
        assert again.to_json() == first.to_json()
        assert svc.balance(head).facts["balance_fen"] == 30_000 - 10_000
        assert svc.balance(kid).facts["balance_fen"] == 0
    finally:
        admin.dispose()
