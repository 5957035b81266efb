"""Tap, don't type: family members as buttons, guided steps, number replies, and the family's
payment history.

- A command that needs a relative (or a householder) and got no argument — ``/unbind``,
  ``/limit``, ``/contribute``, ``/leave``, ``/order`` — shows the family as buttons (full names);
  a tap continues by running that same command with the member's ID number, so every check,
  summary and 确认 is the command's own.
- ``/bind`` with no argument walks through ID number → name → relation (buttons for the
  relations the householder's region allows), then runs ``/bind`` with the three answers.
- A number reply to the latest numbered list (the family, a picker, "您是不是想问") picks that
  item; a phone number typed while linking is answered with the share button (only a shared
  contact proves the number is the sender's own, CONTACT_NOT_OWN).
- ``/history``: a relative sees what family money paid for them (who paid, how much, what for,
  when); a householder gets a button per relative for what they paid for that relative.

Every step and list lives in ``conversation_state`` (``bot/steps.py``); ``/cancel`` ends it.
Callback data ``fm:<verb>:<args>`` carries person ids only, re-checked against the presser's
own family at every tap.
"""

from __future__ import annotations

import re
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler

from bot import linking, render, steps, store
from bot.context import (
    Buttons,
    Context,
    answer_press,
    batched_read,
    call,
    current_person,
    is_private,
    linked_person,
    reply,
    reply_refusal,
    services,
)
from rules.codes import Reason
from rules.identity import clean_text, mask_id, normalize_id, normalize_phone
from rules.money import AmountError, format_fen, parse_yuan

LIMIT_CHOICES = ("200", "500", "1000", "2000", "5000")
NUMBER = re.compile(r"\s*(\d{1,2})\s*[.。、]?\s*")
PHONE = re.compile(r"\s*(\+?86)?[\s\-]*1\d{2}[\s\-]?\d{4}[\s\-]?\d{4}\s*")
NAME = re.compile(r"[^\d\s/@#:：?？!！,，。]{1,20}(\s[^\d\s/@#:：?？!！,，。]{1,20})?")
CANCEL_HINT = "发送 /cancel 可取消。"
STEP_TEXT_MAX = 40  # an ID number, a name, a relation, an amount; longer text is a question
CANCEL_WORDS = ("取消", "不绑了", "算了", "退出")
HANDOFF_WORDS = ("人工", "转人工", "人工客服")
PHONE_HINT = (
    "为了确认这个手机号是您本人的，请点击下方“📱 分享我的手机号”按钮：Telegram 会发送您账号本身的"
    "号码，手动输入的号码无法证明属于您，所以不能用来验证身份。")
PHONE_DURING_TAIL = ("已收到您分享的手机号，不需要再输入手机号。"
                     "请输入您本人身份证号的后4位（最后一位是X的请输入X）。" + CANCEL_HINT)
WHAT = {"unbind": "要解除绑定的亲属", "limit": "要设置限额的亲属",
        "contribute": "要为其代缴居民医保的亲属", "hist": "要查看共济记录的亲属",
        "leave": "要退出其家庭共济的户主",
        "order": "先扣款的户主（其余户主顺序不变）"}


# What a tap re-runs is provided by the modules that own it (they import this one, never the
# reverse): bot/handlers/account.py, binding.py, money.py, knowledge.py and start.py call
# ``provide`` at import, before any update arrives.
_PROVIDED: dict[str, Any] = {}


def provide(**items: Any) -> None:
    """Offer commands (``limit_cmd=…``), replies (``show_entry=…``) or constants to taps."""
    _PROVIDED.update(items)


def provided(name: str) -> Any:
    return _PROVIDED[name]


# ---- pickers -----------------------------------------------------------------------------

def _relation(context: Context, relation: str | None) -> str:
    return render.relation_name(services(context).policies, relation)


