"""FamilyService: the one facade the bot calls. Synchronous; every write is a keyed unit of work.

Each mutating call takes an idempotency ``key``: the first Decision (allowed or refused) is
stored with it and a replay returns that Decision without changing anything.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, bindparam, select, text
from sqlalchemy.orm import Session, sessionmaker

from rules import binding as binding_ops
from rules import credit as credit_ops
from rules import settlement as settle_ops
from rules.binding import BindRequest
from rules.binding_rules import identity_miss
from rules.clock import Clock, china_month
from rules.codes import Reason
from rules.decision import Decision
from rules.family_history import FamilyPayment, family_payments
from rules.identity import normalize_phone
from rules.lapse import lapse_status
from rules.planning import ContributionPlan, SettlePlan
from rules.policy import CONTRIBUTION_PURPOSES, PURPOSES, Policies
from rules.registry import (
    account_open,
    find_person,
    load_view,
    payers,
    person_view,
    relatives,
)
from rules.schema import LedgerEntry, Person, Transaction
from rules.settlement import Fault, Pin
from rules.unit_of_work import Claim, TxnContext, UnitOfWork
from rules.views import FamilyView, HistoryRow, LapseStatus, PersonView
from rules.wallet_policy import WalletPolicy
from rules.wallet_service import WalletService

_BALANCES = text("SELECT id, balance, monthly_credit, status, lapsed_since, region FROM people"
                 " WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))


class FamilyService:
    """Family accounts, bindings, settlement, credits and queries over one engine."""

    def __init__(self, engine: Engine, policies: Policies, clock: Clock, *, retries: int = 5,
                 fault: Fault | None = None, wallets: WalletPolicy | None = None,
                 sessions: sessionmaker[Session] | None = None) -> None:
        self.engine = engine
        self.policies = policies
        self.clock = clock
        self.uow = UnitOfWork(engine, retries=retries, sessions=sessions)
        self.fault = fault  # test seam: called between settlement legs; raising aborts all
        # 医保钱包 (rules/wallet.yaml, validated here at start-up like regions.yaml)
        self.wallets = WalletService(self.uow, policies, wallets or WalletPolicy.load(), clock)

    # registry (read-only)
    def person(self, person_id: int) -> PersonView | None:
        return self.uow.read(lambda s: load_view(s, person_id))

    def find_person(self, id_number_text: str) -> Decision:
        return self.uow.read(lambda s: find_person(s, id_number_text))

    def people_by_phone(self, phone: str) -> list[PersonView]:
        number = normalize_phone(phone)
        if number is None:
            return []

        def read(s: Session) -> list[PersonView]:
            found = s.execute(select(Person).where(Person.phone == number).order_by(Person.id))
            return [person_view(p, account_open(s, p.id)) for p in found.scalars()]
        return self.uow.read(read)

    # family account
    def open_account(self, householder_id: int, *, letter_version: str, letter_sha256: str,
                     key: str) -> Decision:
        return self.uow.run(key, "open", householder_id, self.clock.now(), lambda s, ctx:
                            binding_ops.open_account(s, ctx, householder_id, letter_version,
                                                     letter_sha256))

    def check_bind(self, householder_id: int, id_number_text: str, name: str,
                   relation_word: str) -> Decision:
        """The bind rules with every code as it is; reads only (tests, staff)."""
        req = BindRequest(householder_id, id_number_text, name, relation_word)
        return self.uow.read(lambda s: binding_ops.check_bind(s, self.policies, req))

    def request_bind(self, householder_id: int, id_number_text: str, name: str,
                     relation_word: str) -> Decision:
        """A householder's /bind before 确认: like check_bind, but "no such person" and
        "wrong name" are one UNKNOWN_PERSON, and after BIND_ATTEMPTS such misses within the
        hour every request is TOO_MANY_ATTEMPTS (misses counted atomically, in audit_log)."""
        req = BindRequest(householder_id, id_number_text, name, relation_word)
        now = self.clock.now()
        # Read first: only a miss takes the write lock that makes counting atomic.
        seen = self.uow.read(lambda s: binding_ops.peek_bind(s, self.policies, req, now))
        if not identity_miss(seen):
            return seen
        with self.uow.sessions.begin() as s:
            return binding_ops.guarded_check_bind(s, self.policies, req, now)

    def bind(self, householder_id: int, id_number_text: str, name: str, relation_word: str, *,
             key: str) -> Decision:
        req = BindRequest(householder_id, id_number_text, name, relation_word)
        return self.uow.run(key, "bind", householder_id, self.clock.now(),
                            lambda s, ctx: binding_ops.bind(s, ctx, self.policies, req))

    def unbind(self, householder_id: int, relative_ref: str, *, key: str) -> Decision:
        return self.uow.run(key, "unbind", householder_id, self.clock.now(),
                            lambda s, ctx: binding_ops.unbind(s, ctx, householder_id, relative_ref))

    def leave(self, relative_id: int, householder_ref: str, *, key: str) -> Decision:
        """A relative ends their own binding to the householder named by 序号 (payer order,
        as /family shows) or ID number; facts householder_id, binding_id, relation."""
        return self.uow.run(key, "leave", relative_id, self.clock.now(),
                            lambda s, ctx: binding_ops.leave(s, ctx, relative_id, householder_ref))

    def set_limit(self, householder_id: int, relative_ref: str, limit_fen: int | None, *,
                  key: str) -> Decision:
        return self.uow.run(key, "limit", householder_id, self.clock.now(), lambda s, ctx:
                            binding_ops.set_limit(s, ctx, householder_id, relative_ref, limit_fen))

    def set_order(self, relative_id: int, householder_refs: list[str], *, key: str) -> Decision:
        return self.uow.run(key, "order", relative_id, self.clock.now(), lambda s, _ctx:
                            binding_ops.set_order(s, self.policies, relative_id,
                                                  list(householder_refs)))

    # money
    def preview_settlement(self, patient_id: int, amount_fen: int, purpose: str) -> Decision:
        """What ``settle`` would do now, without writing."""
        _check_purpose(purpose)
        return self.uow.read(lambda s: settle_ops.preview(s, self.policies, self.clock.now(),
                                                          patient_id, amount_fen, purpose))

    def settle(self, patient_id: int, amount_fen: int, purpose: str, *, key: str) -> Decision:
        """Plan and pay at once, family money included (a terminal; no summary is shown)."""
        _check_purpose(purpose)
        return self.uow.run(key, "settle", patient_id, self.clock.now(), lambda s, ctx:
                            settle_ops.settle(s, ctx, self.policies, patient_id, amount_fen,
                                              purpose, self.fault), purpose=purpose)

    def settle_direct(self, patient_id: int, amount_fen: int, purpose: str, *, key: str,
                      pin: Pin, always_confirm: bool = False) -> Decision:
        """A patient's own swipe: own money is paid at once; a plan that needs family money
        (or any plan, with ``always_confirm``) is pinned behind a token (facts
        ``needs_confirm``, ``token``) and nothing is paid."""
        _check_purpose(purpose)
        return self.uow.run(key, "settle", patient_id, self.clock.now(), lambda s, ctx:
                            settle_ops.settle_direct(s, ctx, self.policies, patient_id,
                                                     amount_fen, purpose, pin,
                                                     always_confirm=always_confirm),
                            purpose=purpose)

    def execute_settlement(self, plan: SettlePlan, *, key: str, pin: Pin,
                           claim: Claim | None = None, origin: str | None = None) -> Decision:
        """Pay a pinned plan after 确认 in one transaction: ``claim`` (the token's single use)
        runs first in it, so claiming, paying and recording commit together or not at all."""
        def body(s: Session, ctx: TxnContext) -> Decision:
            if claim is not None:
                claim.take(s)
            d = settle_ops.execute(s, ctx, self.policies, plan, pin, self.fault, origin=origin)
            if claim is not None:
                claim.record(s, d)
            return d
        return self.uow.run(key, "settle", plan.snapshot.patient_id, self.clock.now(), body,
                            purpose=plan.purpose)

    def contribute(self, householder_id: int, relative_ref: str, amount_fen: int, *, key: str,
                   purpose: str = "resident_contribution") -> Decision:
        if purpose not in CONTRIBUTION_PURPOSES:
            raise ValueError(f"not a contribution purpose: {purpose!r}")

        return self.uow.run(key, "contribute", householder_id, self.clock.now(), lambda s, ctx:
                            settle_ops.contribute(s, ctx, self.policies, householder_id,
                                                  relative_ref, amount_fen, purpose),
                            purpose=purpose)

    def preview_credit(self, month: str) -> Decision:
        """What ``credit_month`` would pay now (facts people, total_fen), or INVALID_MONTH."""
        now = self.clock.now()
        return self.uow.read(lambda s: credit_ops.preview_month(s, now, month))

    def pin_contribution(self, householder_id: int, relative_ref: str, amount_fen: int, *,
                         key: str, pin: Pin,
                         purpose: str = "resident_contribution") -> Decision:
        """``/contribute``: checked now and pinned behind a token (facts ``needs_confirm``,
        ``token``); nothing is paid until :meth:`execute_contribution`."""
        if purpose not in CONTRIBUTION_PURPOSES:
            raise ValueError(f"not a contribution purpose: {purpose!r}")
        return self.uow.run(key, "contribute", householder_id, self.clock.now(), lambda s, ctx:
                            settle_ops.pin_contribution(s, self.policies, householder_id,
                                                        relative_ref, amount_fen, purpose, pin),
                            purpose=purpose)

    def execute_contribution(self, plan: ContributionPlan, *, key: str,
                             claim: Claim | None = None) -> Decision:
        """Pay a pinned contribution after 确认, claim and payment in one transaction."""
        def body(s: Session, ctx: TxnContext) -> Decision:
            if claim is not None:
                claim.take(s)
            d = settle_ops.execute_contribution(s, ctx, self.policies, plan)
            if claim is not None:
                claim.record(s, d)
            return d
        return self.uow.run(key, "contribute", plan.snapshot.householder_id, self.clock.now(),
                            body, purpose=plan.purpose)

    def credit_month(self, month: str, *, key: str | None = None,
                     pinned: tuple[int, int] | None = None) -> Decision:
        """Credit every eligible person once for ``month``; running it again pays nobody twice.

        Only the current or the previous China month: any other is INVALID_MONTH, written
        nowhere. ``key`` (a confirmed staff run) makes a replay return the first Decision;
        ``pinned`` (people, total_fen) as the summary showed them, else PLAN_CHANGED.
        """
        now = self.clock.now()
        if not credit_ops.month_allowed(month, now):
            return credit_ops.refuse_month(month, now)
        key = key or f"credit:{month}:{uuid.uuid4().hex}"  # each unkeyed run is its own operation
        return self.uow.run(key, "credit", None, now,
                            lambda s, ctx: credit_ops.credit_month(s, ctx, month, pinned))

    # queries
    def balance(self, person_id: int) -> Decision:
        """UNKNOWN_PERSON, or facts balance_fen, monthly_credit_fen and lapse (a dict)."""
        return self.balances([person_id]).get(person_id) or Decision.refuse(Reason.UNKNOWN_PERSON)

    def balances(self, person_ids: list[int]) -> dict[int, Decision]:
        """:meth:`balance` of several people in one statement (unknown ids left out)."""
        month = china_month(self.clock.now())
        found = {}
        for row in self.uow.rows(_BALANCES, {"ids": sorted(set(person_ids))}):
            lapse = lapse_status(self.policies, row.id, row.status, row.lapsed_since, month,
                                 row.region)
            found[row.id] = Decision.allow(balance_fen=row.balance,
                                           monthly_credit_fen=row.monthly_credit,
                                           lapse=lapse.to_json())
        return found

    def lapse_status(self, person_id: int) -> LapseStatus:
        view = self.person(person_id)
        if view is None:
            raise LookupError(f"no person {person_id}")
        return self._lapse(view)

    def lapse_statuses(self, person_ids: list[int]) -> dict[int, LapseStatus]:
        """:meth:`lapse_status` of several people in one read (unknown ids left out)."""
        month = china_month(self.clock.now())

        def read(s: Session) -> dict[int, LapseStatus]:
            q = (select(Person.id, Person.status, Person.lapsed_since, Person.region)
                 .where(Person.id.in_(sorted(set(person_ids)))))
            return {r.id: lapse_status(self.policies, r.id, r.status, r.lapsed_since, month,
                                       r.region) for r in s.execute(q)}
        return self.uow.read(read)

    def _lapse(self, view: PersonView) -> LapseStatus:
        return lapse_status(self.policies, view.id, view.status, view.lapsed_since,
                            china_month(self.clock.now()), view.region)

    def history(self, person_id: int, limit: int = 10) -> list[HistoryRow]:
        """The person's ledger rows, newest first."""
        def read(s: Session) -> list[HistoryRow]:
            q = (select(LedgerEntry, Transaction.kind, Transaction.purpose, Transaction.person_id,
                        Person.name)
                 .join(Transaction, Transaction.id == LedgerEntry.txn_id)
                 .outerjoin(Person, Person.id == Transaction.person_id)
                 .where(LedgerEntry.person_id == person_id)
                 .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
                 .limit(max(int(limit), 0)))
            return [HistoryRow(entry_id=e.id, at=e.created_at, kind=e.kind, delta_fen=e.delta_fen,
                               purpose=purpose, period=e.period,
                               for_person_id=pid if pid is not None else e.person_id,
                               for_name=name, txn_kind=kind)
                    for e, kind, purpose, pid, name in s.execute(q).all()]
        return self.uow.read(read)

    def family_payments(self, *, beneficiary_id: int | None = None,
                        payer_id: int | None = None, limit: int = 10) -> list[FamilyPayment]:
        """Payments made with a householder's money for a relative, newest first (a relative's
        /history; a householder's /history per relative)."""
        return self.uow.read(lambda s: family_payments(s, beneficiary_id=beneficiary_id,
                                                       payer_id=payer_id, limit=limit))

    def family(self, person_id: int) -> FamilyView:
        """As householder: active relatives in 序号 order. As relative: payers in payment order,
        each with that householder's other relatives."""
        def read(s: Session) -> FamilyView:
            person = s.get(Person, person_id)
            ordered = person is not None and self.policies.get(person.region).ordered
            return FamilyView(person_id=person_id, account_open=account_open(s, person_id),
                              relatives=tuple(relatives(s, person_id)),
                              payers=tuple(payers(s, person_id)), ordered=ordered)
        return self.uow.read(read)


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; the bot maps words with Policies.purpose")
