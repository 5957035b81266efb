"""医保钱包: /wallet (state, activation), /transfer, /contribute 本人, and the wallet password.

A password is asked for only after a 确认 (确认使用钱包 to activate, 确认 on a transfer
summary): the user's next all-digit message is the password. The bot deletes that message
before anything else, never logs or stores it, and passes it once to the domain, which keeps
only a salted hash (activation) or checks it against the hash (transfer) in the same
transaction that claims the 确认 token and moves the money.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import timedelta
from typing import Any, cast

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, filters

from bot import confirm, render, store
from bot.context import (
    Context,
    Services,
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
from bot.handlers.account import amount_arg
from bot.messages import refusal, refused_text
from rules.codes import Reason
from rules.decision import Decision
from rules.money import format_fen
from rules.unit_of_work import AlreadyClaimed
from rules.wallet_rules import TransferPlan, TransferRequest

log = logging.getLogger(__name__)

AWAIT_PASSWORD = "wallet_password"  # conversation state: the next digits are a password
SELF_WORDS = ("本人", "自己", "我")
# While a password is awaited, a message of nothing but digits and spaces is taken as one
# (and deleted), even when it has the wrong length: it may still be a mistyped password.
_DIGITS = re.compile(r"^[\d\s]{1,24}$")
USAGE_TRANSFER = ("用法：/transfer 身份证号 姓名 关系 金额\n"
                  "例如：/transfer 510102195201010021 王桂英 母亲 300\n"
                  "从您的职工医保个人账户转入近亲属已激活的医保钱包（双方省份都须已开通）。")
ASK_NEW = ("请发送6位数字作为医保钱包密码（转账时要用）。\n"
           "这条消息发出后会被立即删除，助手只保存加盐的散列值，任何人都看不到您的密码。")
ASK_PASSWORD = "请发送6位医保钱包密码完成转账。密码消息会被立即删除。"
KIND = {"wallet_in": "转入", "wallet_settle": "就医购药支付", "wallet_contribute": "缴居民医保"}


# ---- conversation state ------------------------------------------------------------------

def _set_state(svc: Services, user_id: int, data: dict[str, Any]) -> None:
    store.put_state(svc, user_id, AWAIT_PASSWORD, data)


def _get_state(svc: Services, user_id: int) -> dict[str, Any] | None:
    return store.state_of(svc, user_id, AWAIT_PASSWORD,
                          max_age=timedelta(seconds=svc.settings.confirmation_ttl_seconds))


def _clear_state(svc: Services, user_id: int) -> None:
    store.drop_state(svc, user_id, AWAIT_PASSWORD)


# ---- /wallet ------------------------------------------------------------------------------

def wallet_text(facts: dict[str, Any]) -> str:
    state = "已激活" if facts["active"] else "未激活"
    parts = [f"💳 医保钱包：{state}", f"参保地：{facts['province']}{facts['city']}",
             f"使用地：{facts['city']}（钱包只能在参保地定点医药机构使用）"]
    if facts["active"]:
        parts.append(f"钱包余额：{format_fen(int(facts['balance_fen']))}")
        parts += ["最近记录："] + [
            f"  {m['at'][:16].replace('T', ' ')} {KIND.get(m['kind'], m['kind'])} "
            f"{render.signed(int(m['delta_fen']))}" for m in facts["moves"]] \
            if facts["moves"] else ["暂无钱包记录。"]
        parts.append("转账：/transfer 身份证号 姓名 关系 金额\n"
                     "缴本人居民医保：/contribute 本人 金额")
    return render.lines(*parts)


async def wallet_cmd(update: Update, context: Context) -> None:
    """/wallet: state, place of use, balance, recent moves; 确认使用钱包 when it can activate."""
    person = await current_person(update, context)
    if person is None:
        return
    d = await call(services(context).family.wallets.view, person.id)
    if not d.ok:
        assert d.code is not None
        await reply_refusal(update, context, d.code, d.facts)
        return
    text = wallet_text(d.facts)
    if not d.facts["opened"]:
        await reply(update, context, render.lines(text, "", refusal(Reason.WALLET_NOT_ENABLED)),
                    [why_button(Reason.WALLET_NOT_ENABLED)])
    elif d.facts["can_activate"]:
        await confirm.ask(update, context, "wallet_activate", {"person_id": person.id},
                          render.lines(text, "", "激活后，家人可以把职工医保个人账户的钱转入"
                                       "您的钱包，您可用它在参保地看病购药、缴居民医保。"),
                          "确认使用钱包")
    else:
        await reply(update, context, text)


@confirm.executor("wallet_activate")
async def do_activate(context: Context, pending: confirm.Pending, person: Any,
                      key: str) -> confirm.Outcome:
    """确认使用钱包 pressed: wait for the password (nothing is stored before it comes)."""
    await call(_set_state, services(context), pending.owner_user_id,
               {"action": "activate", "person_id": person.id})
    return confirm.Outcome(ASK_NEW)


# ---- /transfer ----------------------------------------------------------------------------

def transfer_summary(svc: Services, f: dict[str, Any]) -> str:
    relation = render.relation_name(svc.policies, f.get("relation"))
    return render.lines(
        "请确认医保钱包转账：",
        f"收款人：{f['payee_name_masked']}（{f['payee_id_masked']}，{relation}）",
        f"收款人参保地：{f['payee_province']}{f['payee_city']}",
        f"金额：{format_fen(int(f['amount_fen']))}，从您的职工医保个人账户转出",
        f"转出后个人账户余额：{format_fen(int(f['balance_fen']))}",
        "确认后还需输入6位钱包密码。")


async def transfer_cmd(update: Update, context: Context) -> None:
    """/transfer 身份证号 姓名 关系 金额: a pinned, masked summary with 确认."""
    person = await current_person(update, context)
    if person is None:
        return
    args = list(context.args or [])
    if len(args) != 4:
        await reply(update, context, USAGE_TRANSFER)
        return
    amount = await amount_arg(update, context, args[3])
    if amount is None:
        return
    svc, user = services(context), update.effective_user
    assert user is not None
    key = update_key(update)
    pin = cast(Any, confirm.pinner(svc, user.id, "transfer", {"person_id": person.id}))
    req = TransferRequest(args[0], args[1], args[2], amount)
    d = await call(svc.family.wallets.request_transfer, person.id, req, key=key, pin=pin)
    if not d.ok:
        assert d.code is not None
        await reply_refusal(update, context, d.code, d.facts)
        return
    await confirm.show(update, context, d.facts["token"], transfer_summary(svc, d.facts), "确认")


@confirm.executor("transfer", pinned=True)
async def do_transfer(context: Context, pending: confirm.Pending, person: Any,
                      key: str) -> confirm.Outcome:
    """确认 on a transfer: ask for the password; the token is claimed only with it."""
    await call(_set_state, services(context), pending.owner_user_id,
               {"action": "transfer", "token": pending.token, "person_id": person.id})
    return confirm.Outcome(ASK_PASSWORD)


def transferred_text(f: dict[str, Any]) -> str:
    return render.lines(f"✅ 已向 {f['payee_name_masked']} 的医保钱包转入 "
                        f"{format_fen(int(f['amount_fen']))}。",
                        f"您的个人账户余额：{format_fen(int(f['balance_fen']))}")


def received_notice(f: dict[str, Any]) -> str:
    return render.lines(f"通知：{f['payer_name_masked']}（{f['payer_province']}）通过医保钱包"
                        f"向您转入 {format_fen(int(f['amount_fen']))}。",
                        "可在参保地定点医药机构就医购药，或缴本人居民医保"
                        "（/contribute 本人 金额）。发送 /wallet 查看余额。")


# ---- the password message -----------------------------------------------------------------

async def _delete(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    try:
        await context.bot.delete_message(message.chat_id, message.message_id)
    except TelegramError:
        log.warning("could not delete a wallet password message")


async def take_password(update: Update, context: Context) -> bool:
    """Private text that is the awaited wallet password: deleted at once and used; False for
    any other text (bot/handlers/text.py routes it on)."""
    message, user = update.effective_message, update.effective_user
    text = message.text if message and message.text else ""
    svc = services(context)
    state = None
    if user is not None and _DIGITS.match(unicodedata.normalize("NFKC", text)):
        state = await call(_get_state, svc, user.id)
    if state is None or user is None:
        return False
    await _delete(update, context)
    if state.get("action") == "activate":
        await _activate(update, context, svc, user.id, int(state["person_id"]), text)
    else:
        await _transfer(update, context, svc, user.id, state, text)
    return True


async def _activate(update: Update, context: Context, svc: Services, user_id: int,
                    person_id: int, password: str) -> None:
    d = await call(svc.family.wallets.activate, person_id, password, key=update_key(update))
    if d.code == Reason.WALLET_PASSWORD_WRONG:  # not 6 digits: ask again
        await reply_refusal(update, context, d.code, d.facts)
        return
    await call(_clear_state, svc, user_id)
    if not d.ok:
        assert d.code is not None
        await reply_refusal(update, context, d.code, d.facts)
    elif d.facts.get("already_active"):
        await reply(update, context, "您的医保钱包已激活，密码未作更改。发送 /wallet 查看。")
    else:
        await reply(update, context, f"✅ 医保钱包已激活，使用地：{d.facts['city']}。"
                                     "发送 /wallet 查看余额和记录。")


async def _transfer(update: Update, context: Context, svc: Services, user_id: int,
                    state: dict[str, Any], password: str) -> None:
    token = str(state.get("token"))
    found = await call(store.pending_confirmation, svc, token)
    if found is None or found[0] != user_id or found[2]:
        await call(_clear_state, svc, user_id)
        await reply_refusal(update, context, Reason.EXPIRED)
        return
    _owner, payload, _expired = found
    claim = confirm.TokenClaim(token, svc.clock.now(), lambda d: outcome_text(d))
    pin = cast(Any, confirm.pinner(svc, user_id, "transfer",
                                   {k: v for k, v in payload.items() if k != "plan"}))
    try:
        d = await call(svc.family.wallets.execute_transfer,
                       TransferPlan.from_json(payload["plan"]), password,
                       key=update_key(update), pin=pin, claim=claim)
    except AlreadyClaimed:
        await call(_clear_state, svc, user_id)
        await reply(update, context, confirm.ALREADY_DONE)
        return
    if d.code != Reason.WALLET_PASSWORD_WRONG or d.facts.get("shape"):
        await call(_clear_state, svc, user_id)
    await _tell(update, context, svc, d)


def outcome_text(d: Decision) -> str:
    """What a transfer's password step said (kept with the token for a second press)."""
    if d.ok:
        return transferred_text(d.facts)
    assert d.code is not None
    return refused_text(d.code, d.facts, fresh="新的转账摘要已发给您，请核对后再确认。")


