"""Fixtures for the deployment tests: the fake Bot API, free loopback ports, a fresh
PostgreSQL schema (skipped with a reason when TEST_DATABASE_URL is not set)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from rules.db import make_engine
from tests.fakes.fake_bot_api import FakeBotApi

PG_URL = os.environ.get("TEST_DATABASE_URL", "")


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake_api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as api:
        yield api


def _schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose search_path is a fresh, empty PostgreSQL schema, dropped afterwards."""
    if not PG_URL:
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL (CI sets it)")
    admin = make_engine(PG_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at TEST_DATABASE_URL is unreachable under CI=true: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {type(exc).__name__}")
    schema = "d_" + uuid.uuid4().hex[:12]
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
