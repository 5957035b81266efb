"""Binding commands: /bind /unbind (the householder) and /leave (the relative).

Each shows a summary and changes nothing until 确认 is pressed; the executor then asks the
service, and the other side is told. Inside one family names are shown in full, ID numbers
masked; a stranger's ID number and name get one refusal (security review M5).
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot import confirm, render
from bot.context import Context, call, current_person, linked_user, reply, reply_refusal, services
from bot.handlers import taps
from bot.handlers.account import bound_relative, check_ref, is_index
from bot.messages import refusal
from rules.binding_rules import for_stranger
from rules.codes import Reason
from rules.identity import normalize_id


async def bind_cmd(update: Update, context: Context) -> None:
    """/bind 身份证号 姓名 关系: check, then ask for 确认."""
    person = await current_person(update, context)
    if person is None:
        return
    args = context.args or []
    if not args:
        await taps.start_bind(update, context, person)
        return
    if len(args) < 3:
        await reply(update, context, render.USAGE["bind"])
        return
    id_text, name, relation_word = args[0], " ".join(args[1:-1]), args[-1]
    svc = services(context)
    # rate-limited, and a stranger's ID number and name are one refusal (security review M5)
    d = await call(svc.family.request_bind, person.id, id_text, name, relation_word)
    if not d.ok:
        assert d.code is not None  # a refused Decision always has a code
        await reply_refusal(update, context, d.code, d.facts)
        return
    relation = render.relation_name(svc.policies, svc.policies.relation(relation_word))
    payload = {"person_id": person.id, "id_number": normalize_id(id_text), "name": name,
               "relation_word": relation_word}
    await confirm.ask(update, context, "bind", payload,
                      render.bind_summary(name, normalize_id(id_text) or id_text, relation),
                      "确认绑定")


@confirm.executor("bind")
async def do_bind(context: Context, pending: confirm.Pending, person: Any,
                  key: str) -> confirm.Outcome:
    """Bind once confirmed; tell the relative who bound them."""
    p, svc = pending.payload, services(context)
    d = await call(svc.family.bind, person.id, p["id_number"], p["name"], p["relation_word"],
                   key=key)
    if not d.ok:
        d = for_stranger(d)
        assert d.code is not None  # a refused Decision always has a code
        return confirm.Outcome(refusal(d.code, d.facts), code=d.code)
    relation = render.relation_name(svc.policies, svc.policies.relation(p["relation_word"]))
    outcome = confirm.Outcome(render.bound_text(p["name"], p["id_number"], relation))
    relative = await call(svc.family.find_person, p["id_number"])
    if relative.ok:
        user_id = await call(linked_user, svc.sessions, relative.facts["person"].id)
        if user_id is not None:
            outcome.notices.append((user_id, render.bound_notice(
                person, relation, svc.settings.knowledge.hotline)))
    return outcome


async def unbind_cmd(update: Update, context: Context) -> None:
    """/unbind 身份证号|序号: ask for 确认."""
    person = await current_person(update, context)
    if person is None:
        return
    args = context.args or []
    if not args:
        await taps.pick_member(update, context, "unbind")
        return
    if len(args) != 1:
        await reply(update, context, render.USAGE["unbind"])
        return
    if not await check_ref(update, context, args[0]):
        return
    row = await bound_relative(update, context, person, args[0])
    if row is None:
        return
    svc = services(context)
    payload = {"person_id": person.id, "relative_id": row.person_id, "id_number": row.id_number,
               "name": row.name}
    relation = render.relation_name(svc.policies, row.relation)
    await confirm.ask(update, context, "unbind", payload, render.unbind_summary(row, relation),
                      "确认解除")


@confirm.executor("unbind")
async def do_unbind(context: Context, pending: confirm.Pending, person: Any,
                    key: str) -> confirm.Outcome:
    """Unbind once confirmed; tell the relative."""
    p, svc = pending.payload, services(context)
    d = await call(svc.family.unbind, person.id, p["id_number"], key=key)
    if not d.ok:
        assert d.code is not None  # a refused Decision always has a code
        return confirm.Outcome(refusal(d.code, d.facts), code=d.code)
    outcome = confirm.Outcome(render.unbound_text(p["name"], p["id_number"]))
    user_id = await call(linked_user, svc.sessions, p["relative_id"])
    if user_id is not None:
        outcome.notices.append((user_id, render.unbound_notice(person)))
    return outcome


def find_payer(view: Any, ref: str) -> Any | None:
    """The householder a 序号 (as /family lists them) or ID number refers to, for a relative."""
    if is_index(ref):
        return next((r for r in view.payers if r.index == int(ref)), None)
    id_number = normalize_id(ref)
    return next((r for r in view.payers if r.id_number == id_number), None)


async def leave_cmd(update: Update, context: Context) -> None:
    """/leave 序号|身份证号: a bound relative ends their own binding to one householder."""
    person = await current_person(update, context)
    if person is None:
        return
    args = context.args or []
    if not args:
        await taps.pick_member(update, context, "leave")
        return
    if len(args) != 1:
        await reply(update, context, render.USAGE["leave"])
        return
    if not await check_ref(update, context, args[0]):
        return
    svc = services(context)
    row = find_payer(await call(svc.family.family, person.id), args[0])
    if row is None:
        await reply_refusal(update, context, Reason.NOT_BOUND)
        return
    # the householder's ID number, not the 序号: the payer order may change before 确认
    payload = {"person_id": person.id, "householder_id": row.householder_id,
               "id_number": row.id_number, "name": row.name, "relation": row.relation}
    relation = render.relation_name(svc.policies, row.relation)
    await confirm.ask(update, context, "leave", payload, render.leave_summary(row, relation),
                      "确认退出")


@confirm.executor("leave")
async def do_leave(context: Context, pending: confirm.Pending, person: Any,
                   key: str) -> confirm.Outcome:
    """Leave once confirmed; tell the householder."""
    p, svc = pending.payload, services(context)
    d = await call(svc.family.leave, person.id, p["id_number"], key=key)
    if not d.ok:
        assert d.code is not None  # a refused Decision always has a code
        return confirm.Outcome(refusal(d.code, d.facts), code=d.code)
    outcome = confirm.Outcome(render.left_text(p["name"], p["id_number"]))
    user_id = await call(linked_user, svc.sessions, p["householder_id"])
    if user_id is not None:
        relation = render.relation_name(svc.policies, p.get("relation"))
        outcome.notices.append((user_id, render.left_notice(person, relation)))
    return outcome


taps.provide(bind_cmd=bind_cmd, unbind_cmd=unbind_cmd, leave_cmd=leave_cmd)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """/bind /unbind /leave (their 确认 buttons are confirm's, registered by account)."""
    for name, fn in (("bind", bind_cmd), ("unbind", unbind_cmd), ("leave", leave_cmd)):
        app.add_handler(CommandHandler(name, fn))
