"""Monthly credits, lapse status and the read-only queries."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from rules.audit import audit
from rules.codes import Reason
from rules.identity import make_id
from rules.schema import Transaction
from tests.rules.concurrency import race
from tests.rules.factories import World


def _people(w: World) -> dict[str, int]:
    return {
        "employed": w.person(monthly_credit=300, balance=0),
        "retired": w.person(employment="retired", monthly_credit=500, balance=0),
        "flexible": w.person(employment="flexible", monthly_credit=200, balance=0),
        "lapsed": w.person(status="lapsed", lapsed_since="2026-08", monthly_credit=300,
                           balance=900),
        "resident": w.person(scheme="resident", monthly_credit=0, balance=0),
    }


def test_credit_month_pays_each_eligible_person_once(engine) -> None:
    w = World(engine)  # the clock is in 2026-11, China time: 2026-10 and 2026-11 may be credited
    who = _people(w)
    first = w.svc.credit_month("2026-10")
    assert first.ok and first.facts["credited"] == 2 and first.facts["total_fen"] == 800
    assert first.facts["skipped"] == 3
    again = w.svc.credit_month("2026-10")
    assert again.facts["credited"] == 0 and again.facts["total_fen"] == 0
    assert w.svc.credit_month("2026-11").facts["credited"] == 2
    expect = {"employed": 600, "retired": 1_000, "flexible": 0, "lapsed": 900, "resident": 0}
    assert {k: w.balance(pid) for k, pid in who.items()} == expect
    assert [row.period for row in w.svc.history(who["retired"])] == ["2026-11", "2026-10"]
    assert audit(engine) == []


def test_credit_month_races_pay_once(engine) -> None:
    w = World(engine)
    who = _people(w)
    results = race(3, lambda _i: w.svc.credit_month("2026-10"))
    assert sum(d.facts["credited"] for d in results) == 2
    assert w.balance(who["employed"]) == 300
    assert audit(engine) == []


@pytest.mark.parametrize("month", [
    "1900-01", "9999-12", "2099-06", "2062-11", "2026-12", "2026-09", "2025-11",
    "2026-13", "2026-00", "2026-11x", "2026-11\n", " 2026-11", "2026-1", "２０２６-11", "",
])
def test_credit_month_refuses_any_other_month_and_writes_nothing(engine, month: str) -> None:
    w = World(engine)
    worker = w.person(monthly_credit=500, balance=0)
    for d in (w.svc.preview_credit(month), w.svc.credit_month(month)):
        assert d.code == Reason.INVALID_MONTH and d.facts["allowed"] == ["2026-11", "2026-10"]
    assert w.balance(worker) == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Transaction)).scalar_one() == 0


def test_credit_months_follow_china_time(engine) -> None:
    # 17:00 UTC on 30 November is already 1 December in China
    w = World(engine, start=datetime(2026, 11, 30, 17, 0))
    w.person(monthly_credit=500, balance=0)
    assert w.svc.preview_credit("2026-12").facts == {"month": "2026-12", "people": 1,
                                                      "total_fen": 500}
    assert w.svc.credit_month("2026-10").code == Reason.INVALID_MONTH
    assert w.svc.credit_month("2026-12").facts["credited"] == 1
    assert w.svc.preview_credit("2026-12").facts["people"] == 0  # already paid
    w.clock.set(datetime(2027, 1, 5, 1))  # January: December is now the previous month
    assert w.svc.credit_month("2026-11").code == Reason.INVALID_MONTH
    assert w.svc.credit_month("2027-01").facts["credited"] == 1


@pytest.mark.parametrize("since,now,months,band,suspended_from", [
    ("2026-09", datetime(2026, 11, 1, 2), 2, "under_3", "2026-10"),
    ("2026-08", datetime(2026, 11, 1, 2), 3, "3_plus", "2026-09"),
    # 17:00 UTC on 31 October is already November in China
    ("2026-08", datetime(2026, 10, 31, 17), 3, "3_plus", "2026-09"),
    ("2026-08", datetime(2026, 10, 31, 15), 2, "under_3", "2026-09"),
    ("2025-12", datetime(2026, 11, 1, 2), 11, "3_plus", "2026-01"),
])
def test_lapse_status(engine, since: str, now: datetime, months: int, band: str,
                      suspended_from: str) -> None:
    w = World(engine, start=now)
    pid = w.person(place="jian", status="lapsed", lapsed_since=since, balance=700)
    st = w.svc.lapse_status(pid)
    assert st.lapsed and st.months == months and st.band == band
    assert st.benefits_suspended_from == suspended_from and st.benefits_suspended
    assert st.balance_usable and st.credits_paused and st.years_cleared == (band == "3_plus")
    assert st.rule_region == "jian" and st.rule_applies and st.rule_sources
    assert "hangzhou" in st.notes
    b = w.svc.balance(pid)
    assert b.facts["balance_fen"] == 700 and b.facts["lapse"]["band"] == band
    assert w.svc.settle(pid, 700, "pharmacy", key="spend").facts["own_fen"] == 700


@pytest.mark.parametrize("place", ["dongying", "jinan", "hainan", "national"])
def test_jian_lapse_bands_are_not_anyone_elses(engine, place: str) -> None:
    """A person insured outside Ji'an is never told Ji'an's "years cleared" as their own."""
    w = World(engine, start=datetime(2026, 11, 1, 2))
    st = w.svc.lapse_status(w.person(place=place, status="lapsed", lapsed_since="2026-01"))
    assert st.lapsed and st.band == "3_plus" and not st.years_cleared and not st.rule_applies


