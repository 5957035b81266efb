"""The binding rules on plain values: every rule, every region, no database.

Each case builds a snapshot (people and the active bindings touching them) and asks the pure
core in rules/binding_rules.py; the whole file runs in well under a second.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.binding_rules import (
    BIND_ATTEMPTS,
    BindRequest,
    BindSnapshot,
    Bond,
    PersonFacts,
    Tie,
    decide_bind,
    decide_leave,
    decide_limit,
    decide_order,
    decide_unbind,
    for_stranger,
    stored_limit,
)
from rules.codes import Reason
from rules.decision import Decision
from rules.identity import make_id
from rules.policy import Policies

POLICIES = Policies.load()
PLACES = {
    "dongying": ("山东省", "东营市"), "jinan": ("山东省", "济南市"), "jian": ("江西省", "吉安市"),
    "hainan": ("海南省", "海口市"), "national": ("江苏省", "南京市"),
    "qingdao": ("山东省", "青岛市"),
}
REGIONS = ["dongying", "jinan", "jian", "hainan", "national"]
_ids = itertools.count(1)


def person(place: str = "jinan", *, scheme: str = "employee", employment: str | None = "employed",
           opened: bool = False, name: str | None = None) -> PersonFacts:
    n = next(_ids)
    province, city = PLACES[place]
    number = make_id(f"{370100 + n // 1000:06d}19800101{n % 1000:03d}")
    return PersonFacts(id=n, id_number=number, name=name or f"人{n}", province=province, city=city,
                       region=POLICIES.region_for(province, city), scheme=scheme,
                       employment=employment if scheme == "employee" else None,
                       account_open=opened)


def householder(place: str = "jinan") -> PersonFacts:
    return person(place, opened=True)


def relative(place: str = "jinan", **kw: object) -> PersonFacts:
    kw.setdefault("scheme", "resident")
    return person(place, **kw)  # type: ignore[arg-type]


def bond(h: PersonFacts, r: PersonFacts, relation: str = "child") -> Bond:
    return Bond(next(_ids), h.id, r.id, relation, h.region, r.region)


def ask(h: PersonFacts | None, r: PersonFacts | None, word: str = "子女", *,
        bonds: tuple[Bond, ...] = (), name: str | None = None, id_text: str | None = None,
        misses: int = 0, limited: bool = False) -> Reason | None:
    number = id_text or (r.id_number if r else make_id("11010119900101999"))
    req = BindRequest(h.id if h else 0, number,
                      name if name is not None else (r.name if r else "某人"), word)
    d = decide_bind(POLICIES, BindSnapshot(h, r, bonds, misses), req,
                    max_misses=BIND_ATTEMPTS if limited else None)
    assert d.ok == (d.code is None)
    return d.code


# ---- the gates and identity ---------------------------------------------------------------

def test_householder_gates_come_first() -> None:
    flexible = person(employment="flexible", opened=True)
    closed = person()
    assert ask(None, relative()) == Reason.UNKNOWN_PERSON
    assert ask(flexible, None, id_text="bad") == Reason.NO_PERSONAL_ACCOUNT
    assert ask(closed, None, id_text="bad") == Reason.ACCOUNT_NOT_OPEN
    retired = person(employment="retired", opened=True)
    assert ask(retired, relative()) is None


def test_identity_before_anything_about_the_relative() -> None:
    h = householder("dongying")
    stranger = relative("jian", scheme="none")  # uninsured, other province
    assert ask(h, stranger, id_text="37010219900101123X") == Reason.INVALID_ID
    assert ask(h, None) == Reason.UNKNOWN_PERSON
    assert ask(h, stranger, "朋友", name="别人") == Reason.NAME_MISMATCH
    assert ask(h, stranger, "朋友") == Reason.UNKNOWN_RELATION
    assert ask(h, stranger, "哥哥") == Reason.RELATION_NOT_ALLOWED
    assert ask(h, stranger) == Reason.NOT_INSURED
    assert ask(h, relative("jian")) == Reason.OUT_OF_SCOPE
    assert ask(h, h, name=h.name) == Reason.SELF_BINDING


def test_a_name_is_compared_after_normalising_but_exactly() -> None:
    h, r = householder(), relative(name="王五")
    assert ask(h, r, name=" 王五\u200b ") is None
    assert ask(h, r, name="王 五") == Reason.NAME_MISMATCH


def test_strangers_get_one_refusal() -> None:
    h = householder()
    for code in (Reason.UNKNOWN_PERSON, Reason.NAME_MISMATCH):
        shown = for_stranger(Decision.refuse(code))
        assert shown.code == Reason.UNKNOWN_PERSON and shown.facts == {"stranger": True}
    r = relative("jian", scheme="none")
    assert ask(h, r, name="错名") == Reason.NAME_MISMATCH  # the engine knows; the bot is told less


def test_too_many_misses_refuse_before_the_relative_is_looked_at() -> None:
    h, r = householder(), relative()
    assert ask(h, r, misses=BIND_ATTEMPTS - 1, limited=True) is None
    assert ask(h, r, misses=BIND_ATTEMPTS, limited=True) == Reason.TOO_MANY_ATTEMPTS
    assert ask(h, r, misses=BIND_ATTEMPTS) is None  # the engine view does not count
    # the householder's own gates still come first
    assert ask(person(), r, misses=99, limited=True) == Reason.ACCOUNT_NOT_OPEN


# ---- every region's relations, scope and maximum -------------------------------------------

RELATION_WORDS = {"spouse": "配偶", "parent": "父母", "child": "子女", "parent_in_law": "配偶父母",
                  "sibling": "兄弟姐妹", "grandparent": "祖父母",
                  "maternal_grandparent": "外祖父母", "grandchild": "孙子女",
                  "maternal_grandchild": "外孙子女"}


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("relation", sorted(RELATION_WORDS))
def test_relations_each_region_allows(region: str, relation: str) -> None:
    h, r = householder(region), relative(region)
    want = None if relation in POLICIES.get(region).relations else Reason.RELATION_NOT_ALLOWED
    assert ask(h, r, RELATION_WORDS[relation]) == want


@pytest.mark.parametrize("region", REGIONS)
def test_scope_is_the_province(region: str) -> None:
    h = householder(region)
    other = "jian" if PLACES[region][0] != "江西省" else "jinan"
    assert ask(h, relative(other)) == Reason.OUT_OF_SCOPE
    same_province = {"dongying": "qingdao", "jinan": "dongying", "qingdao": "jinan"}
    if region in same_province:
        assert ask(h, relative(same_province[region])) is None


@pytest.mark.parametrize("region", REGIONS)
def test_both_schemes_are_insured_none_is_not(region: str) -> None:
    h = householder(region)
    assert ask(h, relative(region, scheme="employee")) is None
    assert ask(h, relative(region, scheme="resident")) is None
    assert ask(h, relative(region, scheme="none")) == Reason.NOT_INSURED


@pytest.mark.parametrize("region", REGIONS)
def test_maximum_relatives(region: str) -> None:
    h = householder(region)
    most = POLICIES.get(region).max_relatives
    bonds = tuple(bond(h, relative(region)) for _ in range(most or 30))
    want = Reason.MAX_RELATIVES if most is not None else None
    assert ask(h, relative(region), bonds=bonds) == want


@pytest.mark.parametrize("region", REGIONS)
def test_already_bound_and_rebinding_after_unbind(region: str) -> None:
    h, r = householder(region), relative(region)
    assert ask(h, r, bonds=(bond(h, r),)) == Reason.ALREADY_BOUND
    assert ask(h, r) is None  # an ended binding is simply not in the snapshot


# ---- one spouse, exclusivity --------------------------------------------------------------

@pytest.mark.parametrize("region", REGIONS)
def test_nobody_is_anyones_spouse_twice(region: str) -> None:
    h1, h2, wife = householder(region), householder(region), householder(region)
    assert ask(h2, wife, "老婆", bonds=(bond(h1, wife, "spouse"),)) == \
        Reason.RELATIVE_ALREADY_BOUND
    # the householder already has a spouse (bound, or bound by them)
    assert ask(h1, relative(region), "配偶", bonds=(bond(h1, wife, "spouse"),)) == \
        Reason.RELATION_NOT_ALLOWED
    assert ask(h1, relative(region), "配偶", bonds=(bond(wife, h1, "spouse"),)) == \
        Reason.RELATION_NOT_ALLOWED
    # a couple binding each other both ways is still one couple
    both_ways = None if not POLICIES.get(region).exclusive else Reason.RELATIVE_IS_HOUSEHOLDER
    assert ask(wife, h1, "配偶", bonds=(bond(h1, wife, "spouse"),)) == both_ways


def test_the_spouse_rule_crosses_regions() -> None:
    dongying, jinan = householder("dongying"), householder("jinan")
    wife = relative("jinan")
    assert ask(jinan, wife, "配偶", bonds=(bond(dongying, wife, "spouse"),)) == \
        Reason.RELATIVE_ALREADY_BOUND
    # a second non-spouse householder is fine where exclusivity does not apply
    jinan2 = householder("jinan")
    assert ask(jinan2, wife, "子女", bonds=(bond(jinan, wife, "spouse"),)) is None


@pytest.mark.parametrize("region", REGIONS)
def test_exclusivity_under_the_householders_region(region: str) -> None:
    exclusive = POLICIES.get(region).exclusive
    h1, h2, kid = householder(region), householder(region), relative(region)
    hit = (lambda code: code) if exclusive else (lambda _code: None)
    assert ask(h2, kid, bonds=(bond(h1, kid),)) == hit(Reason.RELATIVE_ALREADY_BOUND)
    assert ask(h2, h1, "父母", bonds=(bond(h1, kid),)) == hit(Reason.RELATIVE_IS_HOUSEHOLDER)
    worker = householder(region)
    assert ask(worker, relative(region), bonds=(bond(h1, worker, "parent"),)) == \
        hit(Reason.HOUSEHOLDER_IS_BOUND)


def test_exclusivity_follows_a_dongying_relative_to_any_householder() -> None:
    dongying, jinan = householder("dongying"), householder("jinan")
    son = relative("dongying")
    # M3: a Jinan householder cannot add a second householder for a Dongying relative
    assert ask(jinan, son, "儿子", bonds=(bond(dongying, son),)) == Reason.RELATIVE_ALREADY_BOUND
    # nor bind a Dongying person who already is a householder
    dad = householder("dongying")
    assert ask(jinan, dad, "父亲", bonds=(bond(dad, son),)) == Reason.RELATIVE_IS_HOUSEHOLDER
    # nor may a Dongying person who is someone's relative become a householder via Jinan rules
    mum = householder("dongying")
    assert ask(mum, relative("dongying"), bonds=(bond(jinan, mum, "parent"),)) == \
        Reason.HOUSEHOLDER_IS_BOUND


def test_a_binding_made_under_dongying_rules_stays_exclusive() -> None:
    """A Jinan relative bound by a Dongying householder is not bound again by a Jinan one."""
    dongying, jinan = householder("dongying"), householder("jinan")
    kid = relative("jinan")
    assert ask(jinan, kid, bonds=(bond(dongying, kid),)) == Reason.RELATIVE_ALREADY_BOUND
    # but two non-exclusive householders may share a non-exclusive relative
    other = householder("jinan")
    assert ask(other, kid, bonds=(bond(jinan, kid),)) is None


def test_non_exclusive_regions_let_people_be_both_sides() -> None:
    a, b, kid = householder("jian"), householder("jian"), relative("jian")
    assert ask(b, a, "兄弟姐妹", bonds=(bond(a, kid),)) is None
    assert ask(a, relative("jian"), bonds=(bond(b, a, "sibling"),)) is None


@given(st.lists(st.tuples(st.sampled_from(REGIONS), st.sampled_from(["child", "parent"])),
                max_size=4), st.sampled_from(REGIONS))
def test_a_second_householder_is_refused_exactly_when_some_region_is_exclusive(
        existing: list[tuple[str, str]], new_region: str) -> None:
    kid = relative("jinan") if new_region != "jian" else relative("jian")
    h = householder(new_region)
    if h.province != kid.province:
        return
    holders = [householder(region) for region, _ in existing]
    bonds = tuple(bond(x, kid, rel) for x, (_r, rel) in zip(holders, existing, strict=True))
    regions = {new_region, kid.region, *(x.region for x in holders)}
    exclusive = bool(bonds) and any(POLICIES.get(k).exclusive for k in regions)
    code = ask(h, kid, "子女", bonds=bonds)
    assert (code == Reason.RELATIVE_ALREADY_BOUND) == exclusive
    assert code in (None, Reason.RELATIVE_ALREADY_BOUND, Reason.RELATION_NOT_ALLOWED)


# ---- unbind, leave, limit, order ----------------------------------------------------------

def ties(n: int, used: int = 0) -> list[Tie]:
    people = [relative() for _ in range(n)]
    return [Tie(100 + i, p.id, p.id_number, p.name, "child", None, used)
            for i, p in enumerate(people)]


def test_refs_pick_by_index_or_id_number() -> None:
    rows = ties(3)
    assert decide_unbind(rows, "2").facts["relative_id"] == rows[1].person_id
    assert decide_unbind(rows, rows[2].id_number).facts["index"] == 3
    assert decide_unbind(rows, "4").code == Reason.NOT_BOUND
    assert decide_unbind(rows, "0").code == Reason.NOT_BOUND
    assert decide_unbind(rows, make_id("11010119900101999")).code == Reason.NOT_BOUND
    assert decide_unbind(rows, "370502199001011230").code == Reason.INVALID_ID
    assert decide_unbind([], "1").code == Reason.NOT_BOUND


def test_leave_names_only_the_leavers_own_payers() -> None:
    payers = ties(2)
    d = decide_leave(payers, "2")
    assert d.ok and d.facts["householder_id"] == payers[1].person_id
    assert d.facts["binding_id"] == payers[1].binding_id
    assert decide_leave(payers, payers[0].id_number).facts["index"] == 1
    assert decide_leave(payers, "3").code == Reason.NOT_BOUND
    assert decide_leave([], "1").code == Reason.NOT_BOUND


@pytest.mark.parametrize(("asked", "used", "stored"), [
    (50_000, 0, 50_000), (0, 0, 0), (35_000, 50_000, 50_000), (None, 9, None), (0, 1, 1),
])
def test_limit_stores_what_the_reply_says(asked: int | None, used: int, stored: int | None) -> None:
    d = decide_limit(ties(1, used), "1", asked)
    assert d.ok and d.facts["limit_fen"] == stored == stored_limit(asked, used)
    assert d.facts["below_used"] == (stored != asked) and d.facts["requested_fen"] == asked


def test_limit_refusals() -> None:
    assert decide_limit(ties(1), "1", -1).code == Reason.INVALID_AMOUNT
    assert decide_limit(ties(1), "1", 10**13).code == Reason.INVALID_AMOUNT
    assert decide_limit(ties(1), "2", 100).code == Reason.NOT_BOUND


@pytest.mark.parametrize("region", REGIONS)
def test_order_only_where_the_region_ranks_payers(region: str) -> None:
    payers = ties(3)
    d = decide_order(POLICIES.get(region), payers, ["3", payers[0].id_number, "3"])
    if not POLICIES.get(region).ordered:
        assert d.code == Reason.ORDER_NOT_SUPPORTED
        return
    assert d.facts["order"] == [payers[2].person_id, payers[0].person_id, payers[1].person_id]
    assert decide_order(POLICIES.get(region), payers, ["9"]).code == Reason.NOT_BOUND


def test_the_pure_core_imports_no_database_layer() -> None:
    import rules.binding_rules as pure

    tree = ast.parse(Path(pure.__file__).read_text(encoding="utf-8"))
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not [m for m in imported if m.startswith("sqlalchemy")], imported
