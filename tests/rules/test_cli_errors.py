"""Review L9: every CLI error is one clear Chinese line on stderr and a non-zero exit code —
never a traceback, never the wrong culprit, never an empty database left behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.__main__ import main
from rules.db import DatabaseUrlError, make_engine
from rules.demo import DEMO_CSV

Capsys = pytest.CaptureFixture[str]
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def one_line_error(capsys: Capsys, argv: list[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code != 0, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and CHINESE.search(lines[0]), err
    assert "Traceback" not in err + out
    return lines[0]


@pytest.fixture
def under_a_file(tmp_path: Path) -> str:
    (tmp_path / "people.csv").write_text("x", encoding="utf-8")
    return f"sqlite:///{tmp_path / 'people.csv' / 'x.db'}"  # the parent is a file


@pytest.mark.parametrize("command", [
    ["db", "upgrade"], ["people", "import", str(DEMO_CSV)], ["kb", "taught"],
    ["console", "--script", "/dev/null"],
])
def test_an_uncreatable_sqlite_path_is_one_line(capsys: Capsys, under_a_file: str,
                                                command: list[str]) -> None:
    line = one_line_error(capsys, [*command, "--db", under_a_file])
    assert "不是文件夹" in line
    assert "无法读取文件" not in line  # the CSV is fine; the database path is not


def test_audit_on_a_bad_or_missing_sqlite_file_creates_nothing(capsys: Capsys, tmp_path: Path,
                                                              under_a_file: str) -> None:
    missing = tmp_path / "nowhere" / "gongji.db"
    assert "数据库文件不存在" in one_line_error(capsys, ["audit", "--db", f"sqlite:///{missing}"])
    assert not missing.exists() and not missing.parent.exists()
    assert "数据库文件不存在" in one_line_error(capsys, ["audit", "--db", under_a_file])


@pytest.mark.parametrize("url,says", [
    ("foo", "无法解析"), ("nosuch://x", "不支持的数据库类型"), ("mysql://u@h/x", "缺少数据库驱动"),
    ("sqlite:////proc/gongji-test/x.db", "无法创建"),
])
@pytest.mark.parametrize("command", [["audit"], ["db", "upgrade"],
                                     ["people", "import", str(DEMO_CSV)]])
def test_bad_urls_are_one_line(capsys: Capsys, url: str, says: str, command: list[str]) -> None:
    line = one_line_error(capsys, [*command, "--db", url])
    assert says in line or "数据库文件不存在" in line


def test_make_engine_names_the_problem(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("", encoding="utf-8")
    for url in ("foo", f"sqlite:///{tmp_path / 'f' / 'x.db'}", "nosuch://x"):
        with pytest.raises(DatabaseUrlError):
            make_engine(url)
