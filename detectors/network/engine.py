"""The packet engine: raw frames in, aggregated observations out, bounded state throughout.

Per TCP flow it reassembles the first client bytes (at most :data:`INSPECT_LIMIT`)
until a ClientHello, an HTTP/1 or h2c request or DNS messages are complete, then only
counts bytes. QUIC client Initials are decrypted and their CRYPTO frames joined.
DNS answers fill an IP → name map used for flows that never name their server;
ECH flows, whose real server name is encrypted, are attributed through that map
or through the client's HTTPS/SVCB query for a catalogue name just before.
Flows expire when idle and the table has a hard size, so memory does not grow
with the capture.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Callable, Iterable

from detectors.network import dns as dnsmod
from detectors.network import http as httpmod
from detectors.network import quic, tls
from detectors.network.aggregate import Aggregator
from detectors.network.dhcp import Leases, parse_dhcp
from detectors.network.packet import SUPPORTED_LINKTYPES, Fragments, decode, ip_text, mac_text
from detectors.network.reader import CaptureReader
from scanner import redact
from scanner.catalog import Catalog
from scanner.model import Confidence
from scanner.secrets import is_placeholder

INSPECT_LIMIT = 16384
MAX_FLOWS = 16384
MAX_BUFFERED = 32 << 20
MAX_DNS_NAMES = 65536
IDLE_SECONDS = 300.0
SWEEP_EVERY = 1 << 16
MAX_QUIC_INITIALS = 8
UNKNOWN_FP = "unknown"
DNS_PORT = 53
DHCP_PORTS = (67, 68)
TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
ZERO_MAC = b"\x00" * 6

# inspection modes of a flow
M_NEW, M_TLS, M_HTTP, M_DNS, M_QUIC, M_DONE, M_H2 = range(7)

# An Ethernet frame read as IPv4 + TCP in one call: ethertype, version/IHL, total length,
# flags/fragment offset, protocol, addresses + ports (the flow key), TCP data offset, TCP flags
_ETH_IPV4_TCP = struct.Struct(">12xHBxH2xHxB2x12s8xBB").unpack_from
# ... and as IPv6 + TCP: payload length, next header, addresses + ports, TCP data offset, TCP flags
_ETH_IPV6_TCP = struct.Struct(">18xHBx36s8xBB").unpack_from


def flow_key(src: bytes, sport: int, dst: bytes, dport: int) -> bytes:
    """Addresses then ports, as the bytes appear in an IPv4/IPv6 + TCP/UDP header without options."""
    return src + dst + bytes(((sport >> 8) & 0xFF, sport & 0xFF, (dport >> 8) & 0xFF, dport & 0xFF))


def ua_fingerprint(user_agent: object) -> str:
    """Client fingerprint of a plaintext HTTP client: its User-Agent, hashed."""
    if not user_agent:
        return UNKNOWN_FP
    return "ua-" + hashlib.sha256(str(user_agent).encode()).hexdigest()[:12]


class Flow:
    __slots__ = ("client", "cport", "server", "sport", "udp", "first", "last", "bytes", "mode", "buf",
                 "next_seq", "pending", "pending_bytes", "hello", "hits", "mac", "started", "quic_keys",
                 "initials", "server_buf", "pos", "key", "reverse_key", "dcid", "scid", "h2")

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
        self.dcid = b""  # DCID of the first client Initial (QUIC keys derive from it)
        self.scid = b""  # the client's own connection ID in that Initial
        self.initials = 0
        self.server_buf: dnsmod.TcpDnsStream | None = None  # DNS answers from a TCP port-53 server
        self.pos = 0
        self.h2: httpmod.H2Requests | None = None


class Engine:
    """Feed ``packet(ts, linktype, frame)``; call ``finish()``; read ``aggregator.records``."""

    def __init__(self, catalog: Catalog, capture: str, aggregator: Aggregator | None = None,
                 gap: Callable[[str, str], None] | None = None) -> None:
        self.catalog = catalog
        self.key_headers = httpmod.key_headers(catalog.auth_headers)
        self.capture = capture
        self.agg = aggregator if aggregator is not None else Aggregator()
        self.gap = gap or (lambda what, reason: None)
        # flow key -> (flow, sent by the client?); one table per transport, both directions
        self.tcp_flows: dict[bytes, tuple[Flow, bool]] = {}
        self.udp_flows: dict[bytes, tuple[Flow, bool]] = {}
        self.open_flows = 0
        self.frags = Fragments()
        self.dns_names: dict[bytes, str] = {}
        self.leases = Leases()
        self.buffered = 0
        self.now = 0.0
        self.packets = 0
        self.ip_packets = 0
        self.flow_count = 0
        self.bad_linktypes: set[int] = set()
        self._missing: set[str] = set()  # optional packages found missing (one coverage gap each)
        self.service_queries = dnsmod.ServiceQueries()
        self.ech_flows = 0
        self.ech_unattributed = 0
        self._provider_cache: dict[str, str | None] = {}
        self._local_cache: dict[tuple, tuple[str | None, Confidence]] = {}
        self._local_ports = {port for p in catalog.providers.values() if p.kind == "local" for port in p.ports}

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
        """Process ``(ts, linktype, frame)`` records; call ``tick`` every ``every`` packets.

        From a :class:`CaptureReader` on a classic pcap file, the records are read in place in
        the reader's windows of the file, without an object per record. Most packets of a
        capture belong to flows already inspected, or come from the server side: for Ethernet
        IPv4/IPv6 TCP and UDP those only update the flow's counters, here, without the general
        decoding path. The other TCP/UDP packets of that shape go straight to the transport
        handlers, their headers read once.
        """
        windows = records.pcap_windows() if isinstance(records, CaptureReader) else None
        in_place = windows is not None
        n = 0
        if in_place:
            window = next(windows, None)
            if window is None:  # not one whole record
                return
            header, unit, linktype, limit = window.header, window.unit, window.linktype, window.limit
            buf, pos, size, first, empty = window.buf, window.pos, len(window.buf), n, 0
        else:
            source = iter(records)
        tcp_get, udp_get = self.tcp_flows.get, self.udp_flows.get
        packet, tcp, udp, eth_ipv4, eth_ipv6 = self.packet, self._tcp, self._udp, _ETH_IPV4_TCP, _ETH_IPV6_TCP
        counted = self.packets  # packet() counts the packets it takes; this loop adds the others (IP all)
        every = every or SWEEP_EVERY
        while True:
            # the next frame: buf[start:start + incl]
            if in_place:  # the next record of the pcap window
                try:
                    sec, frac, incl = header(buf, pos)
                except struct.error:  # fewer than 16 bytes left: a length no record has ends the window
                    incl = limit + 1
                start = pos + 16
                if start + incl > size or incl > limit:  # the reader takes over at the window's end
                    window.pos, window.count = pos, n - first + empty
                    window = next(windows, None)
                    if window is None:
                        break
                    buf, pos, size, first, empty = window.buf, window.pos, len(window.buf), n, 0
                    continue
                pos = start + incl
                if not incl:  # an empty record: no packet
                    empty += 1
                    continue
                ts = sec + frac * unit
            else:
                try:
                    ts, linktype, buf = next(source)
                except StopIteration:
                    break
                start, incl = 0, len(buf)
            n += 1
            if n & 0x3FFF == 0:
                taken = n - 1 - (self.packets - counted)
                self.packets += taken
                self.ip_packets += taken
                if ts > self.now:
                    self.now = ts
                if n % SWEEP_EVERY == 0:
                    self.expire()
                if tick and n % every == 0:
                    tick()
            if linktype != 1 or incl < 54:
                packet(ts, linktype, buf[start:start + incl])
                continue
            # Ethernet + IPv4 without options or fragments, or + IPv6; then TCP or UDP
            etype, version, end, fragment, proto, key, doff, flags = eth_ipv4(buf, start)
            if etype == 0x0800 and version == 0x45 and not fragment & 0x3FFF:
                off = 34
                end += 14
            elif etype == 0x86DD and version >> 4 == 6 and incl >= 74:
                off = 54
                end, proto, key, doff, flags = eth_ipv6(buf, start)
                end += 54
            else:
                packet(ts, linktype, buf[start:start + incl])
                continue
            if proto == 6:
                entry = tcp_get(key)
                if entry is not None and end > off:
                    flow, from_client = entry
                    payload = end - off - (doff >> 4) * 4
                    if from_client:  # a bare ACK or an inspected flow; not a SYN (port reuse)
                        skip = (flow.mode == M_DONE or payload == 0) and not flags & TCP_SYN
                    else:
                        skip = flow.server_buf is None
                    if skip:
                        flow.last = ts
                        flow.bytes += payload
                        continue
            elif proto == 17:
                entry = udp_get(key)
                if entry is not None and end > off:
                    flow, from_client = entry
                    payload = end - off - 8
                    # from the client only a long header padded as an Initial may open a new QUIC connection
                    if not from_client or (flow.mode == M_DONE and (not buf[start + off + 8] & 0x80
                                                                    or (0 <= payload < 1200 and end <= incl))):
                        flow.last = ts
                        flow.bytes += payload
                        continue
            frame = buf[start:start + incl]
            if (proto == 6 or proto == 17) and off < end <= incl:  # as decode() would: source MAC last
                if ts > self.now:
                    self.now = ts
                alen = 4 if off == 34 else 16
                (tcp if proto == 6 else udp)(ts, key[:alen], key[alen:2 * alen], frame, off, end, frame[6:12])
            else:  # other protocols, a frame cut short, TSO's zero IP length ...
                packet(ts, linktype, frame)
        taken = n - (self.packets - counted)
        self.packets += taken
        self.ip_packets += taken

    def packet(self, ts: float, linktype: int, frame: bytes) -> None:
        """One frame through the general path (any link type, fragments, inspection)."""
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
        """One decoded IP packet to its TCP or UDP handler."""
        self.packets += 1
        self.ip_packets += 1
        if ts > self.now:
            self.now = ts
        if proto == 6:
            self._tcp(ts, src, dst, buf, off, end, mac)
        elif proto == 17:
            self._udp(ts, src, dst, buf, off, end, mac)

    def _tcp(self, ts: float, src: bytes, dst: bytes, buf: bytes, off: int, end: int, mac: bytes) -> None:
        if end - off < 20:
            return
        sport = (buf[off] << 8) | buf[off + 1]
        dport = (buf[off + 2] << 8) | buf[off + 3]
        doff = (buf[off + 12] >> 4) * 4
        flags = buf[off + 13]
        plen = end - off - doff
        if plen < 0 or doff < 20:
            return
        entry = self.tcp_flows.get(src + dst + buf[off:off + 4])
        flow = entry[0] if entry else None
        syn_only = flags & (TCP_SYN | TCP_ACK) == TCP_SYN
        if flow is not None and syn_only and flow.client == src and flow.bytes:
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
            client_is_src = dport in self._local_ports or dport < sport or dport in (443, 80, DNS_PORT)
        if client_is_src:
            flow = Flow(src, sport, dst, dport, False, ts)
        else:
            flow = Flow(dst, dport, src, sport, False, ts)
        if flow.sport == DNS_PORT:
            flow.server_buf = dnsmod.TcpDnsStream()
        self._register(flow)
        return flow

    def _register(self, flow: Flow) -> None:
        """Add a flow under both directions' keys; past MAX_FLOWS the oldest flow is closed first."""
        if self.open_flows >= MAX_FLOWS:
            oldest = [t for t in (self.tcp_flows, self.udp_flows) if t]
            self._close(next(iter(max(oldest, key=len).values()))[0])
        table = self.udp_flows if flow.udp else self.tcp_flows
        table[flow.key] = (flow, True)
        table[flow.reverse_key] = (flow, False)
        self.open_flows += 1
        self.flow_count += 1

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

    def _inspect(self, flow: Flow) -> None:
        while flow.mode != M_DONE:
            data = bytes(flow.buf[flow.pos:]) if flow.pos else bytes(flow.buf)
            if not data:
                return
            if flow.mode == M_NEW:
                if tls.looks_like_tls(data):
                    flow.mode = M_TLS
                elif httpmod.looks_like_http(data):
                    flow.mode = M_HTTP
                elif (h2 := httpmod.starts_h2(data)) is True:
                    flow.mode = M_H2
                elif h2:  # the first bytes of the h2c preface: wait for the rest
                    return
                elif flow.sport == DNS_PORT:
                    flow.mode = M_DNS
                else:
                    self._done(flow)
                    return
            full = len(flow.buf) >= INSPECT_LIMIT or self.buffered > MAX_BUFFERED
            if flow.mode == M_TLS:
                msg = tls.handshake_from_records(data)
                if msg == tls.NEED_MORE and not full:
                    return
                if isinstance(msg, bytes):
                    flow.hello = tls.parse_client_hello(msg, "t")
                self._done(flow)
                return
            if flow.mode == M_HTTP:
                upgraded = httpmod.starts_h2(data)  # h2c after 'Upgrade: h2c' starts with the preface
                if upgraded is True:
                    flow.mode = M_H2
                    continue
                if upgraded and not full:
                    return
                req = httpmod.parse_request(data, final=full, keys=self.key_headers)
                if req == httpmod.NEED_MORE:
                    return
                if not isinstance(req, httpmod.HttpRequest):
                    self._done(flow)
                    return
                self._http_hit(flow, req)
                flow.pos += req.consumed
                if req.method == "CONNECT":
                    flow.mode = M_NEW  # the tunnelled ClientHello follows the proxy's reply
                elif flow.pos >= len(flow.buf) or full:
                    if full or flow.pos > len(flow.buf):
                        self._done(flow)
                    return
                continue
            if flow.mode == M_DNS:
                messages, flow.pos = dnsmod.tcp_messages(flow.buf, flow.pos)
                for raw in messages:
                    self._dns_message(flow.last, flow.client, raw)
                if full:
                    self._done(flow)
                return
            if flow.mode == M_H2:
                self._h2(flow, data, full)
                return

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
        if end - off < 8:
            return
        sport = (buf[off] << 8) | buf[off + 1]
        dport = (buf[off + 2] << 8) | buf[off + 3]
        if sport in DHCP_PORTS and dport in DHCP_PORTS:
            lease = parse_dhcp(buf[off + 8:end])
            if lease is not None:
                self.leases.add(lease)
            return
        if sport == DNS_PORT or dport == DNS_PORT:
            msg = dnsmod.parse_dns(buf[off + 8:end])
            if msg is not None:
                self._dns(ts, src if not msg.response else dst, msg)
            return
        entry = self.udp_flows.get(src + dst + buf[off:off + 4])
        flow = entry[0] if entry else None
        plen = end - off - 8
        if flow is not None and entry[1] and flow.mode == M_DONE and plen >= 1200 and self._new_quic_connection(
                flow, buf[off + 8:end]):
            self._close(flow)  # the client port is reused for a new QUIC connection
            flow = None
        if flow is None:
            long_header = plen > 0 and buf[off + 8] & 0xC0 == 0xC0
            if long_header and plen >= 1200:  # a client Initial datagram is padded to 1200 bytes
                flow = Flow(src, sport, dst, dport, True, ts)
                flow.mode = M_QUIC
                flow.started = True
            elif dport == 443 or sport == 443:
                flow = Flow(src, sport, dst, dport, True, ts) if dport == 443 else Flow(dst, dport, src, sport, True, ts)
                flow.mode = M_DONE
            else:
                return
            self._register(flow)
        flow.last = ts
        flow.bytes += plen
        if flow.mode == M_QUIC and src == flow.client:
            if mac and not flow.mac and mac != ZERO_MAC:
                flow.mac = mac
            self._quic_datagram(flow, buf[off + 8:end])

    @staticmethod
    def _new_quic_connection(flow: Flow, datagram: bytes) -> bool:
        """A client Initial under a new DCID whose CRYPTO data starts over: a new connection.

        The client's later Initials (to the server's chosen ID, or after a Retry) keep its own
        Source Connection ID: those are the same connection, told apart without any decryption.
        """
        head = quic.initial_header(datagram) if quic.AVAILABLE and flow.dcid else None
        if head is None or head[1] == flow.dcid:
            return False
        if flow.scid and quic.source_cid(datagram) == flow.scid:
            return False
        keys = quic.client_initial_keys(*head)
        return any(offset == 0 for offset, _ in quic.crypto_frames(datagram, lambda v, d: keys))

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
            name, port = httpmod.split_host_port(req.target, 443)
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
        prefix = fmt.prefixes[0] if fmt and fmt.prefixes else ""
        if is_placeholder(secret, prefix):
            return None
        return redact.credential(secret, fmt.id if fmt else None, bool(fmt and fmt.admin))

    # ---- flow end -----------------------------------------------------------------

    def expire(self) -> None:
        """Close flows idle for IDLE_SECONDS of capture time."""
        cutoff = self.now - IDLE_SECONDS
        for table in (self.tcp_flows, self.udp_flows):
            for flow, _ in [e for e in table.values() if e[1] and e[0].last < cutoff]:
                self._close(flow)

    def finish(self) -> None:
        for table in (self.tcp_flows, self.udp_flows):
            for flow, _ in [e for e in table.values() if e[1]]:
                self._close(flow)
        self.frags = Fragments()

    def _close(self, flow: Flow) -> None:
        table = self.udp_flows if flow.udp else self.tcp_flows
        if table.pop(flow.key, None) is None:
            return
        table.pop(flow.reverse_key, None)
        self.open_flows -= 1
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
                "mac": mac_text(flow.mac) if flow.mac else None, "client_ip": ip_text(flow.client)}
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
