"""/contribute for someone not yet insured (scheme none): what the bot does, from the sources.

The sources allow a worker's personal account to pay close relatives' personal contribution
for *joining* resident insurance ([001] 东营: 近亲属（配偶、子女、本人的父母、配偶的父母）
参加居民基本医疗保险的个人缴费; [000][003]: 参加居民基本医保等的个人缴费). None of them
describes how a not-yet-insured person is enrolled (参保登记, at the local 医保经办机构), and
an uninsured relative cannot be bound ([002][003]), while family money in this bot moves only
along a binding (limits, ledger, audit). So the bot does not pay a first premium: it says so,
names what the sources allow and where to go, and the knowledge base says the same
(eligibility_relative_must_be_insured, payable_resident_premium).
"""

from __future__ import annotations

from typing import Any

from telegram import Update

from bot import render
from bot.context import Context, call, reply, services
from rules.identity import normalize_id

NOT_YET_INSURED = (
    "{who}还没有参加基本医保，本机器人不能为其缴费：/contribute 只为已绑定、已参加居民医保的亲属"
    "代缴，而没参保的家人不能绑定。\n"
    "怎么办：带上您和家人的身份证，到家人参保地的医保经办机构办理居民医保"
    "参保登记和首年缴费。按资料，职工医保个人账户可以支付近亲属参加居民医保的个人缴费"
    "（东营：配偶、子女、本人父母、配偶父母）；登记时能否直接用您的个人账户缴，以当地医保经办机构"
    "答复为准。\n参保成功后用 /bind 绑定，以后每年的居民医保费可以用 /contribute 代缴。")


def uninsured(svc: Any, ref: str) -> Any | None:
    """The person with ID number ``ref`` when they are not insured (scheme none), else None."""
    if normalize_id(ref) is None:
        return None
    d = svc.family.find_person(ref)
    person = d.facts.get("person") if d.ok else None
    return person if person is not None and person.scheme == "none" else None


async def explain(update: Update, context: Context, ref: str) -> bool:
    """After /contribute was refused NOT_BOUND: True (and the explanation sent) when ``ref`` is
    the ID number of someone not yet insured."""
    person = await call(uninsured, services(context), ref)
    if person is None:
        return False
    await reply(update, context,
                NOT_YET_INSURED.format(who=render.who(person.name, person.id_number)),
                [[("没参保的家人能绑定吗？", "faq:eligibility_relative_must_be_insured")]])
    return True
