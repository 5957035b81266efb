"""Console own-account settlements per second, as a user runs them: ``python -m bot console``.

    .venv/bin/python bench/bench_console.py [--settlements 2000] [--rounds 3]

Each round starts the console twice on a fresh demo database with a script: once with only the
linking lines (``:as 100001``, ``:contact 13905461001``, ``0113``) and once with those plus
``--settlements`` lines of ``/settle 0.01 门诊`` (the demo householder's own account pays).
The difference of the two wall times is the settlements' own time, start-up excluded; prints
the median settlements/s and CPU ms per settlement, and checks every settlement succeeded.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = [":as 100001", ":contact 13905461001", "0113"]
SETTLE = "/settle 0.01 门诊"


def run_console(lines: list[str], tmp: Path) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the child's) and the transcript of one console run."""
    db = tmp / f"c{time.monotonic_ns()}.db"
    script = tmp / "script.txt"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bot", "console", "--db", f"sqlite:///{db}",
                           "--script", str(script)], cwd=ROOT, capture_output=True, text=True,
                          check=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settlements", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    rates, cpu_ms = [], []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for _ in range(args.rounds):
            base_wall, base_cpu, _ = run_console(LINK, tmp)
            wall, cpu, out = run_console(LINK + [SETTLE] * args.settlements, tmp)
            paid = out.count("结算成功")
            if paid != args.settlements:
                print(f"only {paid} of {args.settlements} settlements succeeded", file=sys.stderr)
                return 1
            rates.append(args.settlements / max(wall - base_wall, 1e-9))
            cpu_ms.append(1000 * (cpu - base_cpu) / args.settlements)
    print(f"console own-account settlements: median {statistics.median(rates):.0f}/s "
          f"(min {min(rates):.0f}, max {max(rates):.0f}; target ≥ 600), "
          f"{statistics.median(cpu_ms):.2f} ms CPU each; start-up excluded, "
          f"{args.rounds} rounds of {args.settlements}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
