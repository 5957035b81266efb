"""``python -m bot run`` refuses to start without what it needs, clearly and without a
traceback, and never prints the token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, env_extra: dict[str, str], mode: str,
         port: int = 8443) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.yaml"
    config.write_text(f"telegram:\n  mode: {mode}\n  webhook:\n    port: {port}\n",
                      encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(config),
         "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.parametrize("mode, env, needle", [
    ("polling", {}, "TELEGRAM_BOT_TOKEN"),
    ("webhook", {}, "TELEGRAM_BOT_TOKEN"),
    ("webhook", {"TELEGRAM_BOT_TOKEN": "123:SECRET-TOKEN-VALUE"}, "TELEGRAM_WEBHOOK_SECRET"),
    ("webhook", {"TELEGRAM_BOT_TOKEN": "123:SECRET-TOKEN-VALUE",
                 "TELEGRAM_WEBHOOK_SECRET": "has spaces!"}, "TELEGRAM_WEBHOOK_SECRET"),
])
def test_missing_configuration_exits_2_with_a_message(
    tmp_path: Path, mode: str, env: dict[str, str], needle: str,
) -> None:
    done = _run(tmp_path, env, mode)
    assert done.returncode == 2
    assert needle in done.stderr
    assert "Traceback" not in done.stderr
    assert "SECRET-TOKEN-VALUE" not in done.stderr + done.stdout


@pytest.mark.parametrize("mode", ["polling", "webhook"])
def test_a_rejected_token_exits_2(tmp_path: Path, mode: str) -> None:
    from tests.deploy.conftest import free_port
    from tests.fakes.fake_bot_api import FakeBotApi

    with FakeBotApi(token="1:the-right-one") as fake:
        done = _run(tmp_path, {"TELEGRAM_BOT_TOKEN": "123:SECRET-TOKEN-VALUE",
                               "TELEGRAM_WEBHOOK_SECRET": "ok_secret",
                               "TELEGRAM_API_BASE_URL": fake.base_url}, mode,
                    port=free_port())
        assert [c.method for c in fake.calls()] == []  # every call was refused
    assert done.returncode == 2, done.stderr
    assert "TELEGRAM_BOT_TOKEN" in done.stderr and "Traceback" not in done.stderr
    assert "SECRET-TOKEN-VALUE" not in done.stderr + done.stdout


def test_an_unreachable_bot_api_exits_1(tmp_path: Path) -> None:
    from tests.deploy.conftest import free_port

    done = _run(tmp_path, {"TELEGRAM_BOT_TOKEN": "123:SECRET-TOKEN-VALUE",
                           "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{free_port()}/bot"},
                "polling")
    assert done.returncode == 1, done.stderr
    assert "Bot API" in done.stderr and "Traceback" not in done.stderr
