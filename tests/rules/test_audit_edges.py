"""Each audit check on its own, corrupted in both directions and at its edge, with the exact
line it must print (rules/audit.py). A sound scene passes every check first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, insert, select, text, update

from rules import audit as checks
from rules.audit import audit
from rules.schema import Binding, LedgerEntry, Person, Transaction, Wallet
from tests.rules.conftest import Snapshots
from tests.rules.test_audit import Scene, sound_scene
from tests.rules.test_wallets import Family, cheap_kdf  # noqa: F401  (autouse fixture)

NOW = datetime(2026, 11, 1, 2, 0)


def _check(engine: Engine, check: Callable[[Connection], list[str]]) -> list[str]:
    with engine.connect() as conn:
        return check(conn)


def _txn(conn: Connection, key: str) -> tuple[int, Any, Any]:
    row = conn.execute(select(Transaction.id, Transaction.amount_fen, Transaction.cash_fen)
                       .where(Transaction.key == key)).one()
    return int(row[0]), row[1], row[2]


def _set_balance(conn: Connection, pid: int, balance: int, *, keep_sound: bool) -> None:
    """Set a balance; with ``keep_sound`` the opening balance moves with it."""
    values: dict[str, object] = {"balance": balance}
    if keep_sound:
        values["opening_balance"] = Person.opening_balance - Person.balance + balance
    conn.execute(update(Person).where(Person.id == pid).values(**values))


@pytest.fixture
def scene(engine: Engine, db_url: str, snapshots: Snapshots) -> Scene:
    """The sound scene of test_audit (every check passes on it: asserted when it is built)."""
    return snapshots.restore(engine, db_url, "audit-scene", sound_scene)


# ---- balances ------------------------------------------------------------------------------

@pytest.mark.parametrize("by", [1, -1])
def test_a_balance_off_by_one_either_way_is_named(engine: Engine, scene: Scene, by: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(Person).where(Person.id == scene.h)
                     .values(balance=Person.balance + by))
        balance = conn.execute(select(Person.balance).where(Person.id == scene.h)).scalar_one()
    assert _check(engine, checks.balances_match_ledger) == [
        f"balance mismatch: person {scene.h} balance {balance} != opening + ledger "
        f"{balance - by}"]


def test_a_person_without_ledger_rows_is_held_to_the_opening_balance(engine: Engine,
                                                                       scene: Scene) -> None:
    with engine.begin() as conn:
        pid = conn.execute(insert(Person).values(
            id_number="110101199001011237", name="某", province="山东省", city="济南市",
            region="jinan", scheme="resident", status="active", opening_balance=500,
            balance=501, monthly_credit=0).returning(Person.id)).scalar_one()
    assert _check(engine, checks.balances_match_ledger) == [
        f"balance mismatch: person {pid} balance 501 != opening + ledger 500"]


def test_two_drifted_balances_are_both_named(engine: Engine, scene: Scene) -> None:
    with engine.begin() as conn:
        conn.execute(update(Person).values(balance=Person.balance + 3))
    found = _check(engine, checks.balances_match_ledger)
    assert [line.split(" balance ")[0] for line in found] == \
        [f"balance mismatch: person {pid}" for pid in sorted((scene.h, scene.r))]


@pytest.mark.parametrize("balance, flagged", [(-1, True), (0, False), (-500, True)])
def test_negative_balance_edge(engine: Engine, scene: Scene, balance: int,
                               flagged: bool) -> None:
    with engine.begin() as conn:
        _set_balance(conn, scene.r, balance, keep_sound=True)
    expected = [f"negative balance: person {scene.r} balance {balance}"] if flagged else []
    assert _check(engine, checks.no_negative_balance) == expected
    assert audit(engine) == expected  # nothing else is wrong


# ---- bindings ------------------------------------------------------------------------------

def _used(conn: Connection, binding_id: int) -> int:
    return int(conn.execute(select(Binding.used_fen).where(Binding.id == binding_id))
               .scalar_one())


@pytest.mark.parametrize("room, flagged", [(0, False), (-1, True), (1, False)])
def test_used_against_the_limit_edge(engine: Engine, scene: Scene, room: int,
                                     flagged: bool) -> None:
    with engine.begin() as conn:
        used = _used(conn, scene.binding)
        conn.execute(update(Binding).where(Binding.id == scene.binding)
                     .values(limit_fen=used + room))
    expected = [f"limit exceeded: binding {scene.binding} used {used} > limit {used + room}"]
    assert _check(engine, checks.used_within_limit) == (expected if flagged else [])


def test_no_limit_is_never_exceeded(engine: Engine, scene: Scene) -> None:
    with engine.begin() as conn:
        conn.execute(update(Binding).where(Binding.id == scene.binding).values(limit_fen=None))
    assert _check(engine, checks.used_within_limit) == []


@pytest.mark.parametrize("by", [7, -7, 1, -1])
def test_used_off_the_family_legs_either_way_is_named(engine: Engine, scene: Scene,
                                                      by: int) -> None:
    with engine.begin() as conn:
        used = _used(conn, scene.binding)
        conn.execute(update(Binding).where(Binding.id == scene.binding).values(
            used_fen=used + by, limit_fen=None))
    assert _check(engine, checks.used_matches_ledger) == [
        f"used mismatch: binding {scene.binding} used {used + by} != family legs {used}"]


def test_used_counts_settlement_legs_and_contributions(engine: Engine, scene: Scene) -> None:
    """The scene's binding carries a ¥50 settlement leg and a ¥20 contribution."""
    with engine.connect() as conn:
        assert _used(conn, scene.binding) == 5_000 + 2_000
    assert _check(engine, checks.used_matches_ledger) == []


