"""people import: validation with line numbers, all-or-nothing, idempotence, updates, demo data.

Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL (the ``engine`` fixture).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, update

from rules import importer, people_rows
from rules.db import create_schema, make_engine
from rules.demo import DEMO, DEMO_CSV, load_demo_if_empty
from rules.identity import make_id, normalize_id, normalize_phone
from rules.importer import COLUMNS, ImportRefused, import_people
from rules.money import AmountError, parse_yuan
from rules.policy import Policies
from rules.schema import Person

POLICIES = Policies.load()
HOLDER = make_id("37050219780315011")   # Dongying
RELATIVE = make_id("37010219500311024")  # Jinan
HAINAN = make_id("46010619830919026")
BAD_CHECK = HOLDER[:-1] + ("1" if HOLDER[-1] != "1" else "2")


def row(id_number: str = HOLDER, **over: str) -> dict[str, str]:
    base = {
        "id_number": id_number, "name": "张建国", "phone": "13905461001", "province": "山东省",
        "city": "东营市", "scheme": "employee", "employment": "employed", "status": "active",
        "lapsed_since": "", "balance": "1000.00", "monthly_credit": "200.00",
    }
    base.update(over)
    return base


def three_rows() -> list[dict[str, str]]:
    return [
        row(),
        row(RELATIVE, name="王桂英", phone="", city="济南市", scheme="resident", employment="",
            balance="0", monthly_credit="0"),
        row(HAINAN, name="陈海燕", phone="+86 139-0898-1012", province="海南省", city="海口市",
            status="lapsed", lapsed_since="2026-08", balance="600.5", monthly_credit="120"),
    ]


def write(tmp_path: Path, rows: list[dict[str, str]], *, columns: Sequence[str] = COLUMNS,
          bom: bool = False, name: str = "people.csv") -> Path:
    path = tmp_path / name
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(columns)
        for r in rows:
            out.writerow([r.get(c, "") for c in columns])
    return path


def people(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Person.__table__)).mappings().all()
    return {r["id_number"]: dict(r) for r in rows}


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Person)).scalar_one()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """For validation cases, where the backend does not matter: SQLite only, to stay fast.
    Writing, updating and rolling back run on every backend through ``engine``."""
    eng = make_engine(f"sqlite:///{tmp_path / 'validation.db'}")
    create_schema(eng)
    yield eng
    eng.dispose()


# --- good files ---------------------------------------------------------------------------

def test_good_import_stores_normalised_values(engine: Engine, tmp_path: Path) -> None:
    report = import_people(engine, write(tmp_path, three_rows()), POLICIES)
    assert (report.rows, report.inserted, report.updated, report.unchanged) == (3, 3, 0, 0)
    stored = people(engine)
    holder, relative, hainan = stored[HOLDER], stored[RELATIVE], stored[HAINAN]
    assert holder["region"] == "dongying"
    assert (holder["balance"], holder["opening_balance"], holder["monthly_credit"]) \
        == (100000, 100000, 20000)
    assert (relative["region"], relative["phone"], relative["employment"], relative["balance"]) \
        == ("jinan", None, None, 0)
    assert (hainan["region"], hainan["phone"], hainan["status"], hainan["lapsed_since"]) \
        == ("hainan", "13908981012", "lapsed", "2026-08")
    assert hainan["balance"] == hainan["opening_balance"] == 60050


def test_reimport_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, three_rows())
    import_people(engine, path, POLICIES)
    before = people(engine)
    again = import_people(engine, path, POLICIES)
    assert (again.inserted, again.updated, again.unchanged, again.balance_differs) == (0, 0, 3, 0)
    assert people(engine) == before


def test_update_changes_fields_but_never_the_balance(engine: Engine, tmp_path: Path) -> None:
    import_people(engine, write(tmp_path, three_rows()), POLICIES)
    changed = three_rows()
    changed[0] = row(name="张建国", phone="13905469999", city="济南市", status="lapsed",
                     lapsed_since="2026-09", balance="5.00", monthly_credit="250")
    report = import_people(engine, write(tmp_path, changed, name="v2.csv"), POLICIES)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 2)
    assert report.balance_differs == 1
    holder = people(engine)[HOLDER]
    assert (holder["phone"], holder["city"], holder["region"], holder["status"]) \
        == ("13905469999", "济南市", "jinan", "lapsed")
    assert (holder["lapsed_since"], holder["monthly_credit"]) == ("2026-09", 25000)
    assert holder["balance"] == holder["opening_balance"] == 100000


def test_ledger_balance_wins_over_the_csv(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, three_rows())
    import_people(engine, path, POLICIES)
    with engine.begin() as conn:  # money moved after the first import
        conn.execute(update(Person).where(Person.id_number == HOLDER).values(balance=90000))
    report = import_people(engine, path, POLICIES)
    assert (report.unchanged, report.updated, report.balance_differs) == (3, 0, 1)
    assert people(engine)[HOLDER]["balance"] == 90000


def test_new_and_existing_people_mixed_in_small_batches(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "BATCH", 2)
    first = [row(make_id(f"3705021980010100{i}"), name=f"甲{i}") for i in range(5)]
    import_people(engine, write(tmp_path, first), POLICIES)
    second = [row(make_id(f"3705021980010100{i}"), name=f"乙{i}") for i in range(8)]
    report = import_people(engine, write(tmp_path, second, name="v2.csv"), POLICIES)
    assert (report.inserted, report.updated, report.unchanged) == (3, 5, 0)
    assert sorted(p["name"] for p in people(engine).values()) == [f"乙{i}" for i in range(8)]


def test_bom_and_any_column_order_are_accepted(engine: Engine, tmp_path: Path) -> None:
    columns = list(reversed(COLUMNS))
    path = write(tmp_path, three_rows(), columns=columns, bom=True)
    report = import_people(engine, path, POLICIES)
    assert report.inserted == 3
    assert people(engine)[HOLDER]["balance"] == 100000


@pytest.mark.parametrize("written", [
    HOLDER.translate(str.maketrans("0123456789", "０１２３４５６７８９")),  # full-width digits
    HOLDER[:6] + "\u200b" + HOLDER[6:],                                  # zero-width space
    "\ufeff" + HOLDER + "\u200d",
    f"  {HOLDER}  ",
    HOLDER[:6] + " " + HOLDER[6:14] + " " + HOLDER[14:],
])
def test_id_numbers_are_normalised(sqlite_engine: Engine, tmp_path: Path, written: str) -> None:
    import_people(sqlite_engine, write(tmp_path, [row(written)]), POLICIES)
    assert list(people(sqlite_engine)) == [HOLDER]


def test_lowercase_x_check_character_is_uppercased(sqlite_engine: Engine, tmp_path: Path) -> None:
    with_x = next(i for s in range(1000) if (i := make_id(f"37050219800101{s:03d}"))[-1] == "X")
    import_people(sqlite_engine, write(tmp_path, [row(with_x.lower())]), POLICIES)
    assert list(people(sqlite_engine)) == [with_x]


@pytest.mark.parametrize("phone,stored", [
    ("13905461001", "13905461001"), ("+86 139-0546-1001", "13905461001"),
    ("139 0546 1001", "13905461001"), ("0086 13905461001", "13905461001"), ("", None), ("  ", None),
])
def test_phones_are_normalised(sqlite_engine: Engine, tmp_path: Path, phone: str,
                               stored: str | None) -> None:
    import_people(sqlite_engine, write(tmp_path, [row(phone=phone)]), POLICIES)
    assert people(sqlite_engine)[HOLDER]["phone"] == stored


@pytest.mark.parametrize("amount,fen", [
    ("0", 0), ("0.00", 0), ("12.5", 1250), ("12.05", 1205), ("1,000.50", 100050), ("¥12.50", 1250),
    ("１２", 1200), ("7元", 700),
])
def test_amounts_become_fen(sqlite_engine: Engine, tmp_path: Path, amount: str, fen: int) -> None:
    path = write(tmp_path, [row(balance=amount, monthly_credit=amount)])
    import_people(sqlite_engine, path, POLICIES)
    stored = people(sqlite_engine)[HOLDER]
    assert (stored["balance"], stored["monthly_credit"]) == (fen, fen)


@pytest.mark.parametrize("over,stored", [
    ({"scheme": "Employee", "employment": " RETIRED", "status": "Active "},
     ("employee", "retired", "active", None)),
    ({"scheme": "resident", "employment": "", "status": "LAPSED", "lapsed_since": " 2026-01 "},
     ("resident", None, "lapsed", "2026-01")),
    ({"scheme": "none", "employment": " ", "status": "active"}, ("none", None, "active", None)),
])
def test_kinds_ignore_case_and_spaces(sqlite_engine: Engine, tmp_path: Path, over: dict[str, str],
                                      stored: tuple[str, str | None, str, str | None]) -> None:
    import_people(sqlite_engine, write(tmp_path, [row(**over)]), POLICIES)
    p = people(sqlite_engine)[HOLDER]
    assert (p["scheme"], p["employment"], p["status"], p["lapsed_since"]) == stored


def test_blank_lines_are_skipped(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, three_rows())
    content = path.read_text(encoding="utf-8").replace("\n", "\n\n", 1)
    path.write_text(content + ",,,,,,,,,,\n\n", encoding="utf-8")
    report = import_people(sqlite_engine, path, POLICIES)
    assert (report.rows, report.inserted) == (3, 3)


def test_line_numbers_count_blank_and_multiline_records(sqlite_engine: Engine,
                                                        tmp_path: Path) -> None:
    header = ",".join(COLUMNS)
    good = ",".join(row().values())
    quoted = ",".join(row(RELATIVE, name='"王\n桂英"', city="济南市").values())
    bad = ",".join(row(HAINAN, scheme="x").values())
    path = tmp_path / "people.csv"
    path.write_text("\n".join([header, "", good, quoted, "", bad]) + "\n", encoding="utf-8")
    with pytest.raises(ImportRefused) as refused:
        import_people(sqlite_engine, path, POLICIES)
    assert [line for line, _ in refused.value.errors] == [7]


def test_header_only_file_imports_nothing(sqlite_engine: Engine, tmp_path: Path) -> None:
    report = import_people(sqlite_engine, write(tmp_path, []), POLICIES)
    assert (report.rows, report.inserted) == (0, 0)


# --- bad files: refused with line numbers, nothing written ---------------------------------

BAD_ROWS = [
    pytest.param({"id_number": BAD_CHECK}, "身份证号无效（校验位不对）", id="check-digit"),
    pytest.param({"id_number": make_id("37050219900230011")}, "（出生日期不对）", id="feb-30"),
    pytest.param({"id_number": make_id("37050221000101011")}, "（出生日期不对）", id="future"),
    pytest.param({"id_number": make_id("37050218991231011")}, "（出生日期不对）", id="before-1900"),
    pytest.param({"id_number": "12345"}, "应为 18 位", id="short-id"),
    pytest.param({"id_number": HOLDER[:17] + "Y"}, "应为 18 位", id="letter-y"),
    pytest.param({"id_number": ""}, "身份证号为空", id="empty-id"),
    pytest.param({"name": " "}, "姓名为空", id="empty-name"),
    pytest.param({"name": "张" * 65}, "姓名过长", id="long-name"),
    pytest.param({"phone": "12345"}, "手机号无效", id="short-phone"),
    pytest.param({"phone": "23905461001"}, "手机号无效", id="not-mobile"),
    pytest.param({"province": ""}, "省份为空", id="no-province"),
    pytest.param({"scheme": "company"}, "scheme", id="bad-scheme"),
    pytest.param({"scheme": ""}, "scheme", id="empty-scheme"),
    pytest.param({"employment": "boss"}, "employment", id="bad-employment"),
    pytest.param({"employment": ""}, "必须填写 employment", id="employee-without-employment"),
    pytest.param({"status": "gone"}, "status", id="bad-status"),
    pytest.param({"status": "lapsed"}, "必须填写 lapsed_since", id="lapsed-without-month"),
    pytest.param({"lapsed_since": "2026-08"}, "应留空", id="active-with-month"),
    pytest.param({"status": "lapsed", "lapsed_since": "2026-13"}, "YYYY-MM", id="month-13"),
    pytest.param({"status": "lapsed", "lapsed_since": "202608"}, "YYYY-MM", id="month-format"),
    pytest.param({"status": "lapsed", "lapsed_since": "2999-01"}, "不能晚于本月",
                 id="future-month"),
    pytest.param({"balance": "1.234"}, "balance 金额无效", id="three-decimals"),
    pytest.param({"balance": "-5"}, "balance 金额无效", id="negative"),
    pytest.param({"balance": ""}, "balance 金额无效", id="empty-balance"),
    pytest.param({"balance": "1e3"}, "balance 金额无效", id="exponent"),
    pytest.param({"monthly_credit": "abc"}, "monthly_credit 金额无效", id="credit-text"),
    pytest.param({"monthly_credit": "99999999999999"}, "monthly_credit 金额无效", id="absurd"),
]


@pytest.mark.parametrize("over,message", BAD_ROWS)
def test_bad_row_is_refused_with_its_line_and_nothing_written(
    sqlite_engine: Engine, tmp_path: Path, over: dict[str, str], message: str
) -> None:
    rows = three_rows()
    rows.insert(1, row(**{"id_number": make_id("37050219850721057"), **over}))  # line 3
    with pytest.raises(ImportRefused) as refused:
        import_people(sqlite_engine, write(tmp_path, rows), POLICIES)
    assert [line for line, _ in refused.value.errors] == [3]
    assert message in refused.value.errors[0][1]
    assert count(sqlite_engine) == 0


def test_a_row_with_several_problems_names_them_all(sqlite_engine: Engine, tmp_path: Path) -> None:
    bad = row(phone="1", scheme="x", status="lapsed", balance="1.234", monthly_credit="-1")
    with pytest.raises(ImportRefused) as refused:
        import_people(sqlite_engine, write(tmp_path, [bad]), POLICIES)
    (line, message), = refused.value.errors
    assert line == 2
    assert message.split("；") == [
        "手机号无效（应为 11 位手机号，可带 +86、空格或短横线）",
        "scheme 应为 employee、resident 或 none",
        "status 为 lapsed 时必须填写 lapsed_since（YYYY-MM）",
        "balance 金额无效（元，最多两位小数，不能为负）",
        "monthly_credit 金额无效（元，最多两位小数，不能为负）",
    ]


def test_errors_never_show_a_full_id_or_phone(sqlite_engine: Engine, tmp_path: Path) -> None:
    bad_check = BAD_CHECK
    rows = [row(), row(), row(bad_check), row(RELATIVE, phone="139054610011")]
    with pytest.raises(ImportRefused) as refused:
        import_people(sqlite_engine, write(tmp_path, rows), POLICIES)
    assert [line for line, _ in refused.value.errors] == [3, 4, 5]
    shown = " ".join(m for _, m in refused.value.errors)
    assert HOLDER[:4] + "*" * 10 + HOLDER[-4:] in shown
    for secret in (HOLDER, bad_check, "139054610011", "13905461001"):
        assert secret not in shown


@pytest.mark.parametrize("second", [HOLDER, HOLDER.lower(), "\u200b" + HOLDER, HOLDER + " "])
def test_duplicate_id_in_the_file_is_refused(sqlite_engine: Engine, tmp_path: Path,
                                             second: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        import_people(sqlite_engine, write(tmp_path, [row(), row(RELATIVE), row(second)]), POLICIES)
    assert refused.value.errors == [
        (4, f"身份证号与前面的行重复：{HOLDER[:4]}{'*' * 10}{HOLDER[-4:]}")]
    assert count(sqlite_engine) == 0


def test_duplicate_of_an_existing_person_is_refused(engine: Engine, tmp_path: Path) -> None:
    import_people(engine, write(tmp_path, three_rows()), POLICIES)
    with pytest.raises(ImportRefused) as refused:
        import_people(engine, write(tmp_path, [row(name="甲"), row(name="乙")], name="2"), POLICIES)
    assert [line for line, _ in refused.value.errors] == [3]
    assert people(engine)[HOLDER]["name"] == "张建国"


def test_refused_update_leaves_existing_people_untouched(engine: Engine, tmp_path: Path) -> None:
    import_people(engine, write(tmp_path, three_rows()), POLICIES)
    before = people(engine)
    rows = [row(name="改名"), row(make_id("37050219900210068"), name="新人"),
            row(RELATIVE, scheme="x")]
    with pytest.raises(ImportRefused):
        import_people(engine, write(tmp_path, rows, name="v2.csv"), POLICIES)
    assert people(engine) == before


def test_every_bad_row_is_reported_in_line_order(engine: Engine, tmp_path: Path) -> None:
    rows = [row(scheme="x"), row(RELATIVE), row(HAINAN, balance="1.001"),
            row(make_id("37050219900210068"), phone="1")]
    with pytest.raises(ImportRefused) as refused:
        import_people(engine, write(tmp_path, rows), POLICIES)
    assert [line for line, _ in refused.value.errors] == [2, 4, 5]
    assert count(engine) == 0


@pytest.mark.parametrize("columns,message", [
    (COLUMNS[:-1], "缺少列 monthly_credit"),
    ((*COLUMNS, "note"), "多出列 note"),
    ((*COLUMNS[:-1], "balance"), "重复列 balance"),
    (("身份证号", *COLUMNS[1:]), "缺少列 id_number"),
])
def test_bad_header_is_refused_on_line_1(sqlite_engine: Engine, tmp_path: Path,
                                         columns: tuple[str, ...], message: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        import_people(sqlite_engine, write(tmp_path, three_rows(), columns=columns), POLICIES)
    (line, text_), = refused.value.errors
    assert line == 1 and message in text_
    assert count(sqlite_engine) == 0


def test_row_with_wrong_number_of_fields_is_refused(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, three_rows())
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{RELATIVE},只有三列,13905311011\n")
    with pytest.raises(ImportRefused) as refused:
        import_people(sqlite_engine, path, POLICIES)
    assert refused.value.errors == [(5, "列数不对：应为 11 列，实际 3 列")]


@pytest.mark.parametrize("content,line,message", [
    (b"", 1, "文件为空"),
    (",".join(COLUMNS).encode() + b"\n" + "370502,张三".encode("gbk") + b"\n", 2, "UTF-8"),
    ("\n".join([",".join(COLUMNS), "a", "b", "370502,张三"]).encode("gb18030"), 4, "UTF-8"),
])
def test_unreadable_files_are_refused(sqlite_engine: Engine, tmp_path: Path, content: bytes,
                                      line: int, message: str) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(content)
    with pytest.raises(ImportRefused) as refused:
        import_people(sqlite_engine, path, POLICIES)
    assert refused.value.errors[0][0] == line and message in refused.value.errors[0][1]


# --- the fast paths agree with the reference normalisers -----------------------------------

VALIDATOR = people_rows.RowValidator(POLICIES)
VALID_IDS = st.builds(  # well-formed IDs, some born before 1900 or in the future, some "x"
    lambda born, seq, lower: make_id(f"370502{born:%Y%m%d}{seq:03d}").translate(lower),
    st.dates(date(1890, 1, 1), date(2040, 12, 31)), st.integers(0, 999),
    st.sampled_from([{}, {ord("X"): "x"}]),
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.from_regex(r"[0-9]{17}[0-9Xx]", fullmatch=True), VALID_IDS))
def test_fast_id_check_agrees_with_normalize_id(text_: str) -> None:
    try:
        fast: str | None = VALIDATOR.id_number(text_)
    except people_rows.RowError:
        fast = None
    assert fast == normalize_id(text_)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"-?[0-9]{1,14}(\.[0-9]{0,3})?", fullmatch=True))
def test_fast_amount_agrees_with_parse_yuan(text_: str) -> None:
    try:
        expected: int | None = parse_yuan(text_, allow_zero=True)
    except AmountError:
        expected = None
    try:
        fast: int | None = people_rows._fen(text_, "balance")
    except people_rows.RowError:
        fast = None
    assert fast == expected


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"(\+86 ?)?1[0-9]{2}[ -]?[0-9]{4}[ -]?[0-9]{4}|[0-9 ]{0,12}", fullmatch=True))
def test_fast_phone_agrees_with_normalize_phone(text_: str) -> None:
    try:
        fast: str | None = people_rows.RowValidator.phone(text_)
    except people_rows.RowError:
        fast = None
    assert fast == (normalize_phone(text_) if text_.strip() else None)


# --- the bundled demo people ---------------------------------------------------------------

def test_demo_csv_matches_demo_constant() -> None:
    with open(DEMO_CSV, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        assert tuple(next(reader)) == COLUMNS
        assert list(reader) == [p.csv_row() for p in DEMO]


def test_demo_people_are_valid_and_cover_the_cast() -> None:
    assert len({p.id_number for p in DEMO}) == len({p.phone for p in DEMO}) == len(DEMO)
    for p in DEMO:
        assert normalize_id(p.id_number) == p.id_number
        assert normalize_phone(p.phone) == p.phone
        assert POLICIES.region_for(p.province, p.city) == p.region
    kinds = {(p.region, p.scheme, p.employment, p.status) for p in DEMO}
    assert ("dongying", "employee", "employed", "active") in kinds
    assert ("dongying", "employee", "flexible", "active") in kinds
    assert ("dongying", "none", "", "active") in kinds
    assert ("dongying", "employee", "employed", "lapsed") in kinds
    assert {"dongying", "jinan", "hainan", "jian"} <= {p.region for p in DEMO}
    jinan_householders = [p for p in DEMO if p.region == "jinan" and p.scheme == "employee"]
    assert len(jinan_householders) >= 2


def test_load_demo_if_empty_loads_once(engine: Engine) -> None:
    assert load_demo_if_empty(engine, POLICIES) is True
    assert load_demo_if_empty(engine, POLICIES) is False
    stored = people(engine)
    assert set(stored) == {p.id_number for p in DEMO}
    holder = stored[DEMO[0].id_number]
    assert (holder["name"], holder["balance"], holder["region"]) == ("张建国", 100000, "dongying")


def test_load_demo_skips_a_database_with_people(engine: Engine, tmp_path: Path) -> None:
    import_people(engine, write(tmp_path, [row(make_id("11010119900101001"))]), POLICIES)
    assert load_demo_if_empty(engine, POLICIES) is False
    assert count(engine) == 1