async def _tell(update: Update, context: Context, svc: Services, d: Decision) -> None:
    if not d.ok:
        assert d.code is not None
        await reply(update, context, outcome_text(d), [why_button(d.code)])
        if d.code == Reason.PLAN_CHANGED and d.facts.get("token"):
            await confirm.show(update, context, d.facts["token"],
                               transfer_summary(svc, d.facts), "确认")
        return
    await reply(update, context, outcome_text(d))
    if not d.replayed:
        payee_user = await call(linked_user, svc.sessions, int(d.facts["payee_id"]))
        if payee_user is not None:
            await notify(context, payee_user, received_notice(d.facts))


# ---- /contribute 本人 ----------------------------------------------------------------------

async def contribute_self_cmd(update: Update, context: Context) -> None:
    """/contribute 本人 金额: the holder's own resident-insurance contribution from the wallet."""
    person = await current_person(update, context)
    if person is None:
        return
    args = list(context.args or [])
    if len(args) != 2:
        await reply(update, context, render.USAGE["contribute"])
        return
    amount = await amount_arg(update, context, args[1])
    if amount is None:
        return
    svc = services(context)
    view = await call(svc.family.wallets.view, person.id)
    if person.scheme != "resident":
        await reply_refusal(update, context, Reason.NOT_RESIDENT, {"wallet": True})
        return
    if not view.facts.get("active"):
        code = Reason.WALLET_NOT_ACTIVE if view.facts.get("opened") else Reason.WALLET_NOT_ENABLED
        await reply_refusal(update, context, code)
        return
    summary = render.lines("请确认用医保钱包缴纳本人居民医保：",
                           f"金额：{format_fen(amount)}",
                           f"钱包余额：{format_fen(int(view.facts['balance_fen']))}")
    await confirm.ask(update, context, "wallet_contribute",
                      {"person_id": person.id, "amount_fen": amount}, summary, "确认缴费")


