"""Audit checks at the corners mutation testing (bench/mutation.py) found open: each test
writes the few rows it needs straight into an empty database and calls one check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import count

import pytest
from sqlalchemy import Connection, Engine, insert

from rules import audit as checks
from rules.schema import Binding, LedgerEntry, Note, Person, Transaction, Wallet

NOW = datetime(2026, 11, 1, 2, 0)
_ids = count(1)


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as c:
        yield c
        c.rollback()


def person(conn: Connection, balance: int = 0) -> int:
    n = next(_ids)
    return int(conn.execute(insert(Person).values(
        id_number=f"1101011990{n:08d}"[-18:], name=f"人{n}", province="山东省", city="济南市",
        region="jinan", scheme="resident", status="active", opening_balance=balance,
        balance=balance, monthly_credit=0).returning(Person.id)).scalar_one())


def txn(conn: Connection, key: str, kind: str, *, result: dict | None = None,
        amount: int | None = None, cash: int | None = None) -> int:
    return int(conn.execute(insert(Transaction).values(
        key=key, kind=kind, created_at=NOW, result={"ok": True} if result is None else result,
        amount_fen=amount, cash_fen=cash).returning(Transaction.id)).scalar_one())


def row(conn: Connection, txn_id: int, person_id: int, delta: int, kind: str, *,
        wallet_id: int | None = None, period: str | None = None) -> None:
    conn.execute(insert(LedgerEntry).values(
        txn_id=txn_id, person_id=person_id, delta_fen=delta, kind=kind, wallet_id=wallet_id,
        period=period, created_at=NOW))


def wallet(conn: Connection, person_id: int, balance: int) -> int:
    return int(conn.execute(insert(Wallet).values(
        person_id=person_id, state="active", city="济南市", balance=balance,
        password_hash="x", activated_at=NOW).returning(Wallet.id)).scalar_one())


# ---- bills settled once -----------------------------------------------------------------------

def test_only_settlements_count_as_paying_a_bill(conn: Connection) -> None:
    """A contribution that names the same origin as a settlement is not a second payment."""
    p = person(conn, 0)
    paid = txn(conn, "tg:1:2:3", "settle")
    row(conn, paid, p, -100, "settle_own")
    other = txn(conn, "c:1", "contribute", result={"ok": True, "facts": {"origin": "tg:1:2:3"}})
    row(conn, other, p, -100, "contribute")
    assert checks.bills_settled_once(conn) == []
    again = txn(conn, "confirm:9", "settle", result={"ok": True,
                                                      "facts": {"origin": "tg:1:2:3"}})
    row(conn, again, p, -100, "settle_family")
    assert checks.bills_settled_once(conn) == [
        f"bill settled twice: tg:1:2:3 paid by transactions {[paid, again]}"]


# ---- family money only under a confirmed plan -----------------------------------------------

def test_family_money_under_update_keys_is_named_in_id_order_up_to_the_cap(
        conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    h = person(conn, 0)
    first, second = txn(conn, "tg:1", "settle"), txn(conn, "tg:2", "settle")
    row(conn, second, h, -100, "settle_family")  # the later transaction's row comes first
    row(conn, first, h, -100, "settle_family")
    row(conn, first, h, -50, "settle_family")    # two rows of one transaction: named once
    assert checks.family_money_confirmed(conn) == [
        f"family money without 确认: transaction {first} (tg:1)",
        f"family money without 确认: transaction {second} (tg:2)"]
    monkeypatch.setattr(checks, "MAX_REPORTED", 1)
    assert checks.family_money_confirmed(conn) == [
        f"family money without 确认: transaction {first} (tg:1)"]


# ---- staff credits confirmed --------------------------------------------------------------------

def _note(conn: Connection, actor: str, action: str, details: str) -> None:
    conn.execute(insert(Note).values(at=NOW, actor=actor, action=action, details=details))


def test_a_confirmation_without_a_token_or_a_key_confirms_nothing(conn: Connection) -> None:
    p = person(conn, 500)
    t = txn(conn, "staff:confirm:tok1", "credit")
    row(conn, t, p, 500, "credit", period="2026-11")
    _note(conn, "tg:9", "staff_credit", "2026-11 token=tok1")
    _note(conn, "tg:9", "staff_credit_confirmed", "2026-11 key=staff:confirm:tok1 ok=True")
    _note(conn, "tg:9", "staff_credit_confirmed", "2026-11 token=tok1 ok=True")
    _note(conn, "tg:9", "staff_credit_confirmed", "")
    assert checks.staff_credits_confirmed(conn) == [
        f"staff credit without 确认: transaction {t} (staff:confirm:tok1)"]
    _note(conn, "tg:9", "staff_credit_confirmed", "2026-11 token=tok1 key=staff:confirm:tok1")
    assert checks.staff_credits_confirmed(conn) == []


def test_only_staff_credits_that_moved_money_need_a_confirmation(conn: Connection) -> None:
    p = person(conn, 0)
    txn(conn, "staff:confirm:empty", "credit")  # nobody was due: no rows, nothing to confirm
    other = txn(conn, "staff:confirm:odd", "settle")  # not a credit, whatever its key
    row(conn, other, p, -1, "settle_own")
    assert checks.staff_credits_confirmed(conn) == []


def test_unconfirmed_staff_credits_are_named_in_id_order(conn: Connection) -> None:
    p = person(conn, 0)
    later_key = txn(conn, "staff:confirm:b", "credit")
    earlier_key = txn(conn, "staff:confirm:a", "credit")
    row(conn, earlier_key, p, 1, "credit", period="2026-10")
    row(conn, later_key, p, 1, "credit", period="2026-11")
    assert checks.staff_credits_confirmed(conn) == [
        f"staff credit without 确认: transaction {later_key} (staff:confirm:b)",
        f"staff credit without 确认: transaction {earlier_key} (staff:confirm:a)"]


# ---- wallets ---------------------------------------------------------------------------------

def test_each_wallet_is_held_to_its_own_rows(conn: Connection) -> None:
    a, b = person(conn), person(conn)
    wa, wb = wallet(conn, a, 300), wallet(conn, b, 700)
    t = txn(conn, "w:1", "transfer")
    row(conn, t, a, 300, "wallet_in", wallet_id=wa)
    row(conn, t, b, 700, "wallet_in", wallet_id=wb)
    assert checks.wallet_balances_match_ledger(conn) == []


# ---- wallet rows and transfers --------------------------------------------------------------

def test_a_wallet_row_naming_no_existing_wallet_is_stray(engine: Engine) -> None:
    """The foreign key forbids it; the audit must still see it (a restored dump, a bad fix)."""
    with engine.begin() as conn:
        p = person(conn)
        t = txn(conn, "w:1", "transfer")
    if engine.dialect.name == "sqlite":
        with engine.connect() as c:
            raw = c.connection.dbapi_connection
            raw.execute("PRAGMA foreign_keys=OFF")  # autocommit mode: no transaction is open
            raw.execute("INSERT INTO ledger (txn_id, person_id, delta_fen, kind, wallet_id,"
                        " created_at) VALUES (?, ?, 5, 'wallet_in', 999, ?)",
                        (t, p, NOW.isoformat(" ")))
            raw.execute("PRAGMA foreign_keys=ON")
    else:
        with engine.begin() as c:
            c.exec_driver_sql("SET LOCAL session_replication_role = replica")
            row(c, t, p, 5, "wallet_in", wallet_id=999)
    with engine.connect() as c:
        found = checks.wallet_rows_belong(c)
    assert len(found) == 1 and found[0].endswith(f"(wallet_in) wallet 999 person {p}")


def _transfer(conn: Connection, key: str, amount: int | None,
              *rows: tuple[str, int, bool]) -> int:
    """A transfer with (kind, delta, on a wallet?) rows: the payer's account, the payee's
    wallet."""
    payer, payee = person(conn), person(conn)
    w = wallet(conn, payee, 0)
    t = txn(conn, key, "transfer", amount=amount)
    for kind, delta, on_wallet in rows:
        row(conn, t, payee if on_wallet else payer, delta, kind,
            wallet_id=w if on_wallet else None)
    return t


OUT, IN = "wallet_transfer_out", "wallet_in"


def test_a_sound_transfer_passes(conn: Connection) -> None:
    _transfer(conn, "t", 500, (OUT, -500, False), (IN, 500, True))
    assert checks.transfers_balanced(conn) == []


@pytest.mark.parametrize("rows", [
    [(OUT, -500, False), (IN, 500, False)],            # the wallet side on no wallet
    [(OUT, -500, True), (IN, 500, True)],              # the account side on a wallet
    [("settle_own", -500, False), (IN, 500, True)],    # the account side of another kind
    [(OUT, -250, False), (OUT, -250, False)],          # nothing went into a wallet
    [(IN, 250, True), (IN, 250, True)],                # nothing came out of an account
    [(OUT, -500, False), (IN, 300, True), (IN, 200, True)],  # three rows, sums agree
], ids=["in-off-wallet", "out-on-wallet", "out-kind", "no-in", "no-out", "three-rows"])
def test_a_transfer_not_exactly_one_out_and_one_in_is_unbalanced(
        conn: Connection, rows: list[tuple[str, int, bool]]) -> None:
    t = _transfer(conn, "t", 500, *rows)
    found = checks.transfers_balanced(conn)
    assert len(found) == 1 and found[0].startswith(f"unbalanced transfer: transaction {t} (t)")


def test_unbalanced_transfers_are_named_in_id_order_up_to_the_cap(
        conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _transfer(conn, "a", 500, (OUT, -500, False), (IN, 499, True))
    b = _transfer(conn, "b", 500, (OUT, -500, False), (IN, 501, True))
    assert [line.split(" (")[0] for line in checks.transfers_balanced(conn)] == [
        f"unbalanced transfer: transaction {a}", f"unbalanced transfer: transaction {b}"]
    monkeypatch.setattr(checks, "MAX_REPORTED", 1)
    assert len(checks.transfers_balanced(conn)) == 1


@pytest.mark.parametrize("rows", [
    [(OUT, -500, False), (IN, 500, True)],
    [(OUT, -1, False), (IN, 1, True)],
    [(OUT, 2, False), (IN, -2, True)],
], ids=["500", "1", "minus-2"])
def test_a_transfer_without_an_amount_is_unbalanced(conn: Connection,
                                                   rows: list[tuple[str, int, bool]]) -> None:
    t = _transfer(conn, "t", None, *rows)
    found = checks.transfers_balanced(conn)
    assert len(found) == 1 and found[0].startswith(f"unbalanced transfer: transaction {t} (t)")


# ---- bindings and settlements ---------------------------------------------------------------

def _binding(conn: Connection, used: int, limit: int | None = None) -> tuple[int, int]:
    h, r = person(conn), person(conn)
    b = int(conn.execute(insert(Binding).values(
        householder_id=h, relative_id=r, relation="子女", used_fen=used, limit_fen=limit,
        created_at=NOW).returning(Binding.id)).scalar_one())
    return b, h


def test_each_binding_is_held_to_its_own_family_legs(conn: Connection) -> None:
    (b1, h1), (b2, h2) = _binding(conn, 300), _binding(conn, 700)
    t = txn(conn, "s", "settle")
    for b, h, fen in ((b1, h1, 300), (b2, h2, 700)):
        conn.execute(insert(LedgerEntry).values(txn_id=t, person_id=h, binding_id=b,
                                                delta_fen=-fen, kind="settle_family",
                                                created_at=NOW))
    assert checks.used_matches_ledger(conn) == []


def test_a_settlement_without_legs_is_held_to_its_cash(conn: Connection) -> None:
    sound = txn(conn, "cash", "settle", amount=500, cash=500)
    short = txn(conn, "short", "settle", amount=500, cash=499)
    assert sound < short
    assert checks.settlements_balanced(conn) == [
        f"unbalanced settlement: transaction {short} (short) legs + cash 499 != amount 500"]


def test_used_counts_only_family_kinds_and_a_binding_without_legs_must_be_zero(
        conn: Connection) -> None:
    (b, h), (idle, _h2), (drifted, _h3) = _binding(conn, 0), _binding(conn, 0), _binding(conn, 5)
    t = txn(conn, "s", "settle")
    conn.execute(insert(LedgerEntry).values(txn_id=t, person_id=h, binding_id=b, delta_fen=-40,
                                            kind="settle_own", created_at=NOW))
    assert checks.used_matches_ledger(conn) == [
        f"used mismatch: binding {drifted} used 5 != family legs 0"]
    assert idle != drifted


def test_a_transfer_without_an_amount_whose_in_is_minus_one_is_unbalanced(
        conn: Connection) -> None:
    t = _transfer(conn, "t", None, (OUT, 1, False), (IN, -1, True))
    assert [line.split(" (")[0] for line in checks.transfers_balanced(conn)] == [
        f"unbalanced transfer: transaction {t}"]
