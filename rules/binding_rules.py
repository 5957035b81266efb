"""Who may bind whom, as pure functions over plain values (no database, no Session).

``rules/binding.py`` loads a snapshot in one read, calls one of the ``decide_*`` functions
here and applies what they decided with guarded writes. Every function returns a Decision
naming the first rule the request breaks, in the order the issue fixes:

    householder gates → attempts → ID format → identity (ID + name) → self → relation word
    → relation allowed → insured → scope → already bound → maximum → one spouse
    → exclusivity (householder's, relative's, and every touched binding's region)

Nothing about the relative (insurance, province, family) is decided before the ID number
and the name match one person, so a stranger's data never shapes a refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rules.codes import Reason
from rules.decision import Decision
from rules.identity import clean_text, normalize_id
from rules.money import MAX_FEN
from rules.policy import Policies, RegionPolicy
from rules.views import has_personal_account

# /bind identity misses a householder may make in BIND_WINDOW_SECONDS before TOO_MANY_ATTEMPTS.
BIND_ATTEMPTS = 5
BIND_WINDOW_SECONDS = 3600
INSURED_SCHEMES = ("employee", "resident")
SPOUSE = "spouse"


@dataclass(frozen=True)
class PersonFacts:
    """What the bind rules need to know about one person."""

    id: int
    id_number: str
    name: str
    province: str
    city: str
    region: str
    scheme: str
    employment: str | None = None
    account_open: bool = False


@dataclass(frozen=True)
class Bond:
    """One active binding, with the regions of both sides."""

    binding_id: int
    householder_id: int
    relative_id: int
    relation: str
    householder_region: str
    relative_region: str


@dataclass(frozen=True)
class BindSnapshot:
    """Everything a bind decision reads, loaded at once.

    ``relative`` is the person with the typed ID number (None: nobody has it); ``bonds`` are
    all active bindings touching the householder or that person; ``misses`` counts the
    householder's recent identity misses (for the rate limit).
    """

    householder: PersonFacts | None
    relative: PersonFacts | None
    bonds: tuple[Bond, ...] = ()
    misses: int = 0


@dataclass(frozen=True)
class BindRequest:
    householder_id: int
    id_number_text: str
    name: str
    relation_word: str


# ---- bind ---------------------------------------------------------------------------------

def householder_gate(householder: PersonFacts | None) -> Decision | None:
    """Refusal when this person cannot act as a householder at all, else None."""
    if householder is None:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    if not has_personal_account(householder.scheme, householder.employment):
        return Decision.refuse(Reason.NO_PERSONAL_ACCOUNT)
    if not householder.account_open:
        return Decision.refuse(Reason.ACCOUNT_NOT_OPEN)
    return None


def in_scope(policy: RegionPolicy, householder: PersonFacts, relative: PersonFacts) -> bool:
    if policy.scope == "same_province":
        return householder.province == relative.province
    if policy.scope == "same_city":
        return householder.province == relative.province and householder.city == relative.city
    return True


def identity_miss(decision: Decision) -> bool:
    """A refusal that says "no such person, or wrong name" (counted by the rate limit)."""
    return decision.code in (Reason.UNKNOWN_PERSON, Reason.NAME_MISMATCH)


def for_stranger(decision: Decision) -> Decision:
    """What a householder may learn: "no such person" and "wrong name" are one refusal."""
    if identity_miss(decision):
        return Decision.refuse(Reason.UNKNOWN_PERSON, stranger=True)
    return decision


def decide_bind(policies: Policies, snap: BindSnapshot, req: BindRequest, *,
                max_misses: int | None = None) -> Decision:
    """The bind rules in order; allowed facts carry relative_id, relation, region.

    With ``max_misses`` set, a householder who already made that many identity misses is
    refused TOO_MANY_ATTEMPTS before anything about the relative is looked at.
    """
    gate = householder_gate(snap.householder)
    if gate is not None or snap.householder is None:
        return gate or Decision.refuse(Reason.UNKNOWN_PERSON)
    householder = snap.householder
    if max_misses is not None and snap.misses >= max_misses:
        return Decision.refuse(Reason.TOO_MANY_ATTEMPTS, bind=True)
    number = normalize_id(req.id_number_text)
    if number is None:
        return Decision.refuse(Reason.INVALID_ID)
    relative = snap.relative
    if relative is None or relative.id_number != number:
        return Decision.refuse(Reason.UNKNOWN_PERSON)
    if clean_text(req.name) != clean_text(relative.name):
        return Decision.refuse(Reason.NAME_MISMATCH)
    if relative.id == householder.id:
        return Decision.refuse(Reason.SELF_BINDING)
    relation = policies.relation(req.relation_word)
    if relation is None:
        return Decision.refuse(Reason.UNKNOWN_RELATION, word=clean_text(req.relation_word))
    policy = policies.get(householder.region)
    facts: dict[str, object] = {"relative_id": relative.id, "relation": relation,
                                "region": policy.key}
    return check_pair(policies, policy, householder, relative, snap.bonds, facts)


def check_pair(policies: Policies, policy: RegionPolicy, householder: PersonFacts,
               relative: PersonFacts, bonds: Sequence[Bond], facts: dict[str, object]) -> Decision:
    """The rules about this householder and this relative, once both are known."""
    h, r = householder.id, relative.id
    if facts["relation"] not in policy.relations:
        return Decision.refuse(Reason.RELATION_NOT_ALLOWED, **facts)
    if relative.scheme not in INSURED_SCHEMES:
        return Decision.refuse(Reason.NOT_INSURED, **facts)
    if not in_scope(policy, householder, relative):
        return Decision.refuse(Reason.OUT_OF_SCOPE, scope=policy.scope, **facts)
    if any(b.householder_id == h and b.relative_id == r for b in bonds):
        return Decision.refuse(Reason.ALREADY_BOUND, **facts)
    mine = [b for b in bonds if b.householder_id == h]
    if policy.max_relatives is not None and len(mine) >= policy.max_relatives:
        return Decision.refuse(Reason.MAX_RELATIVES, max_relatives=policy.max_relatives, **facts)
    if facts["relation"] == SPOUSE:
        spouse = _spouse_clash(h, r, bonds)
        if spouse is not None:
            return Decision.refuse(spouse, spouse_elsewhere=True, **facts)
    return _exclusive(policies, householder, relative, bonds, facts)


def _spouse_clash(h: int, r: int, bonds: Sequence[Bond]) -> Reason | None:
    """One spouse per person, across all householders and regions.

    A spouse binding links two people; the same two bound both ways are still one couple.
    """
    def partners(pid: int) -> set[int]:
        return {b.relative_id if b.householder_id == pid else b.householder_id
                for b in bonds if b.relation == SPOUSE and pid in (b.householder_id, b.relative_id)}
    if partners(r) - {h}:
        return Reason.RELATIVE_ALREADY_BOUND
    if partners(h) - {r}:
        return Reason.RELATION_NOT_ALLOWED
    return None


def _exclusive(policies: Policies, householder: PersonFacts, relative: PersonFacts,
               bonds: Sequence[Bond], facts: dict[str, object]) -> Decision:
    """The three exclusivity rules, each applied when any region it would touch is exclusive.

    The new binding's two people are always touched; so is the far side of every existing
    binding the rule looks at. A Dongying person keeps Dongying's protection whoever binds
    them, and a binding made under Dongying rules is not undone by a Jinan householder.
    """
    h, r = householder.id, relative.id

    def exclusive(*regions: str) -> bool:
        return any(policies.get(k).exclusive for k in regions)

    base = (householder.region, relative.region)
    elsewhere = [b for b in bonds if b.relative_id == r and b.householder_id != h]
    if elsewhere and exclusive(*base, *(b.householder_region for b in elsewhere)):
        return Decision.refuse(Reason.RELATIVE_ALREADY_BOUND, **facts)
    own = [b for b in bonds if b.householder_id == r]
    if own and exclusive(*base, *(b.relative_region for b in own)):
        return Decision.refuse(Reason.RELATIVE_IS_HOUSEHOLDER, **facts)
    payers = [b for b in bonds if b.relative_id == h]
    if payers and exclusive(*base, *(b.householder_region for b in payers)):
        return Decision.refuse(Reason.HOUSEHOLDER_IS_BOUND, **facts)
    return Decision.allow(**facts)


# ---- refs, unbind, leave, limit, order -----------------------------------------------------

def _ref_kind(ref: str) -> tuple[str, int | str | None]:
    """('index', n) for a 序号, ('id', number) for a valid ID number, ('bad_id', None) for
    something that looks like a malformed one, else ('unknown', None)."""
    text = clean_text(ref)
    if text.isdigit() and len(text) <= 4:
        return "index", int(text)
    number = normalize_id(text)
    if number is not None:
        return "id", number
    return ("bad_id", None) if len(text) >= 15 else ("unknown", None)


def resolve_ref(ref: str, rows: Sequence[tuple[int, str]]) -> Decision:
    """Pick one of ``rows`` = [(person_id, id_number)] (in display order) from what was typed.

    INVALID_ID for something that looks like a malformed ID number, NOT_BOUND when nothing
    matches; allowed with facts position (0-based) otherwise.
    """
    kind, value = _ref_kind(ref)
    if kind == "index" and isinstance(value, int) and 1 <= value <= len(rows):
        return Decision.allow(position=value - 1)
    if kind == "id":
        for pos, (_pid, number) in enumerate(rows):
            if number == value:
                return Decision.allow(position=pos)
    if kind == "bad_id":
        return Decision.refuse(Reason.INVALID_ID)
    return Decision.refuse(Reason.NOT_BOUND, ref=clean_text(ref))


@dataclass(frozen=True)
class Tie:
    """One active binding seen from one side: the other person, in display order."""

    binding_id: int
    person_id: int  # the other side: the relative (householder's view) or the householder
    id_number: str
    name: str
    relation: str
    limit_fen: int | None = None
    used_fen: int = 0


def decide_pick(ties: Sequence[Tie], ref: str) -> Decision:
    """Which of a person's bindings ``ref`` (序号 or ID number) names.

    Allowed facts: binding_id, person_id (the other side), index (1-based).
    """
    found = resolve_ref(ref, [(t.person_id, t.id_number) for t in ties])
    if not found.ok:
        return found
    pos = int(found.facts["position"])
    tie = ties[pos]
    return Decision.allow(binding_id=tie.binding_id, person_id=tie.person_id, index=pos + 1)


def decide_unbind(relatives: Sequence[Tie], ref: str) -> Decision:
    """A householder ends one of their own bindings; facts relative_id, index, used_fen."""
    picked = decide_pick(relatives, ref)
    if not picked.ok:
        return picked
    tie = relatives[int(picked.facts["index"]) - 1]
    return Decision.allow(binding_id=tie.binding_id, relative_id=tie.person_id,
                          index=picked.facts["index"], used_fen=tie.used_fen)


def decide_leave(payers: Sequence[Tie], ref: str) -> Decision:
    """A relative ends their own binding to one householder (序号 of /family or the
    householder's ID number); they can name no other binding."""
    picked = decide_pick(payers, ref)
    if not picked.ok:
        return picked
    tie = payers[int(picked.facts["index"]) - 1]
    return Decision.allow(binding_id=tie.binding_id, householder_id=tie.person_id,
                          index=picked.facts["index"], relation=tie.relation,
                          used_fen=tie.used_fen)


def stored_limit(limit_fen: int | None, used_fen: int) -> int | None:
    """A limit below what is already used is stored as the used amount (spending stops)."""
    return used_fen if limit_fen is not None and limit_fen < used_fen else limit_fen


def decide_limit(relatives: Sequence[Tie], ref: str, limit_fen: int | None) -> Decision:
    """Set, change or remove (None) a relative's cumulative limit; 0 freezes them.

    Facts: limit_fen (what is stored), requested_fen, used_fen, below_used.
    """
    if limit_fen is not None and not 0 <= limit_fen <= MAX_FEN:
        return Decision.refuse(Reason.INVALID_AMOUNT)
    picked = decide_pick(relatives, ref)
    if not picked.ok:
        return picked
    tie = relatives[int(picked.facts["index"]) - 1]
    stored = stored_limit(limit_fen, tie.used_fen)
    return Decision.allow(binding_id=tie.binding_id, relative_id=tie.person_id,
                          index=picked.facts["index"], limit_fen=stored,
                          requested_fen=limit_fen, used_fen=tie.used_fen,
                          below_used=stored != limit_fen)


def decide_order(policy: RegionPolicy, payers: Sequence[Tie], refs: Sequence[str]) -> Decision:
    """The named payers first, in the given order, the rest after them as they were.

    Facts: order (householder ids, first payer first), bindings (binding ids, same order).
    """
    if not policy.ordered:
        return Decision.refuse(Reason.ORDER_NOT_SUPPORTED, region=policy.key)
    chosen: list[Tie] = []
    for ref in refs:
        picked = decide_pick(payers, ref)
        if not picked.ok:
            return picked
        tie = payers[int(picked.facts["index"]) - 1]
        if tie not in chosen:
            chosen.append(tie)
    final = chosen + [t for t in payers if t not in chosen]
    return Decision.allow(order=[t.person_id for t in final],
                          bindings=[t.binding_id for t in final])