@confirm.executor("wallet_contribute")
async def do_contribute_self(context: Context, pending: confirm.Pending, person: Any,
                             key: str) -> confirm.Outcome:
    """A confirmed wallet contribution (key ``confirm:{token}``)."""
    amount = int(pending.payload["amount_fen"])
    d = await call(services(context).family.wallets.contribute, person.id, amount, key=key)
    if not d.ok:
        assert d.code is not None
        return confirm.Outcome(refusal(d.code, d.facts), code=d.code)
    return confirm.Outcome(render.lines(
        f"✅ 已用医保钱包缴纳本人居民医保 {format_fen(amount)}。",
        f"钱包余额：{format_fen(int(d.facts['wallet_balance_fen']))}"))


# ---- knowledge: the personal line ---------------------------------------------------------

def wallet_entry(entry: Any) -> bool:
    """Knowledge entries about 医保钱包 (wallet_*, scope_wallet_*, reason_wallet_* …)."""
    return "wallet" in str(entry.id)


def personal_wallet_note(svc: Services, person_id: int) -> str | None:
    """"您所在的山东省已开通医保钱包；您的家人在四川省，也已开通。" (blocking: a worker thread)."""
    places = svc.family.wallets.family_places(person_id)
    if places is None:
        return None
    (own, opened), family = places
    parts = [f"您所在的{own}{'已' if opened else '尚未'}开通医保钱包"]
    for province, ok in family:
        also = "也已开通" if ok and opened else ("已开通" if ok else "尚未开通")
        parts.append(f"您的家人在{province}，{also}")
    return "；".join(parts) + "。"


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """/wallet, /transfer, /contribute 本人 (other /contribute go on to the money module)."""
    app.add_handler(CommandHandler("wallet", wallet_cmd))
    app.add_handler(CommandHandler("transfer", transfer_cmd))
    self_first = filters.Regex(r"^/contribute(@\w+)?\s+(" + "|".join(SELF_WORDS) + r")(\s|$)")
    app.add_handler(CommandHandler("contribute", contribute_self_cmd, filters=self_first))

