"""Replies go out as raw Bot API calls whose keyboard and no-preview option are serialised
once (``bot.context._text_params``): the wire parameters must be exactly what PTB would send
for the objects themselves."""

from __future__ import annotations

import json

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.context import NO_PREVIEW, _text_params, keyboard


def _wire(params: dict[str, object]) -> str:
    return RequestData([RequestParameter.from_input(k, v) for k, v in params.items()]) \
        .url_encoded_parameters()


def test_keyboard_and_preview_go_out_as_ptb_would_send_the_objects() -> None:
    buttons = [[("确认", "cf:abc"), ("取消", "cx:abc")], [("相关：家人能用吗？", "faq:q1")]]
    ours = _text_params("付款前请确认", buttons, chat_id=42)
    objects = {"chat_id": 42, "text": "付款前请确认", "link_preview_options": NO_PREVIEW,
               "reply_markup": InlineKeyboardMarkup(
                   [[InlineKeyboardButton(label, callback_data=data) for label, data in row]
                    for row in buttons])}
    assert _wire(ours) == _wire(objects)
    assert json.loads(ours["reply_markup"])["inline_keyboard"][1][0]["callback_data"] == "faq:q1"
    assert keyboard(buttons) == objects["reply_markup"]


def test_no_buttons_no_keyboard_parameter() -> None:
    for empty in (None, [], [[]]):
        params = _text_params("你好", empty, chat_id=1, message_id=7)
        assert "reply_markup" not in params
        assert params["message_id"] == 7
        assert json.loads(params["link_preview_options"]) == {"is_disabled": True}
