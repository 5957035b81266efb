"""A Jinan family for the replica tests and the bench: one householder with ¥500.00 and N
relatives with empty accounts (so every settlement needs family money and a 确认 press).

People come in through the real CSV importer; Telegram users are linked by inserting Link rows
(the linking conversation itself is covered by test_e2e_polling.py).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select

import bot.state  # noqa: F401  (bot tables share the metadata)
from bot.state import Link
from rules.identity import make_id
from rules.importer import COLUMNS, import_people
from rules.policy import Policies
from rules.schema import LedgerEntry, Person, Transaction
from tests.fakes.fake_bot_api import FakeBotApi
from tests.fakes.updates import buttons

RELATIONS = ["配偶", "父母", "父母", "子女", "子女", "兄弟姐妹", "兄弟姐妹", "祖父母"]
HOUSEHOLDER_USER = 5000


@dataclass(frozen=True)
class Member:
    user_id: int
    id_number: str
    name: str
    relation: str  # "" for the householder


@dataclass(frozen=True)
class Family:
    householder: Member
    relatives: list[Member]
    householder_fen: int


def _row(id_number: str, name: str, phone: str, scheme: str, employment: str, balance: str,
         ) -> dict[str, str]:
    return {"id_number": id_number, "name": name, "phone": phone, "province": "山东省",
            "city": "济南市", "scheme": scheme, "employment": employment, "status": "active",
            "lapsed_since": "", "balance": balance, "monthly_credit": "0.00"}


def seed_families(engine: Engine, tmp: Path, families: int = 1, relatives: int = 8,
                  householder_yuan: int = 500) -> list[Family]:
    """Import the families from one CSV (through the real importer) and link every member."""
    assert families <= 100 and relatives <= 9
    plan = []
    for f in range(families):
        base = HOUSEHOLDER_USER + f * 100
        head = Member(base, make_id(f"37010219700101{f:02d}1"), f"赵家长{f}", "")
        members = [Member(base + 1 + i, make_id(f"370102199{i}0203{f:02d}2"),
                          f"赵亲属{f}{'一二三四五六七八九'[i]}", RELATIONS[i % len(RELATIONS)])
                   for i in range(relatives)]
        plan.append(Family(head, members, householder_yuan * 100))
    path = tmp / "families.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        writer.writeheader()
        for fam in plan:
            head = fam.householder
            writer.writerow(_row(head.id_number, head.name, f"139{head.user_id:08d}", "employee",
                                 "employed", f"{householder_yuan}.00"))
            writer.writerows(_row(m.id_number, m.name, f"139{m.user_id:08d}", "resident", "",
                                  "0.00") for m in fam.relatives)
    import_people(engine, path, Policies.load())
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        ids = dict(conn.execute(select(Person.id_number, Person.id)).all())
        conn.execute(insert(Link), [
            {"user_id": m.user_id, "person_id": ids[m.id_number], "linked_at": now}
            for fam in plan for m in [fam.householder, *fam.relatives]])
    return plan


def seed_family(engine: Engine, tmp: Path, relatives: int = 8, householder_yuan: int = 500,
                ) -> Family:
    """One family (see :func:`seed_families`)."""
    return seed_families(engine, tmp, 1, relatives, householder_yuan)[0]


def bind_directly(engine: Engine, family: Family) -> None:
    """Open the account and bind every relative through FamilyService (no chat)."""
    from rules.clock import SystemClock
    from rules.service import FamilyService

    svc = FamilyService(engine, Policies.load(), SystemClock())
    with engine.connect() as conn:
        head = int(conn.scalar(select(Person.id).where(
            Person.id_number == family.householder.id_number)) or 0)
    svc.open_account(head, letter_version="bench", letter_sha256="0" * 64, key=f"open:{head}")
    for m in family.relatives:
        d = svc.bind(head, m.id_number, m.name, m.relation, key=f"bind:{head}:{m.user_id}")
        assert d.ok, d


def last_button(fake: FakeBotApi, chat_id: int, prefix: str) -> tuple[str, int]:
    """``(callback_data, message_id)`` of the newest button starting with ``prefix`` that the
    bot sent to ``chat_id``."""
    for call in reversed(fake.calls("sendMessage")):
        if call.params.get("chat_id") != chat_id:
            continue
        for _label, data in buttons(call.params.get("reply_markup")):
            if data.startswith(prefix):
                return data, int(call.result["message_id"])
    raise AssertionError(f"no {prefix!r} button sent to {chat_id}: {fake.sent_texts(chat_id)[-3:]}")


def money_facts(engine: Engine, family: Family) -> dict[str, Any]:
    """What the ledger says about the family's settlements."""
    with engine.connect() as conn:
        head_id = conn.scalar(select(Person.id).where(
            Person.id_number == family.householder.id_number))
        balance = conn.scalar(select(Person.balance).where(Person.id == head_id))
        family_legs = conn.execute(
            select(LedgerEntry.txn_id, func.sum(LedgerEntry.delta_fen))
            .where(LedgerEntry.person_id == head_id, LedgerEntry.kind.like("settle%"))
            .group_by(LedgerEntry.txn_id)).all()
        # bills paid (a pinned summary or a refusal pays nothing and has no amount)
        settles = conn.scalar(select(func.count()).select_from(Transaction)
                              .where(Transaction.kind.like("settle%"),
                                     Transaction.amount_fen.is_not(None))) or 0
        ledger_rows = conn.scalar(select(func.count()).select_from(LedgerEntry)) or 0
    return {"householder_fen": balance, "family_legs": sorted(-int(t) for _id, t in family_legs),
            "settle_txns": settles, "ledger_rows": ledger_rows}
