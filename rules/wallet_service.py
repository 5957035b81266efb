"""WalletService: the 医保钱包 operations the bot calls (``FamilyService.wallets``).

Every write is a keyed unit of work, like every other money action: the first Decision under
a key is stored and a replay returns it. Nothing here ever returns or stores a password.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from rules import wallets as ops
from rules.clock import Clock
from rules.decision import Decision
from rules.policy import Policies
from rules.unit_of_work import Claim, TxnContext, UnitOfWork
from rules.wallet_policy import WalletPolicy
from rules.wallet_rules import TransferPlan, TransferRequest


class WalletService:
    """Activation, /wallet, transfers and wallet contributions over one unit of work."""

    def __init__(self, uow: UnitOfWork, policies: Policies, wallets: WalletPolicy,
                 clock: Clock) -> None:
        self.uow, self.policies, self.wallets, self.clock = uow, policies, wallets, clock

    def view(self, person_id: int, limit: int = 5) -> Decision:
        """Facts province, city, opened, active, balance_fen, moves, can_activate."""
        return self.uow.read(lambda s: ops.view(s, self.wallets, person_id, limit))

    def family_places(self, person_id: int
                      ) -> tuple[tuple[str, bool], tuple[tuple[str, bool], ...]] | None:
        """(own province, opened?) and each other family province (for personal answers)."""
        return self.uow.read(lambda s: ops.family_places(s, self.wallets, person_id))

    def activate(self, person_id: int, password: str, *, key: str) -> Decision:
        return self.uow.run(key, "wallet_activate", person_id, self.clock.now(),
                            lambda s, ctx: ops.activate(s, ctx, self.wallets, person_id,
                                                        password))

    def request_transfer(self, payer_id: int, req: TransferRequest, *, key: str,
                         pin: ops.TransferPin) -> Decision:
        """/transfer: the plan pinned behind a token (facts needs_confirm, token), or the
        refusal; a redelivered update replays the same summary and token."""
        return self.uow.run(key, "transfer", payer_id, self.clock.now(), lambda s, ctx:
                            ops.request_transfer(s, ctx, self.policies, self.wallets, payer_id,
                                                 req, pin))

    def execute_transfer(self, plan: TransferPlan, password: str, *, key: str,
                         pin: ops.TransferPin, claim: Claim | None = None) -> Decision:
        """The password for a pinned transfer: checked (wrong ones counted), then the token
        claimed and the plan paid exactly, or PLAN_CHANGED — one transaction."""
        def body(s: Session, ctx: TxnContext) -> Decision:
            return ops.execute_transfer(s, ctx, self.policies, self.wallets, plan, password,
                                        claim, pin)
        return self.uow.run(key, "transfer", plan.snapshot.payer.id, self.clock.now(), body)

    def contribute(self, person_id: int, amount_fen: int, *, key: str) -> Decision:
        """The holder's own resident-insurance contribution from their wallet."""
        return self.uow.run(key, "contribute", person_id, self.clock.now(), lambda s, ctx:
                            ops.contribute_from_wallet(s, ctx, self.wallets, person_id,
                                                       amount_fen),
                            purpose="resident_contribution")
