"""The flow table: open TCP/UDP flows by key, both directions, bounded in size and in idle time.

A flow is one client talking to one server port. The table knows nothing of the
protocols in the flows: the engine inspects them and says when one is closed.
"""

from __future__ import annotations

from typing import Callable, Iterator

from detectors.network import dns as dnsmod
from detectors.network import http as httpmod
from detectors.network import quic, tls

MAX_FLOWS = 16384
IDLE_SECONDS = 300.0  # a flow silent this long (capture time) is over: the next packet starts a new one

# inspection modes of a flow
M_NEW, M_TLS, M_HTTP, M_DNS, M_QUIC, M_DONE, M_H2 = range(7)


def flow_key(src: bytes, sport: int, dst: bytes, dport: int) -> bytes:
    """Addresses then ports, as the bytes appear in an IPv4/IPv6 + TCP/UDP header without options."""
    return src + dst + bytes(((sport >> 8) & 0xFF, sport & 0xFF, (dport >> 8) & 0xFF, dport & 0xFF))


class Flow:
    __slots__ = ("client", "cport", "server", "sport", "udp", "first", "last", "bytes", "mode", "buf",
                 "next_seq", "pending", "pending_bytes", "hello", "hits", "mac", "started", "quic_keys",
                 "initials", "server_buf", "pos", "key", "reverse_key", "dcid", "scid", "client_random", "retry_cid", "h2",
                 "inside", "encap")

    def __init__(self, client: bytes, cport: int, server: bytes, sport: int, udp: bool, ts: float) -> None:
        self.client, self.cport, self.server, self.sport, self.udp = client, cport, server, sport, udp
        self.key = flow_key(client, cport, server, sport)
        self.reverse_key = flow_key(server, sport, client, cport)
        self.first = self.last = ts
        self.bytes = 0
        self.mode = M_NEW
        self.buf = bytearray()
        self.next_seq: int | None = None
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0
        self.hello: tls.ClientHello | None = None
        self.hits: dict[tuple, list] = {}
        self.mac = b""
        self.started = False  # saw the opening SYN (or first QUIC Initial)
        self.quic_keys: quic.InitialKeys | None = None
        self.dcid = b""  # the DCID the QUIC Initial keys derive from (the client's first, or a Retry's)
        self.scid = b""  # the client's own connection ID in its first Initial
        self.client_random = b""  # the random of the QUIC ClientHello (some clients send it again after a Retry)
        self.retry_cid = b""  # the connection ID a server's Retry told the client to use
        self.initials = 0
        self.server_buf: dnsmod.TcpDnsStream | None = None  # DNS answers from a TCP port-53 server
        self.pos = 0
        self.h2: httpmod.H2Requests | None = None
        self.inside: list[str] = []  # protocols the TLS started inside (CONNECT, SOCKS, STARTTLS ...)
        self.encap = ""  # the tunnel(s) the flow's packets came in (vxlan, gre ...), outermost first


class FlowTable:
    """Open flows under both directions' keys, one dict per transport: key -> (flow, sent by the client?).

    The engine's fast path reads :attr:`tcp` and :attr:`udp` directly. Past :data:`MAX_FLOWS`
    the oldest flow is handed to ``close`` before a new one is added.
    """

    def __init__(self, close: Callable[[Flow], None]) -> None:
        self.tcp: dict[bytes, tuple[Flow, bool]] = {}
        self.udp: dict[bytes, tuple[Flow, bool]] = {}
        self.open = 0
        self.opened = 0
        self._close = close

    def add(self, flow: Flow) -> None:
        if self.open >= MAX_FLOWS:
            fullest = max((t for t in (self.tcp, self.udp) if t), key=len)
            self._close(next(iter(fullest.values()))[0])
        table = self.udp if flow.udp else self.tcp
        table[flow.key] = (flow, True)
        table[flow.reverse_key] = (flow, False)
        self.open += 1
        self.opened += 1

    def remove(self, flow: Flow) -> bool:
        """Take ``flow`` out of the table; False when it was not (or no longer) in it."""
        table = self.udp if flow.udp else self.tcp
        if table.pop(flow.key, None) is None:
            return False
        table.pop(flow.reverse_key, None)
        self.open -= 1
        return True

    def flows(self) -> list[Flow]:
        """Every open flow, once."""
        return [flow for table in (self.tcp, self.udp) for flow, from_client in table.values() if from_client]

    def idle(self, cutoff: float) -> Iterator[Flow]:
        """Open flows whose last packet is older than ``cutoff``."""
        return iter([flow for flow in self.flows() if flow.last < cutoff])
