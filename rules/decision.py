"""A decision is a value: allowed, or refused with exactly one reason code and the facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rules.codes import Reason


@dataclass(frozen=True)
class Decision:
    ok: bool
    code: Reason | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    # True when this is the first Decision stored under a key, returned again (a redelivery):
    # the caller repeats its reply but must not tell anyone else a second time.
    replayed: bool = field(default=False, compare=False)

    @classmethod
    def allow(cls, **facts: Any) -> Decision:
        return cls(True, None, dict(facts))

    @classmethod
    def refuse(cls, code: Reason, **facts: Any) -> Decision:
        return cls(False, code, dict(facts))

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form, stored with an idempotency key and replayed verbatim."""
        return {"ok": self.ok, "code": self.code.value if self.code else None, "facts": self.facts}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Decision:
        code = Reason(data["code"]) if data.get("code") else None
        return cls(bool(data["ok"]), code, dict(data.get("facts") or {}))
