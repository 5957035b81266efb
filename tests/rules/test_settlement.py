"""Settlement modes per region, payer order, limits, purposes and the retry window."""

from __future__ import annotations

import pytest

from rules.audit import audit
from rules.codes import Reason
from rules.policy import Policies
from tests.rules.factories import World

# region → (mode, what a ¥50 bill with ¥10 own and a ¥1000 householder becomes on first swipe)
#   ok, own_fen, family_fen, cash_fen   (None: refused with the code instead)
MODES: dict[str, tuple[str, Reason | tuple[int, int, int]]] = {
    "dongying": ("retry_window", Reason.INSUFFICIENT_BALANCE),
    "jinan": ("ordered", (1_000, 4_000, 0)),
    "jian": ("ordered", (1_000, 4_000, 0)),
    "national": ("ordered", (1_000, 4_000, 0)),
    "hainan": ("own_only", (1_000, 0, 4_000)),
}


def test_every_region_has_a_mode_case() -> None:
    assert set(MODES) == set(Policies.load().regions)


@pytest.mark.parametrize("region", sorted(MODES))
def test_region_settlement_mode(engine, region: str) -> None:
    w = World(engine)
    mode, expected = MODES[region]
    assert w.policies.get(region).settlement == mode
    h = w.householder(region, balance=100_000)
    r = w.person(place=region, scheme="resident", balance=1_000)
    w.bound(h, r, "子女")
    preview = w.svc.preview_settlement(r, 5_000, "pharmacy")
    d = w.svc.settle(r, 5_000, "pharmacy", key="s1")
    if isinstance(expected, Reason):
        assert d.code == expected and preview.code == expected
        assert d.facts["retry_window_seconds"] == 300
        assert (w.balance(r), w.balance(h)) == (1_000, 100_000)
    else:
        own, family, _cash = expected
        assert d.ok and d.facts["mode"] == mode
        assert (d.facts["own_fen"], d.facts["family_fen"], d.facts["cash_fen"]) == expected
        assert preview.facts["legs"] == d.facts["legs"]
        assert preview.facts["uses_family"] is (family > 0)
        assert (w.balance(r), w.balance(h)) == (1_000 - own, 100_000 - family)
    assert audit(engine) == []


def test_own_account_covers_whole_bill_everywhere(engine) -> None:
    w = World(engine)
    for region in MODES:
        r = w.person(place=region, scheme="employee", balance=10_000)
        d = w.svc.settle(r, 10_000, "outpatient", key=f"own-{region}")
        assert d.ok and d.facts["own_fen"] == 10_000 and d.facts["cash_fen"] == 0
        assert w.balance(r) == 0


def test_retry_window_charges_householder_then_closes(engine) -> None:
    w = World(engine)
    h = w.householder("dongying", balance=100_000)
    r = w.person(place="dongying", scheme="resident", balance=1_000)
    w.bound(h, r, "子女")
    assert w.svc.settle(r, 5_000, "inpatient", key="a").code == Reason.INSUFFICIENT_BALANCE
    w.clock.advance(299)
    d = w.svc.settle(r, 5_000, "inpatient", key="b")
    assert d.ok and d.facts["family_fen"] == 5_000 and d.facts["own_fen"] == 0
    assert (w.balance(r), w.balance(h)) == (1_000, 95_000)
    # the window is used up: the next short swipe is refused and opens a new one
    assert w.svc.settle(r, 5_000, "inpatient", key="c").code == Reason.INSUFFICIENT_BALANCE
    assert w.svc.family(h).relatives[0].used_fen == 5_000
    assert audit(engine) == []


