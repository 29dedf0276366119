"""Whether a host is this machine: plain http, open mode and the dev stack's own Temporal are
allowed only there. One definition, so the three places that ask cannot disagree."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """`localhost` (any case, a trailing dot), 127.0.0.0/8 and ::1, bracketed or not."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
