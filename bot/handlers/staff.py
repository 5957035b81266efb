"""Staff commands (user IDs under ``staff_ids``): /lookup /settle_for /credit /audit.

Staff see people masked like everyone else; every staff action is logged with the staff
user id and masked ID numbers only. /settle_for acts as an institution's terminal: a short
swipe is refused at once (so Dongying's "swipe again within 5 minutes" works at the counter),
and every payment shows the pinned summary and needs the staff member's 确认; the patient is
then told what was paid and by which staff member.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import confirm, render, store
from bot.context import (
    Context,
    answer_press,
    call,
    is_private,
    is_staff,
    linked_user,
    reply,
    reply_refusal,
    services,
    update_key,
)
from bot.handlers.money import (
    run_pinned_settlement,
    send_outcome,
    settle_args,
    settle_summary,
    settled,
)
from bot.messages import refusal
from rules.codes import Reason
from rules.identity import mask_id

log = logging.getLogger("gongji.staff")


async def staff_only(update: Update, context: Context) -> int | None:
    """The staff user's id, or None after replying FORBIDDEN (or PRIVATE_ONLY in a group)."""
    user = update.effective_user
    if user is None or not is_staff(context, user.id):
        await reply_refusal(update, context, Reason.FORBIDDEN)
        return None
    if not is_private(update):  # people's data stays out of group chats, staff or not
        await reply_refusal(update, context, Reason.PRIVATE_ONLY)
        return None
    return user.id


async def record(context: Context, staff_id: int, action: str, details: str) -> None:
    """Log a staff action (masked) and keep it in ``audit_log``."""
    log.info("staff %s %s %s", staff_id, action, details)
    await call(store.note, services(context), staff_id, action, details)


async def find(update: Update, context: Context, id_text: str) -> Any | None:
    """The person with that ID number, or None after replying INVALID_ID / UNKNOWN_PERSON."""
    d = await call(services(context).family.find_person, id_text)
    if d.ok:
        return d.facts["person"]
    assert d.code is not None  # a refused Decision always has a code
    await reply_refusal(update, context, d.code, d.facts)
    return None


def person_summary(person: Any, view: Any, policies: Any) -> str:
    """A masked summary for staff: identity, scheme, balance, bindings both ways."""
    region = policies.get(person.region).name
    scheme = render.SCHEME.get(person.scheme, person.scheme)
    work = render.EMPLOYMENT.get(person.employment or "", "")
    status = render.STATUS.get(person.status, person.status)
    return render.lines(
        f"👤 {render.who(person.name, person.id_number)}",
        f"手机：{render.mask_phone(person.phone) if person.phone else '无'}",
        f"参保地：{person.province}{person.city}（政策：{region}）",
        f"险种：{scheme}{('·' + work) if work else ''}，状态：{status}"
        + (f"（自 {person.lapsed_since} 断缴）" if person.lapsed_since else ""),
        f"个人账户余额：{render.format_fen(person.balance_fen)}，每月划入："
        f"{render.format_fen(person.monthly_credit_fen)}",
        f"家庭共济账户：{'已开通' if person.account_open else '未开通'}",
        "", render.family_text(view, policies, own=False),
    )


async def lookup_cmd(update: Update, context: Context) -> None:
    """/lookup 身份证号|手机号|姓名: a masked person summary with bindings; several matches
    (a shared phone, a common name) are a numbered list of buttons to pick from."""
    from rules.identity import normalize_phone

    staff_id = await staff_only(update, context)
    if staff_id is None:
        return
    args = context.args or []
    if len(args) != 1:
        await reply(update, context, render.USAGE["lookup"])
        return
    svc, text = services(context), args[0].strip()
    if normalize_phone(text) is not None:
        found, how = await call(svc.family.people_by_phone, text), "phone"
    elif any(c.isdigit() for c in text):
        person = await find(update, context, text)
        if person is None:
            return
        found, how = [person], "id"
    else:
        found, how = await call(store.people_named, svc, text[:20]), "name"
    await record(context, staff_id, "lookup",
                 f"{how} {render.redact(text) if how != 'name' else render.mask_name(text)} "
                 f"→ {len(found)}")
    if not found:
        await reply_refusal(update, context, Reason.UNKNOWN_PERSON)
        return
    if len(found) == 1:
        await show_person(update, context, found[0])
        return
    more = len(found) > store.MAX_MATCHES
    lines = [f"找到{'超过' if more else ''}{min(len(found), store.MAX_MATCHES)}人，请选择："]
    buttons = []
    for i, p in enumerate(found[:store.MAX_MATCHES], 1):
        label = f"{i}. {render.who(p.name, p.id_number)} {p.city or p.province}"
        lines.append(label)
        buttons.append([(label[:60], f"lk:{p.id}")])
    if more:
        lines.append("结果太多，请用身份证号或手机号查询。")
    await reply(update, context, "\n".join(lines), buttons)