def test_retry_window_expires_after_five_minutes(engine) -> None:
    w = World(engine)
    h = w.householder("dongying")
    r = w.person(place="dongying", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    assert w.svc.settle(r, 5_000, "pharmacy", key="a").code == Reason.INSUFFICIENT_BALANCE
    w.clock.advance(301)
    assert w.svc.settle(r, 5_000, "pharmacy", key="b").code == Reason.INSUFFICIENT_BALANCE
    # replaying the refused key neither changes the answer nor reopens anything
    assert w.svc.settle(r, 5_000, "pharmacy", key="a").code == Reason.INSUFFICIENT_BALANCE
    w.clock.advance(10)
    d = w.svc.settle(r, 5_000, "pharmacy", key="c")  # inside the window "b" opened
    assert d.ok and (d.facts["own_fen"], d.facts["family_fen"]) == (0, 5_000)
    assert w.balance(h) == 95_000


def test_retry_window_region_without_binding_pays_own_then_cash(engine) -> None:
    w = World(engine)
    r = w.person(place="dongying", scheme="employee", balance=1_000)
    d = w.svc.settle(r, 5_000, "pharmacy", key="a")
    assert d.ok and (d.facts["own_fen"], d.facts["cash_fen"]) == (1_000, 4_000)


def test_ordered_payers_rank_limit_and_purpose(engine) -> None:
    w = World(engine)
    first, second = w.householder("jinan", balance=3_000), w.householder("jinan", balance=50_000)
    r = w.person(place="jinan", scheme="resident", balance=500)
    w.bound(first, r, "子女")
    w.bound(second, r, "子女")
    assert w.svc.set_limit(second, "1", 2_000, key="lim").ok
    d = w.svc.settle(r, 10_000, "pharmacy", key="s1")
    assert [leg["householder_id"] for leg in d.facts["legs"]] == [first, second]
    assert (d.facts["own_fen"], d.facts["family_fen"], d.facts["cash_fen"]) == (500, 5_000, 4_500)
    # health checks are not a Jinan family purpose: own account only, rest cash
    w2 = w.person(place="jinan", scheme="resident", balance=0)
    w.bound(second, w2, "配偶")
    d = w.svc.settle(w2, 1_000, "health_check", key="s2")
    assert d.ok and not d.facts["uses_family"] and d.facts["cash_fen"] == 1_000
    assert audit(engine) == []


def test_set_order_changes_who_pays_first(engine) -> None:
    w = World(engine)
    a, b = w.householder("jinan", balance=10_000), w.householder("jinan", balance=10_000)
    r = w.person(place="jinan", scheme="resident", balance=0)
    w.bound(a, r, "子女")
    w.bound(b, r, "子女")
    d = w.svc.set_order(r, [w.id_number(b)], key="o")
    assert d.ok and d.facts["order"] == [b, a]
    assert [p.householder_id for p in w.svc.family(r).payers] == [b, a]
    s = w.svc.settle(r, 3_000, "outpatient", key="s")
    assert [leg["householder_id"] for leg in s.facts["legs"]] == [b]
    assert w.svc.set_order(r, ["2", "1"], key="o2").facts["order"] == [a, b]


def test_limit_below_used_stops_spending(engine) -> None:
    w = World(engine)
    h = w.householder("jinan", balance=10_000)
    r = w.person(place="jinan", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    assert w.svc.settle(r, 3_000, "outpatient", key="s").facts["family_fen"] == 3_000
    d = w.svc.set_limit(h, w.id_number(r), 1_000, key="l")
    assert d.ok and d.facts["below_used"] and d.facts["limit_fen"] == 3_000
    assert w.svc.settle(r, 1_000, "outpatient", key="s2").facts["family_fen"] == 0
    assert w.svc.set_limit(h, "1", None, key="l2").facts["limit_fen"] is None
    assert w.svc.settle(r, 1_000, "outpatient", key="s3").facts["family_fen"] == 1_000
    assert audit(engine) == []


def test_contribute_and_unbind_keep_history(engine) -> None:
    w = World(engine)
    h = w.householder("jinan", balance=10_000)
    r = w.person(place="jinan", scheme="resident")
    w.bound(h, r, "子女")
    d = w.svc.contribute(h, "1", 3_800, key="c")
    assert d.ok and w.balance(h) == 6_200
    assert w.svc.history(h)[0].kind == "contribute"
    assert w.svc.history(h)[0].for_person_id == r
    u = w.svc.unbind(h, w.id_number(r), key="u")
    assert u.ok and w.svc.family(h).relatives == ()
    assert w.svc.unbind(h, "1", key="u2").code == Reason.NOT_BOUND
    assert w.svc.settle(r, 1_000, "outpatient", key="s").facts["family_fen"] == 0
    again = w.bind(h, r, "子女")  # re-binding after unbinding starts a fresh binding
    assert again.ok and again.facts["binding_id"] != d.facts["binding_id"]
    assert audit(engine) == []


def test_family_views_both_sides(engine) -> None:
    w = World(engine)
    h = w.householder("dongying")
    kids = [w.person(place="dongying", scheme="resident") for _ in range(3)]
    for k in kids:
        w.bound(h, k, "子女")
    mine = w.svc.family(h)
    assert [row.index for row in mine.relatives] == [1, 2, 3]
    assert [row.person_id for row in mine.relatives] == kids
    theirs = w.svc.family(kids[1])
    assert [p.householder_id for p in theirs.payers] == [h]
    assert [o.person_id for o in theirs.payers[0].others] == [kids[0], kids[2]]
    assert not theirs.ordered and mine.account_open


def test_replaying_a_refused_swipe_does_not_reopen_the_window(engine) -> None:
    w = World(engine)
    h = w.householder("dongying")
    r = w.person(place="dongying", scheme="resident", balance=0)
    w.bound(h, r, "子女")
    first = w.svc.settle(r, 5_000, "pharmacy", key="a")
    assert first.code == Reason.INSUFFICIENT_BALANCE
    w.clock.advance(250)
    assert w.svc.settle(r, 5_000, "pharmacy", key="a") == first  # replay: no new window
    w.clock.advance(100)  # 350 s after the only window opened
    assert w.svc.settle(r, 5_000, "pharmacy", key="b").code == Reason.INSUFFICIENT_BALANCE
    assert w.balance(h) == 100_000