async def pick_member(update: Update, context: Context, verb: str) -> None:
    """The family as buttons for ``verb`` (a relative, or for leave/order a householder)."""
    person = await current_person(update, context)
    if person is None:
        return
    svc = services(context)
    view = await call(svc.family.family, person.id)
    if verb in ("leave", "order"):
        if verb == "order" and view.payers and not view.ordered:
            await reply_refusal(update, context, Reason.ORDER_NOT_SUPPORTED)
            return
        rows = [(f"{p.index}. {p.name}（我是其{_relation(context, p.relation)}）",
                 f"fm:{verb}:{p.householder_id}") for p in view.payers]
        empty = "没有为您共济的户主。"
    else:
        rows = [(f"{r.index}. {r.name}（{_relation(context, r.relation)}）",
                 f"fm:{verb}:{r.person_id}") for r in view.relatives]
        empty = "您还没有绑定共济亲属。绑定：发送 /bind，按提示逐步填写。"
    if not rows:
        await reply(update, context, render.lines(empty, render.USAGE.get(verb)))
        return
    typed = render.USAGE.get(verb, "").split("\n")[0]
    await _list(update, context, render.lines(f"请选择{WHAT[verb]}（点击按钮，或回复序号）：",
                                              f"（也可以直接输入。{typed}）" if typed else None),
                rows)


async def _list(update: Update, context: Context, text: str, rows: list[tuple[str, str]],
                extra: Buttons = ()) -> None:
    """A numbered list of one-button rows; a number reply picks the row."""
    await reply(update, context, text, [[row] for row in rows] + [list(r) for r in extra])
    user = update.effective_user
    if user is not None:
        await call(steps.remember_picks, services(context), user.id, [d for _, d in rows])


def family_buttons(view: Any) -> tuple[list[tuple[str, str]], list[str]]:
    """/family's buttons: one per member (their card); picks when the message has one list."""
    rows = [(f"{r.index}. {r.name}", f"fm:card:{r.person_id}") for r in view.relatives]
    rows += [(f"{p.index}. {p.name}（户主）", f"fm:card:{p.householder_id}") for p in view.payers]
    one_list = not (view.relatives and view.payers)
    return rows, [d for _, d in rows] if one_list else []


async def show_family_buttons(update: Update, context: Context, view: Any, text: str) -> None:
    """Reply with /family's text and a button per member."""
    rows, picks = family_buttons(view)
    await reply(update, context, text, [[row] for row in rows] or None)
    user = update.effective_user
    if picks and user is not None:
        await call(steps.remember_picks, services(context), user.id, picks)


# ---- a member's card ---------------------------------------------------------------------

async def card(update: Update, context: Context, member_id: int) -> None:
    """One family member with what can be done about them."""
    person = await current_person(update, context)
    if person is None:
        return
    svc = services(context)
    view = await call(svc.family.family, person.id)
    rel = next((r for r in view.relatives if r.person_id == member_id), None)
    if rel is not None:
        text = render.lines(f"{render.member(rel.name, rel.id_number)} "
                            f"{_relation(context, rel.relation)}",
                            render._usage_line(rel.limit_fen, rel.used_fen))
        await reply(update, context, text, [
            [("设置限额", f"fm:limit:{member_id}"), ("代缴居民医保", f"fm:contribute:{member_id}")],
            [("共济记录", f"fm:hist:{member_id}"), ("解除绑定", f"fm:unbind:{member_id}")]])
        return
    payer = next((p for p in view.payers if p.householder_id == member_id), None)
    if payer is None:
        await reply_refusal(update, context, Reason.NOT_BOUND)
        return
    text = render.lines(f"户主 {render.member(payer.name, payer.id_number)}"
                        f"（我是其{_relation(context, payer.relation)}）",
                        render._usage_line(payer.limit_fen, payer.used_fen))
    buttons = [[("共济记录", f"fm:phist:{member_id}"), ("退出共济", f"fm:leave:{member_id}")]]
    if view.ordered and len(view.payers) > 1:
        buttons.append([("设为第一扣款人", f"fm:order:{member_id}")])
    await reply(update, context, text, buttons)


