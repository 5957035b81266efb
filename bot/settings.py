"""config.yaml, loaded once into a validated, typed settings object.

An unknown key or a value of the wrong kind stops start-up with a SettingsError naming the
file and the dotted key. No telegram import here: the CLI's non-bot commands use it too.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG = Path("config.yaml")


class SettingsError(ValueError):
    """config.yaml is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///var/gongji.db"
    pool_size: int = 5
    max_overflow: int = 10
    retries: int = 5
    workers: int = 4  # threads doing database work per process (more thrash on the GIL)


@dataclass(frozen=True)
class WebhookSettings:
    listen: str = "127.0.0.1"
    port: int = 8443
    path: str = "/telegram"
    public_url: str = ""
    secret_token_env: str = "TELEGRAM_WEBHOOK_SECRET"
    max_body_bytes: int = 1_048_576


@dataclass(frozen=True)
class TelegramSettings:
    mode: str = "polling"
    webhook: WebhookSettings = field(default_factory=WebhookSettings)


# The national 医保 service hotline (12333 is 人社's). knowledge.matcher.Matcher has the same
# default for callers without settings; the bot always passes ``knowledge.hotline``.
HOTLINE = "12393"


@dataclass(frozen=True)
class KnowledgeSettings:
    answer_threshold: float = 72
    suggest_threshold: float = 50
    max_suggestions: int = 3
    hotline: str = HOTLINE


@dataclass(frozen=True)
class LinkingSettings:
    max_attempts: int = 5
    window_seconds: int = 3600
    # per person, whichever accounts guess: a longer budget, then the person's account is told
    person_max_attempts: int = 10
    person_window_seconds: int = 86_400


@dataclass(frozen=True)
class DemoSettings:
    load_when_empty: bool = True


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    staff_ids: tuple[int, ...] = ()
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)
    linking: LinkingSettings = field(default_factory=LinkingSettings)
    confirmation_ttl_seconds: int = 600
    demo: DemoSettings = field(default_factory=DemoSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)

    def with_db(self, url: str | None) -> Settings:
        """The same settings with ``--db URL`` applied when given."""
        if not url:
            return self
        return dataclasses.replace(self, database=dataclasses.replace(self.database, url=url))


_CHOICES = {
    "telegram.mode": ("polling", "webhook"),
    "logging.level": ("DEBUG", "INFO", "WARNING", "ERROR"),
}


def _build(cls: type, raw: Any, where: str, path: Path) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: {where or '(top level)'}: must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            raise SettingsError(f"{path}: {where + '.' if where else ''}{key}: unknown key")
    values = {}
    for key, value in raw.items():
        dotted = f"{where}.{key}" if where else key
        values[key] = _coerce(hints[key], value, dotted, path)
        if dotted in _CHOICES and values[key] not in _CHOICES[dotted]:
            raise SettingsError(f"{path}: {dotted}: must be one of {', '.join(_CHOICES[dotted])}")
    return cls(**values)


def _coerce(hint: Any, value: Any, dotted: str, path: Path) -> Any:
    # a type hint is a class, never a dataclass instance: isinstance narrows it for _build
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, dotted, path)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list):
            raise SettingsError(f"{path}: {dotted}: must be a list")
        inner = typing.get_args(hint)[0]
        return tuple(_coerce(inner, v, f"{dotted}[{i}]", path) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        hint = typing.get_args(hint)[0]
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(hint, True)
    if not ok:
        raise SettingsError(f"{path}: {dotted}: expected {hint.__name__}, got {value!r}")
    if hint in (int, float) and value < 0:
        raise SettingsError(f"{path}: {dotted}: must not be negative")
    return float(value) if hint is float else value


def load_settings(path: str | Path | None = None) -> Settings:
    """Load and validate config.yaml (defaults when the default file is absent)."""
    p = Path(path) if path else DEFAULT_CONFIG
    if not p.exists():
        if path:
            raise SettingsError(f"{p}: file not found")
        return Settings()
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SettingsError(f"{p}: not valid YAML: {exc}") from exc
    settings = _build(Settings, raw, "", p)
    k = settings.knowledge
    if k.suggest_threshold > k.answer_threshold:
        raise SettingsError(f"{p}: knowledge.suggest_threshold: must not exceed answer_threshold")
    return settings
