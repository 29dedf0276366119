"""API keys: minted with 256 bits from the OS's CSPRNG, shown once, stored only as a hash.

A key reads `isk_<12 hex>_<43 url-safe characters>`. The first part (`isk_` and the hex) is the
key's *prefix*: public, unique, the handle a key is listed and revoked by, and how a presented
key's row is found. The rest is the secret. The stored hash is SHA-256 of the whole key: a slow
password hash buys nothing against 256 random bits, and a fast one keeps every authenticated
request cheap. Hashes are compared with `hmac.compare_digest` (constant time).

The `isk_` shape is also what log scrubbing recognizes (`issuesight.core.text`), so a key
that reaches a log line or a prompt by accident is removed like any other token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_SCHEME = "isk_"
_PREFIX_HEX = 12
_SECRET_BYTES = 32  # token_urlsafe(32): 43 characters
KEY_SHAPE = re.compile(r"^(isk_[0-9a-f]{12})_[A-Za-z0-9_-]{43}$")
PREFIX_SHAPE = re.compile(r"^isk_[0-9a-f]{12}$")
# Compared against when a presented key's prefix is unknown, so that answer costs the same work.
_NO_SUCH_KEY = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True)
class MintedKey:
    key: str  # shown to its owner once, never stored
    prefix: str
    key_hash: str

    def __repr__(self) -> str:  # never print the secret by accident
        return f"MintedKey(prefix={self.prefix!r})"


def mint() -> MintedKey:
    prefix = KEY_SCHEME + secrets.token_hex(_PREFIX_HEX // 2)
    key = f"{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    return MintedKey(key=key, prefix=prefix, key_hash=hash_key(key))


def prefix_of(key: str) -> str | None:
    """The prefix of a well-formed key; None for anything else (a garbled key)."""
    match = KEY_SHAPE.match(key)
    return match.group(1) if match else None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def matches(key: str, stored_hash: str | None) -> bool:
    """Constant-time comparison of a presented key with a stored hash (None: no such key)."""
    expected = stored_hash if stored_hash is not None else _NO_SUCH_KEY
    return hmac.compare_digest(hash_key(key), expected) and stored_hash is not None
