"""A small on-disk JSON cache for values derived from the KB (never required, never trusted
for correctness: the key is a hash of every input, and a missing or unreadable entry is rebuilt).

JSON, not pickle: the cache directory may be shared (tmp), and loading must not run code.
Directory: ``$GONGJI_CACHE_DIR``, else ``$XDG_CACHE_HOME/gongji``, else ``~/.cache/gongji``;
when that is not writable, ``<tmp>/gongji-cache-<uid>``. ``GONGJI_CACHE_DIR=off`` disables it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
KEEP = 8                     # entries kept per kind (e.g. the real KB and a test fixture KB)


def digest(parts: Iterable[bytes | str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:32]


def cache_dir() -> Path | None:
    configured = os.environ.get("GONGJI_CACHE_DIR")
    if configured == "off":
        return None
    candidates: list[Path] = []
    if configured:
        candidates.append(Path(configured))
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        candidates.append(Path(xdg) / "gongji" if xdg else Path.home() / ".cache" / "gongji")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    candidates.append(Path(tempfile.gettempdir()) / f"gongji-cache-{uid}")
    for path in candidates:
        try:
            path.mkdir(parents=True, exist_ok=True)
            if os.access(path, os.W_OK):
                return path
        except OSError:
            continue
    return None


def cached(name: str, key: str, build: Callable[[], T], *,
           encode: Callable[[T], Any] = lambda v: v,
           decode: Callable[[Any], T] = lambda v: v) -> T:
    """``build()``, or its stored result for this ``key``; stored atomically after building."""
    directory = cache_dir()
    path = directory / f"{name}-{key}.json" if directory else None
    if path is not None and path.exists():
        try:
            return decode(json.loads(path.read_text(encoding="utf-8")))
        except Exception:  # noqa: BLE001 - any damaged or foreign entry is simply rebuilt
            pass
    value = build()
    if path is not None:
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(encode(value), fh, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, path)
            prune(path.parent, name)
        except OSError:
            pass
    return value


def prune(directory: Path, name: str, suffix: str = ".json", keep: int = KEEP) -> None:
    """Drop all but the ``keep`` newest entries of this kind (old KB versions pile up)."""
    entries = sorted(directory.glob(f"{name}-*{suffix}"), key=lambda p: p.stat().st_mtime,
                     reverse=True)
    for stale in entries[keep:]:
        try:
            stale.unlink()
        except OSError:
            pass
