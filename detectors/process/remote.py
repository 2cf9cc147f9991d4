"""Remote addresses → providers: published IP ranges always, catalogue hostnames resolved only on request."""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor, wait

from scanner.catalog import Catalog

RESOLVE_WORKERS = 16


class RemoteIndex:
    """Which provider an IP address belongs to, and how that is known."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.resolved: dict[str, str] = {}
        self.unresolved: list[str] = []

    def resolve(self, timeout: float) -> None:
        """Resolve every exact catalogue hostname (a DNS query each; opt-in) within ``timeout`` seconds."""
        hosts = sorted({(h, p.id) for p in self.catalog.providers.values() for h in p.hostnames})
        pool = ThreadPoolExecutor(max_workers=RESOLVE_WORKERS, thread_name_prefix="resolve")
        futures = {pool.submit(_addresses, h): (h, pid) for h, pid in hosts}
        done, pending = wait(futures, timeout=timeout)
        pool.shutdown(wait=False, cancel_futures=True)
        for fut in done:
            _, pid = futures[fut]
            for ip in fut.result():
                self.resolved.setdefault(ip, pid)
        self.unresolved = sorted(futures[f][0] for f in pending)

    def provider(self, ip: str) -> tuple[str, str] | None:
        """(provider id, how it is known) for a remote address, or None."""
        addr = _parse(ip)
        if addr is None:
            return None
        if str(addr) in self.resolved:
            return self.resolved[str(addr)], "address of a catalogue hostname"
        found = self.catalog.provider_for_address(str(addr))
        return (found[0], f"published range {found[1]}") if found else None


def _addresses(hostname: str) -> set[str]:
    try:
        return {info[4][0] for info in socket.getaddrinfo(hostname, 443, proto=socket.IPPROTO_TCP)}
    except OSError:
        return set()


def _parse(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address without a zone id, IPv4-mapped IPv6 as IPv4; None when not an address."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return addr.ipv4_mapped
    return addr


def is_loopback(ip: str) -> bool:
    addr = _parse(ip)
    return addr is not None and addr.is_loopback


def is_wildcard(ip: str) -> bool:
    return ip in ("0.0.0.0", "::", "")