# ---- settlements and contributions balanced -------------------------------------------------

@pytest.mark.parametrize("key", ["settle", "contribute"])
@pytest.mark.parametrize("by", [1, -1])
def test_legs_plus_cash_off_the_amount_either_way(engine: Engine, scene: Scene, key: str,
                                                  by: int) -> None:
    with engine.begin() as conn:
        txn, amount, cash = _txn(conn, key)
        conn.execute(update(Transaction).where(Transaction.id == txn)
                     .values(cash_fen=cash + by))
    assert _check(engine, checks.settlements_balanced) == [
        f"unbalanced settlement: transaction {txn} ({key}) legs + cash {amount + by} != "
        f"amount {amount}"]


def test_cash_without_an_amount_is_unbalanced(engine: Engine, scene: Scene) -> None:
    with engine.begin() as conn:
        txn, _amount, cash = _txn(conn, "settle")
        conn.execute(update(Transaction).where(Transaction.id == txn).values(amount_fen=None))
    found = _check(engine, checks.settlements_balanced)
    assert found == [f"unbalanced settlement: transaction {txn} (settle) legs + cash "
                     f"{6_000} != amount None"]


def test_a_refused_settlement_without_cash_is_not_checked(engine: Engine, scene: Scene) -> None:
    with engine.begin() as conn:
        txn, amount, cash = _txn(conn, "refused")
    assert cash is None and amount is None
    assert _check(engine, checks.settlements_balanced) == []


# ---- keys, credits ---------------------------------------------------------------------------

def _without_unique_keys(conn: Connection) -> None:
    """Rebuild ``transactions`` without its unique key (SQLite cannot drop it in place)."""
    if conn.dialect.name != "sqlite":
        conn.execute(text("ALTER TABLE transactions DROP CONSTRAINT uq_transactions_key"))
        return
    conn.execute(text("PRAGMA legacy_alter_table = ON"))  # leave the ledger's references be
    conn.execute(text("ALTER TABLE transactions RENAME TO transactions_with_key"))
    conn.execute(text("CREATE TABLE transactions AS SELECT * FROM transactions_with_key"))


def _copy_key(conn: Connection, key: str) -> None:
    next_id = conn.execute(select(func.max(Transaction.id) + 1)).scalar_one()
    conn.execute(insert(Transaction).values(
        id=next_id, key=key, kind="settle", created_at=NOW,
        result={"ok": True, "code": None, "facts": {}}))


