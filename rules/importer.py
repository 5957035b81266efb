"""Load or update insured people from the registry CSV (see shared/contract.md).

One pass over the file inside one database transaction: every row is validated, good rows
are written in large batches, and if any row is bad nothing is committed — the caller gets
``ImportRefused`` listing every bad row with its line number. Row validation
(``rules.people_rows``) has a fast path for the common, already-clean row (ASCII ID, 11-digit
phone, plain amounts) and falls back to the full normalisers in rules.identity / rules.money for
everything else, so a million rows import at well over 50,000 rows/s on SQLite.

Decisions where the contract is silent:
- the header must hold exactly the eleven columns, in any order (names case-insensitive);
- ``scheme``/``employment``/``status`` values are case-insensitive;
- ``phone`` may be empty (that person cannot link by sharing a contact until it is set); a
  present phone must be a mainland mobile number (``+86``, spaces, dashes allowed);
- ``employment`` is required for ``scheme=employee`` (it decides whether there is a personal
  account) and optional otherwise;
- ``lapsed_since`` is required when ``status=lapsed``, must be empty when ``active``, and may
  not lie after the current month;
- ``province`` is required; ``city`` may be empty (the province's policy then applies);
- two rows whose ID numbers are equal once normalised are duplicates;
- blank lines (also Excel's ``,,,,,,,,,,``) are skipped and not counted;
- a CSV ``balance`` only seeds a *new* person's ``opening_balance``/``balance``; an existing
  balance is never overwritten (the ledger is the truth once money has moved) — rows whose CSV
  balance differs from the stored one are counted in ``balance_differs``;
- "unchanged" is decided by comparing a hash of the stored fields with the row's (64-bit,
  per process): a collision, ~1e-13 for a million people, would only skip one update.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from rules.identity import clean_text, mask_id
from rules.people_rows import RowError, RowValidator
from rules.people_writer import BATCH, Writer, open_writer
from rules.policy import Policies

COLUMNS = (
    "id_number", "name", "phone", "province", "city", "scheme", "employment",
    "status", "lapsed_since", "balance", "monthly_credit",
)


class ImportRefused(Exception):
    """The file was refused; ``errors`` lists ``(line_no, message)``, nothing was written."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} bad row(s)")


@dataclass
class ImportReport:
    """What one import did. ``rows`` counts data rows (blank lines excluded)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rows: int = 0
    balance_differs: int = 0
    seconds: float = field(default=0.0, compare=False)


def import_people(engine: Engine, path: str | Path, policies: Policies) -> ImportReport:
    """Validate and load ``path`` into ``people``: all rows or none.

    Raises ImportRefused (bad rows, bad header, empty file, not UTF-8) and OSError when the
    file cannot be opened.
    """
    started = time.perf_counter()
    with open_writer(engine) as writer:
        run = _Run(RowValidator(policies), writer, writer.existing())
        errors: list[tuple[int, str]] = []
        for line_no, raw in _read_rows(path, errors):
            message = run.row(raw, collect=not errors)
            if message:
                errors.append((line_no, message))
        if errors:
            raise ImportRefused(sorted(errors))  # open_writer rolls back
        report = run.finish()
        writer.commit()
    report.seconds = time.perf_counter() - started
    return report


_SEEN: Any = object()  # marks an existing person already met in this file


class _Run:
    """One import's bookkeeping: which IDs were met, what to insert, what to update."""

    def __init__(self, validator: RowValidator, writer: Writer,
                 existing: dict[str, tuple[int, int]]) -> None:
        self.validator, self.writer, self.existing = validator, writer, existing
        self.new_ids: set[str] = set()
        self.inserts: list[tuple[Any, ...]] = []
        self.updates: list[tuple[Any, ...]] = []
        self.report = ImportReport()

    def row(self, raw: list[str], *, collect: bool) -> str | None:
        """Validate one row and queue its write; the error message, or None when good."""
        self.report.rows += 1
        try:
            id_number, fields, balance = self.validator.row(raw)
        except RowError:
            return self.validator.explain(raw)
        known = self.existing.get(id_number) if self.existing else None
        if known is _SEEN or id_number in self.new_ids:
            return f"身份证号与前面的行重复：{mask_id(id_number)}"
        if known is None:
            self.new_ids.add(id_number)
            if collect:
                self.inserts.append((id_number, *fields, balance, balance))
                if len(self.inserts) >= BATCH:
                    self.writer.insert(self.inserts)
                    self.inserts = []
            return None
        self.existing[id_number] = _SEEN
        stored_hash, stored_balance = known
        self.report.balance_differs += stored_balance != balance
        if hash(fields) == stored_hash:
            self.report.unchanged += 1
        elif collect:
            self.updates.append((*fields, id_number))
        return None

    def finish(self) -> ImportReport:
        self.writer.insert(self.inserts)
        self.writer.update(self.updates)
        self.report.inserted = len(self.new_ids)
        self.report.updated = len(self.updates)
        return self.report


def _read_rows(
    path: str | Path, errors: list[tuple[int, str]]
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_no, fields)`` for each non-blank data row, in file column order.

    Header problems, an empty file and undecodable bytes raise ImportRefused right away; a
    row with the wrong number of fields is appended to ``errors`` and skipped.
    """
    last = 0
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            order = _header(next(reader, None))
            width = len(COLUMNS)
            last = reader.line_num
            for raw in reader:
                line_no, last = last + 1, reader.line_num
                if (not raw or not raw[0]) and not "".join(raw).strip():
                    continue  # a blank line, or Excel's ",,,,,,,,,,"
                if len(raw) != width:
                    errors.append((line_no, f"列数不对：应为 {width} 列，实际 {len(raw)} 列"))
                    continue
                yield line_no, ([raw[i] for i in order] if order else raw)
    except UnicodeDecodeError:
        raise ImportRefused([(_first_undecodable_line(path), _NOT_UTF8)]) from None
    except csv.Error as exc:
        raise ImportRefused([(last + 1, f"CSV 格式错误：{exc}")]) from None


_NOT_UTF8 = "文件不是 UTF-8 编码（用 Excel 时请另存为“CSV UTF-8”格式）"


def _header(header: list[str] | None) -> list[int] | None:
    """Column positions in contract order, or None when the file already uses it."""
    if header is None:
        raise ImportRefused([(1, "文件为空：第一行应为表头 " + ",".join(COLUMNS))])
    names = [clean_text(h).lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    extra = [n for n in names if n not in COLUMNS]
    dupes = sorted({n for n in names if names.count(n) > 1})
    problems = []
    if missing:
        problems.append("缺少列 " + ",".join(missing))
    if extra:
        problems.append("多出列 " + ",".join(n or "(空)" for n in extra))
    if dupes:
        problems.append("重复列 " + ",".join(dupes))
    if problems:
        raise ImportRefused([(1, "表头不对：" + "；".join(problems))])
    order = [names.index(c) for c in COLUMNS]
    return None if order == list(range(len(COLUMNS))) else order


def _first_undecodable_line(path: str | Path) -> int:
    with open(path, "rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return line_no
    return 1
