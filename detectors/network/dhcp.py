"""DHCP (BOOTP) messages: which client MAC and hostname hold which IPv4 address.

Addresses change with leases; a hostname is a steadier name for the client an
agent runs on, so findings use it when the capture shows the lease.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAGIC_COOKIE = b"\x63\x82\x53\x63"
OPT_HOSTNAME, OPT_REQUESTED_IP, OPT_MESSAGE_TYPE, OPT_END, OPT_PAD = 12, 50, 53, 255, 0
_HOSTNAME = re.compile(rb"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


@dataclass(frozen=True)
class Lease:
    mac: bytes
    ip: bytes | None
    hostname: str | None


def parse_dhcp(msg: bytes) -> Lease | None:
    """MAC, IPv4 address (assigned, requested or in use) and hostname of one DHCP message."""
    if len(msg) < 240 or msg[236:240] != MAGIC_COOKIE or msg[1] != 1 or msg[2] != 6:
        return None
    mac = msg[28:34]
    ciaddr, yiaddr = msg[12:16], msg[16:20]
    hostname = None
    requested = None
    pos = 240
    while pos < len(msg):
        code = msg[pos]
        if code == OPT_END:
            break
        if code == OPT_PAD:
            pos += 1
            continue
        if pos + 2 > len(msg):
            break
        length = msg[pos + 1]
        value = msg[pos + 2:pos + 2 + length]
        pos += 2 + length
        if code == OPT_HOSTNAME and _HOSTNAME.fullmatch(value):
            hostname = value.decode("ascii").lower()
        elif code == OPT_REQUESTED_IP and length == 4:
            requested = value
    ip = next((a for a in (yiaddr, requested, ciaddr) if a and a != b"\x00\x00\x00\x00"), None)
    return Lease(mac, ip, hostname)


class Leases:
    """Bounded maps MAC → hostname and IPv4 → MAC learned from DHCP in a capture."""

    def __init__(self, limit: int = 65536) -> None:
        self.limit = limit
        self.hostnames: dict[bytes, str] = {}
        self.macs: dict[bytes, bytes] = {}

    def add(self, lease: Lease) -> None:
        if lease.hostname:
            _put(self.hostnames, lease.mac, lease.hostname, self.limit)
        if lease.ip:
            _put(self.macs, lease.ip, lease.mac, self.limit)

    def hostname_for(self, ip: bytes, mac: bytes = b"") -> str | None:
        return self.hostnames.get(mac or self.macs.get(ip, b""))


def _put(table: dict, key, value, limit: int) -> None:
    if key not in table and len(table) >= limit:
        del table[next(iter(table))]
    table[key] = value
