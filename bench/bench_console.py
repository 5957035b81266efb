"""Console own-account settlements per second, as a user runs them: ``python -m bot console``.

    .venv/bin/python bench/bench_console.py [--settlements 2000] [--rounds 3]

Each round starts the console on a fresh demo database, its input a pipe. It links the demo
householder (``:as 100001``, ``:contact 13905461001``, ``0113``) and waits for the welcome, so
start-up and linking are excluded; then it writes ``--settlements`` lines of
``/settle 0.01 门诊`` (the householder's own account pays) and reads the transcript until every
one has answered ``结算成功``. Prints the median settlements/s over that stretch and the
console's CPU ms per settlement (from /proc), and fails unless every settlement succeeded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import machine  # noqa: E402  (bench/machine.py; the script folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
LINK = [":as 100001", ":contact 13905461001", "0113"]
LINKED = "验证成功"
SETTLE = "/settle 0.01 门诊"
PAID = "结算成功"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def read_until(out: object, marker: str, count: int) -> None:
    """Read transcript lines until ``marker`` was seen ``count`` times (EOF is an error)."""
    seen = 0
    while seen < count:
        line = out.readline()  # type: ignore[attr-defined]
        if not line:
            raise RuntimeError(f"the console stopped after {seen} of {count} × {marker!r}")
        seen += marker in line


def one_round(settlements: int, tmp: Path) -> tuple[float, float]:
    """(settlements per second, CPU ms per settlement) of one console."""
    db = tmp / f"c{time.monotonic_ns()}.db"
    child = subprocess.Popen(
        [sys.executable, "-m", "bot", "console", "--db", f"sqlite:///{db}"], cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=dict(os.environ, PYTHONHASHSEED="0", PYTHONUNBUFFERED="1"))
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write("\n".join(LINK) + "\n")
        child.stdin.flush()
        read_until(child.stdout, LINKED, 1)
        cpu, started = cpu_seconds(child.pid), time.perf_counter()
        child.stdin.write((SETTLE + "\n") * settlements)
        child.stdin.flush()
        read_until(child.stdout, PAID, settlements)
        wall, cpu = time.perf_counter() - started, cpu_seconds(child.pid) - cpu
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    return settlements / wall, 1000 * cpu / settlements


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settlements", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    print(machine.line(), flush=True)
    rates, cpu_ms = [], []
    with tempfile.TemporaryDirectory() as tmp_name:
        for _ in range(args.rounds):
            try:
                rate, ms = one_round(args.settlements, Path(tmp_name))
            except RuntimeError as exc:
                print(exc, file=sys.stderr)
                return 1
            rates.append(rate)
            cpu_ms.append(ms)
    print(f"console own-account settlements: median {statistics.median(rates):.0f}/s "
          f"(min {min(rates):.0f}, max {max(rates):.0f}; target ≥ 600), "
          f"{statistics.median(cpu_ms):.2f} ms CPU each; start-up and linking excluded, "
          f"{args.rounds} rounds of {args.settlements}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
