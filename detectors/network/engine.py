"""The packet engine: raw frames in, aggregated observations out, bounded state throughout.

Per TCP flow it reassembles the first client bytes (at most :data:`INSPECT_LIMIT`)
until a ClientHello, an HTTP/1 or h2c request or DNS messages are complete, then only
counts bytes. TLS that starts inside another protocol (HTTP CONNECT, SOCKS, STARTTLS,
PostgreSQL's SSLRequest) is found after that protocol's opening. QUIC client Initials
are decrypted and their CRYPTO frames joined. Tunnels (VXLAN, Geneve, GRE/ERSPAN,
IP-in-IP, GTP-U) are opened and their inner packets go through the same path.
DNS answers fill an IP → name map used for flows that never name their server;
ECH flows, whose real server name is encrypted, are attributed through that map
or through the client's HTTPS/SVCB query for a catalogue name just before.
Flows (:mod:`flows`) end when idle and the table has a hard size, so memory does
not grow with the capture.
"""

from __future__ import annotations

import hashlib
import struct
from collections import Counter
from typing import Callable, Iterable

from detectors.network import dns as dnsmod
from detectors.network import http as httpmod
from detectors.network import preludes, quic, tls, tunnel
from detectors.network.aggregate import Aggregator
from detectors.network.dhcp import Leases, parse_dhcp
from detectors.network.flows import (IDLE_SECONDS, M_DNS, M_DONE, M_H2, M_HTTP, M_NEW, M_QUIC, M_TLS, MAX_FLOWS,
                                     Flow, FlowTable, flow_key)
from detectors.network.packet import (ETH_HLEN, ETH_IPV4, ETH_IPV6, IPPROTO_TCP, IPPROTO_UDP, IPV4_FRAGMENTED,
                                      IPV4_HLEN, IPV4_NO_OPTIONS, IPV6_HLEN, LINK_ETHERNET, SUPPORTED_LINKTYPES,
                                      TCP_HLEN, UDP_HLEN, Fragments, decode, ip_text, mac_text)
from detectors.network.reader import PCAP_RECORD_HEADER, CaptureReader
from scanner import redact
from scanner.catalog import Catalog
from scanner.model import Confidence
from scanner.secrets import not_a_key

__all__ = ["Engine", "Flow", "flow_key", "ua_fingerprint", "IDLE_SECONDS", "MAX_FLOWS", "INSPECT_LIMIT"]

INSPECT_LIMIT = 16384
MAX_BUFFERED = 32 << 20
MAX_DNS_NAMES = 65536
SWEEP_SECONDS = 60.0  # capture time between two sweeps of idle flows
BOOKKEEP_EVERY = 1 << 10  # packets between two looks at the clock, the sweep and the progress callback
TICK_EVERY = 1 << 16  # packets between two progress callbacks, unless the caller says
MAX_QUIC_INITIALS = 8
QUIC_MIN_INITIAL = 1200  # a client's Initial datagram is padded to at least this (RFC 9000 §14.1)
MAX_INSIDE = 3  # protocols one TLS connection may start inside (a CONNECT through SOCKS ...)
UNKNOWN_FP = "unknown"
DNS_PORT, HTTP_PORT, HTTPS_PORT = 53, 80, 443
DHCP_PORTS = (67, 68)
TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
ZERO_MAC = b"\x00" * 6

# The fast path reads an Ethernet frame as IPv4 + TCP in one call: ethertype, version/IHL, total length,
# flags/fragment offset, protocol, addresses + ports (the flow key), TCP data offset, TCP flags
_ETH_IPV4_TCP = struct.Struct(">12xHBxH2xHxB2x12s8xBB").unpack_from
# ... and as IPv6 + TCP: payload length, next header, addresses + ports, TCP data offset, TCP flags
_ETH_IPV6_TCP = struct.Struct(">18xHBx36s8xBB").unpack_from
_ETH_IPV4_L4 = ETH_HLEN + IPV4_HLEN  # where TCP/UDP starts in such a frame
_ETH_IPV6_L4 = ETH_HLEN + IPV6_HLEN
_MIN_ETH_IPV4_TCP = _ETH_IPV4_L4 + TCP_HLEN  # shorter frames take the general path
_MIN_ETH_IPV6_TCP = _ETH_IPV6_L4 + TCP_HLEN


def ua_fingerprint(user_agent: object) -> str:
    """Client fingerprint of a plaintext HTTP client: its User-Agent, hashed."""
    if not user_agent:
        return UNKNOWN_FP
    return "ua-" + hashlib.sha256(str(user_agent).encode()).hexdigest()[:12]


