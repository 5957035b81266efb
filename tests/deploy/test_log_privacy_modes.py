"""Review L2: ``python -m bot run`` at DEBUG, in long polling and in webhook mode, writes no ID
number (in any written form), phone, linking tail or bot token to its log."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import bot.state  # noqa: F401  (bot tables share the metadata)
from rules.db import create_schema, make_engine
from rules.demo import by_name, load_demo_if_empty
from rules.policy import Policies
from tests.deploy.conftest import free_port
from tests.deploy.harness import ROOT, TOKEN, Replica, replica_config
from tests.deploy.test_e2e_polling import USER as E2E_USER
from tests.deploy.test_e2e_polling import exchange
from tests.fakes.fake_bot_api import FakeBotApi
from tests.fakes.updates import UpdateFactory

USER = E2E_USER  # exchange() waits for replies to this user
ME = by_name("张建国")
WIFE = by_name("李秀兰")
TAIL = ME.id_number[-4:]
SPACED = " ".join(ME.id_number[i:i + 4] for i in range(0, 18, 4))
DASHED = f"{WIFE.id_number[:6]}-{WIFE.id_number[6:14]}-{WIFE.id_number[14:]}"
QUESTION = (f"我的身份证ID{ME.id_number} 也写作 {SPACED} 或 {DASHED}，电话0086{ME.phone}，"
            f"+86 {WIFE.phone[:3]} {WIFE.phone[3:7]} {WIFE.phone[7:]}，能查余额吗")


def _database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'privacy.db'}"
    engine = make_engine(url)
    create_schema(engine)
    load_demo_if_empty(engine, Policies.load())
    engine.dispose()
    return url


def _scenario(f: UpdateFactory) -> list[dict[str, Any]]:
    return [f.text(USER, "/start"), f.contact(USER, ME.phone), f.text(USER, "0000"),
            f.text(USER, f" {TAIL} "), f.text(USER, "/me"), f.text(USER, QUESTION),
            f.text(USER, "/balance")]


def assert_nothing_secret(log: str) -> None:
    assert "DEBUG" in log  # the level really was DEBUG
    secrets = [TOKEN, ME.id_number, WIFE.id_number, ME.phone, WIFE.phone, SPACED, DASHED,
               f"0086{ME.phone}", WIFE.phone[3:7] + " " + WIFE.phone[7:]]
    assert [s for s in secrets if s in log] == []
    # A message whose text is the linking tail (or a wrong guess) shows up in no update dump.
    tails = re.findall(rf"""text['"]?\s*[:=]\s*['"]\s*(?:{TAIL}|0000)\s*['"]""", log)
    assert tails == []


def test_polling_at_debug_logs_nothing_secret(fake_api: FakeBotApi, tmp_path: Path) -> None:
    url = _database(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text("telegram:\n  mode: polling\nlogging:\n  level: DEBUG\n", encoding="utf-8")
    log = tmp_path / "bot.log"
    env = dict(os.environ, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=fake_api.base_url)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config),
                                 "--db", url], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        for update in _scenario(UpdateFactory(1)):
            exchange(fake_api, update)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert_nothing_secret(log.read_text(encoding="utf-8", errors="replace"))


def test_webhook_at_debug_logs_nothing_secret(fake_api: FakeBotApi, tmp_path: Path) -> None:
    url = _database(tmp_path)
    port = free_port()
    config = replica_config(tmp_path / "replica.yaml", url, port)
    config.write_text(config.read_text(encoding="utf-8").replace("level: WARNING", "level: DEBUG"),
                      encoding="utf-8")
    replica = Replica("replica-A", port, config, tmp_path / "replica.log", fake_api.base_url)
    replica.start()
    try:
        replica.wait_healthy()
        for update in _scenario(UpdateFactory(1)):
            assert replica.post(update) == 200
        assert "验证成功" in " ".join(str(c.params.get("text")) for c in fake_api.calls())
    finally:
        replica.stop()
    assert_nothing_secret(replica.log())
