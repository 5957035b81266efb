"""Database work runs in ``database.workers`` threads (bot/app.py): a few threads, not one per
pooled connection, since more only contend for the GIL."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from bot.app import build_application, running
from bot.context import call
from bot.loopback import LoopbackRequest
from bot.settings import SettingsError, load_settings


def _config(tmp_path: Path, db_url: str, workers: str | None) -> Path:
    path = tmp_path / "config.yaml"
    extra = f"\n  workers: {workers}" if workers is not None else ""
    path.write_text(f"database:\n  url: {db_url}\n  pool_size: 20\n  max_overflow: 10{extra}\n"
                    "logging:\n  level: WARNING\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("workers,expected", [(None, 4), ("2", 2)])
def test_database_work_runs_in_the_configured_threads(db_url: str, tmp_path: Path,
                                                      workers: str | None, expected: int) -> None:
    settings = load_settings(_config(tmp_path, db_url, workers))
    assert settings.database.workers == expected

    async def run() -> set[str]:
        app = build_application(settings, request=LoopbackRequest())
        async with running(app):
            gate = threading.Barrier(expected + 1, timeout=0.5)

            def hold() -> str:  # every thread of the pool waits here at once
                try:
                    gate.wait()
                except threading.BrokenBarrierError:
                    pass
                return threading.current_thread().name
            return set(await asyncio.gather(*(call(hold) for _ in range(expected + 1))))

    names = asyncio.run(run())
    assert len(names) == expected and all(n.startswith("gongji") for n in names)


def test_a_negative_worker_count_is_refused(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="database.workers"):
        load_settings(_config(tmp_path, db_url, "-1"))
