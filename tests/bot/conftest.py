"""Bot tests drive the real handlers: through the console (JSON transcripts) or a harness
that feeds updates to ``Application.process_update`` with the in-process Bot API."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from bot.settings import Settings, load_settings
from rules.demo import by_name

STAFF = 900001
CODE = re.compile(r"\[([A-Z_]+)\]\s*$")

# Demo people the tests use (fictitious; see rules/demo.py).
HOLDER = by_name("张建国")  # Dongying householder
WIFE = by_name("李秀兰")
FATHER = by_name("张德福")
JINAN = by_name("王志强")


@dataclass
class Turn:
    """One echoed input line and the replies that followed it."""

    sender: int
    text: str
    replies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [m[1] for r in self.replies if (m := CODE.search(r["text"]))]

    @property
    def all_text(self) -> str:
        return "\n".join(r["text"] for r in self.replies)

    def buttons(self) -> list[str]:
        return [label for r in self.replies for row in r["buttons"] for label in row]


def parse_transcript(output: str) -> list[Turn]:
    """JSON lines → turns; fails on any line that is not contract-shaped."""
    turns: list[Turn] = []
    for raw in output.splitlines():
        obj = json.loads(raw)
        if "in" in obj:
            assert set(obj) == {"from", "in"}, obj
            turns.append(Turn(obj["from"], obj["in"]))
        else:
            assert set(obj) == {"to", "text", "buttons"}, obj
            assert isinstance(obj["to"], int) and isinstance(obj["text"], str)
            assert len(obj["text"]) <= 4096
            turns[-1].replies.append(obj)
    return turns


def write_config(tmp_path: Path, db_url: str, **extra: str) -> Path:
    path = tmp_path / "config.yaml"
    lines = [f"database:\n  url: {db_url}", f"staff_ids: [{STAFF}]", "logging:\n  level: WARNING"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def console_run(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                ) -> Callable[[str], list[Turn]]:
    """Run a console script through the real CLI (``console --script F --json``)."""
    config = write_config(tmp_path, db_url)
    counter = iter(range(1000))

    def run(script: str) -> list[Turn]:
        path = tmp_path / f"script{next(counter)}.txt"
        path.write_text(script, encoding="utf-8")
        capsys.readouterr()
        code = main(["console", "--config", str(config), "--script", str(path), "--json"])
        out = capsys.readouterr().out
        assert code == 0
        return parse_transcript(out)

    return run


class Harness:
    """One application kept open across many lines (fuzz, log capture)."""

    def __init__(self, settings: Settings) -> None:
        from bot.app import build_application, running
        from bot.console import Console, next_update_id
        from bot.loopback import LoopbackRequest
        from rules.clock import ManualClock

        self.loop = asyncio.new_event_loop()
        self.loopback = LoopbackRequest()
        self.clock = ManualClock()
        self.app = build_application(settings, request=self.loopback, clock=self.clock)
        self._ctx = running(self.app)
        self.services = self.loop.run_until_complete(self._ctx.__aenter__())
        from rules.demo import load_demo_if_empty

        load_demo_if_empty(self.services.engine, self.services.policies)
        self.console = Console(self.app, self.loopback, self.clock,
                               first_update_id=next_update_id(self.services))
        self.errors: list[BaseException] = []

        async def record(update: object, context: Any) -> None:
            self.errors.append(context.error)

        self.app.add_error_handler(record)

    def add_command(self, name: str, callback: Any) -> None:
        """A test-only command, tried before every other group-0 handler."""
        from telegram.ext import CommandHandler

        self.app.handlers[0].insert(0, CommandHandler(name, callback))

    def send(self, line: str) -> list[Any]:
        return self.loop.run_until_complete(self.console.line(line))

    def close(self) -> None:
        self.loop.run_until_complete(self._ctx.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture
def harness(db_url: str, tmp_path: Path) -> Iterator[Harness]:
    settings = load_settings(write_config(tmp_path, db_url))
    h = Harness(settings)
    yield h
    h.close()


def link_script(person: Any, user: int) -> str:
    """Console lines that link Telegram ``user`` to a demo person."""
    return f":as {user}\n/start\n:contact {person.phone}\n{person.id_number[-4:]}\n"


