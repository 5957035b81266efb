"""The networked path end to end: ``python -m bot run`` (long polling) as a real process,
talking HTTP to the fake Bot API, through linking, /open, a confirmed /bind and a question."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import bot.state  # noqa: F401  (bot tables share the metadata)
from rules.db import create_schema, make_engine
from rules.demo import by_name, load_demo_if_empty
from rules.policy import Policies
from tests.deploy.harness import ROOT, TOKEN
from tests.fakes.fake_bot_api import Call, FakeBotApi
from tests.fakes.updates import UpdateFactory, buttons

USER = 424_242


@pytest.fixture
def polling_bot(fake_api: FakeBotApi, tmp_path: Path,
                ) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    url = f"sqlite:///{tmp_path / 'e2e.db'}"
    engine = make_engine(url)
    create_schema(engine)
    load_demo_if_empty(engine, Policies.load())
    engine.dispose()
    config = tmp_path / "config.yaml"
    config.write_text("telegram:\n  mode: polling\nlogging:\n  level: DEBUG\n", encoding="utf-8")
    log = tmp_path / "bot.log"
    env = dict(os.environ, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=fake_api.base_url)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config),
                                 "--db", url], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def exchange(fake: FakeBotApi, update: dict[str, object], replies: int = 1) -> list[Call]:
    """Queue one update; wait for the bot's next ``replies`` messages/edits to USER."""
    def to_user() -> list[Call]:
        return [c for c in fake.calls() if c.method in ("sendMessage", "editMessageText")
                and c.params.get("chat_id") == USER]

    before = len(to_user())
    fake.push_update(update)
    assert fake.wait_for(lambda _f: len(to_user()) >= before + replies, timeout=20), \
        f"no reply to {update}; so far: {[c.params.get('text') for c in to_user()]}"
    return to_user()[before:]


def test_linking_bind_and_faq_over_http(fake_api: FakeBotApi,
                                        polling_bot: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, log = polling_bot
    me = by_name("张建国")
    wife = by_name("李秀兰")
    f = UpdateFactory(1)

    [hello] = exchange(fake_api, f.text(USER, "/start"))
    keyboard = hello.params["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_contact"] is True

    [ask_tail] = exchange(fake_api, f.contact(USER, me.phone))
    assert "后4位" in ask_tail.params["text"]
    [wrong] = exchange(fake_api, f.text(USER, "0000"))
    assert wrong.params["text"].endswith("[VERIFY_FAILED]")
    [linked] = exchange(fake_api, f.text(USER, me.id_number[-4:]))
    assert "验证成功" in linked.params["text"]

    [letter] = exchange(fake_api, f.text(USER, "/open"))
    [(_label, agree)] = buttons(letter.params["reply_markup"])
    [opened] = exchange(fake_api, f.press(USER, agree, letter.result["message_id"]))
    assert opened.method == "editMessageText" and "已开通" in opened.params["text"]

    [summary] = exchange(fake_api, f.text(USER, f"/bind {wife.id_number} {wife.name} 配偶"))
    (label, confirm), _cancel = buttons(summary.params["reply_markup"])
    assert label.startswith("确认") and wife.id_number not in summary.params["text"]  # masked
    [bound] = exchange(fake_api, f.press(USER, confirm, summary.result["message_id"]))
    assert bound.method == "editMessageText" and "已绑定" in bound.params["text"]
    assert bound.params["message_id"] == summary.result["message_id"]

    [answer] = exchange(fake_api, f.text(USER, "家庭共济可以绑定哪些亲属？"))
    assert "亲属" in answer.params["text"] and "出了点问题" not in answer.params["text"]

    assert len(fake_api.calls("answerCallbackQuery")) >= 2
    assert fake_api.pending_updates() == 0 or fake_api.wait_for(
        lambda a: a.pending_updates() == 0, 5)  # every update was confirmed via the offset
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    text = log.read_text(encoding="utf-8", errors="replace")
    for secret in (TOKEN, me.phone, me.id_number, wife.id_number):
        assert secret not in text, "a secret or personal number reached the log"