class Engine:
    """Feed ``packet(ts, linktype, frame)``; call ``finish()``; read ``aggregator.records``."""

    def __init__(self, catalog: Catalog, capture: str, aggregator: Aggregator | None = None,
                 gap: Callable[[str, str], None] | None = None) -> None:
        self.catalog = catalog
        self.key_headers = httpmod.key_headers(catalog.auth_headers)  # which request headers carry keys
        self.capture = capture
        self.agg = aggregator if aggregator is not None else Aggregator()
        self.gap = gap or (lambda what, reason: None)
        self.flows = FlowTable(self._close)
        self.tcp_flows, self.udp_flows = self.flows.tcp, self.flows.udp  # read by the fast path
        self.frags = Fragments()
        self.dns_names: dict[bytes, str] = {}
        self.leases = Leases()
        self.buffered = 0
        self.now = 0.0
        self._next_sweep = 0.0
        self.packets = 0
        self.ip_packets = 0
        self.bad_linktypes: set[int] = set()
        self._missing: set[str] = set()  # optional packages found missing (one coverage gap each)
        self.service_queries = dnsmod.ServiceQueries()
        self.ech_flows = 0
        self.ech_unattributed = 0
        self.tunnelled: Counter[str] = Counter()  # packets taken out of each kind of tunnel
        self.undecoded: Counter[str] = Counter()  # tunnelled packets not decoded, by encapsulation
        self._encap = ""  # the tunnels around the packet being decoded
        self._provider_cache: dict[str, str | None] = {}
        self._local_cache: dict[tuple, tuple[str | None, Confidence]] = {}
        self._local_ports = {port for p in catalog.providers.values() if p.kind == "local" for port in p.ports}

    @property
    def open_flows(self) -> int:
        return self.flows.open

    @property
    def flow_count(self) -> int:
        return self.flows.opened

    # ---- lookups ------------------------------------------------------------------

    def client_name(self, addr: bytes, mac: bytes = b"") -> str:
        """The client's DHCP hostname when the capture showed its lease, else its address."""
        if self.leases.hostnames:
            name = self.leases.hostname_for(addr, mac)
            if name:
                return name
        return ip_text(addr)

    def provider_for_host(self, name: str) -> str | None:
        cache = self._provider_cache
        if name not in cache:
            if len(cache) > 65536:
                cache.clear()
            cache[name] = self.catalog.provider_for_host(name)
        return cache[name]

    def provider_for_address(self, addr: bytes) -> str | None:
        found = self.catalog.provider_for_address(addr)
        return found[0] if found else None

    # ---- per packet ---------------------------------------------------------------

    def feed(self, records: Iterable[tuple[float, int, bytes]], every: int = 0,
             tick: Callable[[], None] | None = None) -> None:
        """Process ``(ts, linktype, frame)`` records; call ``tick`` about every ``every`` packets.

        From a :class:`CaptureReader` on a classic pcap file, the records are read in place in
        the reader's windows of the file (:meth:`_feed_windows`), without an object per record.
        """
        windows = records.pcap_windows() if isinstance(records, CaptureReader) else None
        counted = self.packets  # packet() counts the packets it takes; the others are counted here
        if windows is not None:
            n = self._feed_windows(windows, every, tick)
        else:
            n = self._feed_records(records, every, tick)
        taken = n - (self.packets - counted)
        self.packets += taken
        self.ip_packets += taken

    def _feed_records(self, records: Iterable[tuple[float, int, bytes]], every: int,
                      tick: Callable[[], None] | None) -> int:
        """Each record through :meth:`_frame`; returns how many there were."""
        frame, counted, n = self._frame, self.packets, 0
        for ts, linktype, buf in records:
            n += 1
            if n & (BOOKKEEP_EVERY - 1) == 0:
                self._bookkeep(n, ts, counted, every, tick)
            frame(ts, linktype, buf, 0, len(buf))
        return n

    def _feed_windows(self, windows, every: int, tick: Callable[[], None] | None) -> int:
        """The records of a classic pcap file's windows, read in place; returns how many packets there were."""
        frame, counted, n = self._frame, self.packets, 0
        for window in windows:
            buf, pos, size, first, empty = window.buf, window.pos, len(window.buf), n, 0
            header, unit, linktype, limit = window.header, window.unit, window.linktype, window.limit
            while True:
                try:
                    sec, frac, incl = header(buf, pos)
                except struct.error:  # less than a record header left: the reader takes over
                    break
                start = pos + PCAP_RECORD_HEADER
                if start + incl > size or incl > limit:  # a record across the window's end, or damage
                    break
                pos = start + incl
                if not incl:  # an empty record: no packet
                    empty += 1
                    continue
                ts = sec + frac * unit
                n += 1
                if n & (BOOKKEEP_EVERY - 1) == 0:
                    self._bookkeep(n, ts, counted, every, tick)
                frame(ts, linktype, buf, start, incl)
            window.pos, window.count = pos, n - first + empty
        return n

    def _bookkeep(self, n: int, ts: float, counted: int, every: int, tick: Callable[[], None] | None) -> None:
        """Every BOOKKEEP_EVERY packets: the counters, the clock, idle flows by capture time, progress."""
        taken = n - 1 - (self.packets - counted)
        self.packets += taken
        self.ip_packets += taken
        if ts > self.now:
            self.now = ts
        self.sweep()
        if tick and n % (every or TICK_EVERY) < BOOKKEEP_EVERY:
            tick()

    def _frame(self, ts: float, linktype: int, buf: bytes, start: int, incl: int) -> None:
        """One frame, ``buf[start:start + incl]``; the caller counts it.

        Most packets of a capture belong to flows already inspected, or come from the server
        side: for Ethernet IPv4/IPv6 TCP and UDP those only update the flow's counters, here,
        without the general decoding path. The other TCP/UDP packets of that shape go straight
        to the transport handlers, their headers read once; everything else goes to :meth:`packet`.
        """
        if linktype != LINK_ETHERNET or incl < _MIN_ETH_IPV4_TCP:
            self.packet(ts, linktype, buf[start:start + incl])
            return
        # Ethernet + IPv4 without options or fragments, or + IPv6; then TCP or UDP
        etype, version, end, fragment, proto, key, doff, flags = _ETH_IPV4_TCP(buf, start)
        if etype == ETH_IPV4 and version == IPV4_NO_OPTIONS and not fragment & IPV4_FRAGMENTED:
            off = _ETH_IPV4_L4
            end += ETH_HLEN
        elif etype == ETH_IPV6 and version >> 4 == 6 and incl >= _MIN_ETH_IPV6_TCP:
            off = _ETH_IPV6_L4
            end, proto, key, doff, flags = _ETH_IPV6_TCP(buf, start)
            end += _ETH_IPV6_L4
        else:
            self.packet(ts, linktype, buf[start:start + incl])
            return
        if proto == IPPROTO_TCP:
            entry = self.tcp_flows.get(key)
            if entry is not None and end > off:
                flow, from_client = entry
                payload = end - off - (doff >> 4) * 4
                # from the client a bare ACK or a packet of an inspected flow, not a SYN (port reuse); from
                # the server anything but DNS answers; and not after a silence that ends the flow
                if ts - flow.last <= IDLE_SECONDS and (
                        ((flow.mode == M_DONE or payload == 0) and not flags & TCP_SYN) if from_client
                        else flow.server_buf is None):
                    flow.last = ts
                    flow.bytes += payload
                    return
        elif proto == IPPROTO_UDP:
            entry = self.udp_flows.get(key)
            if entry is not None and end > off:
                flow, from_client = entry
                payload = end - off - UDP_HLEN
                # a QUIC long header from the client may open a new connection (when padded as an
                # Initial), one from the server may be a Retry: those take the slow path
                short = not buf[start + off + UDP_HLEN] & 0x80
                if ts - flow.last <= IDLE_SECONDS and (
                        (flow.mode == M_DONE and (short or 0 <= payload < QUIC_MIN_INITIAL and end <= incl))
                        if from_client else short):
                    flow.last = ts
                    flow.bytes += payload
                    return
        frame = buf[start:start + incl]
        if (proto == IPPROTO_TCP or proto == IPPROTO_UDP) and off < end <= incl:  # as decode() would: source MAC last
            if ts > self.now:
                self.now = ts
            alen = 4 if off == _ETH_IPV4_L4 else 16  # address length
            (self._tcp if proto == IPPROTO_TCP else self._udp)(ts, key[:alen], key[alen:2 * alen], frame, off, end,
                                                              frame[6:12])
        else:  # other protocols, a frame cut short, TSO's zero IP length ...
            self.packet(ts, linktype, frame)

    def packet(self, ts: float, linktype: int, frame: bytes) -> None:
        """One frame through the general path (any link type, fragments, tunnels, inspection)."""
        d = decode(linktype, frame, self.frags)
        if d is None:
            self.packets += 1
            if ts > self.now:
                self.now = ts
            if linktype not in SUPPORTED_LINKTYPES and linktype not in self.bad_linktypes:
                self.bad_linktypes.add(linktype)
                self.gap(self.capture, f"link type {linktype} is not supported (supported: Ethernet, Linux "
                                       "cooked SLL/SLL2, raw IP, BSD loopback); its frames were skipped")
            return
        self._transport(ts, *d)

    def _transport(self, ts: float, src: bytes, dst: bytes, proto: int, buf: bytes, off: int, end: int,
                   mac: bytes) -> None:
        """One decoded IP packet to its TCP, UDP or tunnel handler."""
        self.packets += 1
        self.ip_packets += 1
        if ts > self.now:
            self.now = ts
        if proto == IPPROTO_TCP:
            self._tcp(ts, src, dst, buf, off, end, mac)
        elif proto == IPPROTO_UDP:
            self._udp(ts, src, dst, buf, off, end, mac)
        elif proto in tunnel.IP_PROTOCOLS:
            self._tunnel(ts, tunnel.over_ip(proto, buf, off, end, self._encap))

    def _tunnel(self, ts: float, inner: tunnel.Inner | None) -> None:
        """The packet inside a tunnel, through the general path, counted in its encapsulation.

        Nesting is bounded by :data:`tunnel.MAX_DEPTH`; what cannot be decoded is counted by encapsulation.
        None: the tunnel's own signalling (GTP echo, NHRP ...), nothing to decode.
        """
        if inner is None:
            return
        if inner.frame is None:
            self.undecoded[inner.encap] += 1
            return
        self.tunnelled[inner.encap.rsplit("/", 1)[-1]] += 1
        outer, self._encap = self._encap, inner.encap
        try:
            self.packets -= 1  # one captured packet, counted once: the inner one counts it
            self.ip_packets -= 1
            self.packet(ts, inner.linktype, inner.frame)
        finally:
            self._encap = outer

    def _tcp(self, ts: float, src: bytes, dst: bytes, buf: bytes, off: int, end: int, mac: bytes) -> None:
        if end - off < TCP_HLEN:
            return
        sport = (buf[off] << 8) | buf[off + 1]
        dport = (buf[off + 2] << 8) | buf[off + 3]
        doff = (buf[off + 12] >> 4) * 4
        flags = buf[off + 13]
        plen = end - off - doff
        if plen < 0 or doff < TCP_HLEN:
            return
        entry = self.tcp_flows.get(src + dst + buf[off:off + 4])
        flow = entry[0] if entry else None
        syn_only = flags & (TCP_SYN | TCP_ACK) == TCP_SYN
        if flow is not None and (ts - flow.last > IDLE_SECONDS or (syn_only and flow.client == src and flow.bytes)):
            self._close(flow)  # port reuse: a new connection on the same 4-tuple
            flow = None
        if flow is None:
            if not (flags & TCP_SYN) and plen == 0:
                return
            flow = self._new_tcp_flow(ts, src, sport, dst, dport, flags)
            if flow is None:
                return
        flow.last = ts
        flow.bytes += plen
        if src == flow.client:
            if mac and not flow.mac and mac != ZERO_MAC:
                flow.mac = mac
            if syn_only:
                flow.next_seq = (int.from_bytes(buf[off + 4:off + 8], "big") + 1) & 0xFFFFFFFF
                flow.started = True
            elif plen and flow.mode != M_DONE:
                self._client_segment(flow, int.from_bytes(buf[off + 4:off + 8], "big"), buf[off + doff:end])
        elif flow.server_buf is not None:
            self._server_dns(flow, flags, int.from_bytes(buf[off + 4:off + 8], "big"), buf[off + doff:end], ts)

    def _new_tcp_flow(self, ts: float, src: bytes, sport: int, dst: bytes, dport: int, flags: int) -> Flow | None:
        if flags & TCP_SYN:
            client_is_src = not flags & TCP_ACK
        else:  # joined mid-connection: the client is the side on the ephemeral port
            client_is_src = dport in self._local_ports or dport < sport or dport in (HTTPS_PORT, HTTP_PORT, DNS_PORT)
        if client_is_src:
            flow = Flow(src, sport, dst, dport, False, ts)
        else:
            flow = Flow(dst, dport, src, sport, False, ts)
        if flow.sport == DNS_PORT:
            flow.server_buf = dnsmod.TcpDnsStream()
        self._register(flow)
        return flow

    def _register(self, flow: Flow) -> None:
        """Add a flow to the table (which closes the oldest first when full)."""
        flow.encap = self._encap
        self.flows.add(flow)

    def _client_segment(self, flow: Flow, seq: int, payload: bytes) -> None:
        """Put a client segment in order; inspect once new contiguous bytes arrived."""
        if flow.next_seq is None:
            flow.next_seq = seq
        rel = (seq - flow.next_seq) & 0xFFFFFFFF
        if rel >= 0x80000000:  # retransmission or overlap of bytes already taken
            back = 0x100000000 - rel
            if back >= len(payload):
                return
            payload, rel = payload[back:], 0
        if rel:
            if rel < INSPECT_LIMIT and flow.pending_bytes < INSPECT_LIMIT and seq not in flow.pending:
                flow.pending[seq] = payload
                flow.pending_bytes += len(payload)
                self.buffered += len(payload)
            return
        self._append(flow, payload)
        while flow.pending:
            nxt = flow.pending.pop(flow.next_seq, None)
            if nxt is None:
                stale = [s for s in flow.pending if (s - flow.next_seq) & 0xFFFFFFFF >= 0x80000000]
                if not stale:
                    break
                for s in stale:
                    piece = flow.pending.pop(s)
                    back = (flow.next_seq - s) & 0xFFFFFFFF
                    if back < len(piece):
                        flow.pending[flow.next_seq] = piece[back:]
                continue
            self._append(flow, nxt)
        self._inspect(flow)

    def _append(self, flow: Flow, data: bytes) -> None:
        flow.buf += data
        flow.next_seq = (flow.next_seq + len(data)) & 0xFFFFFFFF  # type: ignore[operator]
        self.buffered += len(data)

    def _done(self, flow: Flow) -> None:
        self.buffered -= len(flow.buf) + flow.pending_bytes
        flow.mode = M_DONE
        flow.buf = bytearray()
        flow.pending = {}
        flow.pending_bytes = 0

    # ---- TCP: what the client's first bytes are -----------------------------------

    def _inspect(self, flow: Flow) -> None:
        """Read the client bytes gathered so far with the handler of the flow's mode, until one waits or is done."""
        while flow.mode != M_DONE:
            data = bytes(flow.buf[flow.pos:]) if flow.pos else bytes(flow.buf)
            if not data or not self._INSPECTORS[flow.mode](self, flow, data):
                return

    def _full(self, flow: Flow) -> bool:
        """No more client bytes will be kept for this flow: handlers decide with what they have."""
        return len(flow.buf) >= INSPECT_LIMIT or self.buffered > MAX_BUFFERED

    def _inspect_new(self, flow: Flow, data: bytes) -> bool:
        """Which protocol the client speaks; True when a mode was chosen and its handler should read ``data``."""
        if tls.looks_like_tls(data):
            flow.mode = M_TLS
        elif httpmod.looks_like_http(data):
            flow.mode = M_HTTP
        elif (h2 := httpmod.starts_h2(data)) is True:
            flow.mode = M_H2
        elif h2:  # the first bytes of the h2c preface: wait for the rest
            return False
        elif flow.sport == DNS_PORT:
            flow.mode = M_DNS
        elif len(flow.inside) < MAX_INSIDE and (found := preludes.opening(data)) is not None:
            if found is preludes.NEED_MORE:
                if self._full(flow):
                    self._done(flow)
                return False
            self._prelude(flow, found)
            return True  # the TLS ClientHello follows the opening
        else:
            self._done(flow)
            return False
        return True

    def _prelude(self, flow: Flow, found: preludes.Opening) -> None:
        """A protocol opening before TLS (SOCKS, STARTTLS ...): skip it; a SOCKS target is a proxy request."""
        flow.pos += found.length
        flow.inside.append(found.protocol)
        if found.target:
            name, port = found.target
            provider = self.provider_for_host(name)
            if provider:
                flow.hits.setdefault(("connect", provider, name, None),
                                     [Confidence.HIGH, {"port": str(port), "proxy": {found.protocol}}, None])

    def _inspect_tls(self, flow: Flow, data: bytes) -> bool:
        msg = tls.handshake_from_records(data)
        if msg == tls.NEED_MORE and not self._full(flow):
            return False
        if isinstance(msg, bytes):
            flow.hello = tls.parse_client_hello(msg, "t")
        self._done(flow)
        return False

    def _inspect_http(self, flow: Flow, data: bytes) -> bool:
        full = self._full(flow)
        upgraded = httpmod.starts_h2(data)  # h2c after 'Upgrade: h2c' starts with the preface
        if upgraded is True:
            flow.mode = M_H2
            return True
        if upgraded and not full:
            return False
        req = httpmod.parse_request(data, final=full, keys=self.key_headers)
        if req == httpmod.NEED_MORE:
            return False
        if not isinstance(req, httpmod.HttpRequest):
            self._done(flow)
            return False
        self._http_hit(flow, req)
        flow.pos += req.consumed
        if req.method == "CONNECT" and len(flow.inside) < MAX_INSIDE:
            flow.inside.append("http-connect")
            flow.mode = M_NEW  # the tunnelled ClientHello follows the proxy's reply
        elif flow.pos >= len(flow.buf) or full:
            if full or flow.pos > len(flow.buf):
                self._done(flow)
            return False
        return True

    def _inspect_dns(self, flow: Flow, data: bytes) -> bool:
        messages, flow.pos = dnsmod.tcp_messages(flow.buf, flow.pos)
        for raw in messages:
            self._dns_message(flow.last, flow.client, raw)
        if self._full(flow):
            self._done(flow)
        return False

    def _inspect_h2(self, flow: Flow, data: bytes) -> bool:
        self._h2(flow, data, self._full(flow))
        return False

    _INSPECTORS: dict[int, Callable[[Engine, Flow, bytes], bool]] = {
        M_NEW: _inspect_new, M_TLS: _inspect_tls, M_HTTP: _inspect_http, M_DNS: _inspect_dns, M_H2: _inspect_h2}

    def _server_dns(self, flow: Flow, flags: int, seq: int, payload: bytes, ts: float) -> None:
        """DNS answers from a TCP port-53 server, reassembled by sequence number."""
        stream = flow.server_buf
        assert stream is not None
        if flags & TCP_SYN:
            stream.start(seq)
        if payload:
            for raw in stream.segment(seq, payload):
                self._dns_message(ts, flow.client, raw)
            if stream.exhausted:
                flow.server_buf = None

    def _without(self, flow: Flow, package: str, what: str) -> None:
        """Stop inspecting ``flow`` for lack of an optional package; say so once per capture."""
        if package not in self._missing:
            self._missing.add(package)
            self.gap(self.capture, f"{what}: the '{package}' package is missing")
        self._done(flow)

    def _h2(self, flow: Flow, data: bytes, final: bool) -> None:
        """h2c frames from the client: each request that completed feeds :meth:`_http_hit`."""
        if flow.h2 is None:
            if not httpmod.H2_AVAILABLE:
                self._without(flow, "hpack", "plaintext HTTP/2 (h2c) requests not read")
                return
            flow.h2 = httpmod.H2Requests(self.key_headers)
        requests, used = flow.h2.feed(data, final)
        flow.pos += used
        for req in requests:
            self._http_hit(flow, req)
        if final or flow.h2.failed:
            self._done(flow)
            flow.h2 = None  # its HPACK table is not needed any more

    # ---- UDP: DNS and QUIC --------------------------------------------------------

    def _udp(self, ts: float, src: bytes, dst: bytes, buf: bytes, off: int, end: int, mac: bytes) -> None:
        if end - off < UDP_HLEN:
            return
        sport = (buf[off] << 8) | buf[off + 1]
        dport = (buf[off + 2] << 8) | buf[off + 3]
        data = off + UDP_HLEN
        if sport in DHCP_PORTS and dport in DHCP_PORTS:
            lease = parse_dhcp(buf[data:end])
            if lease is not None:
                self.leases.add(lease)
            return
        if sport == DNS_PORT or dport == DNS_PORT:
            msg = dnsmod.parse_dns(buf[data:end])
            if msg is not None:
                self._dns(ts, src if not msg.response else dst, msg)
            return
        port = tunnel.udp_port(sport, dport)
        if port:
            self._tunnel(ts, tunnel.over_udp(port, buf, data, end, self._encap))
            return
        entry = self.udp_flows.get(src + dst + buf[off:off + 4])
        flow = entry[0] if entry else None
        plen = end - data
        if flow is not None and not entry[1] and plen and buf[data] & 0x80:
            retry = quic.retry_source_cid(buf[data:end])
            if retry:
                flow.retry_cid = retry
        elif flow is not None and (ts - flow.last > IDLE_SECONDS or (
                entry[1] and plen >= QUIC_MIN_INITIAL and self._new_quic_connection(flow, buf[data:end]))):
            self._close(flow)  # the client port is reused for a new QUIC connection
            flow = None
        if (flow is not None and entry[1] and flow.mode == M_DONE and not flow.dcid and plen >= QUIC_MIN_INITIAL
                and quic.initial_header(buf[data:end])):
            flow.mode = M_QUIC  # the first Initial after packets that opened the flow (0-RTT first, a capture begun late)
        if flow is None:
            long_header = plen > 0 and buf[data] & 0xC0 == 0xC0
            if long_header and plen >= QUIC_MIN_INITIAL:
                flow = Flow(src, sport, dst, dport, True, ts)
                flow.mode = M_QUIC
                flow.started = True
            elif dport == HTTPS_PORT or sport == HTTPS_PORT:
                flow = (Flow(src, sport, dst, dport, True, ts) if dport == HTTPS_PORT
                        else Flow(dst, dport, src, sport, True, ts))
                flow.mode = M_DONE
            else:
                return
            self._register(flow)
        flow.last = ts
        flow.bytes += plen
        if flow.mode == M_QUIC and src == flow.client:
            if mac and not flow.mac and mac != ZERO_MAC:
                flow.mac = mac
            self._quic_datagram(flow, buf[data:end])

    @staticmethod
    def _new_quic_connection(flow: Flow, datagram: bytes) -> bool:
        """Whether a client Initial under a DCID other than the flow's keys' starts a new connection.

        An Initial that does not decrypt under keys from its own DCID goes to the server's chosen
        ID: the same connection. One that does is a new connection (whatever part of its ClientHello
        it carries: Chrome scatters it over several Initials), unless it answers a Retry: it
        goes to the ID the server's Retry gave, keeps the client's own non-empty Source Connection
        ID, or (for a capture without the server's side) repeats the flow's ClientHello random (a
        client that retransmits its CRYPTO data as it was; aioquic makes a new ClientHello instead).
        Initials after a Retry derive their keys from the new ID from then on.
        """
        head = quic.initial_header(datagram) if quic.AVAILABLE and flow.dcid else None
        if head is None or head[1] == flow.dcid:
            return False
        same_client = (bool(flow.scid) and quic.source_cid(datagram) == flow.scid) or head[1] == flow.retry_cid
        if same_client and flow.mode == M_DONE:
            return False
        keys = quic.client_initial_keys(*head)
        frames = quic.crypto_frames(datagram, lambda v, d: keys)
        if not frames:  # not protected with keys from its own DCID (the AEAD tag tells)
            return False
        if same_client or (flow.client_random and quic.client_random(frames) == flow.client_random):
            flow.quic_keys, flow.dcid = keys, head[1]
            return False
        return True

    def _quic_datagram(self, flow: Flow, datagram: bytes) -> None:
        if not quic.AVAILABLE:
            self._without(flow, "cryptography", "QUIC Initial packets not decrypted")
            return
        if quic.initial_header(datagram) is None:
            return
        flow.initials += 1

        def keys_for(version: int, dcid: bytes) -> quic.InitialKeys:
            if flow.quic_keys is None:
                flow.quic_keys = quic.client_initial_keys(version, dcid)
                flow.dcid = dcid
                flow.scid = quic.source_cid(datagram)
            return flow.quic_keys

        for offset, data in quic.crypto_frames(datagram, keys_for):
            if offset not in flow.pending:
                flow.pending[offset] = data
                flow.pending_bytes += len(data)
                self.buffered += len(data)
        stream = quic.assemble(flow.pending)
        if not flow.client_random:
            flow.client_random = quic.hello_random(stream)
        if len(stream) >= 4:
            need = 4 + ((stream[1] << 16) | (stream[2] << 8) | stream[3])
            if len(stream) >= need:
                flow.hello = tls.parse_client_hello(stream[:need], "q")
                self._done(flow)
                return
        if flow.initials >= MAX_QUIC_INITIALS or flow.pending_bytes >= INSPECT_LIMIT:
            self._done(flow)

    def _dns(self, ts: float, client: bytes, msg: dnsmod.DnsMessage) -> None:
        self._record_dns(ts, client, msg)

    def _dns_message(self, ts: float, client: bytes, raw: bytes) -> None:
        msg = dnsmod.parse_dns(raw)
        if msg is not None:
            self._record_dns(ts, client, msg)

    def _record_dns(self, ts: float, client: bytes, msg: dnsmod.DnsMessage) -> None:
        if msg.response:
            for addr, name in msg.answers:
                if self.provider_for_host(name):
                    names = self.dns_names
                    if addr not in names and len(names) >= MAX_DNS_NAMES:
                        del names[next(iter(names))]
                    names[addr] = name
            return
        for name, qtype in zip(msg.questions, msg.qtypes):
            provider = self.provider_for_host(name)
            if provider:
                who = self.client_name(client)
                self.agg.add(self.capture, "dns", who, UNKNOWN_FP, provider, name, ts, ts, Confidence.MEDIUM,
                             requests=1, notes={"client_ip": ip_text(client)} if self.leases.hostnames else None)
                if qtype in dnsmod.SERVICE_BINDING_TYPES:
                    self.service_queries.add(client, ts, name)

    def _observe_ech(self, flow: Flow, client: str, fp: str, base: dict) -> None:
        """An ECH connection: its SNI is only the front's public name, so DNS names the server.

        An address the capture's DNS answers gave a catalogue name is medium confidence; only
        the client's HTTPS/SVCB lookup of a catalogue name just before is low. Other ECH
        connections (every browser makes them) are counted, not reported.
        """
        self.ech_flows += 1
        by_address = self.dns_names.get(flow.server)
        queried = self.service_queries.before(flow.client, flow.first)
        how = [w for w, found in (("dns-answer", by_address), ("https-query", queried)) if found]
        name = by_address or queried
        provider = self.provider_for_host(name) if name else None
        confidence = Confidence.MEDIUM if by_address else Confidence.LOW
        if provider is None:
            provider = self.provider_for_address(flow.server)
            name, how = ip_text(flow.server), ["address-range"]
        if provider is None:
            self.ech_unattributed += 1
            return
        assert name is not None
        hello = flow.hello
        self.agg.add(self.capture, "ech", client, fp, provider, name, flow.first, flow.last, confidence,
                     connections=1, nbytes=flow.bytes,
                     notes={**base, "outer_sni": hello.sni if hello else None, "attributed_by": how,
                            "transport": "udp" if flow.udp else "tcp"})

    # ---- HTTP ---------------------------------------------------------------------

    def _http_hit(self, flow: Flow, req: httpmod.HttpRequest) -> None:
        secret, req.secret = req.secret, None
        if req.method == "CONNECT":
            name, port = httpmod.split_host_port(req.target, HTTPS_PORT)
            provider = self.provider_for_host(name)
            if provider:
                flow.hits.setdefault(("connect", provider, name, None), [Confidence.HIGH, {"port": str(port)}, None])
            return
        name, _port = httpmod.split_host_port(req.host or "", flow.sport)
        provider = self.provider_for_host(name) if name else None
        kind = "http-request"
        confidence = Confidence.HIGH
        if provider is None:
            provider, confidence = self.local_server(flow.sport, req.path, req.model)
            kind = "local-model-server"
        if provider is None:
            return
        credential = self._credential(secret, provider)
        notes = {"path": req.path, "method": req.method, "user_agent": req.user_agent, "host": req.host,
                 "protocol": "h2c" if req.h2 else None}
        if kind == "local-model-server":  # servers are told apart by port
            name = f"{name or ip_text(flow.server)}:{flow.sport}"
        hit = flow.hits.setdefault((kind, provider, name or ip_text(flow.server), req.model),
                                   [confidence, {}, credential])
        for k, v in notes.items():
            if v:
                hit[1].setdefault(k, set()).add(v)
        hit[1]["requests"] = hit[1].get("requests", 0) + 1

    def local_server(self, port: int, path: str, model: str | None) -> tuple[str | None, Confidence]:
        """A local model server by port + API path (high), or by a catalogue model name (medium)."""
        key = (port, path, model)
        found = self._local_cache.get(key)
        if found is None:
            if len(self._local_cache) > 4096:
                self._local_cache.clear()
            found = self._local_cache[key] = self._find_local_server(port, path, model)
        return found

    def _find_local_server(self, port: int, path: str, model: str | None) -> tuple[str | None, Confidence]:
        candidates = [p for p in self.catalog.providers_for_port(port)
                      if any(path == x or path.startswith(x.rstrip("/") + "/") for x in self.catalog.providers[p].paths)]
        by_model = self.catalog.provider_for_model(model) if model else None
        if candidates:
            return (by_model if by_model in candidates else candidates[0]), Confidence.HIGH
        if by_model and self.catalog.providers[by_model].kind == "local":
            return by_model, Confidence.MEDIUM
        return None, Confidence.LOW

    def _credential(self, secret: str | None, provider: str):
        if not secret:
            return None
        fmt = self.catalog.classify_secret(secret, provider)
        if not_a_key(secret, fmt):
            return None
        return redact.credential(secret, fmt.id if fmt else None, bool(fmt and fmt.admin))

    # ---- flow end -----------------------------------------------------------------

    def sweep(self) -> None:
        """Close idle flows, at most once every SWEEP_SECONDS of capture time."""
        if self.now >= self._next_sweep:
            self._next_sweep = self.now + SWEEP_SECONDS
            self.expire()

    def expire(self) -> None:
        """Close flows idle for IDLE_SECONDS of capture time."""
        for flow in self.flows.idle(self.now - IDLE_SECONDS):
            self._close(flow)

    def finish(self) -> None:
        for flow in self.flows.flows():
            self._close(flow)
        self.frags = Fragments()

    def _close(self, flow: Flow) -> None:
        if not self.flows.remove(flow):
            return
        if flow.mode != M_DONE:
            if flow.mode == M_HTTP and flow.buf:  # a request cut short by the end of the capture
                req = httpmod.parse_request(bytes(flow.buf[flow.pos:]), final=True, keys=self.key_headers)
                if isinstance(req, httpmod.HttpRequest):
                    self._http_hit(flow, req)
            elif flow.mode == M_H2 and flow.h2 is not None:
                for req in flow.h2.feed(bytes(flow.buf[flow.pos:]), True)[0]:
                    self._http_hit(flow, req)
            self._done(flow)
        self._observe(flow)

    def _observe(self, flow: Flow) -> None:
        client = self.client_name(flow.client, flow.mac)
        hello = flow.hello
        fp = hello.ja4 if hello else UNKNOWN_FP
        server = ip_text(flow.server)
        base = {"server": f"[{server}]:{flow.sport}" if ":" in server else f"{server}:{flow.sport}",
                "mac": mac_text(flow.mac) if flow.mac else None, "client_ip": ip_text(flow.client),
                "inside": flow.inside, "encapsulation": flow.encap}
        if hello:
            base["alpn"] = list(hello.alpn)
            base["ja4"] = hello.ja4
        for (kind, provider, name, model), (confidence, notes, credential) in flow.hits.items():
            requests = notes.pop("requests", 0) if isinstance(notes.get("requests"), int) else 0
            user_agents = notes.get("user_agent")
            hit_fp = fp
            if kind != "connect" and user_agents and not hello:
                hit_fp = ua_fingerprint(sorted(user_agents)[0])
            self.agg.add(self.capture, kind, client, hit_fp, provider, name, flow.first, flow.last, confidence,
                         model=model, connections=1, requests=requests, nbytes=flow.bytes,
                         notes={**base, **notes}, credential=credential)
        if hello and hello.sni:
            provider = self.provider_for_host(hello.sni)
            if provider:
                kind = "quic-sni" if flow.udp else "tls-sni"
                self.agg.add(self.capture, kind, client, fp, provider, hello.sni, flow.first, flow.last,
                             Confidence.HIGH, connections=1, nbytes=flow.bytes, notes={**base, "sni": hello.sni})
                return
            if not hello.ech:
                return
        if flow.hits:
            return
        if hello and hello.ech:
            self._observe_ech(flow, client, fp, base)
            return
        name = self.dns_names.get(flow.server)
        if name:
            provider = self.provider_for_host(name)
            self.agg.add(self.capture, "dns-attributed", client, fp, provider, name, flow.first, flow.last,
                         Confidence.MEDIUM, connections=1, nbytes=flow.bytes,
                         notes={**base, "transport": "udp" if flow.udp else "tcp",
                                "start_seen": "yes" if flow.started else "no"})
            return
        provider = self.provider_for_address(flow.server)
        if provider:
            self.agg.add(self.capture, "ip-range", client, fp, provider, server, flow.first, flow.last,
                         Confidence.LOW, connections=1, nbytes=flow.bytes,
                         notes={**base, "transport": "udp" if flow.udp else "tcp"})
