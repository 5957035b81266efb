"""Which provinces have opened 医保钱包, and their transfer caps: data (rules/wallet.yaml).

Validated when loaded, like rules/regions.yaml: an unknown key, a bad cap or an empty list
stops start-up with a PolicyError naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rules.money import AmountError, parse_yuan
from rules.policy import PolicyError

WALLET_FILE = Path(__file__).with_name("wallet.yaml")
_TOP_KEYS = {"provinces", "sources"}
_PROVINCE_KEYS = {"per_transfer_yuan", "per_day_yuan"}


@dataclass(frozen=True)
class WalletProvince:
    """One province that has opened the wallet; caps in fen (None: no cap)."""

    name: str
    per_transfer_fen: int | None = None
    per_day_fen: int | None = None


@dataclass(frozen=True)
class WalletPolicy:
    """The provinces that have opened the wallet, by name (e.g. ``山东省``)."""

    provinces: dict[str, WalletProvince]
    sources: tuple[str, ...] = ()

    def opened(self, province: str | None) -> bool:
        return province is not None and province in self.provinces

    def get(self, province: str) -> WalletProvince | None:
        return self.provinces.get(province)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.provinces)

    @classmethod
    def load(cls, path: Path = WALLET_FILE) -> WalletPolicy:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise PolicyError(f"{path}: (top): must be a mapping")
        return cls.parse(raw, Path(path))

    @classmethod
    def parse(cls, raw: dict[str, Any], path: Path = WALLET_FILE) -> WalletPolicy:
        unknown = sorted(set(raw) - _TOP_KEYS)
        if unknown:
            raise PolicyError(f"{path}: {unknown[0]}: unknown key")
        entries = raw.get("provinces")
        if not isinstance(entries, dict) or not entries:
            raise PolicyError(f"{path}: provinces: must be a non-empty mapping")
        provinces = {str(name): _province(path, str(name), body)
                     for name, body in entries.items()}
        sources = raw.get("sources") or []
        if not isinstance(sources, list):
            raise PolicyError(f"{path}: sources: must be a list")
        return cls(provinces, tuple(str(s) for s in sources))


def _province(path: Path, name: str, body: Any) -> WalletProvince:
    where = f"provinces.{name}"
    if not name.endswith(("省", "市", "自治区")):
        raise PolicyError(f"{path}: {where}: not a province name (e.g. 山东省, 重庆市)")
    body = {} if body is None else body
    if not isinstance(body, dict):
        raise PolicyError(f"{path}: {where}: must be a mapping")
    unknown = sorted(set(body) - _PROVINCE_KEYS)
    if unknown:
        raise PolicyError(f"{path}: {where}.{unknown[0]}: unknown key")
    caps = {k: _cap(path, f"{where}.{k}", body.get(k)) for k in _PROVINCE_KEYS}
    return WalletProvince(name, caps["per_transfer_yuan"], caps["per_day_yuan"])


def _cap(path: Path, where: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PolicyError(f"{path}: {where}: must be a yuan amount or null")
    try:
        return parse_yuan(str(value))
    except AmountError:
        raise PolicyError(f"{path}: {where}: must be a positive yuan amount or null") from None
