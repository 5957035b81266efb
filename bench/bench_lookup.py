"""Benchmark point lookups of a balance among a million people (target: median ≤ 0.5 ms).

    .venv/bin/python bench/bench_lookup.py [--rows 1000000] [--lookups 20000] [--db URL]

Loads ``--rows`` synthetic people (bench_import's generator, through the real importer) into a
fresh SQLite file (or the table at ``--db``, emptied first), then times SQLAlchemy Core
``SELECT balance … WHERE id_number = ?`` and ``… WHERE id = ?`` for random people:
- "per request": a pooled connection checked out, one query, returned — what a handler does;
- "in a transaction": back-to-back queries on one open connection — the query alone.
Prints median and p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import fresh_engine, synthetic_rows, write_csv  # noqa: E402
from sqlalchemy import Connection, Engine, select  # noqa: E402

from rules.importer import import_people  # noqa: E402
from rules.policy import Policies  # noqa: E402
from rules.schema import Person  # noqa: E402


def _queries() -> dict[str, Callable[[Connection, object], int]]:
    """Core selects with bound parameters; SQLAlchemy compiles each once and caches it."""
    return {
        "id_number": lambda conn, key: conn.execute(
            select(Person.balance).where(Person.id_number == key)).scalar_one(),
        "id": lambda conn, key: conn.execute(
            select(Person.balance).where(Person.id == key)).scalar_one(),
    }


def _times(run: Callable[[object], int], keys: list[object]) -> list[float]:
    out = []
    for key in keys:
        started = time.perf_counter_ns()
        run(key)
        out.append((time.perf_counter_ns() - started) / 1e6)
    return out


def _report(label: str, ms: list[float]) -> None:
    ms.sort()
    p99 = ms[int(len(ms) * 0.99) - 1]
    print(f"  {label:<38} median {statistics.median(ms):.3f} ms   p99 {p99:.3f} ms")


def measure(engine: Engine, keys: dict[str, list[object]]) -> None:
    for column, query in _queries().items():
        def per_request(key: object, query: Callable[[Connection, object], int] = query) -> int:
            with engine.connect() as conn:
                return query(conn, key)

        with engine.connect() as conn:
            for key in keys[column][:200]:  # warm the statement cache and the page cache
                query(conn, key)
            in_txn = _times(lambda key, q=query, c=conn: q(c, key), keys[column])
        _report(f"by {column}, per request", _times(per_request, keys[column]))
        _report(f"by {column}, in a transaction", in_txn)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--db", help="SQLAlchemy URL instead of a fresh SQLite file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows = synthetic_rows(args.rows)
        write_csv(rows, workdir / "people.csv")
        engine = fresh_engine(args.db, workdir, 0)
        report = import_people(engine, workdir / "people.csv", Policies.load())
        print(f"{report.inserted:,} people loaded in {report.seconds:.1f} s "
              f"({engine.dialect.name})")
        rng = random.Random(7)
        with engine.connect() as conn:
            ids = list(conn.execute(select(Person.id)).scalars())
        keys: dict[str, list[object]] = {
            "id": rng.choices(ids, k=args.lookups),
            "id_number": [row[0] for row in rng.choices(rows, k=args.lookups)],
        }
        print(f"{args.lookups:,} lookups each (target: median ≤ 0.5 ms)")
        measure(engine, keys)
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