@pytest.mark.parametrize("copies", [2, 3])
def test_a_key_stored_twice_is_named_once_with_its_count(engine: Engine, scene: Scene,
                                                         copies: int) -> None:
    with engine.begin() as conn:
        _without_unique_keys(conn)
        for _ in range(copies - 1):
            _copy_key(conn, "settle")
    assert _check(engine, checks.keys_applied_once) == [
        f"key applied twice: settle ({copies} transactions)"]


def test_two_duplicated_keys_are_both_named(engine: Engine, scene: Scene) -> None:
    with engine.begin() as conn:
        _without_unique_keys(conn)
        _copy_key(conn, "settle")
        _copy_key(conn, "contribute")
    assert _check(engine, checks.keys_applied_once) == [
        "key applied twice: contribute (2 transactions)",
        "key applied twice: settle (2 transactions)"]


@pytest.mark.parametrize("result", [None, {}, {"ok": False}, {"ok": None}])
def test_ledger_rows_under_a_transaction_without_an_applied_result(engine: Engine, scene: Scene,
                                                                   result: object) -> None:
    with engine.begin() as conn:
        txn, _a, _c = _txn(conn, "contribute")
        conn.execute(update(Transaction).where(Transaction.id == txn).values(result=result))
    assert _check(engine, checks.keys_applied_once) == [
        f"key applied twice: refused transaction {txn} (contribute) has ledger rows"]


def test_credit_twice_names_the_person_month_and_count(engine: Engine, scene: Scene) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX uq_ledger_credit_once"))
        txn, _a, _c = _txn(conn, "settle")
        for _ in range(2):
            conn.execute(insert(LedgerEntry).values(
                txn_id=txn, person_id=scene.h, delta_fen=1_000, kind="credit",
                period="2026-11", created_at=NOW))
    assert _check(engine, checks.credited_once) == [
        f"credit twice: person {scene.h} month 2026-11 (3 credits)"]


@pytest.mark.parametrize("period, flagged", [
    ("2026-11", False), ("2026-10", False), ("2026-12", True), ("2026-13", True),
    ("2026-1x", True), ("26-11-1", True), ("2026-1", True), (None, True),
])
def test_credit_periods_at_their_edges(engine: Engine, scene: Scene, period: str | None,
                                       flagged: bool) -> None:
    with engine.begin() as conn:
        conn.execute(update(LedgerEntry).where(LedgerEntry.kind == "credit")
                     .values(period=period))
    with engine.connect() as conn:
        found = checks.credit_periods_valid(conn, NOW)
    assert found == ([f"credit for an invalid month: {period!r} (1 credits; now 2026-11)"]
                     if flagged else [])


# ---- family money and bills ------------------------------------------------------------------

def test_own_money_under_an_update_key_is_not_family_money(engine: Engine) -> None:
    from tests.rules.factories import World
    w = World(engine)
    r = w.person(place="jinan", scheme="resident", balance=5_000)
    assert w.svc.settle(r, 1_000, "outpatient", key="tg:1:2:3").ok
    assert _check(engine, checks.family_money_confirmed) == []
    assert _check(engine, checks.bills_settled_once) == []


# ---- 医保钱包 ---------------------------------------------------------------------------------

def _sound_family(engine: Engine) -> Family:
    f = Family(engine)
    assert f.confirm(f.ask(30_000)).ok
    assert audit(engine) == []
    return f


@pytest.fixture
def family(engine: Engine, db_url: str, snapshots: Snapshots) -> Family:
    """Two wallets and one transfer, sound (asserted when built); only its ids are used."""
    return snapshots.restore(engine, db_url, "audit-family", _sound_family)


def _wallet(conn: Connection, pid: int) -> tuple[int, int]:
    row = conn.execute(select(Wallet.id, Wallet.balance).where(Wallet.person_id == pid)).one()
    return int(row[0]), int(row[1])


@pytest.mark.parametrize("by", [1, -1])
def test_a_wallet_balance_off_its_rows_either_way(engine: Engine, family: Family,
                                                  by: int) -> None:
    with engine.begin() as conn:
        wid, balance = _wallet(conn, family.mother)
        conn.execute(update(Wallet).where(Wallet.id == wid).values(balance=balance + by))
    assert _check(engine, checks.wallet_balances_match_ledger) == [
        f"wallet balance mismatch: wallet {wid} balance {balance + by} != ledger {balance}"]