# ---- running the commands with the tapped member ---------------------------------------

async def _run(command: Any, update: Update, context: Context, args: list[str]) -> None:
    """Run a command handler as if the user had typed its arguments."""
    context.args = args
    await command(update, context)


async def _relative(update: Update, context: Context, member_id: int) -> tuple[Any, Any] | None:
    """(person, relative row) for a tapped relative of the presser, or refuse NOT_BOUND."""
    person = await current_person(update, context)
    if person is None:
        return None
    view = await call(services(context).family.family, person.id)
    row = next((r for r in view.relatives if r.person_id == member_id), None)
    if row is None:
        await reply_refusal(update, context, Reason.NOT_BOUND)
        return None
    return person, row


async def _payer(update: Update, context: Context, member_id: int) -> tuple[Any, Any] | None:
    person = await current_person(update, context)
    if person is None:
        return None
    view = await call(services(context).family.family, person.id)
    row = next((p for p in view.payers if p.householder_id == member_id), None)
    if row is None:
        await reply_refusal(update, context, Reason.NOT_BOUND)
        return None
    return view, row


async def limit_choices(update: Update, context: Context, member_id: int) -> None:
    found = await _relative(update, context, member_id)
    if found is None:
        return
    _, row = found
    amounts = [(f"¥{a}", f"fm:lim:{member_id}:{a}") for a in LIMIT_CHOICES]
    await reply(update, context, render.lines(
        f"为 {row.name} 设置累计使用限额（{render._usage_line(row.limit_fen, row.used_fen)}）：",
        "选择金额，或点“输入其他金额”。"),
        [amounts[:3], amounts[3:] + [("不限", f"fm:lim:{member_id}:不限")],
         [("暂停使用（¥0）", f"fm:lim:{member_id}:0"),
          ("输入其他金额", f"fm:lim:{member_id}:ask")]])


async def limit_tap(update: Update, context: Context, member_id: int, amount: str) -> None:
    limit_cmd = provided("limit_cmd")
    found = await _relative(update, context, member_id)
    if found is None:
        return
    person, row = found
    if amount == "ask":
        await call(steps.start, services(context), update.effective_user.id,  # type: ignore[union-attr]
                   "limit", {"rid": member_id})
        await reply(update, context, f"请输入 {row.name} 的累计使用限额（元），例如 800；"
                    f"输入“不限”取消限额。{CANCEL_HINT}")
        return
    await _run(limit_cmd, update, context, [row.id_number, amount])


async def ask_contribution(update: Update, context: Context, member_id: int) -> None:
    found = await _relative(update, context, member_id)
    if found is None:
        return
    _, row = found
    await call(steps.start, services(context), update.effective_user.id,  # type: ignore[union-attr]
               "contribute", {"rid": member_id})
    await reply(update, context, f"请输入为 {row.name} 代缴居民医保的金额（元），例如 380。"
                f"{CANCEL_HINT}")


async def dispatch(update: Update, context: Context, data: str) -> None:
    """Act on a tapped (or number-picked) item: ``fm:…`` here, ``dym:``/``faq:`` entries."""
    show_entry = provided("show_entry")
    kind, _, rest = data.partition(":")
    if kind in ("dym", "faq"):
        await show_entry(update, context, rest)
        return
    verb, _, arg = rest.partition(":")
    ident, _, extra = arg.partition(":")
    if verb == "rel":
        await relation_tap(update, context, ident)
        return
    if not ident.isdigit():
        return
    member_id = int(ident)
    if verb == "card":
        await card(update, context, member_id)
    elif verb == "limit":
        await limit_choices(update, context, member_id)
    elif verb == "lim":
        await limit_tap(update, context, member_id, extra)
    elif verb == "contribute":
        await ask_contribution(update, context, member_id)
    elif verb == "hist":
        await relative_history(update, context, member_id)
    elif verb == "phist":
        await payer_history(update, context, member_id)
    elif verb == "unbind":
        found = await _relative(update, context, member_id)
        if found is not None:
            await _run(provided("unbind_cmd"), update, context, [found[1].id_number])
    elif verb == "leave":
        payer = await _payer(update, context, member_id)
        if payer is not None:
            await _run(provided("leave_cmd"), update, context, [payer[1].id_number])
    elif verb == "order":
        payer = await _payer(update, context, member_id)
        if payer is not None:
            view, first = payer
            refs = [first.id_number] + [p.id_number for p in view.payers
                                        if p.householder_id != member_id]
            await _run(provided("order_cmd"), update, context, refs)


