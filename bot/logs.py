"""Logging set-up: no ID number, phone or bot token ever reaches a log line.

Redaction happens when a record is *created* (a record factory applies
:class:`RedactingFilter`), so every handler — files, stderr, pytest's caplog — sees the
masked text, including formatted tracebacks (SQL errors carry bound parameters).
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any, ClassVar

from rules.identity import redact

_TOKEN_IN_TEXT = re.compile(r"\d{6,12}:[A-Za-z0-9_-]{30,}")
_installed = False


class RedactingFilter(logging.Filter):
    """Masks ID numbers, phones and bot tokens in a record's message and traceback."""

    tokens: ClassVar[set[str]] = set()  # registered bot tokens, replaced by <token>

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.clean(_message(record))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.clean(
                "".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        elif record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True

    @classmethod
    def clean(cls, text: str) -> str:
        for token in cls.tokens:
            if token:
                text = text.replace(token, "<token>")
        return redact(_TOKEN_IN_TEXT.sub("<token>", text))


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 — a bad format string must not lose the line
        return f"{record.msg!s} {record.args!r}"


def install_redaction(token: str | None = None) -> None:
    """Make every future log record pass through :class:`RedactingFilter` (idempotent)."""
    global _installed
    if token:
        RedactingFilter.tokens.add(token)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs URLs with the token
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()
    the_filter = RedactingFilter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        the_filter.filter(record)
        return record

    logging.setLogRecordFactory(factory)


def setup_logging(level: str = "INFO", token: str | None = None) -> None:
    """Configure the root logger for the CLI (stderr) with redaction on."""
    install_redaction(token)
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