def test_an_empty_wallet_must_be_zero(engine: Engine, family: Family) -> None:
    with engine.begin() as conn:
        wid, _ = _wallet(conn, family.payer)
        conn.execute(update(Wallet).where(Wallet.id == wid).values(balance=2))
    assert _check(engine, checks.wallet_balances_match_ledger) == [
        f"wallet balance mismatch: wallet {wid} balance 2 != ledger 0"]


@pytest.mark.parametrize("balance, flagged", [(-1, True), (0, False)])
def test_negative_wallet_edge(engine: Engine, family: Family, balance: int,
                              flagged: bool) -> None:
    with engine.begin() as conn:
        wid, _ = _wallet(conn, family.payer)
        conn.execute(update(Wallet).where(Wallet.id == wid).values(balance=balance))
    assert _check(engine, checks.no_negative_wallet) == (
        [f"negative wallet balance: wallet {wid} balance {balance}"] if flagged else [])


def _wallet_row(conn: Connection) -> tuple[int, int]:
    row = conn.execute(select(LedgerEntry.id, LedgerEntry.txn_id)
                       .where(LedgerEntry.kind == "wallet_in")).one()
    return int(row[0]), int(row[1])


def test_a_wallet_row_on_someone_elses_wallet_is_stray(engine: Engine, family: Family) -> None:
    with engine.begin() as conn:
        row, _txn_id = _wallet_row(conn)
        conn.execute(update(LedgerEntry).where(LedgerEntry.id == row)
                     .values(person_id=family.payer))
        wid, _ = _wallet(conn, family.mother)
    assert _check(engine, checks.wallet_rows_belong) == [
        f"stray wallet row: ledger {row} (wallet_in) wallet {wid} person {family.payer}"]


def test_a_wallet_kind_without_a_wallet_is_stray(engine: Engine, family: Family) -> None:
    with engine.begin() as conn:
        row, _txn_id = _wallet_row(conn)
        conn.execute(update(LedgerEntry).where(LedgerEntry.id == row).values(wallet_id=None))
    assert _check(engine, checks.wallet_rows_belong) == [
        f"stray wallet row: ledger {row} (wallet_in) wallet None person {family.mother}"]


def test_an_account_kind_on_a_wallet_is_stray(engine: Engine, family: Family) -> None:
    with engine.begin() as conn:
        row, _txn_id = _wallet_row(conn)
        conn.execute(update(LedgerEntry).where(LedgerEntry.id == row).values(kind="credit"))
        wid, _ = _wallet(conn, family.mother)
    assert _check(engine, checks.wallet_rows_belong) == [
        f"stray wallet row: ledger {row} (credit) wallet {wid} person {family.mother}"]


@pytest.mark.parametrize("field, by", [("in", 1), ("in", -1), ("out", 1), ("amount", 1),
                                       ("amount", -1)])
def test_an_unbalanced_transfer_is_named(engine: Engine, family: Family, field: str,
                                         by: int) -> None:
    with engine.begin() as conn:
        row, txn = _wallet_row(conn)
        if field == "in":
            conn.execute(update(LedgerEntry).where(LedgerEntry.id == row)
                         .values(delta_fen=LedgerEntry.delta_fen + by))
        elif field == "out":
            conn.execute(update(LedgerEntry).where(LedgerEntry.txn_id == txn,
                                                   LedgerEntry.id != row)
                         .values(delta_fen=LedgerEntry.delta_fen + by))
        else:
            conn.execute(update(Transaction).where(Transaction.id == txn)
                         .values(amount_fen=Transaction.amount_fen + by))
    found = _check(engine, checks.transfers_balanced)
    assert len(found) == 1 and found[0].startswith(f"unbalanced transfer: transaction {txn} ")


def test_a_transfer_with_a_missing_side_is_named(engine: Engine, family: Family) -> None:
    with engine.begin() as conn:
        row, txn = _wallet_row(conn)
        conn.execute(update(LedgerEntry).where(LedgerEntry.id == row)
                     .values(kind="wallet_settle"))
    found = _check(engine, checks.transfers_balanced)
    assert len(found) == 1 and found[0].startswith(f"unbalanced transfer: transaction {txn} ")


