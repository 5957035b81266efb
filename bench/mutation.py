"""Mutation testing of the money core: kill rate per module and every surviving mutant.

    .venv/bin/pip install -e '.[mutation]'
    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/mutation.py              # every group (~8 min on 2 cores)
    .venv/bin/python bench/mutation.py                  # without PostgreSQL: locks not run
    .venv/bin/python bench/mutation.py --group audit    # one group
    .venv/bin/python bench/mutation.py --show-diffs     # each survivor's diff too
    .venv/bin/python bench/mutation.py --pin-equivalents  # after checking a new equivalent

mutmut 3 does the mutating. It never edits the checkout: this script copies the tracked and
untracked (not ignored) files into ``bench/out/mutation/<group>/``, writes that group's
``[tool.mutmut]`` section (the modules to mutate, the tests to run) into the copy's
pyproject.toml, and runs ``mutmut run`` there; mutmut itself works in the copy's ``mutants/``.
For each mutant mutmut runs only the selected tests that reach the mutated function (its
stats pass records which tests call which function), fastest first and stopping at the first
failure, on SQLite (``TEST_DATABASE_URL`` is cleared) in a RAM-backed TMPDIR, with a fixed
Hypothesis seed. mutmut is driven through a thin wrapper (``_BOOT``) that orders each mutant's
tests by their recorded duration and drops mutmut's "clean" pass: its stats pass has just run
the same tests and stops the run unless they all pass.

The row-lock helpers do nothing on SQLite, so their mutants (``LOCK_MUTANTS``) are judged
again by the ``locks`` group on PostgreSQL when ``TEST_DATABASE_URL`` names one; without it
they are reported as not run, never counted as killed.

Mutants that are truly equivalent (same behaviour) are listed with a one-line reason in
``[tool.gongji.mutation.equivalent]`` of pyproject.toml; they are reported, not counted.
Not part of .ci/run.
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "mutation"

# Each group: the modules mutated and the fast tests that judge them. The pure models are
# judged by the DB-free unit tier; the store, the ledger and the audit by focused DB tests.
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "pure": (
        ["rules/planning.py", "rules/binding_rules.py", "rules/money.py", "rules/identity.py",
         "rules/wallet_rules.py"],
        ["tests/rules/unit", "tests/rules/test_foundation.py", "tests/rules/test_redaction.py",
         "tests/rules/test_money_digits.py"],
    ),
    "store": (
        ["rules/settlement.py", "rules/ledger.py", "rules/unit_of_work.py", "rules/credit.py",
         "rules/wallets.py"],
        ["tests/rules/unit", "tests/rules/test_guards.py", "tests/rules/test_store_edges.py",
         "tests/rules/test_store_paths.py", "tests/rules/test_store_views.py",
         "tests/rules/test_settlement.py", "tests/rules/test_concurrency.py",
         "tests/rules/test_credit_lapse_queries.py",
         "tests/rules/test_wallets.py", "tests/rules/test_store_survivors.py",
         "tests/rules/test_unit_of_work_edges.py", "tests/rules/test_locks.py"],
    ),
    "audit": (
        ["rules/audit.py"],
        ["tests/rules/test_audit.py", "tests/rules/test_audit_edges.py",
         "tests/rules/test_audit_credit.py", "tests/rules/test_audit_survivors.py"],
    ),
}
# What only PostgreSQL tells apart, judged there (each test's PostgreSQL case;
# ``-k postgresql``): the store's row-lock helpers and the calls of them in the money core,
# and a LIKE pattern's case. Their SQLite verdicts from the other groups are replaced.
LOCK_GROUP = (
    ["rules/ledger.py", "rules/settlement.py", "rules/wallets.py", "rules/audit.py"],
    ["tests/rules/test_locks.py", "tests/rules/test_guard_races.py",
     "tests/rules/test_audit_survivors.py"],
)
LOCK_MUTANTS = ["rules.ledger.x_lock_*", "rules.ledger.x_is_sqlite*",
                "rules.settlement.x_lock_for_settlement*", "rules.wallets.x_wallet_of*",
                # calls of the lock helpers that only PostgreSQL can tell apart
                "rules.settlement.x_execute__mutmut_3",
                "rules.settlement.x_execute_contribution__mutmut_2",
                "rules.settlement.x__contribution_plan__mutmut_5",
                "rules.settlement.x__planned__mutmut_1",
                "rules.settlement.x__planned__mutmut_5",
                "rules.settlement.x__planned__mutmut_6",
                "rules.settlement.x_settle_direct__mutmut_9",
                "rules.settlement.x_settle_direct__mutmut_16",
                "rules.settlement.x_settle_direct__mutmut_17",
                "rules.wallets.x_execute_transfer__mutmut_9",
                "rules.wallets.x_execute_transfer__mutmut_12",
                "rules.wallets.x_execute_transfer__mutmut_13",
                "rules.wallets.x_activate__mutmut_15",
                "rules.wallets.x_activate__mutmut_18",
                "rules.wallets.x_activate__mutmut_19",
                "rules.wallets.x_contribute_from_wallet__mutmut_15",
                "rules.wallets.x_contribute_from_wallet__mutmut_18",
                "rules.wallets.x_contribute_from_wallet__mutmut_19",
                # SQLite's LIKE ignores ASCII case, PostgreSQL's does not: 'STAFF:%'
                "rules.audit.x_staff_credits_confirmed__mutmut_53",
                "rules.audit.x_family_money_confirmed__mutmut_22"]
# mutmut, with each mutant's tests ordered fastest first and without the redundant clean pass.
_BOOT = """
import gc
import hashlib
import json
import os
import sys
from pathlib import Path

