"""The operator commands end to end through ``bot.__main__.main``: exit codes and messages.

``db_url`` is a fresh, empty database (no tables): ``people import`` must create the schema.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, update

from bot.__main__ import main
from rules.db import make_engine
from rules.demo import DEMO, DEMO_CSV
from rules.identity import make_id
from rules.importer import COLUMNS
from rules.schema import Person

HOLDER = DEMO[0]
Capsys = pytest.CaptureFixture[str]


def count_people(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("people"):
                return 0
            return conn.execute(select(func.count()).select_from(Person)).scalar_one()
    finally:
        engine.dispose()


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        out.writerows(rows)
    return path


def people_import(db_url: str, file: Path | str) -> int:
    return main(["people", "import", str(file), "--db", db_url])


def test_import_creates_schema_and_prints_a_summary(db_url: str, capsys: Capsys) -> None:
    assert people_import(db_url, DEMO_CSV) == 0
    out = capsys.readouterr().out
    assert f"共 {len(DEMO)} 行" in out and f"新增 {len(DEMO)} 人" in out and "更新 0 人" in out
    assert count_people(db_url) == len(DEMO)


def test_reimport_reports_unchanged(db_url: str, capsys: Capsys) -> None:
    assert people_import(db_url, DEMO_CSV) == 0
    assert people_import(db_url, DEMO_CSV) == 0
    out = capsys.readouterr().out.splitlines()[-1]
    assert f"新增 0 人，更新 0 人，未变 {len(DEMO)} 人" in out


def test_changed_balance_is_reported_not_overwritten(db_url: str, capsys: Capsys) -> None:
    assert people_import(db_url, DEMO_CSV) == 0
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(Person).where(Person.id_number == HOLDER.id_number).values(balance=1))
    assert people_import(db_url, DEMO_CSV) == 0
    assert "1 人的 CSV 余额与系统余额不同" in capsys.readouterr().out
    with engine.connect() as conn:
        query = select(Person.balance).where(Person.id_number == HOLDER.id_number)
        balance = conn.execute(query).scalar_one()
    engine.dispose()
    assert balance == 1


def test_bad_rows_are_listed_on_stderr_with_exit_1(
    db_url: str, tmp_path: Path, capsys: Capsys
) -> None:
    bad_check = HOLDER.id_number[:-1] + ("1" if HOLDER.id_number[-1] != "1" else "2")
    rows = [p.csv_row() for p in DEMO[:3]]
    rows[1][0] = bad_check
    rows[2][9] = "1.234"
    assert people_import(db_url, write_rows(tmp_path / "bad.csv", rows)) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert "没有写入" in lines[0]
    assert (lines[1].startswith("第3行: 身份证号无效")
            and lines[2].startswith("第4行: balance 金额无效"))
    assert bad_check not in captured.err and "Traceback" not in captured.err
    assert captured.out == ""
    assert count_people(db_url) == 0


@pytest.mark.parametrize("content,message", [
    (None, "找不到文件"),
    ("dir", "不是文件"),
    (b"", "第1行: 文件为空"),
    (",".join(COLUMNS).encode() + b"\n" + "张三".encode("gbk") + b"\n",
     "第2行: 文件不是 UTF-8 编码"),
    (b"id_number,name\n", "第1行: 表头不对"),
])
def test_unusable_files_give_a_message_not_a_traceback(
    tmp_path: Path, capsys: Capsys, content: bytes | str | None, message: str,
) -> None:
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"  # file checks: the backend does not matter
    path = tmp_path / "people.csv"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    assert people_import(db_url, path) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unreachable_database_is_a_message(tmp_path: Path, capsys: Capsys) -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2"
    assert people_import(url, DEMO_CSV) == 1
    err = capsys.readouterr().err
    assert err.startswith("数据库错误") and "secret" not in err


def test_errors_do_not_leak_phones(tmp_path: Path, capsys: Capsys) -> None:
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    rows = [p.csv_row() for p in DEMO[:2]]
    rows[1][2] = "139054610021"  # 12 digits
    assert people_import(db_url, write_rows(tmp_path / "bad.csv", rows)) == 1
    err = capsys.readouterr().err
    assert "第3行: 手机号无效" in err and "139054610021" not in err


def test_db_upgrade_creates_the_tables(db_url: str, capsys: Capsys) -> None:
    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert "数据库" in capsys.readouterr().out
    assert count_people(db_url) == 0
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert {"people", "ledger", "links"} <= set(inspect(conn).get_table_names())
    engine.dispose()
    assert people_import(db_url, DEMO_CSV) == 0  # an upgraded database takes an import


def test_audit_passes_on_a_clean_database(db_url: str, capsys: Capsys) -> None:
    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert main(["audit", "--db", db_url]) == 0
    assert "审计通过" in capsys.readouterr().out


def test_audit_passes_after_importing_people(db_url: str, capsys: Capsys) -> None:
    assert people_import(db_url, DEMO_CSV) == 0
    assert main(["audit", "--db", db_url]) == 0
    assert "审计通过" in capsys.readouterr().out


def test_audit_names_a_broken_balance(db_url: str, capsys: Capsys) -> None:
    assert people_import(db_url, DEMO_CSV) == 0
    engine = make_engine(db_url)
    with engine.begin() as conn:  # a balance that no ledger entry explains
        conn.execute(update(Person).where(Person.id_number == HOLDER.id_number).values(balance=1))
    engine.dispose()
    capsys.readouterr()
    assert main(["audit", "--db", db_url]) == 1
    out = capsys.readouterr().out
    assert "审计发现" in out and HOLDER.id_number not in out


def test_audit_on_a_database_without_tables(tmp_path: Path, capsys: Capsys) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    make_engine(url).connect().close()  # the file exists, with no tables (a missing file: L9)
    code = main(["audit", "--db", url])
    err = capsys.readouterr().err
    assert code == 1 and "还没有表" in err and "尚未安装" not in err


def test_a_new_person_file_imports_alongside_the_demo(
    db_url: str, tmp_path: Path, capsys: Capsys
) -> None:
    assert people_import(db_url, DEMO_CSV) == 0
    newcomer = [make_id("11010119900101001"), "新人", "13800000000", "北京市", "北京市", "resident",
                "", "active", "", "0", "0"]
    more = write_rows(tmp_path / "more.csv", [DEMO[0].csv_row(), newcomer])
    assert people_import(db_url, more) == 0
    assert "新增 1 人，更新 0 人，未变 1 人" in capsys.readouterr().out.splitlines()[-1]
    assert count_people(db_url) == len(DEMO) + 1


def test_db_upgrade_without_migrations_creates_the_tables(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "rules.migrate", None)  # as before migrations existed
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    assert "已按当前模型创建缺少的表" in capsys.readouterr().out
    assert people_import(url, DEMO_CSV) == 0


def test_audit_without_its_module_is_a_message(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "rules.audit", None)
    assert main(["audit", "--db", f"sqlite:///{tmp_path / 'a.db'}"]) == 1
    assert "尚未安装" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["people", "import", str(DEMO_CSV)], ["audit"], ["db", "upgrade"],
])
def test_a_bad_database_url_is_a_message(argv: list[str], capsys: Capsys) -> None:
    assert main([*argv, "--db", "nosuchdb://user:secret@host/db"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("数据库错误") and "secret" not in err and "Traceback" not in err
