"""Where the Telegram Bot API is: names of the environment variables and the URLs (a leaf
module, so the composition root and the runtime both read it without importing each other)."""

from __future__ import annotations

import os

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
BASE_URL_ENV = "TELEGRAM_API_BASE_URL"
DEFAULT_BASE_URL = "https://api.telegram.org/bot"


def api_urls(environ: dict[str, str] | None = None) -> tuple[str, str]:
    """``(base_url, base_file_url)`` for the Bot API; the token is appended by PTB."""
    env = os.environ if environ is None else environ
    base = (env.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    root, sep, last = base.rpartition("/")
    file_url = f"{root}/file/{last}" if sep else f"{base}/file"
    return base, file_url