import mutmut.__main__ as mm
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.state import state
from mutmut.workers import isolation

CAP = int(os.environ.get("GONGJI_TEST_CAP", "0"))
for runner in (isolation.ForkServerRunner, isolation.ForkRunner):
    runner.run_clean_tests = lambda self, tests: 0
    if CAP:
        def submit(self, name, tests, cpu_limit, estimate, _real=runner.submit):
            return _real(self, name, list(tests)[:CAP], cpu_limit, estimate)
        runner.submit = submit
_collect = mm.collect_source_file_mutation_data
PINNED = json.loads(os.environ.get("GONGJI_EQUIVALENT_PINS", "{}"))
# the tests written against earlier survivors go first, then the rest fastest first
FIRST = ("tests/rules/test_store_survivors.py", "tests/rules/test_audit_survivors.py",
         "tests/rules/test_unit_of_work_edges.py", "tests/rules/test_locks.py")


def fingerprint(name, path):
    changed = [" ".join(line.split()) for line in get_diff_for_mutant(name, path=path).split("\\n")
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return hashlib.sha1("\\n".join(changed).encode()).hexdigest()[:12]


def collect(*args, **kwargs):
    mutants, by_path = _collect(*args, **kwargs)
    prints, skipped, kept = {}, [], []
    for entry in mutants:
        data, name, _result = entry
        if name in PINNED:
            prints[name] = fingerprint(name, data.path)
            if prints[name] == PINNED[name]:
                skipped.append(name)
                continue
        kept.append(entry)
    seen = Path("equivalent-diffs.json")
    if seen.is_file():  # a second pass over some mutants keeps the first pass's skips
        before = json.loads(seen.read_text())
        prints, skipped = {**before["fingerprints"], **prints}, [*before["skipped"], *skipped]
    seen.write_text(json.dumps({"fingerprints": prints, "skipped": sorted(set(skipped))}))
    st = state()
    took = st.duration_by_test
    for name, tests in list(st.tests_by_mangled_function_name.items()):
        st.tests_by_mangled_function_name[name] = sorted(
            tests, key=lambda t: (not t.startswith(FIRST), took.get(t, 0), t))
    gc.freeze()  # the mutants' forked children need not scan what is here already
    return kept, by_path


mm.collect_source_file_mutation_data = collect
sys.argv = ["mutmut", *sys.argv[1:]]
mm.cli()
"""
# no:unraisableexception: that plugin runs gc.collect() at the end of every session, which in
# a child forked from mutmut's large process cost more than most mutants' tests.
# no:logging, no:warnings: no test here uses caplog or warning filters; fewer hooks per session.
PYTEST_ARGS = ["-p", "no:cacheprovider", "-p", "no:unraisableexception", "-p", "no:logging",
               "-p", "no:warnings", "--hypothesis-seed=0", "-q"]
# mutmut mutates code inside functions only: the SQL guards live in module-level text()
# statements, so they get hand-written mutants here, each run against the store's tests. The
# row locks do nothing on SQLite: their mutants run the race tests on PostgreSQL, when
# TEST_DATABASE_URL names one (else they are reported as "not run").
SQL_MUTANTS: list[tuple[str, str, str, str]] = [  # (file, original, mutated, backend)
    ("rules/ledger.py", " AND balance >= :fen", "", "sqlite"),
    ("rules/ledger.py", "AND balance >= :fen", "AND balance > :fen", "sqlite"),
    ("rules/ledger.py", "balance = balance - :fen", "balance = balance + :fen", "sqlite"),
    ("rules/ledger.py", " AND removed_at IS NULL\"", "\"", "sqlite"),
    ("rules/ledger.py", "\n    \" AND (limit_fen IS NULL OR used_fen + :fen <= limit_fen)\"", "",
     "sqlite"),
    ("rules/ledger.py", "used_fen + :fen <= limit_fen", "used_fen + :fen < limit_fen", "sqlite"),
    ("rules/ledger.py", "SET used_fen = used_fen + :fen", "SET used_fen = used_fen", "sqlite"),
    ("rules/settlement.py", "ORDER BY b.payer_rank IS NULL, ", "ORDER BY ", "sqlite"),
    ("rules/settlement.py", " WHERE b.relative_id = :id AND b.removed_at IS NULL",
     " WHERE b.relative_id = :id", "sqlite"),
    ("rules/settlement.py", "DELETE FROM retry_windows WHERE relative_id = :id",
     "DELETE FROM retry_windows WHERE relative_id = -:id", "sqlite"),
    ("rules/wallets.py", " AND balance >= :fen\"", "\"", "sqlite"),
    ("rules/wallets.py", "AND balance >= :fen", "AND balance > :fen", "sqlite"),
    ("rules/wallets.py", "WHERE person_id = :pid AND state = 'active' AND",
     "WHERE person_id = :pid AND", "sqlite"),
    ("rules/wallets.py", "WHERE id = :id AND state = 'active'\")", "WHERE id = :id\")",
     "sqlite"),
    ("rules/wallets.py", "OR wrong_since <= :since\"\n    \"   THEN 1",
     "OR wrong_since < :since\"\n    \"   THEN 1", "sqlite"),
    ("rules/wallets.py", "OR wrong_since <= :since\"\n    \"   THEN :now",
     "OR wrong_since < :since\"\n    \"   THEN :now", "sqlite"),
    ("rules/wallets.py", "ELSE wrong_passwords + 1 END", "ELSE wrong_passwords END", "sqlite"),
    ("rules/wallets.py", "SET wrong_passwords = 0, wrong_since = NULL",
     "SET wrong_passwords = 0", "sqlite"),
    ("rules/ledger.py", "nothing is done.\"\"\"\n    wanted = sorted(set(ids))\n"
     "    if not wanted or", "nothing is done.\"\"\"\n    wanted = sorted(set(ids))\n"
     "    if True or", "postgresql"),
    ("rules/settlement.py", "lock_people(s, [patient_id] + [r.householder_id for r in rows])",
     "lock_people(s, [patient_id])", "postgresql"),
    ("rules/settlement.py", "    if payers_too:\n        lock_for_settlement(s, patient_id)\n",
     "    if False:\n        lock_for_settlement(s, patient_id)\n", "postgresql"),
    ("rules/settlement.py", "    else:\n        lock_people(s, [patient_id])\n",
     "    else:\n        pass\n", "postgresql"),
    ("rules/settlement.py", "    lock_for_settlement(s, patient_id)\n    snap = load_snapshot(s, "
     "patient_id)\n    if snap is None:\n        return Decision.refuse(Reason.UNKNOWN_PERSON)\n"
     "    fresh", "    snap = load_snapshot(s, patient_id)\n    if snap is None:\n"
     "        return Decision.refuse(Reason.UNKNOWN_PERSON)\n    fresh", "postgresql"),
]
RACE_TESTS = ["tests/rules/test_guard_races.py", "tests/rules/test_concurrency.py",
              "tests/rules/test_locks.py"]
TEST_CAP = 25  # a mutant's fastest tests in the first pass (see run_group)
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
NOT_RUN = ("not run", "not applicable", "not checked")  # reported, not counted
_RESULT = re.compile(r"^\s*(?P<name>rules\.\S+?): (?P<status>.+?)\s*$")


@dataclass
class Mutant:
    name: str
    status: str
    group: str

    @property
    def module(self) -> str:
        if ".sql_" in self.name:
            return self.name.split(".sql_")[0] + " [sql]"
        return self.name.split(".x_")[0].split(".xǁ")[0]


def _mutation_config() -> dict:  # type: ignore[type-arg]
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return config.get("tool", {}).get("gongji", {}).get("mutation", {})  # type: ignore[no-any-return]


def _equivalent() -> dict[str, str]:
    return dict(_mutation_config().get("equivalent", {}))


def _pins() -> dict[str, str]:
    """Equivalent mutants whose diff was pinned (a hash of its changed lines): skipped while
    the diff is the same, run again as soon as the code under them changes."""
    equivalent = _equivalent()
    return {k: v for k, v in _mutation_config().get("equivalent-pins", {}).items()
            if k in equivalent}


PINNED_STATUS = "equivalent (not run: its pinned diff is unchanged)"
STALE_STATUS = "survived (listed as equivalent, but its diff changed: check the entry again)"


def _copy_tree(dest: Path) -> None:
    """The checkout as it is (tracked and untracked, not ignored files), outside it."""
    if dest.exists():
        shutil.rmtree(dest)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _configure(dest: Path, modules: list[str], tests: list[str],
               extra_args: list[str] = ()) -> None:  # type: ignore[assignment]
    """Replace the copy's [tool.mutmut] section with this group's."""
    pyproject = dest / "pyproject.toml"
    text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", pyproject.read_text("utf-8"))
    text += (f"\n[tool.mutmut]\nsource_paths = [\"rules/\"]\n"
             f"only_mutate = {_toml_list(modules)}\n"
             f"also_copy = [\"bot/\", \"knowledge/\", \"config.yaml\"]\n"
             f"pytest_add_cli_args = {_toml_list([*PYTEST_ARGS, *extra_args])}\n"
             f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n")
    pyproject.write_text(text, "utf-8")


def _env(group: str, pg_url: str = "") -> dict[str, str]:
    """SQLite unless ``pg_url``; test databases in RAM (/dev/shm) where there is one."""
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    if pg_url:
        env["TEST_DATABASE_URL"] = pg_url
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        tmp = shm / f"gongji-mutation-{os.getpid()}-{group}"
        tmp.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(tmp)
    return env


def _results(dest: Path, group: str) -> list[Mutant]:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=dest,
                         capture_output=True, text=True).stdout
    diffs = dest / "equivalent-diffs.json"
    seen = json.loads(diffs.read_text()) if diffs.is_file() else {"skipped": [], "fingerprints": {}}
    skipped, pins = set(seen["skipped"]), _pins()
    # a listed equivalent whose diff no longer matches its pin is some other mutant now (the
    # code under it changed): it counts like any other until its entry is checked again
    stale = {n for n, f in seen["fingerprints"].items() if n in pins and pins[n] != f}
    found = []
    for m in filter(None, map(_RESULT.match, out.splitlines())):
        status = PINNED_STATUS if m["name"] in skipped else m["status"]
        if m["name"] in stale and status not in KILLED:
            status = STALE_STATUS
        found.append(Mutant(m["name"], status, group))
    return found


_FINGERPRINTS = """
import hashlib, json, sys
from mutmut.__main__ import find_mutant
from mutmut.mutation.diff_apply import get_diff_for_mutant
out = {}
for name in sys.argv[1:]:
    try:
        diff = get_diff_for_mutant(name, path=find_mutant(name).path)
    except Exception:
        continue
    changed = [" ".join(line.split()) for line in diff.split("\\n")
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    out[name] = hashlib.sha1("\\n".join(changed).encode()).hexdigest()[:12]
print(json.dumps(out))
"""


def pin_equivalents() -> int:
    """Record the diff hash of every listed equivalent, as the last run of its group made it
    (the same hash ``_BOOT`` compares before skipping one). A group not run here keeps the
    pins it had."""
    equivalent = _equivalent()
    pins = _pins()
    fresh: set[str] = set()
    for group in [*GROUPS, "locks"]:
        dest = OUT / group
        if not (dest / "mutants").is_dir():
            continue
        names = [n for n in equivalent if n not in fresh]
        done = subprocess.run([sys.executable, "-c", _FINGERPRINTS, *names], cwd=dest,
                              capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip():
            found = json.loads(done.stdout.strip().splitlines()[-1])
            pins.update(found)
            fresh.update(found)
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    text = re.sub(r"(?ms)^# Equivalent mutants' pinned diffs.*?^\[tool\.gongji\.mutation\."
                  r"equivalent-pins\]\n.*?(?=^\[|\Z)", "", text).rstrip("\n") + "\n"
    text += ("\n# Equivalent mutants' pinned diffs (bench/mutation.py --pin-equivalents): a listed"
             " mutant\n# whose diff still hashes the same is not run again.\n"
             "[tool.gongji.mutation.equivalent-pins]\n"
             + "".join(f"{json.dumps(k)} = {json.dumps(v)}\n" for k, v in sorted(pins.items())))
    (ROOT / "pyproject.toml").write_text(text, "utf-8")
    print(f"pinned {len(pins)} of {len(equivalent)} equivalent mutants")
    return 0


def _diff(dest: Path, name: str) -> str:
    out = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=dest,
                         capture_output=True, text=True).stdout
    lines = [ln for ln in out.splitlines()
             if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return " | ".join(" ".join(ln.split()) for ln in lines)


def run_group(group: str, children: int) -> tuple[list[Mutant], Path, float]:
    pg_url = os.environ.get("TEST_DATABASE_URL", "") if group == "locks" else ""
    modules, tests = LOCK_GROUP if group == "locks" else GROUPS[group]
    dest = OUT / group
    _copy_tree(dest)
    present = [m for m in modules if (dest / m).is_file()]
    tests = [t for t in tests if (dest / t).exists() or glob.glob(str(dest / t))]
    _configure(dest, present, tests, ["-k", "postgresql"] if group == "locks" else [])
    env = _env(group, pg_url)
    env["GONGJI_EQUIVALENT_PINS"] = json.dumps(_pins())
    names = LOCK_MUTANTS if group == "locks" else []
    started = time.monotonic()
    try:
        # First each mutant against its TEST_CAP fastest tests, then the survivors of that
        # pass again against all their tests: only those can still be killed by a slow one.
        with open(dest / "mutmut-run.log", "w") as log:
            subprocess.run([sys.executable, "-c", _BOOT, "run", "--max-children", str(children),
                            *names], cwd=dest, env={**env, "GONGJI_TEST_CAP": str(TEST_CAP)},
                           stdout=log, stderr=subprocess.STDOUT)
            again = [m.name for m in _results(dest, group) if m.status == "survived"]
            # the lock mutants: PostgreSQL's verdict is the one that counts (group locks)
            again = [n for n in again if _is_lock(n) == (group == "locks")]
            if again:
                log.write(f"\n\nsecond pass, all tests: {len(again)} mutants\n")
                log.flush()
                subprocess.run([sys.executable, "-c", _BOOT, "run", "--max-children",
                                str(children), *again], cwd=dest, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    finally:
        if "TMPDIR" in env:
            shutil.rmtree(env["TMPDIR"], ignore_errors=True)
    found = _results(dest, group)
    if group == "locks":
        found = [m for m in found if _is_lock(m.name)]
    return found, dest, time.monotonic() - started


def _is_lock(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in LOCK_MUTANTS)


def run_sql_mutants(children: int, timeout: int = 300) -> tuple[list[Mutant], float]:
    """Each hand-written SQL mutant in its own pytest pass over the store group's tests (the
    row-lock ones over the race tests on PostgreSQL), ``children`` at a time, each worker in
    its own copy of the tree."""
    started = time.monotonic()
    pg_url = os.environ.get("TEST_DATABASE_URL", "")
    workers = max(1, children)
    copies: queue.Queue[Path] = queue.Queue()
    for i in range(workers):
        _copy_tree(OUT / f"sql{i}")
        copies.put(OUT / f"sql{i}")
    env = _env("sql")

    def judge(n: int, rel: str, old: str, new: str, backend: str) -> Mutant:
        name = f"{_module(rel)}.sql_{n}"
        if backend == "postgresql" and not pg_url:
            return Mutant(name, "not run (no PostgreSQL)", "sql")
        dest = copies.get()
        try:
            path = dest / rel
            source = path.read_text("utf-8")
            if source.count(old) != 1:
                return Mutant(name, "not applicable", "sql")
            tests = [t for t in GROUPS["store"][1] if (dest / t).exists()]
            command = [sys.executable, "-m", "pytest", "-x", *PYTEST_ARGS, *tests]
            if backend == "postgresql":
                command = [sys.executable, "-m", "pytest", "-x", *PYTEST_ARGS, "-k",
                           "postgresql", *[t for t in RACE_TESTS if (dest / t).exists()]]
            path.write_text(source.replace(old, new), "utf-8")
            try:
                done = subprocess.run(command, cwd=dest, env=env if backend == "sqlite" else
                                      {**env, "TEST_DATABASE_URL": pg_url},
                                      capture_output=True, timeout=timeout)
                status = "survived" if done.returncode == 0 else "killed"
            except subprocess.TimeoutExpired:
                status = "timeout"
            finally:
                path.write_text(source, "utf-8")
            return Mutant(name, status, "sql")
        finally:
            copies.put(dest)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = list(pool.map(lambda args: judge(*args),
                              [(n, *m) for n, m in enumerate(SQL_MUTANTS, start=1)]))
    if "TMPDIR" in env:
        shutil.rmtree(env["TMPDIR"], ignore_errors=True)
    (OUT / "sql").mkdir(parents=True, exist_ok=True)
    (OUT / "sql" / "results.json").write_text(json.dumps([m.__dict__ for m in found]), "utf-8")
    return found, time.monotonic() - started


def _merge_locks(mutants: list[Mutant]) -> list[Mutant]:
    """A lock mutant's verdict is the PostgreSQL one; on SQLite alone it is not run."""
    on_pg = {m.name for m in mutants if m.group == "locks"}
    merged = []
    for m in mutants:
        if m.group != "locks" and _is_lock(m.name):
            if m.name in on_pg:
                continue
            if m.status not in KILLED:
                m = Mutant(m.name, "not run (PostgreSQL only; set TEST_DATABASE_URL)",
                           m.group)
        merged.append(m)
    return merged


def _module(rel: str) -> str:
    return rel.removesuffix(".py").replace("/", ".")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--group", action="append", choices=sorted([*GROUPS, "locks", "sql"]),
                    help="run only these groups (default: all)")
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--show-diffs", action="store_true", help="print each survivor's diff")
    ap.add_argument("--report-only", action="store_true",
                    help="report the last run's results again (e.g. after editing equivalents)")
    ap.add_argument("--pin-equivalents", action="store_true",
                    help="pin the diffs of the listed equivalents as the last run saw them")
    args = ap.parse_args()
    if args.pin_equivalents:
        return pin_equivalents()
    wall = time.monotonic()
    equivalent = _equivalent()
    mutants: list[Mutant] = []
    dests: dict[str, Path] = {}
    total_seconds = 0.0
    if args.report_only:
        for group in [g for g in args.group or [*GROUPS, "locks"] if (OUT / g).is_dir()]:
            dests[group] = OUT / group
            mutants += _results(OUT / group, group)
        if (OUT / "sql" / "results.json").is_file() and (not args.group or "sql" in args.group):
            mutants += [Mutant(**m) for m in json.loads((OUT / "sql" / "results.json").read_text())]
    wanted = args.group or [*GROUPS, "locks", "sql"]
    pg_url = os.environ.get("TEST_DATABASE_URL", "")
    for group in [g for g in wanted if g in [*GROUPS, "locks"] and not args.report_only]:
        if group == "locks" and not pg_url:
            print("group locks: not run (TEST_DATABASE_URL is not set)", flush=True)
            continue
        found, dest, seconds = run_group(group, args.max_children)
        if not found:  # mutmut missing or failed: no figures are better than a 0-of-0 "pass"
            print(f"group {group}: mutmut produced no results (is it installed? `pip install "
                  f"-e '.[mutation]'`); see {dest / 'mutmut-run.log'}", file=sys.stderr)
            return 1
        total_seconds += seconds
        dests[group] = dest
        mutants += found
        print(f"group {group}: {len(found)} mutants in {seconds / 60:.1f} min", flush=True)
    if "sql" in wanted and not args.report_only:
        found, seconds = run_sql_mutants(args.max_children)
        total_seconds += seconds
        mutants += found
        print(f"group sql: {len(found)} mutants in {seconds / 60:.1f} min", flush=True)
    mutants = _merge_locks(mutants)

    print(f"\n{'module':<24}{'mutants':>8}{'killed':>8}{'equiv':>7}{'survived':>9}{'rate':>8}")
    modules = sorted({m.module for m in mutants})
    skipped = [m for m in mutants if m.status.startswith(NOT_RUN)]
    mutants = [m for m in mutants if not m.status.startswith(NOT_RUN)]
    for m in mutants:
        if m.status == STALE_STATUS:
            equivalent.pop(m.name, None)
    survivors = [m for m in mutants if m.status not in KILLED and m.name not in equivalent]
    for module in modules:
        mine = [m for m in mutants if m.module == module]
        if not mine:
            continue
        killed = sum(m.status in KILLED for m in mine)
        eq = sum(m.name in equivalent and m.status not in KILLED for m in mine)
        counted = len(mine) - eq
        rate = 100.0 * killed / counted if counted else 100.0
        print(f"{module:<24}{len(mine):>8}{killed:>8}{eq:>7}{counted - killed:>9}{rate:>7.1f}%")
    killed = sum(m.status in KILLED for m in mutants)
    counted = len(mutants) - sum(m.name in equivalent and m.status not in KILLED for m in mutants)
    print(f"{'total':<24}{len(mutants):>8}{killed:>8}{len(mutants) - counted:>7}"
          f"{counted - killed:>9}{100.0 * killed / max(counted, 1):>7.1f}%")
    print(f"time: {total_seconds / 60:.1f} min in the groups, "
          f"{(time.monotonic() - wall) / 60:.1f} min wall")
    unchecked = [m for m in skipped if m.status == "not checked"]
    if unchecked:  # an interrupted run: its figures cover the mutants it reached
        print(f"  not counted: {len(unchecked)} mutants not checked (run interrupted)")
    for m in skipped:
        if m.status != "not checked":
            print(f"  not counted: {m.name}: {m.status}")

    print(f"\nsurvivors ({len(survivors)}):")
    for m in survivors:
        line = f"  {m.name}: {m.status}"
        if args.show_diffs and m.group == "sql":
            rel, old, new, _backend = SQL_MUTANTS[int(m.name.rsplit("_", 1)[1]) - 1]
            line += f"    {old!r} -> {new!r}"
        elif args.show_diffs:
            line += f"    {_diff(dests[m.group], m.name)}"
        print(line)
    report = {"mutants": [m.__dict__ for m in mutants], "seconds": round(total_seconds),
              "equivalent": equivalent}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), "utf-8")
    print(f"\nreport: {OUT / 'report.json'}; inspect a mutant with "
          f"`cd {OUT}/<group> && mutmut show NAME`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
