"""What one settlement costs the replica: SQL statements, transactions and CPU per update.

    .venv/bin/python bench/bench_confirm.py [--db URL] [--families 200] [--show-sql]

For ``--families`` Jinan families (a relative with an empty own account, a householder who
pays), the relative sends ``/settle 100 门诊`` (the summary) and presses 确认 (the payment),
through ``Application.process_update`` with every real handler, the duplicate filter and the
in-process Bot API. Prints, per update kind, the median statements, transactions and write
transactions (those that INSERT, UPDATE or DELETE), pool checkouts (each was a round trip
while ``pool_pre_ping`` was on), and the median process CPU per update.
Defaults to a fresh SQLite file; ``--db`` takes an empty PostgreSQL database or schema.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import machine  # noqa: E402  (bench/machine.py; the script folder is on sys.path)
from sqlalchemy import event

from tests.bot.account_chat import Chat
from tests.bot.test_account_bind import opened

WRITES = ("INSERT", "UPDATE", "DELETE")


class Counting:
    """Counts statements and transactions on an engine while ``active``."""

    def __init__(self, engine: Any) -> None:
        self.active = False
        self.show = False  # print each counted statement
        self.stats: Counter[str] = Counter()
        self._writing: set[int] = set()
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)
        event.listen(engine, "checkout", self._checkout)

    def _begin(self, conn: Any) -> None:
        if self.active:
            self.stats["transactions"] += 1

    def _checkout(self, *_: Any) -> None:
        if self.active:
            self.stats["checkouts"] += 1

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not self.active:
            return
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if verb in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "PRAGMA"):
            return
        self.stats["statements"] += 1
        if self.show:
            print("   ", " ".join(statement.split())[:150])
        if verb in WRITES:
            self._writing.add(id(conn))

    def _end(self, conn: Any) -> None:
        if self.active and id(conn) in self._writing:
            self.stats["write transactions"] += 1
        self._writing.discard(id(conn))

    def measure(self, fn: Any) -> tuple[Counter[str], float]:
        self.stats = Counter()
        self.active = True
        started = time.process_time()
        try:
            fn()
        finally:
            self.active = False
        return self.stats, (time.process_time() - started) * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", help="SQLAlchemy URL of an empty database (default: SQLite file)")
    p.add_argument("--families", type=int, default=200)
    p.add_argument("--show-sql", action="store_true",
                   help="print the statements of the last family's two updates")
    args = p.parse_args()
    print(machine.line(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        chat = Chat(url)
        try:
            run(chat, args.families, url, show_sql=args.show_sql)
        finally:
            chat.close()
    return 0


def run(chat: Chat, families: int, url: str, *, show_sql: bool = False) -> None:
    counting = Counting(chat.engine)
    fam = chat.services.family
    rows: dict[str, list[tuple[Counter[str], float]]] = {"/settle (summary)": [],
                                                          "确认 press (payment)": []}
    for i in range(families):
        hh, rel = 10_000 + 2 * i, 10_001 + 2 * i
        householder = opened(chat, hh, place="jinan", name=f"户主{i:04d}", balance=10_000_000)
        relative = chat.person(rel, place="jinan", name=f"亲属{i:04d}", scheme="resident",
                               balance=0)
        assert fam.bind(householder.id, relative.id_number, relative.name, "配偶",
                        key=f"bench-bind:{i}").ok
        counting.show = show_sql and i == families - 1
        rows["/settle (summary)"].append(
            counting.measure(lambda rel=rel: chat.send(rel, "/settle 100 门诊")))
        summary = chat.buttons_message(rel, "确认")
        rows["确认 press (payment)"].append(
            counting.measure(lambda rel=rel, summary=summary: chat.press(rel, summary, "确认")))
    print(f"{families} Jinan families on {url.split(':', 1)[0]}; medians per update")
    print(f"{'update':<22}{'statements':>11}{'transactions':>14}{'writes':>8}{'checkouts':>10}"
          f"{'CPU ms':>9}")
    for name, measured in rows.items():
        def med(key: str, m: list[tuple[Counter[str], float]] = measured) -> float:
            return statistics.median(c[key] for c, _ in m)
        cpu = statistics.median(ms for _, ms in measured)
        print(f"{name:<22}{med('statements'):>11.0f}{med('transactions'):>14.0f}"
              f"{med('write transactions'):>8.0f}{med('checkouts'):>10.0f}{cpu:>9.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
