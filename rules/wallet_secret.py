"""Wallet passwords: only a salted scrypt hash is ever stored (never the password itself).

scrypt (RFC 7914, ``hashlib.scrypt``, standard library) is memory-hard: each guess costs
16 MiB and ~50 ms here, so a stolen table cannot be ground through on GPUs as cheaply as
with a fast hash or PBKDF2. A 6-digit password has only a million values, so no KDF makes
a stolen hash safe on its own; what protects a wallet online is the lock after 5 wrong
passwords an hour (rules/wallet_rules.py). The cost parameters are stored with each hash,
so they can be raised later without invalidating old hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_N = 2 ** 14  # CPU/memory cost: 128 * r * N bytes = 16 MiB
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
PREFIX = "scrypt"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, n: int | None = None) -> str:
    """``scrypt$N$r$p$salt$key`` for a new password, with a fresh random salt."""
    n = n or SCRYPT_N
    salt = secrets.token_bytes(SALT_BYTES)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P,
                         dklen=KEY_BYTES, maxmem=256 * 1024 * 1024)
    return f"{PREFIX}${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison)."""
    try:
        prefix, n, r, p, salt, key = stored.split("$")
        if prefix != PREFIX:
            return False
        want = base64.b64decode(key)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(want), maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)
