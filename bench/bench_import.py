"""Benchmark ``people import``: rows/s into an empty SQLite table, and the idempotent re-import.

    .venv/bin/python bench/bench_import.py [--rows 1000000] [--runs 3] [--db URL]

Generates N synthetic, valid rows (shuffled, so IDs arrive in no particular order, as in a
real registry export), writes the CSV to a temporary directory, imports it ``--runs`` times
into a fresh SQLite file each time and prints the median; then imports the same file again
into the last database (nothing changes) and prints that median too. Target: ≥ 50,000 rows/s.
With ``--db`` (e.g. a PostgreSQL URL) the table there is emptied before each fresh run.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, text  # noqa: E402

from rules.db import create_schema, make_engine  # noqa: E402
from rules.identity import make_id  # noqa: E402
from rules.importer import COLUMNS, ImportReport, import_people  # noqa: E402
from rules.policy import Policies  # noqa: E402

PLACES = [
    ("370502", "山东省", "东营市"), ("370102", "山东省", "济南市"), ("370202", "山东省", "青岛市"),
    ("460106", "海南省", "海口市"), ("360802", "江西省", "吉安市"), ("110101", "北京市", "北京市"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强",
    "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
]
KINDS = [
    ("employee", "employed"), ("employee", "employed"), ("employee", "retired"),
    ("employee", "flexible"), ("resident", ""), ("resident", ""), ("none", ""),
]


def synthetic_rows(n: int, seed: int = 42) -> list[list[str]]:
    """``n`` distinct, valid people in a shuffled order."""
    rng = random.Random(seed)
    born0 = date(1940, 1, 1)
    rows = []
    for i in range(n):
        seq, day = i % 1000, i // 1000
        code, province, city = PLACES[day % len(PLACES)]
        born = (born0 + timedelta(days=day * 7 % 25_000)).strftime("%Y%m%d")
        id_number = make_id(f"{code}{born}{seq:03d}")
        scheme, employment = KINDS[i % len(KINDS)]
        lapsed = i % 50 == 0
        balance = rng.randrange(0, 500_000) if scheme == "employee" else 0
        credit = rng.randrange(5_000, 40_000) if employment in ("employed", "retired") else 0
        rows.append([
            id_number, SURNAMES[i % len(SURNAMES)] + GIVEN[i % len(GIVEN)],
            f"1{38 + i % 10}{i:08d}"[:11], province, city, scheme, employment,
            "lapsed" if lapsed else "active", "2026-08" if lapsed else "",
            f"{balance // 100}.{balance % 100:02d}", f"{credit // 100}.{credit % 100:02d}",
        ])
    rng.shuffle(rows)
    return rows


def write_csv(rows: list[list[str]], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        out.writerows(rows)


def timed_import(engine: Engine, path: Path, policies: Policies,
                 ) -> tuple[float, float, ImportReport]:
    """Wall-clock and CPU seconds of one import (CPU time shows the cost on a busy machine)."""
    started, cpu = time.perf_counter(), time.process_time()
    report = import_people(engine, path, policies)
    return time.perf_counter() - started, time.process_time() - cpu, report


def fresh_engine(url: str | None, workdir: Path, run: int) -> Engine:
    engine = make_engine(url or f"sqlite:///{workdir / f'bench{run}.db'}")
    create_schema(engine)
    if url:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM people"))
    return engine


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", help="SQLAlchemy URL instead of a fresh SQLite file per run")
    args = ap.parse_args()
    policies = Policies.load()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "people.csv"
        t0 = time.perf_counter()
        write_csv(synthetic_rows(args.rows), csv_path)
        print(f"generated {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.1f} MB) "
              f"in {time.perf_counter() - t0:.1f} s")
        fresh, again = [], []
        for run in range(args.runs):
            engine = fresh_engine(args.db, workdir, run)
            wall, cpu, report = timed_import(engine, csv_path, policies)
            assert report.inserted == args.rows, report
            fresh.append((wall, cpu))
            _line(f"fresh run {run + 1}", args.rows, wall, cpu)
            if run < args.runs - 1:
                engine.dispose()
        for run in range(args.runs):
            wall, cpu, report = timed_import(engine, csv_path, policies)
            assert report.unchanged == args.rows and report.inserted == report.updated == 0
            again.append((wall, cpu))
            _line(f"re-import run {run + 1}", args.rows, wall, cpu)
        engine.dispose()
    _line("MEDIAN import into an empty table", args.rows, *_median(fresh))
    _line("MEDIAN re-import, nothing changes", args.rows, *_median(again))
    print("target: ≥ 50,000 rows/s into an empty table")
    return 0


def _median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def _line(label: str, rows: int, wall: float, cpu: float) -> None:
    print(f"  {label:<36} {wall:6.2f} s = {rows / wall:>9,.0f} rows/s wall "
          f"({cpu:.2f} s CPU = {rows / cpu:,.0f} rows/CPU-s)")


if __name__ == "__main__":
    sys.exit(main())