async def show_person(update: Update, context: Context, person: Any) -> None:
    svc = services(context)
    view = await call(svc.family.family, person.id)
    await reply(update, context, person_summary(person, view, svc.policies))


async def lookup_button(update: Update, context: Context) -> None:
    """lk:PERSON — a pick from /lookup's list (staff only)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    if not is_staff(context, query.from_user.id) or not is_private(update):
        await answer_press(query, "仅限工作人员在私聊中使用。")
        return
    await answer_press(query)
    try:
        person = await call(services(context).family.person, int(query.data[3:]))
    except ValueError:
        return
    if person is not None:
        await record(context, query.from_user.id, "lookup", mask_id(person.id_number))
        await show_person(update, context, person)


async def settle_for_cmd(update: Update, context: Context) -> None:
    """/settle_for 身份证号 金额 [用途]: settle as a terminal for that patient."""
    staff_id = await staff_only(update, context)
    if staff_id is None:
        return
    args = list(context.args or [])
    if len(args) < 2:
        await reply(update, context, render.USAGE["settle_for"].format(
            purposes=" ".join(services(context).policies.purpose_names.values())))
        return
    parsed = await settle_args(update, context, args[1:], "settle_for")
    if parsed is None:
        return
    patient = await find(update, context, args[0])
    if patient is None:
        return
    amount, purpose = parsed
    await record(context, staff_id, "settle_for",
                 f"{mask_id(patient.id_number)} {render.format_fen(amount)} {purpose}")
    svc = services(context)
    key = update_key(update)
    pin = confirm.pinner(svc, staff_id, "settle_for",
                         {"staff": staff_id, "patient_id": patient.id, "origin": key})
    d = await call(svc.family.settle_direct, patient.id, amount, purpose, key=key, pin=pin,
                   always_confirm=True)
    if d.ok and d.facts.get("needs_confirm"):
        summary = (f"代 {render.who(patient.name, patient.id_number)} 结算。\n"
                   + settle_summary(svc, d.facts))
        summary = await call(about_patient, svc, patient.id, summary)
        await confirm.show(update, context, d.facts["token"], summary, "确认支付")
        return
    outcome = settled(svc, d, patient, staff=True)
    outcome.text = await call(about_patient, svc, patient.id, outcome.text)
    await send_outcome(update, context, outcome)


PATIENT_WORDS = (("您存在有效的家庭共济绑定关系", "患者存在有效的家庭共济绑定关系"),
                 ("超出了户主为您设置", "超出了户主为患者设置"),
                 ("个人账户余额不足", "患者个人账户余额不足"))


def about_patient(svc: Any, patient_id: int, text: str) -> str:
    """A settlement text for the staff member at the terminal: about the patient ("患者…",
    not "您的"), and the householders who pay masked like everyone else staff see."""
    for payer in svc.family.family(patient_id).payers:
        text = text.replace(f"户主 {payer.name}", f"户主 {render.mask_name(payer.name)}")
    for patient_side, staff_side in PATIENT_WORDS:
        text = text.replace(patient_side, staff_side)
    return text


@confirm.executor("settle_for", pinned=True)
async def do_settle_for(context: Context, pending: confirm.Pending, _person: Any, key: str,
                        ) -> confirm.Outcome:
    """A confirmed terminal settlement: the patient is told what was paid and by whom."""
    p, svc = pending.payload, services(context)
    patient = await call(svc.family.person, int(p["patient_id"]))
    assert patient is not None  # found when settle_for asked; people are never deleted
    outcome = await run_pinned_settlement(context, pending, patient, key, staff=True)
    if outcome.code is None and not outcome.replayed:
        await record(context, int(p["staff"]), "settle_for_confirmed",
                     f"{mask_id(patient.id_number)} {outcome.text.splitlines()[0]}")
        user_id = await call(linked_user, svc.sessions, patient.id)
        if user_id is not None:
            outcome.notices.append((user_id, render.terminal_notice(int(p["staff"]),
                                                                     outcome.text)))
    outcome.text = await call(about_patient, svc, patient.id, outcome.text)
    return outcome


async def credit_cmd(update: Update, context: Context) -> None:
    """/credit YYYY-MM: show whom the monthly credit pays and the total, then 确认."""
    staff_id = await staff_only(update, context)
    if staff_id is None:
        return
    args = context.args or []
    if not args:
        await reply(update, context, render.USAGE["credit"])
        return
    month = " ".join(args)  # "2026-11 x" is one bad month, not a month and some junk
    preview = await call(services(context).family.preview_credit, month)
    if not preview.ok:
        await record(context, staff_id, "credit_refused", f"{render.redact(month)[:40]!r}")
        assert preview.code is not None  # a refused Decision always has a code
        await reply_refusal(update, context, preview.code, preview.facts)
        return
    people, total = int(preview.facts["people"]), int(preview.facts["total_fen"])
    if people == 0:
        await record(context, staff_id, "credit", f"{month} people=0")
        await reply(update, context,
                    f"{month} 没有需要划入的人员（都已划入过、断缴或没有个人账户）。")
        return
    summary = render.lines(
        f"月度划入 {month}：将为 {people} 人的个人账户划入，合计 {render.format_fen(total)}。",
        "已划入过、断缴或没有个人账户的人员不划入；同一月份不会重复划入。")
    payload = {"staff": staff_id, "month": month, "people": people, "total_fen": total}
    token = await confirm.ask(update, context, "credit", payload, summary, "确认划入")
    await record(context, staff_id, "credit",
                 f"{month} people={people} total={render.format_fen(total)} token={token}")


@confirm.executor("credit")
async def do_credit(context: Context, pending: confirm.Pending, _person: Any, key: str,
                    ) -> confirm.Outcome:
    """A confirmed monthly credit: runs once under the confirmation's key."""
    month, staff_id = str(pending.payload["month"]), int(pending.payload["staff"])
    key = f"staff:{key}"  # the audit checks every staff:… credit against these notes
    pinned = (int(pending.payload["people"]), int(pending.payload["total_fen"]))
    d = await call(services(context).family.credit_month, month, key=key, pinned=pinned)
    f = d.facts
    await record(context, staff_id, "credit_confirmed",
                 f"{month} token={pending.token} key={key} ok={d.ok} "
                 f"credited={_count(f.get('credited'))} "
                 f"total={render.format_fen(int(f.get('total_fen', 0)))}")
    if not d.ok:
        assert d.code is not None  # a refused Decision always has a code
        now = "" if "people" not in f else (
            f"\n现在：{month} 将为 {f['people']} 人划入，合计 "
            f"{render.format_fen(int(f['total_fen']))}；请重新发送 /credit {month}。")
        return confirm.Outcome(refusal(d.code, d.facts) + now, code=d.code)
    return confirm.Outcome(render.lines(
        f"✅ {month} 月度划入完成：本次划入 {_count(f.get('credited', 0))} 人，"
        f"合计 {render.format_fen(int(f.get('total_fen', 0)))}。",
        f"跳过 {_count(f.get('skipped', 0))} 人（断缴、已划入过或没有个人账户）。",
        "同一月份重复执行不会重复划入。"))


def _count(value: Any) -> int:
    return len(value) if isinstance(value, (list, tuple)) else int(value or 0)


async def audit_cmd(update: Update, context: Context) -> None:
    """/audit: check every ledger invariant."""
    staff_id = await staff_only(update, context)
    if staff_id is None:
        return
    from rules.audit import audit

    violations = await call(audit, services(context).engine)
    await record(context, staff_id, "audit", f"{len(violations)} violation(s)")
    if not violations:
        await reply(update, context, "✅ 账目核查通过：所有不变量成立。")
        return
    await reply(update, context, f"❌ 账目核查发现 {len(violations)} 个问题：\n"
                + "\n".join(f"{i}. {render.redact(v)}" for i, v in enumerate(violations, 1)))


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Staff commands."""
    for name, fn in (("lookup", lookup_cmd), ("settle_for", settle_for_cmd),
                     ("credit", credit_cmd), ("audit", audit_cmd)):
        app.add_handler(CommandHandler(name, fn))
    app.add_handler(CallbackQueryHandler(lookup_button, pattern=r"^lk:"))
    confirm.register(app)
