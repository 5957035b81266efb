"""Load on real webhook replicas: updates/s and p50/p99 latency, two replicas vs one.

    .venv/bin/python bench/bench_load.py [--db URL] [--rate 200] [--seconds 8]
                                         [--workers 16] [--settle-seconds 8] [--as-shipped]

All on 127.0.0.1: a fresh PostgreSQL schema (``--db``, default ``$TEST_DATABASE_URL``), the fake
Bot API in its own process and two webhook replicas. A latency runs from POSTing an update to
its response, which comes after the update was fully processed (replies sent, database
committed). Phases, each bounded in count and time: FAQ open loop at ``--rate``/s on two
replicas, then one; settlements closed loop (``--workers`` users; ``/settle 1`` then the 确认
press on the other replica) on two, then one; settlements open loop at ``--rate`` updates/s.
Replicas are ``python -m bot run`` minus PTB's AIORateLimiter (30 messages/s per replica would
otherwise be the only thing measured); ``--as-shipped`` keeps it. CPU per update is read from
/proc for each party, so the figures say where the time goes on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import machine  # noqa: E402  (bench/machine.py; the script folder is on sys.path)

from bot.botapi import BASE_URL_ENV, DEFAULT_BASE_URL
from bot.http import AiohttpRequest
from bot.webhook import SECRET_HEADER
from rules.db import make_engine
from rules.migrate import upgrade
from rules.schema import Base
from tests.deploy.conftest import free_port
from tests.deploy.family import bind_directly, seed_families
from tests.deploy.harness import (
    SECRET,
    TOKEN,
    LoopbackHttp,
    Replica,
    cpu_by_pid,
    cpu_used,
    machine_busy_seconds,
    start_replicas,
)
from tests.fakes.updates import UpdateFactory

QUESTIONS = ["家庭共济可以绑定哪些亲属？", "个人账户的钱能给父母用吗", "怎么解除绑定",
             "共济额度有上限吗", "断缴了还能用家庭共济吗", "跨省的亲属可以绑定吗"]
MAX_IN_FLIGHT = 256
APP = "gongji_bench"  # the replicas' PostgreSQL backends are found by this name
UPDATES = UpdateFactory(1_000_000)  # one id sequence for the whole run: ids are never reused


class Load:
    """Posts updates (one keep-alive client per replica) and records latencies and failures."""

    def __init__(self, replicas: list[Replica], fake_port: int) -> None:
        self.clients = {r.port: LoopbackHttp(r.port, MAX_IN_FLIGHT) for r in replicas}
        self.fake = LoopbackHttp(fake_port, 16)
        self.latencies: list[float] = []
        self.failures = 0
        self.updates = UPDATES

    async def post(self, replica: Replica, update: dict[str, object]) -> bool:
        body = json.dumps(update, ensure_ascii=False).encode("utf-8")
        headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            status, reply = await self.clients[replica.port].request(
                "POST", "/telegram", body, headers)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            status, reply = 0, b""
        self.latencies.append((time.perf_counter() - started) * 1000)
        self.failures += status != 200
        if status == 200 and reply.startswith(b"{"):  # a Bot API call for Telegram to make
            await self.run_as_telegram(json.loads(reply))
        return status == 200

    async def run_as_telegram(self, call: dict[str, Any]) -> None:
        """What Telegram does with a webhook response's call (here: the fake Bot API's work
        is counted as it would be, outside the replica)."""
        method = call.pop("method")
        await self.fake.request("POST", f"/bot{TOKEN}/{method}", json.dumps(call).encode(),
                                {"Content-Type": "application/json"})

    async def settle_once(self, shown: Replica, press_on: Replica, user_id: int) -> bool:
        if not await self.post(shown, self.updates.text(user_id, "/settle 1 购药")):
            return False
        _, data = await self.fake.request(
            "GET", f"/_fake/last_button?chat_id={user_id}&prefix=cf:")
        found = json.loads(data)["result"]
        if not found:
            self.failures += 1
            return False
        return await self.post(press_on, self.updates.press(user_id, found[0], found[1]))

    async def close(self) -> None:
        for client in [*self.clients.values(), self.fake]:
            await client.close()


async def open_loop(jobs: list[Any], rate: float) -> float:
    """Start job ``i`` at ``i / rate`` seconds whatever the earlier ones are doing (at most
    MAX_IN_FLIGHT at once); the elapsed time once every job has finished (bounded)."""
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    started = time.perf_counter()

    async def gated(job: Any) -> None:
        async with gate:
            await job()

    tasks = []
    for i, job in enumerate(jobs):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(gated(job)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=len(jobs) / rate + 120)
    return time.perf_counter() - started


async def open_loop_faq(load: Load, replicas: list[Replica], users: list[int], rate: float,
                        seconds: float) -> tuple[float, int]:
    """``rate`` questions/s spread over the replicas."""
    def job(i: int) -> Any:
        update = load.updates.text(users[i % len(users)], QUESTIONS[i % len(QUESTIONS)])
        return lambda: load.post(replicas[i % len(replicas)], update)

    total = int(rate * seconds)
    return await open_loop([job(i) for i in range(total)], rate), total


async def closed_loop_settle(load: Load, replicas: list[Replica], groups: list[list[int]],
                             seconds: float) -> tuple[float, int]:
    """Each worker owns whole families (no cross-worker lock contention on a householder)."""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def worker(w: int, users: list[int]) -> None:
        nonlocal done
        for n, user in enumerate(itertools.cycle(users)):
            if time.perf_counter() >= deadline or n >= 100_000:
                return
            shown = replicas[(w + n) % len(replicas)]
            press_on = replicas[(w + n + 1) % len(replicas)]
            ok = await load.settle_once(shown, press_on, user)
            done += ok  # not `done += await …`: that reads `done` before awaiting

    await asyncio.gather(*(worker(w, users) for w, users in enumerate(groups)))
    return time.perf_counter() - started, done


async def open_loop_settle(load: Load, replicas: list[Replica], users: list[int], rate: float,
                           seconds: float) -> tuple[float, int]:
    """``rate`` updates/s = rate/2 settlements/s; a user has at most one settlement at once."""
    locks = {u: asyncio.Lock() for u in users}

    def job(i: int) -> Any:
        async def settle() -> None:
            user = users[i % len(users)]
            async with locks[user]:
                await load.settle_once(replicas[i % 2], replicas[(i + 1) % len(replicas)], user)
        return settle

    total = int(rate / 2 * seconds)
    return await open_loop([job(i) for i in range(total)], rate / 2), total * 2


def backend_pids(admin: Engine) -> list[int]:
    """The PostgreSQL backend processes serving the replicas."""
    with admin.connect() as conn:
        return list(conn.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"), {"a": APP}))


def phase(name: str, env: dict[str, Any], coro_factory: Any, unit: str = "updates",
          ) -> dict[str, float]:
    """Run one load phase; print throughput, latency and the CPU each party used per update."""
    groups = {"replicas": lambda: [r.process.pid for r in env["replicas"] if r.process],
              "PostgreSQL": env["pg_pids"],
              "fake Bot API": lambda: [env["fake_pid"]], "load generator": lambda: [os.getpid()]}
    before = {k: cpu_by_pid(pids()) for k, pids in groups.items()}
    busy_before = machine_busy_seconds()

    async def run() -> tuple[Load, float, int]:
        load = Load(env["replicas"], env["fake_port"])
        try:
            return (load, *await coro_factory(load))
        finally:
            await load.close()

    load, elapsed, done = asyncio.run(run())
    lat = sorted(load.latencies) or [0.0]
    out = {"rate": done / elapsed, "p50": statistics.median(lat),
           "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))]}
    n = max(len(load.latencies), 1)
    used = {k: cpu_used(before[k], cpu_by_pid(pids())) * 1000 / n for k, pids in groups.items()}
    busy = machine_busy_seconds() - busy_before
    out["system_cpu_ms"] = sum(used.values())  # the parties of the system, not the rest
    # the two clocks differ a little: a rest below zero is measurement noise, shown as none
    used["everything else"] = max(busy * 1000 / n - out["system_cpu_ms"], 0.0)
    out["replica_cpu_ms"], out["pg_cpu_ms"] = used["replicas"], used["PostgreSQL"]
    out["busy"] = busy / (elapsed * (os.cpu_count() or 1))
    print(f"{name:<38} {out['rate']:8.1f} {unit}/s   p50 {out['p50']:6.1f} ms   p99 "
          f"{out['p99']:7.1f} ms   n={done} failures={load.failures}\n{'':<40}CPU ms/update: "
          + ", ".join(f"{k} {v:.1f}" for k, v in used.items())
          + f"; machine {100 * out['busy']:.0f} % busy", flush=True)
    return out


class _Rebased(AiohttpRequest):
    """Sends Bot API calls to ``TELEGRAM_API_BASE_URL`` (build_application applies the base
    URL only when it builds its own request; passing a request also leaves out
    AIORateLimiter, which is the point of ``--serve-replica``). The same HTTP client as
    ``python -m bot run`` (bot/http.py)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(connections=64)
        self._base_url = base_url

    async def do_request(self, url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        return await super().do_request(url.replace(DEFAULT_BASE_URL, self._base_url, 1),
                                        *args, **kwargs)


def serve_replica(config: str) -> int:
    """A webhook replica exactly like ``python -m bot run`` minus PTB's rate limiter."""
    from bot.app import build_application
    from bot.logs import setup_logging
    from bot.runtime import run_loop, serve_webhook
    from bot.settings import load_settings

    settings = load_settings(config)
    hook = settings.telegram.webhook
    setup_logging(settings.logging.level, os.environ.get("TELEGRAM_BOT_TOKEN"))
    application = build_application(settings, request=_Rebased(os.environ[BASE_URL_ENV]))
    run_loop(serve_webhook(application, hook, os.environ[hook.secret_token_env]))
    return 0


def report(faq2: dict[str, float], s2: dict[str, float], s1: dict[str, float]) -> None:
    cores = os.cpu_count() or 1
    print(f"\nsettlement throughput, two replicas / one: {s2['rate'] / max(s1['rate'], 1e-9):.2f}x"
          f" (measured here: {cores} cores shared by everything)")
    # What 1.5x one replica would take here, at the two-replica phase's CPU per settlement
    # (2 updates) of the replicas, PostgreSQL, the fake Bot API and this generator.
    wanted = 1.5 * s1["rate"]
    print(f"1.5x one replica = {wanted:.0f} settlements/s needs ~"
          f"{wanted * 2 * s2['system_cpu_ms'] / 1000:.2f} cores at {2 * s2['system_cpu_ms']:.1f}"
          f" ms CPU per settlement (replicas, PostgreSQL, fake Bot API, generator); this machine"
          f" has {cores}, {100 * s2['busy']:.0f} % busy in the two-replica phase")
    for label, res, per in (("FAQ", faq2, 1), ("settlements", s2, 2)):
        one_core = 1000 / max(res["replica_cpu_ms"] * per, 1e-9)
        pg_cap = 1000 * cores / max(res["pg_cpu_ms"] * per, 1e-9)
        print(f"estimate with a core per replica, {label}: ~{one_core:.0f}/s per replica, "
              f"~{min(2 * one_core, pg_cap):.0f}/s for two (PostgreSQL on {cores} cores of its "
              f"own: ~{pg_cap:.0f}/s)")


def run(args: argparse.Namespace, admin: Engine, url: str, tmp: Path,
        fake: subprocess.Popen[str]) -> None:
    fake_base = (fake.stdout.readline() if fake.stdout else "").strip()
    upgrade(url, metadata=Base.metadata)
    engine = make_engine(url)
    families = seed_families(engine, tmp, families=2 * args.workers, relatives=4,
                             householder_yuan=1_000_000)
    for fam in families:
        bind_directly(engine, fam)
    engine.dispose()
    command = ("-m", "bot", "run") if args.as_shipped else (str(Path(__file__).resolve()),
                                                            "--serve-replica")
    replicas = start_replicas(tmp, f"{url}&application_name={APP}", fake_base,
                              [free_port(), free_port()], command=command, pool_size=20)
    try:
        users = [m.user_id for fam in families for m in fam.relatives]
        groups = [[m.user_id for fam in families[w::args.workers] for m in fam.relatives]
                  for w in range(args.workers)]
        print(f"{len(users)} linked relatives in {len(families)} families; {os.cpu_count()} "
              "cores shared by PostgreSQL, the replicas, the fake Bot API and this generator\n")
        env = {"replicas": replicas, "fake_pid": fake.pid, "pg_pids": lambda: backend_pids(admin),
               "fake_port": int(fake_base.split(":")[2].split("/")[0])}
        both, one, rate, secs = replicas, replicas[:1], args.rate, args.seconds
        phase("warm-up", env, lambda ld: open_loop_faq(ld, both, users, 50, 2))
        faq2 = phase(f"FAQ @ {rate:.0f}/s, two replicas", env,
                     lambda ld: open_loop_faq(ld, both, users, rate, secs))
        phase(f"FAQ @ {rate:.0f}/s, one replica", env,
              lambda ld: open_loop_faq(ld, one, users, rate, secs))
        s2 = phase("settlements max, two replicas", env, lambda ld: closed_loop_settle(
            ld, both, groups, args.settle_seconds), "settlements")
        s1 = phase("settlements max, one replica", env, lambda ld: closed_loop_settle(
            ld, one, groups, args.settle_seconds), "settlements")
        phase(f"settlements @ {rate:.0f} updates/s, two", env,
              lambda ld: open_loop_settle(ld, both, users, rate, secs))
        report(faq2, s2, s1)
        done = subprocess.run([sys.executable, "-m", "bot", "audit", "--db", url], cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=False)
        print(f"audit after the run: exit {done.returncode} {done.stdout.strip()[:200]}")
    finally:
        for r in replicas:
            r.stop()


def main() -> int:
    if sys.argv[1:2] == ["--serve-replica"]:
        return serve_replica(sys.argv[3])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", default=os.environ.get("TEST_DATABASE_URL", ""))
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--settle-seconds", type=float, default=8)
    p.add_argument("--as-shipped", action="store_true",
                   help="`python -m bot run` replicas, AIORateLimiter included (30 msg/s each)")
    args = p.parse_args()
    print(machine.line(), flush=True)
    if not args.db.startswith("postgresql"):
        print("needs PostgreSQL: --db postgresql+psycopg://… or TEST_DATABASE_URL", file=sys.stderr)
        return 2
    schema = "bench_" + uuid.uuid4().hex[:8]
    admin = make_engine(args.db)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    fake = subprocess.Popen([sys.executable, "-u", "-m", "tests.fakes.fake_bot_api"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        run(args, admin, f"{args.db}{'&' if '?' in args.db else '?'}options=-csearch_path%3D"
            f"{schema}", Path(tempfile.mkdtemp(prefix="gongji-bench-")), fake)
    finally:
        fake.terminate()
        fake.wait(10)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
