"""Keyed reads of concurrent updates (the linked person, a pending step, a 确认's token) are read
together: one worker-thread hop and one statement for every key asked for at the same time
(``bot.context.batched_read``)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, event, text

from bot.context import BotData, batched_read
from rules.db import make_engine

_SQUARES = text("SELECT n, n * n AS sq FROM (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL"
                " SELECT 3 UNION ALL SELECT 4) t WHERE n IN :keys") \
    .bindparams(bindparam("keys", expanding=True))


def _context(db_url: str, *, inline: bool = False) -> tuple[Any, list[str]]:
    engine = make_engine(db_url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_: statements.append(sql) if "sq" in sql else None)
    data = BotData()
    data.services = SimpleNamespace(engine=engine, batchers={})  # type: ignore[assignment]
    data.inline_work = inline
    return SimpleNamespace(bot_data=data), statements


def _squares(conn: Connection, keys: list[int]) -> dict[int, int]:
    assert len(keys) == len(set(keys))  # each key asked for once, however many waiters
    return {n: sq for n, sq in conn.execute(_SQUARES, {"keys": keys})}


def _broken(_conn: Connection, keys: list[int]) -> dict[int, int]:
    raise LookupError(f"cannot read {keys}")


def test_concurrent_keys_share_one_statement(db_url: str) -> None:
    context, statements = _context(db_url)

    async def run() -> list[Any]:
        return await asyncio.gather(*(batched_read(context, _squares, k) for k in (3, 1, 9, 3)))

    assert asyncio.run(run()) == [9, 1, None, 9]  # 9 has no row
    assert len(statements) == 1
    context.bot_data.services.engine.dispose()


def test_a_lone_key_and_the_console_read_directly(db_url: str) -> None:
    for inline in (False, True):
        context, statements = _context(db_url, inline=inline)

        async def run(ctx: Any = context) -> list[Any]:
            return [await batched_read(ctx, _squares, 2), await batched_read(ctx, _squares, 4)]

        assert asyncio.run(run()) == [4, 16]
        assert len(statements) == 2  # one key at a time: nothing to share
        assert any(k.startswith("read:") for k in context.bot_data.services.batchers) \
            is not inline
        with pytest.raises(LookupError):
            asyncio.run(batched_read(context, _broken, 1))
        context.bot_data.services.engine.dispose()
