"""Account commands: /open /limit /order /family /balance /history (binding: binding.py).

Every command works only in a private chat for a linked user (``current_person``). /limit and
/order act at once with the update's idempotency key. Inside one family (a householder and the
relatives they bound) names are shown in full; ID numbers stay masked.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import confirm, render
from bot.context import (
    Context,
    answer_press,
    batched,
    call,
    current_person,
    reply,
    reply_refusal,
    services,
    update_key,
)
from bot.handlers import taps
from bot.letter import LETTER_SHA256, LETTER_VERSION, letter_text
from rules.codes import Reason
from rules.decision import Decision
from rules.identity import normalize_id
from rules.money import AmountError, parse_yuan

log = logging.getLogger(__name__)

HISTORY_DEFAULT, HISTORY_MAX = 10, 100
NO_LIMIT = ("不限", "无限", "不限额", "无限额", "none")


def is_index(ref: str) -> bool:
    """A 序号 (1-based position shown by /family) rather than an ID number."""
    return bool(re.fullmatch(r"\d{1,3}", ref.strip()))


async def check_ref(update: Update, context: Context, ref: str) -> bool:
    """Refuse INVALID_ID for a malformed ID number (a 序号 passes through)."""
    if is_index(ref) or normalize_id(ref):
        return True
    await reply_refusal(update, context, Reason.INVALID_ID)
    return False


async def amount_arg(update: Update, context: Context, text: str, *,
                     allow_zero: bool = False) -> int | None:
    """Yuan text → fen, or refuse INVALID_AMOUNT."""
    try:
        return parse_yuan(text, allow_zero=allow_zero)
    except AmountError:
        await reply_refusal(update, context, Reason.INVALID_AMOUNT)
        return None


def find_relative(view: Any, ref: str) -> Any | None:
    """The relative row a 序号 or ID number refers to, in a householder's family view."""
    if is_index(ref):
        return next((r for r in view.relatives if r.index == int(ref)), None)
    id_number = normalize_id(ref)
    return next((r for r in view.relatives if r.id_number == id_number), None)


async def bound_relative(update: Update, context: Context, person: Any, ref: str) -> Any | None:
    """The householder's relative a 序号 or ID number names, or refuse NOT_BOUND."""
    row = find_relative(await call(services(context).family.family, person.id), ref)
    if row is None:
        await reply_refusal(update, context, Reason.NOT_BOUND)
    return row


async def answer(update: Update, context: Context, decision: Any, ok_text: str) -> None:
    """Reply ``ok_text`` for an allowed decision, else its refusal."""
    if decision.ok:
        await reply(update, context, ok_text)
    else:
        await reply_refusal(update, context, decision.code, decision.facts)


async def open_cmd(update: Update, context: Context) -> None:
    """/open: show the commitment letter with its agree button."""
    person = await current_person(update, context)
    if person is None:
        return
    if person.account_open:
        await reply(update, context, "您已开通家庭共济账户。绑定亲属：/bind 身份证号 姓名 关系")
        return
    if not person.has_personal_account:  # no letter to read in vain; the service checks again
        await reply_refusal(update, context, Reason.NO_PERSONAL_ACCOUNT)
        return
    await reply(update, context, letter_text(), [[("同意并开通", "open:agree")]])


async def open_agree(update: Update, context: Context) -> None:
    """The agree button under the letter: open the family account."""
    query = update.callback_query
    assert query is not None
    await answer_press(query)
    person = await current_person(update, context)
    if person is None:
        return
    svc = services(context)
    d = await call(svc.family.open_account, person.id, letter_version=LETTER_VERSION,
                   letter_sha256=LETTER_SHA256, key=update_key(update))
    if d.ok:
        text = f"✅ 已开通家庭共济账户（承诺书版本 {LETTER_VERSION}）。现在可以用 /bind 绑定亲属。"
        await query.edit_message_text(text)
    else:
        assert d.code is not None  # a refused Decision always has a code
        await reply_refusal(update, context, d.code, d.facts)


