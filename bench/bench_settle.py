"""Print settlement throughput and balance-query latency on SQLite (figures, never a test).

    .venv/bin/python bench/bench_settle.py [--people 1000000] [--settlements 3000]

1. sequential settlements/s through FamilyService.settle (ordered mode, one family leg each,
   every call its own keyed unit of work) — target ≥ 1,000/s;
2. the median of FamilyService.balance() over random people among ``--people`` synthetic
   people bulk-loaded with raw sqlite3 — target ≤ 0.5 ms;
3. one credit_month over all of them.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rules.clock import ManualClock
from rules.db import create_schema, make_engine
from rules.identity import make_id
from rules.policy import Policies
from rules.service import FamilyService

COLUMNS = ("id, id_number, name, phone, province, city, region, scheme, employment, status, "
           "lapsed_since, opening_balance, balance, monthly_credit")


def load_people(path: Path, n: int) -> None:
    """Bulk-insert ``n`` synthetic Jinan people with valid ID numbers (raw sqlite3: seconds)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")

    sql = f"INSERT INTO people ({COLUMNS}) VALUES ({','.join('?' * 14)})"
    batch: list[tuple[object, ...]] = []
    for i in range(1, n + 1):
        scheme, employment = ("employee", "employed") if i % 3 else ("resident", None)
        batch.append((i, _id_number(i), f"人{i}", None, "山东省", "济南市", "jinan", scheme,
                      employment, "active", None, 1_000_000, 1_000_000, 500))
        if len(batch) == 50_000:
            conn.executemany(sql, batch)
            batch.clear()
    conn.executemany(sql, batch)
    conn.commit()
    conn.close()


def _id_number(i: int) -> str:
    """Unique per i: area code and sequence vary, the birth date is real."""
    area = 110000 + i // 1000
    return make_id(f"{area:06d}19800101{i % 1000:03d}")


def bench_settle(svc: FamilyService, n: int) -> tuple[float, float, float, float]:
    householder, relative = 1, 3  # person 3 is a resident (i % 3 == 0)
    svc.open_account(householder, letter_version="v1", letter_sha256="0" * 64, key="bench-open")
    svc.bind(householder, _id_number(relative), f"人{relative}", "子女", key="bench-bind")
    svc.settle(relative, 1_000_000, "pharmacy", key="bench-drain")  # own account now empty
    times = []
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        t0 = time.perf_counter()
        d = svc.settle(relative, 1, "pharmacy", key=f"bench-{i}")
        times.append(time.perf_counter() - t0)
        assert d.ok and d.facts["family_fen"] == 1, d
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    p99 = sorted(times)[int(len(times) * 0.99)] * 1000
    return n / total, statistics.median(times) * 1000, p99, n / cpu


def bench_balance(svc: FamilyService, people: int, n: int) -> float:
    rng = random.Random(7)
    times = []
    for _ in range(n):
        pid = rng.randint(1, people)
        t0 = time.perf_counter()
        d = svc.balance(pid)
        times.append(time.perf_counter() - t0)
        assert d.ok
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--settlements", type=int, default=3_000)
    ap.add_argument("--queries", type=int, default=3_000)
    ap.add_argument("--dir", default=None, help="where the SQLite file goes (default: a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.db"
        engine = make_engine(f"sqlite:///{path}")
        create_schema(engine)
        t0 = time.perf_counter()
        load_people(path, args.people)
        print(f"loaded {args.people:,} people in {time.perf_counter() - t0:.1f} s")
        svc = FamilyService(engine, Policies.load(), ManualClock(datetime(2026, 11, 1)))
        rate, median, p99, per_cpu = bench_settle(svc, args.settlements)
        print(f"settle: {rate:,.0f} sequential settlements/s wall-clock; per settlement median "
              f"{median:.3f} ms (≈{1000 / median:,.0f}/s), p99 {p99:.2f} ms; "
              f"{per_cpu:,.0f}/s of process CPU; {args.settlements:,} settlements, SQLite")
        print(f"  (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        q = bench_balance(svc, args.people, args.queries)
        print(f"balance query: median {q:.3f} ms over {args.queries:,} random people "
              f"of {args.people:,}, SQLite")
        t0 = time.perf_counter()
        credited = svc.credit_month("2026-11").facts["credited"]
        print(f"credit_month: {credited:,} people credited in {time.perf_counter() - t0:.1f} s "
              f"(one set-based transaction), SQLite")
        engine.dispose()


if __name__ == "__main__":
    main()
