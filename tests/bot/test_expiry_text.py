"""Review L6: the EXPIRED refusal never hard-codes "10分钟": the TTL is configurable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.messages import duration, refusal
from bot.settings import load_settings
from rules.codes import Reason
from tests.bot.conftest import HOLDER, WIFE, Harness, link_script, write_config


@pytest.mark.parametrize("seconds,shown", [(600, "10分钟"), (60, "1分钟"), (90, "90秒"),
                                           (45, "45秒"), (3600, "60分钟")])
def test_the_duration_is_the_configured_one(seconds: int, shown: str) -> None:
    assert duration(seconds) == shown
    text = refusal(Reason.EXPIRED, {"ttl_seconds": seconds})
    assert shown in text and text.endswith("[EXPIRED]")


def test_without_the_ttl_no_duration_is_claimed() -> None:
    text = refusal(Reason.EXPIRED)
    assert "分钟" not in text and text.endswith("[EXPIRED]")


def test_a_one_minute_ttl_is_never_called_ten_minutes(db_url: str, tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, db_url, confirmation_ttl_seconds="60"))
    harness = Harness(settings)
    try:
        for line in link_script(HOLDER, 100001).splitlines() + ["/open", ":tap"]:
            harness.send(line)
        summary = "\n".join(s.text for s in harness.send(
            f"/bind {WIFE.id_number} {WIFE.name} 配偶"))
        assert "10分钟" not in summary
        harness.send(":sleep 61")
        expired = "\n".join(s.text for s in harness.send(":tap 确认"))
        assert "[EXPIRED]" in expired and "10分钟" not in expired
    finally:
        harness.close()
