"""/help, /me, /cancel and /unlink."""

from __future__ import annotations

import logging
from typing import Any

from telegram import ReplyKeyboardRemove, Update
from telegram.ext import Application, CommandHandler

from bot import commands, linking
from bot.context import Context, call, current_person, is_private, is_staff, reply, services
from rules.identity import mask_id, mask_phone

log = logging.getLogger(__name__)

HELP = "共济助手可以做这些事：\n" + commands.help_text(commands.USER)
GROUP_HELP = """在群里我只回答政策问题：/ask 问题，或 /why 代码。
账户操作（绑定、结算、查询余额等）请私聊我。也可以在任意聊天输入 @{bot} 加问题。"""
STAFF_HELP = "\n" + commands.help_text(commands.STAFF)

ROLE_SCHEME = {"employee": "职工医保", "resident": "居民医保", "none": "未参保"}
ROLE_STATUS = {"active": "正常参保", "lapsed": "断缴"}


async def help_command(update: Update, context: Context) -> None:
    """What the bot can do (group chats get the short version)."""
    if not is_private(update):
        await reply(update, context, GROUP_HELP.format(bot=context.bot.username))
        return
    user = update.effective_user
    text = HELP + (STAFF_HELP if is_staff(context, user.id if user else None) else "")
    await reply(update, context, text)


async def me(update: Update, context: Context) -> None:
    """Who the user is linked to, masked, and their role in family accounts."""
    person = await current_person(update, context)
    if person is None:
        return
    svc = services(context)
    fam = await call(svc.family.family, person.id)
    region = svc.policies.get(person.region)
    city = person.city if person.city != person.province else ""
    scheme = ROLE_SCHEME.get(person.scheme, person.scheme)
    status = ROLE_STATUS.get(person.status, person.status)
    lines = [
        f"姓名：{person.name}",
        f"身份证号：{mask_id(person.id_number)}",
        f"手机号：{mask_phone(person.phone) if person.phone else '未登记'}",
        f"参保地：{person.province}{city}（适用政策：{region.name}）",
        f"参保：{scheme} · {status}",
    ]
    lines += roles(person, fam)
    await reply(update, context, "\n".join(lines))


def roles(person: Any, fam: Any) -> list[str]:
    """The user's roles as householder and as relative (their payers are family: full names)."""
    out = []
    if fam.account_open or fam.relatives:
        out.append(f"身份：户主（家庭共济账户已开通，已绑定{len(fam.relatives)}位亲属）")
    elif person.has_personal_account:
        out.append("家庭共济账户：未开通（发送 /open 开通后可绑定亲属）")
    else:
        out.append("家庭共济账户：无（没有职工医保个人账户，不能作为户主）")
    if fam.payers:
        payers = "、".join(p.name for p in fam.payers)
        out.append(f"身份：共济亲属（为您付款的户主：{payers}）")
    return out


async def cancel(update: Update, context: Context) -> None:
    """Forget any pending step (linking); confirmations simply expire."""
    user = update.effective_user
    if user is None:
        return
    had = await call(linking.cancel, services(context), user.id)
    text = "已取消当前操作。" if had else "当前没有进行中的操作。"
    if is_private(update) and update.effective_message:
        await update.effective_message.reply_text(text, reply_markup=ReplyKeyboardRemove())
    else:
        await reply(update, context, text)


async def unlink(update: Update, context: Context) -> None:
    """Remove the link between this Telegram account and the insured person."""
    person = await current_person(update, context)
    if person is None:
        return
    await call(linking.unlink, services(context), update.effective_user.id)  # type: ignore[union-attr]
    log.info("user unlinked (person_id=%s)", person.id)
    await reply(update, context,
                "已解除本 Telegram 账号与参保人的关联。需要时发送 /start 重新验证。")


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """/help /me /cancel /unlink."""
    app.add_handler(CommandHandler("help", help_command))
    app.add_handler(CommandHandler("me", me))
    app.add_handler(CommandHandler("cancel", cancel))
    app.add_handler(CommandHandler("unlink", unlink))
