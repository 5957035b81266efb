"""Short reads of concurrent updates (the linked person, a pending step, a 确认's token) share
one worker-thread hop and one pooled connection (``bot.context.shared_read``)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Connection, event, text

from bot.context import BotData, shared_read
from rules.db import make_engine


def _context(db_url: str, *, inline: bool = False) -> tuple[Any, list[int]]:
    engine = make_engine(db_url)
    checkouts: list[int] = []
    event.listen(engine, "checkout", lambda *_: checkouts.append(1))
    data = BotData()
    data.services = SimpleNamespace(engine=engine, batchers={})  # type: ignore[assignment]
    data.inline_work = inline
    return SimpleNamespace(bot_data=data), checkouts


def _square(conn: Connection, n: int) -> int:
    return int(conn.execute(text("SELECT :n * :n"), {"n": n}).scalar_one())


def _missing(_conn: Connection, n: int) -> int:
    raise LookupError(f"no row {n}")


def test_concurrent_reads_share_one_connection_and_keep_their_own_errors(db_url: str) -> None:
    context, checkouts = _context(db_url)

    async def run() -> list[Any]:
        reads = [shared_read(context, _square, n) for n in range(10)]
        reads.insert(4, shared_read(context, _missing, 99))
        return await asyncio.gather(*reads, return_exceptions=True)

    results = asyncio.run(run())
    assert results[:4] + results[5:] == [n * n for n in range(10)]
    assert isinstance(results[4], LookupError) and "99" in str(results[4])
    assert len(checkouts) == 1
    context.bot_data.services.engine.dispose()


def test_a_lone_read_and_the_console_read_directly(db_url: str) -> None:
    for inline in (False, True):
        context, checkouts = _context(db_url, inline=inline)

        async def run(ctx: Any = context) -> int:
            first = await shared_read(ctx, _square, 3)
            return first + await shared_read(ctx, _square, 4)

        assert asyncio.run(run()) == 25
        assert len(checkouts) == 2  # one read at a time: nothing to share
        with pytest.raises(LookupError):
            asyncio.run(shared_read(context, _missing, 1))
        assert ("reads" in context.bot_data.services.batchers) is not inline
        context.bot_data.services.engine.dispose()