def test_lapse_status_of_an_active_person(engine) -> None:
    w = World(engine)
    st = w.svc.lapse_status(w.person())
    assert not st.lapsed and st.band == "none" and not st.credits_paused


def test_lapse_statuses_of_several_people_in_one_read(engine) -> None:
    """The batched read (a lapsed Ji'an person, an active one, one in Dongying, an unknown id)
    says exactly what lapse_status says of each, and leaves unknown ids out."""
    w = World(engine, start=datetime(2026, 11, 1, 2))
    ids = [w.person(place="jian", status="lapsed", lapsed_since="2026-08"), w.person(),
           w.person(place="dongying", status="lapsed", lapsed_since="2026-10")]
    found = w.svc.lapse_statuses([*ids, ids[0], 999_999])
    assert sorted(found) == sorted(ids)
    assert all(found[i] == w.svc.lapse_status(i) for i in ids)
    assert [found[i].lapsed for i in ids] == [True, False, True]
    assert found[ids[0]].band == "3_plus" and found[ids[2]].months == 1


def test_balances_of_several_people_in_one_read(engine) -> None:
    """The batched balance read says of each person exactly what balance says, and leaves
    unknown ids out."""
    w = World(engine, start=datetime(2026, 11, 1, 2))
    ids = [w.person(balance=1_234, monthly_credit=250),
           w.person(place="jian", status="lapsed", lapsed_since="2026-08", balance=7)]
    found = w.svc.balances([ids[1], 999_999, *ids])
    assert sorted(found) == sorted(ids)
    assert all(found[i] == w.svc.balance(i) for i in ids)
    assert [found[i].facts["balance_fen"] for i in ids] == [1_234, 7]
    assert found[ids[1]].facts["lapse"] == w.svc.lapse_status(ids[1]).to_json()


def test_queries(engine) -> None:
    w = World(engine)
    pid = w.person(name="陈九", phone="13812345678", balance=5_000, monthly_credit=250)
    number = w.id_number(pid)
    found = w.svc.find_person(number.lower())
    assert found.ok and found.facts["person"].id == pid
    assert w.svc.find_person(make_id("11010119900101999")).code == Reason.UNKNOWN_PERSON
    assert w.svc.find_person(number[:-1] + "Z").code == Reason.INVALID_ID
    assert [p.id for p in w.svc.people_by_phone("+86 138-1234-5678")] == [pid]
    assert w.svc.people_by_phone("12") == []
    assert w.svc.balance(pid).facts["monthly_credit_fen"] == 250
    assert w.svc.balance(10**6).code == Reason.UNKNOWN_PERSON
    for i in range(3):
        w.clock.advance(60)
        assert w.svc.settle(pid, 100 * (i + 1), "pharmacy", key=f"h{i}").ok
    rows = w.svc.history(pid, limit=2)
    assert [r.delta_fen for r in rows] == [-300, -200]
    assert rows[0].at > rows[1].at and rows[0].purpose == "pharmacy"
    assert w.svc.person(pid).balance_fen == 4_400  # type: ignore[union-attr]


def test_open_account_twice_and_letter_kept(engine) -> None:
    w = World(engine)
    pid = w.person(employment="retired")
    first = w.svc.open_account(pid, letter_version="v1", letter_sha256="a" * 64, key="o1")
    again = w.svc.open_account(pid, letter_version="v2", letter_sha256="b" * 64, key="o2")
    assert first.ok and not first.facts["already_open"]
    assert again.ok and again.facts["already_open"] and again.facts["letter_version"] == "v1"
    assert w.svc.person(pid).account_open  # type: ignore[union-attr]


def test_unknown_people_are_refused_not_crashed(engine) -> None:
    w = World(engine)
    ghost = 10**6
    assert w.svc.settle(ghost, 100, "pharmacy", key="g1").code == Reason.UNKNOWN_PERSON
    assert w.svc.preview_settlement(ghost, 100, "pharmacy").code == Reason.UNKNOWN_PERSON
    opened = w.svc.open_account(ghost, letter_version="v1", letter_sha256="0" * 64, key="g2")
    assert opened.code == Reason.UNKNOWN_PERSON
    bound = w.svc.bind(ghost, w.id_number(w.person()), "x", "配偶", key="g3")
    assert bound.code == Reason.UNKNOWN_PERSON
    assert w.svc.set_order(ghost, ["1"], key="g4").code == Reason.UNKNOWN_PERSON
    assert w.svc.unbind(ghost, "1", key="g5").code == Reason.NOT_BOUND
    assert w.svc.person(ghost) is None and w.svc.family(ghost).relatives == ()
    assert audit(engine) == []


def test_a_pinned_credit_refuses_a_changed_plan_and_writes_nothing(engine) -> None:
    w = World(engine)
    worker = w.person(monthly_credit=500, balance=0)
    shown = w.svc.preview_credit("2026-11").facts
    w.person(monthly_credit=300, balance=0)
    d = w.svc.credit_month("2026-11", pinned=(shown["people"], shown["total_fen"]))
    assert d.code == Reason.PLAN_CHANGED and (d.facts["people"], d.facts["total_fen"]) == (2, 800)
    assert w.balance(worker) == 0
    assert w.svc.credit_month("2026-11", pinned=(2, 800)).facts["credited"] == 2
