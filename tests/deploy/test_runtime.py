"""``python -m bot run`` refuses to start without what it needs, clearly and without a
traceback, and never prints the token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, env_extra: dict[str, str], mode: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.yaml"
    config.write_text(f"telegram:\n  mode: {mode}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(config),
         "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
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
