"""Logging set-up: no ID number, phone, linking tail or bot token ever reaches a log line.

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
# A message whose whole text is digits/X is what a linking tail (or a guess at one) looks like:
# PTB dumps updates at DEBUG (``'text': '0113'``, ``text='0113'``, ``"text": "0113"``).
_TAIL_TEXT = re.compile(r"""(\btext['"]?\s*[:=]\s*)(['"])[0-9０-９XxＸｘ\s]{1,24}\2""")
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
        text = _TAIL_TEXT.sub(r"\1\2****\2", _TOKEN_IN_TEXT.sub("<token>", text))
        return redact(text)


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


class BriefFormatter(logging.Formatter):
    """One line per record: the console shows what went wrong, not a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        brief = logging.makeLogRecord(record.__dict__)
        brief.exc_info, brief.exc_text, brief.stack_info = None, None, None
        return super().format(brief)


def setup_logging(level: str = "INFO", token: str | None = None, *,
                  tracebacks: bool = True) -> None:
    """Log to stderr at ``level`` with redaction on (the CLI's commands call this once)."""
    install_redaction(token)
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    handler = next((h for h in root.handlers if getattr(h, "gongji", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler.gongji = True  # type: ignore[attr-defined]
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt) if tracebacks else BriefFormatter(fmt))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
