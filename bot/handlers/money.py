"""Money commands: /settle (alias /pay) and /contribute.

A /settle that would spend family money (``preview_settlement`` says ``uses_family``) and
every /contribute show a masked summary first and change nothing until 确认. A settle paid
from the patient's own account (or refused) runs at once with the key ``tg:{update_id}`` —
that refusal is what opens Dongying's 5-minute retry window.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import confirm, render
from bot.context import (
    Context,
    answer_press,
    call,
    current_person,
    notify,
    reply,
    reply_refusal,
    services,
    update_key,
    why_button,
)
from bot.handlers import first_premium, taps
from bot.handlers.account import amount_arg, check_ref
from bot.messages import refused_text
from rules.codes import Reason
from rules.decision import Decision
from rules.planning import ContributionPlan, SettlePlan

DEFAULT_PURPOSE = "pharmacy"


def purpose_usage(context: Context, command: str) -> str:
    return render.USAGE[command].format(
        purposes=" ".join(services(context).policies.purpose_names.values()))


async def settle_args(update: Update, context: Context, args: list[str], command: str,
                      ) -> tuple[int, str] | None:
    """``金额 [用途]`` → (fen, purpose key), replying usage / INVALID_AMOUNT otherwise."""
    if not 1 <= len(args) <= 2:
        await reply(update, context, purpose_usage(context, command))
        return None
    amount = await amount_arg(update, context, args[0])
    if amount is None:
        return None
    purpose = services(context).policies.purpose(args[1]) if len(args) == 2 else DEFAULT_PURPOSE
    if purpose is None:
        await reply(update, context, "没有识别出用途。\n" + purpose_usage(context, command))
        return None
    return amount, purpose


def spent_notices(patient: Any, facts: dict[str, Any], purpose: str,
                  ) -> list[tuple[int, str]]:
    """One notice per linked householder whose money paid: amount, remaining limit, balance
    (all from the settlement's own facts: nothing is read again)."""
    linked = facts.get("linked") or {}
    after = {int(a["householder_id"]): a for a in facts.get("payers_after") or []}
    notices = []
    for leg in facts.get("legs") or []:
        householder_id = int(leg["householder_id"])
        user_id = linked.get(str(householder_id))
        if user_id is None:
            continue
        state = after.get(householder_id, {})
        notices.append((int(user_id), render.spent_notice(
            patient, int(leg["amount_fen"]), purpose, state.get("remaining_fen"),
            state.get("balance_fen"))))
    return notices


def settled(svc: Any, d: Decision, patient: Any, *, staff: bool = False) -> confirm.Outcome:
    """The receipt (or refusal) of a settlement Decision; notices only the first time."""
    if not d.ok:
        assert d.code is not None  # a refused Decision always has a code
        return confirm.Outcome(refused_text(d.code, d.facts, fresh=FRESH), code=d.code)
    name = render.purpose_name(svc.policies, d.facts.get("purpose"))
    outcome = confirm.Outcome(render.settle_text(d.facts, int(d.facts["amount_fen"]), name,
                                                 staff=staff), replayed=d.replayed)
    if not d.replayed:
        outcome.notices = spent_notices(patient, d.facts, name)
    return outcome


FRESH = "新的结算摘要已发给您，请核对后再确认。"


def receipt_text(svc: Any, d: Decision, staff: bool = False) -> str:
    """What a pressed 确认 shows to a second press (stored with the token)."""
    if d.ok:
        name = render.purpose_name(svc.policies, d.facts.get("purpose"))
        return render.settle_text(d.facts, int(d.facts["amount_fen"]), name, staff=staff)
    assert d.code is not None
    return refused_text(d.code, d.facts, fresh=FRESH)


async def send_outcome(update: Update, context: Context, outcome: confirm.Outcome) -> None:
    """Reply with an outcome produced without a confirmation, then send its notices."""
    await reply(update, context, outcome.text, [why_button(outcome.code)] if outcome.code else None)
    for user_id, text in outcome.notices:
        await notify(context, user_id, text)


def settle_summary(svc: Any, facts: dict[str, Any]) -> str:
    return render.settle_summary(facts, int(facts["amount_fen"]),
                                 render.purpose_name(svc.policies, facts.get("purpose")))


async def settle_cmd(update: Update, context: Context) -> None:
    """/settle 金额 [用途]: pay a bill; family money needs 确认 on a pinned plan.

    One keyed transaction decides and acts: the own account pays at once, or the plan that
    needs family money is stored behind a token and its summary sent. A redelivered update
    replays that Decision: the same receipt, or the same summary with the same token.
    """
    person = await current_person(update, context)
    if person is None:
        return
    parsed = await settle_args(update, context, list(context.args or []), "settle")
    if parsed is None:
        return
    amount, purpose = parsed
    await swipe(update, context, person, amount, purpose)


async def swipe(update: Update, context: Context, person: Any, amount: int, purpose: str) -> None:
    """One swipe of the patient's card for ``amount``: a receipt, a refusal, or a summary."""
    svc = services(context)
    user = update.effective_user
    assert user is not None
    key = update_key(update)
    pin = confirm.pinner(svc, user.id, "settle", {"person_id": person.id, "origin": key})
    d = await call(svc.family.settle_direct, person.id, amount, purpose, key=key, pin=pin)
    if d.ok and d.facts.get("needs_confirm"):
        await confirm.show(update, context, d.facts["token"], settle_summary(svc, d.facts),
                           "确认支付")
        return
    outcome = settled(svc, d, person)
    buttons = [why_button(outcome.code)] if outcome.code else []
    if d.code == Reason.INSUFFICIENT_BALANCE and d.facts.get("retry_window_seconds"):
        # Dongying: the second swipe inside the window is one tap (still summary + 确认)
        buttons.insert(0, [(f"用家庭共济支付 {render.format_fen(amount)}",
                            f"{RESWIPE}{amount}:{purpose}")])
    await reply(update, context, outcome.text, buttons or None)


RESWIPE = "sw:"


async def reswipe(update: Update, context: Context) -> None:
    """The button on Dongying's short-balance refusal: swipe again inside the window."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await answer_press(query)
    person = await current_person(update, context)
    if person is None:
        return
    amount_text, _, purpose = query.data.removeprefix(RESWIPE).partition(":")
    if not amount_text.isdigit() or purpose not in services(context).policies.purpose_names:
        return
    await swipe(update, context, person, int(amount_text), purpose)


async def run_pinned_settlement(context: Context, pending: confirm.Pending, patient: Any, key: str,
                                *, staff: bool = False) -> confirm.Outcome:
    """确认 on a pinned settlement: claim the token, pay exactly the plan (or PLAN_CHANGED and
    a fresh summary), all in one transaction."""
    svc = services(context)
    payload = {k: v for k, v in pending.payload.items() if k != "plan"}
    claim = confirm.TokenClaim(pending.token, svc.clock.now(),
                               lambda d: receipt_text(svc, d, staff), marker=pending.marker)
    d = await call(svc.family.execute_settlement, SettlePlan.from_json(pending.payload["plan"]),
                   key=key, claim=claim, origin=pending.payload.get("origin"),
                   pin=confirm.pinner(svc, pending.owner_user_id, pending.action, payload))
    outcome = settled(svc, d, patient, staff=staff)
    if d.code == Reason.PLAN_CHANGED and d.facts.get("token"):
        outcome.fresh = (settle_summary(svc, d.facts), d.facts["token"], "确认支付")
    return outcome


@confirm.executor("settle", pinned=True)
async def do_settle(context: Context, pending: confirm.Pending, person: Any,
                    key: str) -> confirm.Outcome:
    """A confirmed settlement that uses family money."""
    return await run_pinned_settlement(context, pending, person, key)


async def contribute_cmd(update: Update, context: Context) -> None:
    """/contribute 身份证号|序号 金额: pay a relative's resident-insurance contribution.

    Checked and pinned in one keyed transaction; the summary's 确认 pays exactly that.
    """
    person = await current_person(update, context)
    if person is None:
        return
    args = list(context.args or [])
    if not args:  # tap, don't type: the relatives as buttons, then the amount
        await taps.pick_member(update, context, "contribute")
        return
    if len(args) != 2:
        await reply(update, context, render.USAGE["contribute"])
        return
    if not await check_ref(update, context, args[0]):
        return
    amount = await amount_arg(update, context, args[1])
    if amount is None:
        return
    svc = services(context)
    user = update.effective_user
    assert user is not None
    key = update_key(update)
    pin = confirm.pinner(svc, user.id, "contribute", {"person_id": person.id, "origin": key})
    d = await call(svc.family.pin_contribution, person.id, args[0], amount, key=key, pin=pin)
    if not d.ok and d.code == Reason.NOT_BOUND and await first_premium.explain(update, context,
                                                                               args[0]):
        return  # someone not yet insured: what the bot does instead (bot/handlers/first_premium)
    if not d.ok:
        assert d.code is not None  # a refused Decision always has a code
        await reply_refusal(update, context, d.code, d.facts)
        return
    await confirm.show(update, context, d.facts["token"], contribute_summary(svc, d.facts),
                       "确认缴费")


def contribute_summary(svc: Any, facts: dict[str, Any]) -> str:
    relative = SimpleNamespace(name=facts["name"], id_number=facts["id_number"])
    return render.contribute_summary(relative, int(facts["amount_fen"]),
                                     render.purpose_name(svc.policies, facts["purpose"]))


def contributed(svc: Any, d: Decision, householder: Any) -> confirm.Outcome:
    """The receipt (or refusal) of a contribution; the relative is told who paid, once."""
    if not d.ok:
        assert d.code is not None
        return confirm.Outcome(refused_text(d.code, d.facts, fresh=FRESH), code=d.code)
    f = d.facts
    name = render.purpose_name(svc.policies, f["purpose"])
    amount = int(f["amount_fen"])
    outcome = confirm.Outcome(render.contributed_text(f["name"], f["id_number"], amount, name, f),
                              replayed=d.replayed)
    user_id = (f.get("linked") or {}).get(str(f["relative_id"]))
    if user_id is not None and not d.replayed:
        outcome.notices.append((int(user_id), render.contributed_notice(householder, amount,
                                                                         name)))
    return outcome


@confirm.executor("contribute", pinned=True)
async def do_contribute(context: Context, pending: confirm.Pending, person: Any, key: str,
                        ) -> confirm.Outcome:
    """A confirmed contribution: pay exactly the pinned plan, or PLAN_CHANGED."""
    svc = services(context)
    claim = confirm.TokenClaim(pending.token, svc.clock.now(),
                               lambda d: contributed(svc, d, person).text, marker=pending.marker)
    d = await call(svc.family.execute_contribution,
                   ContributionPlan.from_json(pending.payload["plan"]), key=key, claim=claim)
    return contributed(svc, d, person)


taps.provide(contribute_cmd=contribute_cmd)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """/settle, its alias /pay, and /contribute."""
    app.add_handler(CommandHandler(["settle", "pay"], settle_cmd))
    app.add_handler(CommandHandler("contribute", contribute_cmd))
    app.add_handler(CallbackQueryHandler(reswipe, pattern=rf"^{RESWIPE}"))
    confirm.register(app)
