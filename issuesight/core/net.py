"""Whether a host is this machine: plain http, open mode and the dev stack's own Temporal are
allowed only there. One definition, so the three places that ask cannot disagree."""

from __future__ import annotations

import ipaddress

# The names a browser on this machine reaches a loopback server by (IPv6 in its brackets): the
# Host allow-list's default in open mode (Settings.trusted_hosts).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def is_loopback(host: str) -> bool:
    """`localhost` (any case, a trailing dot), 127.0.0.0/8 and ::1, bracketed or not."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
