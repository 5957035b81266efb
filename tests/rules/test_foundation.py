"""The foundation: identity, money, policies, schema on every backend."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from rules.identity import make_id, mask_id, mask_phone, normalize_id, normalize_phone, redact
from rules.money import AmountError, format_fen, parse_yuan
from rules.policy import Policies


@pytest.mark.parametrize("text,fen", [
    ("120", 12000), ("120.5", 12050), ("¥120.50", 12050), ("120元", 12000),
    ("１２０", 12000), ("￥0.01", 1), (" 1,000 ", 100000),
])
def test_parse_yuan(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["0", "-5", "1.234", "1e3", "abc", "", "nan", "99999999999999"])
def test_parse_yuan_rejects(text: str) -> None:
    with pytest.raises(AmountError):
        parse_yuan(text)


def test_format_fen_two_decimals() -> None:
    assert format_fen(90000) == "¥900.00"
    assert format_fen(5) == "¥0.05"


def test_id_number_rules() -> None:
    good = make_id("37010219900101123")
    assert normalize_id(good) == good
    assert normalize_id("\u200b" + good[:-1] + good[-1].lower() + " ") == good
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert normalize_id(bad_check) is None
    assert normalize_id(make_id("37010219900230123")) is None  # 30 February
    assert mask_id(good) == "3701**********" + good[-4:]


def test_phone_and_redact() -> None:
    assert normalize_phone("+86 138-1234-5678") == "13812345678"
    assert normalize_phone("12345") is None
    assert mask_phone("13812345678") == "138****5678"
    good = make_id("37010219900101123")
    out = redact(f"我的身份证{good}，电话13812345678")
    assert good not in out and "13812345678" not in out


def test_policies_load_and_map_cities() -> None:
    p = Policies.load()
    assert p.region_for("山东省", "东营市") == "dongying"
    assert p.region_for("海南省", "三亚市") == "hainan"
    assert p.region_for("江苏省", "南京市") == "national"
    assert p.get("dongying").max_relatives == 7
    assert p.relation("岳父") == "parent_in_law"


def test_policy_unknown_key_names_file_and_key(tmp_path) -> None:
    bad = tmp_path / "regions.yaml"
    bad.write_text("regions:\n  x:\n    name: X\n    default: true\n    relations: [cousin]\n"
                   "    scope: same_province\n    settlement: ordered\n    family_purposes: []\n",
                   encoding="utf-8")
    with pytest.raises(ValueError, match=r"regions\.x\.relations"):
        Policies.load(bad)


def test_schema_created(engine) -> None:
    names = set(inspect(engine).get_table_names())
    assert {"people", "bindings", "ledger", "transactions", "links", "confirmations"} <= names