# ---- each check caps what it prints ------------------------------------------------------------

@pytest.fixture
def cap_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every check prints at most MAX_REPORTED lines: with a cap of 1, two violations of one
    kind print one line."""
    monkeypatch.setattr(checks, "MAX_REPORTED", 1)


def test_balance_checks_stop_at_the_cap(engine: Engine, scene: Scene, cap_one: None) -> None:
    with engine.begin() as conn:
        conn.execute(update(Person).values(balance=-3, opening_balance=Person.opening_balance
                                           - Person.balance - 3))
    assert len(_check(engine, checks.no_negative_balance)) == 1
    with engine.begin() as conn:
        conn.execute(update(Person).values(balance=Person.balance + 1))
    assert len(_check(engine, checks.balances_match_ledger)) == 1


def test_binding_checks_stop_at_the_cap(engine: Engine, cap_one: None) -> None:
    from tests.rules.factories import World
    w = World(engine)
    h = w.householder("jinan", balance=100_000)
    for n in (1, 2):
        w.bound(h, w.person(place="jinan", scheme="resident"), "子女")
        assert w.svc.set_limit(h, str(n), 5_000, key=f"l{n}").ok
        assert w.svc.contribute(h, str(n), 1_000, key=f"c{n}").ok
    with engine.begin() as conn:
        conn.execute(update(Binding).values(used_fen=Binding.used_fen + 1, limit_fen=1))
    assert len(_check(engine, checks.used_within_limit)) == 1
    assert len(_check(engine, checks.used_matches_ledger)) == 1
    with engine.begin() as conn:
        conn.execute(update(Transaction).where(Transaction.kind == "contribute")
                     .values(cash_fen=Transaction.cash_fen + 1))
    assert len(_check(engine, checks.settlements_balanced)) == 1


def test_key_and_credit_checks_stop_at_the_cap(engine: Engine, scene: Scene,
                                               cap_one: None) -> None:
    with engine.begin() as conn:
        conn.execute(update(Transaction).where(Transaction.key.in_(("settle", "contribute")))
                     .values(result=None))
        conn.execute(text("DROP INDEX uq_ledger_credit_once"))
        txn, _a, _c = _txn(conn, "settle")
        for pid in (scene.h, scene.r, scene.h, scene.r):
            conn.execute(insert(LedgerEntry).values(
                txn_id=txn, person_id=pid, delta_fen=0, kind="credit", period="2026-11",
                created_at=NOW))
        conn.execute(update(LedgerEntry).where(LedgerEntry.kind == "credit")
                     .values(period="2099-01"))
    assert len(_check(engine, checks.keys_applied_once)) == 1
    assert len(_check(engine, checks.credited_once)) == 1
    with engine.connect() as conn:
        assert len(checks.credit_periods_valid(conn, NOW)) == 1


def test_wallet_checks_stop_at_the_cap(engine: Engine, family: Family, cap_one: None) -> None:
    with engine.begin() as conn:
        conn.execute(update(Wallet).values(balance=-1))
        conn.execute(update(LedgerEntry).where(LedgerEntry.kind.in_(
            ("wallet_in", "wallet_transfer_out"))).values(kind="credit", wallet_id=1))
    assert len(_check(engine, checks.wallet_balances_match_ledger)) == 1
    assert len(_check(engine, checks.no_negative_wallet)) == 1
    assert len(_check(engine, checks.wallet_rows_belong)) == 1


def test_different_people_or_months_are_not_credited_twice(engine: Engine) -> None:
    """Two workers credited for one month, one worker for two months: all sound."""
    from tests.rules.factories import World
    w = World(engine)
    a, b = w.person(monthly_credit=300, balance=0), w.person(monthly_credit=500, balance=0)
    for month in ("2026-10", "2026-11"):
        assert w.svc.credit_month(month).facts["credited"] == 2
    assert (w.balance(a), w.balance(b)) == (600, 1_000)
    assert _check(engine, checks.credited_once) == []
    assert audit(engine) == []
