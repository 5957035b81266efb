"""CPU per Bot API call: PTB's HTTPXRequest against our AiohttpRequest (bot/http.py).

    .venv/bin/python bench/bench_http.py [--calls 2000] [--concurrency 16] [--rounds 3]

Both send the same ``sendMessage`` through ``BaseRequest.post`` (PTB's own JSON handling
included) to the fake Bot API in its own process; prints the median CPU milliseconds of this
process per call, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telegram.request import BaseRequest, HTTPXRequest, RequestData  # noqa: E402
from telegram.request._requestparameter import RequestParameter  # noqa: E402

from bot.http import AiohttpRequest  # noqa: E402

TOKEN = "123456:TEST-token-for-the-fake-bot-api-only"


async def cpu_per_call(request: BaseRequest, url: str, calls: int, concurrency: int) -> float:
    data = RequestData([RequestParameter.from_input("chat_id", 42),
                        RequestParameter.from_input("text", "您好")])
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await request.post(url, data)

    for _ in range(50):  # warm up one by one: the fake's listen backlog is short
        await request.post(url, data)
    start = time.process_time()
    await asyncio.gather(*(one() for _ in range(calls)))
    return 1000 * (time.process_time() - start) / calls


async def main_async(args: argparse.Namespace) -> int:
    fake = subprocess.Popen([sys.executable, "-u", "-m", "tests.fakes.fake_bot_api"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        base = (fake.stdout.readline() if fake.stdout else "").strip()
        url = f"{base}{TOKEN}/sendMessage"
        results: dict[str, list[float]] = {"httpx (PTB default)": [], "aiohttp (bot/http.py)": []}
        for _ in range(args.rounds):
            for name, request in (("httpx (PTB default)", HTTPXRequest(connection_pool_size=64)),
                                  ("aiohttp (bot/http.py)", AiohttpRequest(connections=64))):
                async with request:
                    results[name].append(await cpu_per_call(request, url, args.calls,
                                                            args.concurrency))
        medians = {name: statistics.median(v) for name, v in results.items()}
        for name, ms in medians.items():
            print(f"{name:24s} {ms:6.3f} ms CPU per call (median of {args.rounds})")
        httpx_ms, aiohttp_ms = medians.values()
        print(f"ratio httpx / aiohttp: {httpx_ms / aiohttp_ms:.1f}x")
    finally:
        fake.terminate()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
