"""Money commands: /settle (alias /pay) and /contribute.

A /settle that would spend family money (``preview_settlement`` says ``uses_family``) and
every /contribute show a masked summary first and change nothing until 确认. A settle paid
from the patient's own account (or refused) runs at once with the key ``tg:{update_id}`` —
that refusal is what opens Dongying's 5-minute retry window.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot import confirm, render
from bot.context import (
    call,
    current_person,
    linked_user,
    notify,
    reply,
    reply_refusal,
    services,
    update_key,
    why_button,
)
from bot.handlers.account import amount_arg, bound_relative, check_ref
from bot.messages import refusal
from rules.codes import Reason

DEFAULT_PURPOSE = "pharmacy"


def purpose_usage(context: Any, command: str) -> str:
    return render.USAGE[command].format(
        purposes=" ".join(services(context).policies.purpose_names.values()))


async def settle_args(update: Update, context: Any, args: list[str], command: str,
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


async def spent_notices(context: Any, patient: Any, facts: dict[str, Any], purpose: str,
                        ) -> list[tuple[int, str]]:
    """One notice per householder whose money paid: amount, remaining limit, balance."""
    svc, notices = services(context), []
    for leg in facts.get("legs") or []:
        householder_id = int(leg["householder_id"])
        user_id = await call(linked_user, svc.sessions, householder_id)
        if user_id is None:
            continue
        view = await call(svc.family.family, householder_id)
        row = next((r for r in view.relatives if r.person_id == patient.id), None)
        householder = await call(svc.family.person, householder_id)
        notices.append((user_id, render.spent_notice(
            patient, int(leg["amount_fen"]), purpose, row.remaining_fen if row else None,
            householder.balance_fen if householder else None)))
    return notices


async def settle_outcome(context: Any, patient: Any, amount: int, purpose: str, key: str,
                         ) -> confirm.Outcome:
    """Settle for ``patient`` and say what happened; householders who paid get a notice."""
    svc = services(context)
    d = await call(svc.family.settle, patient.id, amount, purpose, key=key)
    if not d.ok:
        assert d.code is not None  # a refused Decision always has a code
        return confirm.Outcome(refusal(d.code, d.facts), code=d.code)
    name = render.purpose_name(svc.policies, purpose)
    notices = await spent_notices(context, patient, d.facts, name)
    return confirm.Outcome(render.settle_text(d.facts, amount, name), notices)


async def send_outcome(update: Update, context: Any, outcome: confirm.Outcome) -> None:
    """Reply with an outcome produced without a confirmation, then send its notices."""
    await reply(update, context, outcome.text, [why_button(outcome.code)] if outcome.code else None)
    for user_id, text in outcome.notices:
        await notify(context, user_id, text)


async def settle_cmd(update: Update, context: Any) -> None:
    """/settle 金额 [用途]: pay a bill; family money needs 确认."""
    person = await current_person(update, context)
    if person is None:
        return
    parsed = await settle_args(update, context, list(context.args or []), "settle")
    if parsed is None:
        return
    amount, purpose = parsed
    svc = services(context)
    preview = await call(svc.family.preview_settlement, person.id, amount, purpose)
    if preview.ok and preview.facts.get("uses_family"):
        payload = {"person_id": person.id, "amount_fen": amount, "purpose": purpose}
        summary = render.settle_summary(preview.facts, amount,
                                        render.purpose_name(svc.policies, purpose))
        await confirm.ask(update, context, "settle", payload, summary, "确认支付")
        return
    await send_outcome(update, context, await settle_outcome(context, person, amount, purpose,
                                                             update_key(update)))


@confirm.executor("settle")
async def do_settle(context: Any, pending: confirm.Pending, person: Any,
                    key: str) -> confirm.Outcome:
    """A confirmed settlement that uses family money."""
    p = pending.payload
    return await settle_outcome(context, person, int(p["amount_fen"]), p["purpose"], key)


async def contribute_cmd(update: Update, context: Any) -> None:
    """/contribute 身份证号|序号 金额: pay a relative's resident-insurance contribution."""
    person = await current_person(update, context)
    if person is None:
        return
    args = list(context.args or [])
    if len(args) != 2:
        await reply(update, context, render.USAGE["contribute"])
        return
    if not await check_ref(update, context, args[0]):
        return
    amount = await amount_arg(update, context, args[1])
    if amount is None:
        return
    row = await bound_relative(update, context, person, args[0])
    if row is None:
        return
    svc = services(context)
    relative = await call(svc.family.person, row.person_id)
    if relative is not None and relative.scheme != "resident":
        await reply_refusal(update, context, Reason.NOT_RESIDENT)
        return
    payload = {"person_id": person.id, "relative_id": row.person_id, "id_number": row.id_number,
               "name": row.name, "amount_fen": amount}
    name = render.purpose_name(svc.policies, "resident_contribution")
    await confirm.ask(update, context, "contribute", payload,
                      render.contribute_summary(row, amount, name), "确认缴费")


@confirm.executor("contribute")
async def do_contribute(context: Any, pending: confirm.Pending, person: Any, key: str,
                        ) -> confirm.Outcome:
    """A confirmed contribution; the relative is told who paid."""
    p, svc = pending.payload, services(context)
    amount = int(p["amount_fen"])
    d = await call(svc.family.contribute, person.id, p["id_number"], amount, key=key)
    if not d.ok:
        assert d.code is not None  # a refused Decision always has a code
        return confirm.Outcome(refusal(d.code, d.facts), code=d.code)
    name = render.purpose_name(svc.policies, "resident_contribution")
    facts = dict(d.facts)
    if "balance_fen" not in facts:
        householder = await call(svc.family.person, person.id)
        facts["balance_fen"] = householder.balance_fen if householder else None
    outcome = confirm.Outcome(render.contributed_text(p["name"], p["id_number"], amount, name,
                                                      facts))
    user_id = await call(linked_user, svc.sessions, int(p["relative_id"]))
    if user_id is not None:
        outcome.notices.append((user_id, render.contributed_notice(person, amount, name)))
    return outcome


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """/settle, its alias /pay, and /contribute."""
    app.add_handler(CommandHandler(["settle", "pay"], settle_cmd))
    app.add_handler(CommandHandler("contribute", contribute_cmd))
    confirm.register(app)
