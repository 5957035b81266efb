"""Updates per second end to end: ``Application.process_update`` with the real handlers, the
duplicate filter and the database, talking to the in-process Bot API (no network).

    .venv/bin/python bench/bench_updates.py [--db URL] [--users 200] [--updates 2000]
                                            [--rounds 5] [--concurrency 32]

Two workloads, each run ``--rounds`` times; prints the median updates/s:
- FAQ: linked users ask knowledge-base questions (targets ≥ 800/s);
- account: the same users alternate /balance (read) and /limit 1 金额 (write, idempotency key
  per update) — target ≥ 800/s (issue 12).
Setup (not timed): synthetic Jinan householders and relatives through the real importer, each
householder's account opened and one relative bound through FamilyService, and one Telegram
user linked to each householder.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import machine  # noqa: E402  (bench/machine.py; the script folder is on sys.path)
from telegram import Update

from bot.app import build_application, running
from bot.loopback import LoopbackRequest
from bot.settings import Settings
from bot.state import Link
from rules.clock import ManualClock
from rules.db import create_schema
from rules.identity import make_id
from rules.importer import COLUMNS, import_people

USER0 = 10_000_000


def people_csv(path: Path, users: int) -> list[tuple[str, str]]:
    """Householder/relative ID-number pairs written as an import file."""
    pairs = []
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for i in range(users):
            # distinct birth dates and sequence numbers, valid check digits
            day = f"{1 + i // 1000 % 12:02d}{1 + i % 28:02d}"
            holder = make_id(f"3701021980{day}{i % 1000:03d}")
            relative = make_id(f"3701022005{day}{i % 1000:03d}")
            pairs.append((holder, relative))
            row = {"id_number": holder, "name": f"户主{i}", "phone": f"139{i:08d}",
                   "province": "山东省", "city": "济南市", "scheme": "employee",
                   "employment": "employed", "status": "active", "lapsed_since": "",
                   "balance": "100000.00", "monthly_credit": "300.00"}
            out.writerow([row[c] for c in COLUMNS])
            row.update(id_number=relative, name=f"亲属{i}", phone=f"138{i:08d}", scheme="resident",
                       employment="", balance="0.00", monthly_credit="0.00")
            out.writerow([row[c] for c in COLUMNS])
    return pairs


def setup(svc: Any, path: Path, users: int) -> None:
    """People, open accounts, one binding each, and linked Telegram users."""
    pairs = people_csv(path, users)
    import_people(svc.engine, path, svc.policies)
    fam = svc.family
    with svc.sessions.begin() as s:
        for i, (holder, _relative) in enumerate(pairs):
            hid = fam.find_person(holder).facts["person"].id
            s.add(Link(user_id=USER0 + i, person_id=hid, linked_at=svc.clock.now()))
    for i, (holder, relative) in enumerate(pairs):
        hid = fam.find_person(holder).facts["person"].id
        assert fam.open_account(hid, letter_version="b", letter_sha256="0" * 64, key=f"b:o{i}").ok
        d = fam.bind(hid, relative, f"亲属{i}", "子女", key=f"b:b{i}")
        assert d.ok, d


class Feeder:
    """Builds message updates with fresh update_ids."""

    def __init__(self, bot: Any, users: int) -> None:
        self.bot, self.users = bot, users
        self.ids = itertools.count(1)

    def message(self, text: str) -> Update:
        uid = USER0 + random.randrange(self.users)
        n = next(self.ids)
        entities = ([{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
                    if text.startswith("/") else [])
        data = {"update_id": n, "message": {
            "message_id": n, "date": int(time.time()), "text": text, "entities": entities,
            "chat": {"id": uid, "type": "private"},
            "from": {"id": uid, "is_bot": False, "first_name": "b"}}}
        return Update.de_json(data, self.bot)


async def rate(app: Any, updates: list[Update], concurrency: int) -> tuple[float, float]:
    """Process ``updates`` with at most ``concurrency`` in flight.

    Returns (updates per wall-clock second, updates per CPU second of this process); the
    second is steadier on a busy machine.
    """
    gate = asyncio.Semaphore(concurrency)

    async def one(update: Update) -> None:
        async with gate:
            await app.process_update(update)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(u) for u in updates))
    n = len(updates)
    return n / (time.perf_counter() - start), n / max(time.process_time() - cpu, 1e-9)


async def main_async(args: argparse.Namespace) -> int:
    db = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='gongji-bench-')}/bench.db"
    settings = Settings().with_db(db)
    loopback = LoopbackRequest()
    loopback.keep_calls = False
    app = build_application(settings, request=loopback, clock=ManualClock())
    async with running(app) as svc:
        await asyncio.to_thread(create_schema, svc.engine)  # PostgreSQL: an empty schema is fine
        await asyncio.to_thread(setup, svc, Path(tempfile.mkdtemp()) / "people.csv", args.users)
        feeder = Feeder(app.bot, args.users)
        if args.cold:
            svc.answers.size = 0
        questions = [p for e in svc.kb.entries for p in (e.question, *e.phrasings[:3])]
        answered = sum(svc.matcher.ask(q).kind == "answer" for q in questions[:200])
        print(f"{len(questions)} FAQ phrasings ({answered}/200 sampled answered directly); "
              f"{args.users} linked users; concurrency {args.concurrency}; "
              f"db {db.split(':')[0]}; answer cache {'off' if args.cold else 'on'}")
        await rate(app, [feeder.message(q) for q in questions[:50]], args.concurrency)  # warm-up
        results: dict[str, list[tuple[float, float]]] = {"FAQ": [], "account": []}
        for _ in range(args.rounds):
            if args.only in (None, "FAQ"):
                faq = [feeder.message(random.choice(questions)) for _ in range(args.updates)]
                results["FAQ"].append(await rate(app, faq, args.concurrency))
            if args.only in (None, "account"):
                account = [feeder.message("/balance" if i % 2 else
                                          f"/limit 1 {random.randint(1, 999)}")
                           for i in range(args.updates // 2)]
                results["account"].append(await rate(app, account, args.concurrency))
        sent = len(loopback.sent)
        for name, target in (("FAQ", 800), ("account", 800)):
            if not results[name]:
                continue
            wall = [w for w, _ in results[name]]
            cpu = [c for _, c in results[name]]
            print(f"{name:8s} median {statistics.median(wall):7.0f} updates/s "
                  f"(min {min(wall):.0f}, max {max(wall):.0f}; target ≥ {target}); "
                  f"{statistics.median(cpu):.0f} updates per CPU-second")
        print(f"replies recorded: {sent}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", help="SQLAlchemy URL of an EMPTY database or schema "
                                "(default: a fresh SQLite file)")
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--updates", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--only", choices=("FAQ", "account"), help="run one workload only")
    p.add_argument("--cold", action="store_true",
                   help="disable the answer cache: every FAQ update runs the matcher")
    args = p.parse_args()
    print(machine.line(), flush=True)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
