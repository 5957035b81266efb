"""/start (with ``faq_<id>`` deep links), the shared contact, and the ID-tail step of linking."""

from __future__ import annotations

import logging
from typing import Any

from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from bot import linking
from bot.context import (
    Context,
    call,
    is_private,
    linked_person,
    notify,
    reply,
    reply_refusal,
    services,
    why_button,
)
from bot.handlers import taps
from bot.handlers.knowledge import show_entry
from bot.linking import LinkResult
from bot.messages import refusal
from rules.codes import Reason
from rules.identity import mask_id

log = logging.getLogger(__name__)

SHARE_LABEL = "📱 分享我的手机号"
WELCOME = (
    "您好，我是共济助手，可以帮您办理医保个人账户家庭共济：绑定亲属、设置限额、结算、查询余额，"
    "也可以回答政策问题。\n\n"
    "为了保护您的账户，请先验证身份：点击下方“分享我的手机号”按钮，"
    "然后输入您身份证号的后4位。\n直接提问不需要验证，例如：家庭共济能绑定哪些亲属？"
)
ASK_TAIL = ("已收到您的手机号。请输入您本人身份证号的后4位（最后一位是X的请输入X）。"
            "发送 /cancel 可取消。")
LOCKOUT_NOTICE = ("⚠️ 安全提醒：有人多次输错您的身份证号后4位，试图用您的手机号验证身份。"
                  "为保护您的账户，已暂停对您身份的验证{hours}小时。如果不是您本人操作，"
                  "请勿向他人透露身份证号；如有疑问请拨打 {hotline}。")
TAKEN = ("该参保人已与另一个 Telegram 账号关联。"
         "如需换到本账号，请先在原账号发送 /unlink，或拨打 {hotline} 咨询。")


def share_keyboard() -> ReplyKeyboardMarkup:
    """A one-button keyboard that shares the user's own phone number."""
    return ReplyKeyboardMarkup([[KeyboardButton(SHARE_LABEL, request_contact=True)]],
                               one_time_keyboard=True, resize_keyboard=True)


async def start(update: Update, context: Context) -> None:
    """Greet, open a ``faq_<id>`` deep link, or start linking with a contact button."""
    if context.args and context.args[0].startswith("faq_"):
        await show_entry(update, context, context.args[0][4:])
        return
    if not is_private(update):
        await reply_refusal(update, context, Reason.PRIVATE_ONLY)
        return
    user = update.effective_user
    assert user is not None and update.effective_message is not None
    person = await linked_person(context, user.id)
    if person is not None:
        await reply(update, context,
                    f"您已完成身份验证：{person.name}（{mask_id(person.id_number)}）。"
                    "发送 /help 查看能做什么，/me 查看身份。")
        return
    if await call(linking.locked, services(context), user.id):
        await reply_refusal(update, context, Reason.TOO_MANY_ATTEMPTS)
        return
    await update.effective_message.reply_text(WELCOME, reply_markup=share_keyboard())


async def contact(update: Update, context: Context) -> None:
    """A shared contact: only the sender's own counts; then ask for the ID tail."""
    message, user = update.effective_message, update.effective_user
    assert message is not None and message.contact is not None and user is not None
    if not is_private(update):
        await reply_refusal(update, context, Reason.PRIVATE_ONLY)
        return
    if message.contact.user_id != user.id:
        await reply_refusal(update, context, Reason.CONTACT_NOT_OWN)
        return
    result = await call(linking.begin, services(context), user.id, message.contact.phone_number)
    if result.kind == "ask_tail":
        await message.reply_text(ASK_TAIL, reply_markup=ReplyKeyboardRemove())
    else:
        await _refuse(update, context, result)


async def maybe_verify_tail(update: Update, context: Context) -> bool:
    """Treat private text as the ID tail when linking is pending; True when it was."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or not message.text or not is_private(update):
        return False
    if not linking.looks_like_tail(message.text):  # a sentence: no database round trip
        return False
    svc = services(context)
    result = await call(linking.verify, svc, user.id, message.text)
    if result.kind == "idle":
        return False
    if result.kind == "linked":
        person = await linked_person(context, user.id)
        name = person.name if person else ""
        log.info("user linked (person_id=%s)", result.person_id)
        await reply(update, context,
                    f"验证成功，欢迎您，{name}！现在可以使用账户功能了：\n"
                    "/me 我的身份  /balance 余额  /family 共济家庭  /help 全部功能")
        return True
    for owner in result.alerts:  # the person's own account learns that someone is guessing
        await notify(context, owner, LOCKOUT_NOTICE.format(
            hours=max(1, services(context).settings.linking.person_window_seconds // 3600),
            hotline=services(context).settings.knowledge.hotline))
    await _refuse(update, context, result)
    return True


async def _refuse(update: Update, context: Context, result: LinkResult) -> None:
    assert result.code is not None
    if result.taken:
        hotline = services(context).settings.knowledge.hotline
        text = TAKEN.format(hotline=hotline) + refusal(Reason.FORBIDDEN)
        await reply(update, context, text, [why_button(Reason.FORBIDDEN)])
        return
    if result.code is Reason.VERIFY_FAILED:
        body, code = refusal(result.code).rsplit("[", 1)
        text = f"{body}还可以再试{result.remaining}次。[{code}"
        await reply(update, context, text, [why_button(result.code)])
        return
    await reply_refusal(update, context, result.code,
                        {"person_locked": True} if result.person_locked else None)


taps.provide(share_keyboard=share_keyboard)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """/start and shared contacts (the ID tail is routed from the free-text handler)."""
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.CONTACT, contact))
