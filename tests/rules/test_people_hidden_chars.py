"""Review L8: control and format characters in CSV names and places are refused with the line
number, the same way on SQLite and on PostgreSQL (which refuses NUL itself), writing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from rules.importer import ImportRefused, import_people
from tests.rules.test_importer import (
    HAINAN,
    HOLDER,
    POLICIES,
    RELATIVE,
    count,
    people,
    row,
    three_rows,
    write,
)

BAD = [
    ("name", "张\x00三"), ("name", "张\x01三"), ("name", "\u202e张三"), ("name", "张三\u202c"),
    ("name", "张\u200b三"), ("name", "张\u2066三\u2069"), ("name", "张三\x7f"),
    ("name", "\u061c张三"), ("province", "山东\x00省"), ("province", "山东\u200e省"),
    ("city", "东营\x1b市"), ("city", "东营市\ufeff"),
]


@pytest.mark.parametrize("column,value", BAD, ids=[f"{c}-{v.encode('unicode_escape').decode()}"
                                                  for c, v in BAD])
def test_hidden_characters_are_refused_with_the_line(engine: Engine, tmp_path: Path, column: str,
                                                      value: str) -> None:
    rows = three_rows()
    rows[1] = {**rows[1], column: value}  # line 3 of the file (the header is line 1)
    with pytest.raises(ImportRefused) as refused:
        import_people(engine, write(tmp_path, rows), POLICIES)
    (line, message), = refused.value.errors
    hidden = next(c for c in value if c not in "张三山东省东营市")
    assert line == 3 and "控制字符" in message and f"U+{ord(hidden):04X}" in message
    assert count(engine) == 0  # all or nothing


def test_line_breaks_and_tabs_fold_into_one_space(engine: Engine, tmp_path: Path) -> None:
    import_people(engine, write(tmp_path, [row(name="欧阳\t\r\n娜娜")]), POLICIES)
    assert people(engine)[HOLDER]["name"] == "欧阳 娜娜"


def test_ordinary_names_still_import(engine: Engine, tmp_path: Path) -> None:
    rows = [row(name="欧阳 娜娜"), row(RELATIVE, name="Zhang San-Li", phone="", city="济南市",
                                      scheme="resident", employment="", balance="0",
                                      monthly_credit="0"),
            row(HAINAN, name="阿依古丽·买买提", phone="", province="海南省", city="海口市")]
    report = import_people(engine, write(tmp_path, rows), POLICIES)
    assert report.inserted == 3