async def limit_cmd(update: Update, context: Context) -> None:
    """/limit 身份证号|序号 金额|不限: set a relative's cumulative limit."""
    person = await current_person(update, context)
    if person is None:
        return
    args = context.args or []
    if not args:
        await taps.pick_member(update, context, "limit")
        return
    if len(args) != 2:
        await reply(update, context, render.USAGE["limit"])
        return
    if not await check_ref(update, context, args[0]):
        return
    limit_fen = None
    if args[1].strip().lower() not in NO_LIMIT:
        # 0 is a limit too: it freezes the relative without unbinding them
        limit_fen = await amount_arg(update, context, args[1], allow_zero=True)
        if limit_fen is None:
            return
    svc = services(context)
    d = await call(svc.family.set_limit, person.id, args[0], limit_fen, key=update_key(update))
    await answer(update, context, d, render.limit_text(d.facts))  # what was stored, not asked


async def order_cmd(update: Update, context: Context) -> None:
    """/order 身份证号|序号 …: rank the householders who pay for me, first payer first."""
    person = await current_person(update, context)
    if person is None:
        return
    refs = context.args or []
    if not refs:
        await taps.pick_member(update, context, "order")
        return
    for ref in refs:
        if not await check_ref(update, context, ref):
            return
    svc = services(context)
    d = await call(svc.family.set_order, person.id, list(refs), key=update_key(update))
    if not d.ok:
        assert d.code is not None  # a refused Decision always has a code
        await reply_refusal(update, context, d.code, d.facts)
        return
    view = await call(svc.family.family, person.id)
    await reply(update, context, "✅ 已更新扣款顺序。\n\n" + render.family_text(view, svc.policies))


async def family_cmd(update: Update, context: Context) -> None:
    """/family: relatives I bound and householders who bound me, masked."""
    person = await current_person(update, context)
    if person is None:
        return
    svc = services(context)
    view = await call(svc.family.family, person.id)
    await taps.show_family_buttons(update, context, view, render.family_text(view, svc.policies))


async def balance_cmd(update: Update, context: Context) -> None:
    """/balance: my balance, monthly credit and what a lapse means."""
    person = await current_person(update, context)
    if person is None:
        return
    family = services(context).family
    d = await batched(context, family.balances, person.id, name="balances") \
        or Decision.refuse(Reason.UNKNOWN_PERSON)
    await answer(update, context, d, render.balance_text(person, d.facts))


async def history_cmd(update: Update, context: Context) -> None:
    """/history [条数] | /history 亲属姓名|身份证号 [条数]: my latest ledger rows and what family
    money paid for me; a householder gets a button per relative (a number is always 条数)."""
    person = await current_person(update, context)
    if person is None:
        return
    args = list(context.args or [])
    limit, ref = HISTORY_DEFAULT, None
    if args and (not args[0].isdigit() or normalize_id(args[0])):
        ref = args.pop(0)
    if args:
        if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= HISTORY_MAX:
            await reply(update, context, render.USAGE["history"].format(max=HISTORY_MAX))
            return
        limit = int(args[0])
    await taps.history(update, context, person, limit, ref)


taps.provide(limit_cmd=limit_cmd, order_cmd=order_cmd, HISTORY_MAX=HISTORY_MAX,
             NO_LIMIT=NO_LIMIT)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Account commands, the letter's agree button, and the 确认/取消 buttons."""
    for name, fn in (("open", open_cmd), ("limit", limit_cmd), ("order", order_cmd),
                     ("family", family_cmd),
                     ("balance", balance_cmd), ("history", history_cmd)):
        app.add_handler(CommandHandler(name, fn))
    app.add_handler(CallbackQueryHandler(open_agree, pattern=r"^open:agree$"))
    taps.register(app)  # fm: buttons: family members as buttons, /bind's steps, /history
    confirm.register(app)