async def button(update: Update, context: Context) -> None:
    """``fm:…`` buttons."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await answer_press(query)
    await dispatch(update, context, query.data)


# ---- /history ----------------------------------------------------------------------------

def _payment_line(policies: Any, p: Any, *, payer: bool) -> str:
    what = ("代缴" + render.purpose_name(policies, p.purpose).removesuffix("缴费")
            if p.kind == "contribute" else render.purpose_name(policies, p.purpose) or "医疗费用")
    who = f"{p.payer_name} 支付" if payer else f"为 {p.beneficiary_name} 支付"
    return f"{p.at:%Y-%m-%d %H:%M} {who} {what} {format_fen(p.amount_fen)}"


def payments_text(policies: Any, payments: list[Any], *, head: str, payer: bool) -> str | None:
    if not payments:
        return None
    return render.lines(head, *(_payment_line(policies, p, payer=payer) for p in payments))


async def history(update: Update, context: Context, person: Any, limit: int,
                  relative_ref: str | None = None) -> None:
    """/history: own rows; what family money paid for me; buttons per relative."""
    svc = services(context)
    view = await call(svc.family.family, person.id)
    if relative_ref is not None:
        row = _find_relative(view, relative_ref)
        if row is None and not normalize_id(relative_ref):  # neither a relative nor an ID
            await reply(update, context, render.USAGE["history"].format(max=limit_max()))
            return
        if row is None:
            await reply_refusal(update, context, Reason.NOT_BOUND)
            return
        await relative_history(update, context, row.person_id, limit=limit)
        return
    rows = await call(svc.family.history, person.id, limit)
    paid_for_me = await call(lambda: svc.family.family_payments(beneficiary_id=person.id,
                                                                limit=limit))
    parts = [render.history_text(rows, svc.policies) if rows else None,
             payments_text(svc.policies, paid_for_me, head="👨‍👩‍👧 家庭共济为我支付的记录：",
                           payer=True)]
    text = "\n\n".join(p for p in parts if p) or "暂无账户记录。"
    if view.is_relative and not paid_for_me:
        text += "\n\n家庭共济还没有为您支付过。"
    buttons = [[(f"{r.name} 的共济记录", f"fm:hist:{r.person_id}")] for r in view.relatives]
    await reply(update, context, text, buttons or None)


def limit_max() -> int:
    return int(provided("HISTORY_MAX"))


def _find_relative(view: Any, ref: str) -> Any | None:
    """A relative by ID number or full name (numbers are /history's 条数, not 序号)."""
    id_number = normalize_id(ref)
    name = clean_text(ref)
    return next((r for r in view.relatives
                 if (id_number and r.id_number == id_number) or r.name == name), None)


async def relative_history(update: Update, context: Context, member_id: int, *,
                           limit: int = 10) -> None:
    """What the householder's money paid for one relative."""
    found = await _relative(update, context, member_id)
    if found is None:
        return
    person, row = found
    svc = services(context)
    paid = await call(lambda: svc.family.family_payments(beneficiary_id=member_id,
                                                         payer_id=person.id, limit=limit))
    usage = render._usage_line(row.limit_fen, row.used_fen)
    head = f"📒 为 {row.name} 支付的家庭共济记录（{usage}）："
    await reply(update, context, payments_text(svc.policies, paid, head=head, payer=False)
                or f"还没有用您的个人账户为 {row.name} 支付过。")


async def payer_history(update: Update, context: Context, member_id: int) -> None:
    """A relative: what one householder's money paid for me."""
    found = await _payer(update, context, member_id)
    if found is None:
        return
    view, payer = found
    svc = services(context)
    paid = await call(lambda: svc.family.family_payments(beneficiary_id=view.person_id,
                                                         payer_id=member_id, limit=10))
    head = f"📒 {payer.name} 为我支付的家庭共济记录："
    await reply(update, context, payments_text(svc.policies, paid, head=head, payer=True)
                or f"{payer.name} 的个人账户还没有为您支付过。")


# ---- /bind with no argument ------------------------------------------------------------

async def start_bind(update: Update, context: Context, person: Any) -> None:
    """Step 1 of 3: the relative's ID number."""
    if not person.account_open:
        await reply_refusal(update, context, Reason.ACCOUNT_NOT_OPEN)
        return
    await call(steps.start, services(context), update.effective_user.id,  # type: ignore[union-attr]
               "bind_id")
    await reply(update, context, "绑定亲属（1/3）：请输入亲属的18位身份证号。" + CANCEL_HINT)


def relation_rows(context: Context, person: Any) -> list[tuple[str, str]]:
    """The relations the householder's region allows, as buttons (in the national order)."""
    from rules.policy import RELATIONS

    svc = services(context)
    allowed = svc.policies.get(person.region).relations
    return [(render.relation_name(svc.policies, r), f"fm:rel:{r}") for r in RELATIONS
            if r in allowed]


async def relation_tap(update: Update, context: Context, relation: str) -> None:
    """Step 3 of 3: the relation, then /bind's own checks and summary."""
    bind_cmd = provided("bind_cmd")
    person = await current_person(update, context)
    if person is None:
        return
    svc = services(context)
    uid = update.effective_user.id  # type: ignore[union-attr]
    step = steps.parse(svc, await batched_read(context, steps.rows_of, uid))
    if step is None or step.name != "bind_rel":
        await reply(update, context, "这一步已结束或已取消。重新绑定请发送 /bind。")
        return
    key = svc.policies.relation(relation)
    if key is None:
        await reply_refusal(update, context, Reason.UNKNOWN_RELATION)
        return
    word = render.relation_name(svc.policies, key)
    word = word if svc.policies.relation(word) == key else key
    await call(steps.finish, svc, uid)
    await _run(bind_cmd, update, context, [step.data["id"], step.data["name"], word])


# ---- free text: steps, number replies, a typed phone ------------------------------------

async def continue_step(update: Update, context: Context) -> bool:
    """Private text that answers a pending step or picks from the latest list; True if it did."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or not message.text or not is_private(update):
        return False
    text = message.text
    svc = services(context)
    if PHONE.fullmatch(text) and normalize_phone(text):
        return await _typed_phone(update, context)
    number = NUMBER.fullmatch(text)
    known, asker = svc.askers.peek(user.id)
    if not number and ((known and asker is None) or len(text) > STEP_TEXT_MAX):
        return False  # only a number reply or a short answer can continue a step (no DB hop)
    step = steps.parse(svc, await batched_read(context, steps.rows_of, user.id))
    if step is None:
        return False
    if number and step.picks:
        n = int(number.group(1))
        if 1 <= n <= len(step.picks):
            await dispatch(update, context, step.picks[n - 1])
        else:
            await reply(update, context, f"请回复 1 到 {len(step.picks)} 之间的序号，或点击按钮。")
        return True
    handler = STEP_TEXT.get(step.name)
    words = clean_text(text).strip()
    if handler is None or words in HANDOFF_WORDS:  # asking for a person leaves the step be
        return False
    if words in CANCEL_WORDS:  # "取消" typed instead of /cancel
        await call(steps.finish, svc, user.id)
        await reply(update, context, "已取消当前操作。")
        return True
    await handler(update, context, step, words)
    return True


async def _typed_phone(update: Update, context: Context) -> bool:
    """A phone number typed as text: while linking, point at the share button; else a question."""
    share_keyboard = provided("share_keyboard")
    user = update.effective_user
    assert user is not None and update.effective_message is not None
    svc = services(context)
    if await linked_person(context, user.id) is not None:
        return False
    if await call(store.state_of, svc, user.id, linking.AWAIT_TAIL) is not None:
        await reply(update, context, PHONE_DURING_TAIL)
    else:
        await update.effective_message.reply_text(PHONE_HINT, reply_markup=share_keyboard())
    return True


async def _bind_id(update: Update, context: Context, step: steps.Step, text: str) -> None:
    id_number = normalize_id(text)
    if id_number is None:
        await reply_refusal(update, context, Reason.INVALID_ID)
        await reply(update, context, "请重新输入亲属的18位身份证号。" + CANCEL_HINT)
        return
    await call(steps.start, services(context), update.effective_user.id,  # type: ignore[union-attr]
               "bind_name", {"id": id_number})
    await reply(update, context, f"绑定亲属（2/3）：身份证号 {mask_id(id_number)}。"
                "请输入亲属的姓名（与身份证一致）。" + CANCEL_HINT)


async def _bind_name(update: Update, context: Context, step: steps.Step, text: str) -> None:
    person = await current_person(update, context)
    if person is None:
        return
    if not NAME.fullmatch(text):
        await reply(update, context, "请输入亲属的姓名（与身份证一致，不含数字）。" + CANCEL_HINT)
        return
    rows = relation_rows(context, person)
    await call(steps.start, services(context), update.effective_user.id,  # type: ignore[union-attr]
               "bind_rel", {"id": step.data["id"], "name": text}, [d for _, d in rows])
    policy = services(context).policies.get(person.region)
    await reply(update, context,
                f"绑定亲属（3/3）：{text} 是您的什么人？（{policy.name}可以绑定以下关系）",
                [rows[i:i + 3] for i in range(0, len(rows), 3)])


async def _bind_relation_text(update: Update, context: Context, step: steps.Step,
                              text: str) -> None:
    """A relation typed instead of tapped (老婆, 妈妈 …)."""
    await relation_tap(update, context, text)


async def _amount_step(update: Update, context: Context, step: steps.Step, text: str) -> None:
    limit_cmd, contribute_cmd = provided("limit_cmd"), provided("contribute_cmd")
    found = await _relative(update, context, int(step.data.get("rid", 0)))
    if found is None:
        await call(steps.finish, services(context), update.effective_user.id)  # type: ignore[union-attr]
        return
    _, row = found
    no_limit = step.name == "limit" and text.strip().lower() in provided("NO_LIMIT")
    if not no_limit:
        try:
            parse_yuan(text, allow_zero=step.name == "limit")
        except AmountError:
            await reply_refusal(update, context, Reason.INVALID_AMOUNT)
            await reply(update, context, "请重新输入金额（元），例如 500。" + CANCEL_HINT)
            return
    await call(steps.finish, services(context), update.effective_user.id)  # type: ignore[union-attr]
    command = limit_cmd if step.name == "limit" else contribute_cmd
    await _run(command, update, context, [row.id_number, text.strip()])


STEP_TEXT = {"bind_id": _bind_id, "bind_name": _bind_name, "bind_rel": _bind_relation_text,
             "limit": _amount_step, "contribute": _amount_step}


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The ``fm:`` buttons (steps' free text is routed from the knowledge fallback)."""
    app.add_handler(CallbackQueryHandler(button, pattern=r"^fm:"))
