"""The group-commit Batcher: concurrent callers share one hop, each gets its own result."""

from __future__ import annotations

import asyncio

from bot.context import Batcher


def test_concurrent_items_share_batches_and_get_their_own_results() -> None:
    batches: list[list[int]] = []

    def work(items: list[int]) -> list[int]:
        batches.append(list(items))
        return [i * 10 for i in items]

    async def main() -> list[int]:
        b: Batcher[int, int] = Batcher(work)
        return await asyncio.gather(*(b.run(i) for i in range(20)))

    assert asyncio.run(main()) == [i * 10 for i in range(20)]
    assert sorted(i for batch in batches for i in batch) == list(range(20))  # each item once
    assert len(batches) < 20  # coalesced


def test_a_lone_item_is_processed_and_max_batch_is_respected() -> None:
    sizes: list[int] = []

    def work(items: list[str]) -> list[str]:
        sizes.append(len(items))
        return [s.upper() for s in items]

    async def main() -> tuple[str, list[str]]:
        b: Batcher[str, str] = Batcher(work, max_batch=3)
        alone = await b.run("a")
        many = await asyncio.gather(*(b.run(c) for c in "bcdefgh"))
        return alone, list(many)

    alone, many = asyncio.run(main())
    assert alone == "A" and many == list("BCDEFGH")
    assert max(sizes) <= 3


def test_a_failing_batch_hands_the_error_to_each_waiter_and_the_next_batch_works() -> None:
    calls = {"n": 0}

    def work(items: list[int]) -> list[int]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away")
        return items

    async def main() -> int:
        b: Batcher[int, int] = Batcher(work)
        results = await asyncio.gather(b.run(1), b.run(2), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        return await b.run(3)

    assert asyncio.run(main()) == 3
