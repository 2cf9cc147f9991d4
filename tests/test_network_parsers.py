"""Unit tests of the hand parsers: TLS ClientHello/JA4, QUIC Initial keys, DNS, HTTP, pcapng details."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from detectors.network import dns, http, quic, tls
from detectors.network.packet import Fragments, decode
from detectors.network.reader import CaptureReader
from scanner.catalog import Catalog


def ext(etype: int, data: bytes) -> bytes:
    return struct.pack(">HH", etype, len(data)) + data


def client_hello(sni: str | None = "api.openai.com", alpn: list[str] = ("h2", "http/1.1"),
                 ciphers: list[int] = (0x0A0A, 0x1301, 0x1302, 0xC02B), versions: list[int] = (0x2A2A, 0x0304, 0x0303),
                 sigalgs: list[int] = (0x0403, 0x0804), extra: list[int] = (0x1A1A, 0x000A, 0x0017)) -> bytes:
    exts = b""
    for e in extra:
        exts += ext(e, b"")
    if sni is not None:
        name = sni.encode()
        exts += ext(0, struct.pack(">HBH", len(name) + 3, 0, len(name)) + name)
    if alpn:
        body = b"".join(bytes([len(a)]) + a.encode() for a in alpn)
        exts += ext(0x10, struct.pack(">H", len(body)) + body)
    exts += ext(0x0D, struct.pack(">H", 2 * len(sigalgs)) + b"".join(struct.pack(">H", s) for s in sigalgs))
    exts += ext(0x2B, bytes([2 * len(versions)]) + b"".join(struct.pack(">H", v) for v in versions))
    body = (b"\x03\x03" + b"\x11" * 32 + b"\x20" + b"\x22" * 32
            + struct.pack(">H", 2 * len(ciphers)) + b"".join(struct.pack(">H", c) for c in ciphers)
            + b"\x01\x00" + struct.pack(">H", len(exts)) + exts)
    return b"\x01" + len(body).to_bytes(3, "big") + body


def records(msg: bytes, cut: int | None = None) -> bytes:
    """TLS handshake records carrying ``msg``; ``cut`` splits it over two records."""
    parts = [msg] if cut is None else [msg[:cut], msg[cut:]]
    return b"".join(b"\x16\x03\x01" + struct.pack(">H", len(p)) + p for p in parts)


def test_client_hello_fields_and_ja4() -> None:
    hello = tls.parse_client_hello(client_hello())
    assert hello.sni == "api.openai.com" and hello.alpn == ("h2", "http/1.1")
    a, b, c = hello.ja4.split("_")
    # TLS 1.3, SNI present, 3 ciphers and 6 extensions without GREASE, ALPN h2
    assert a == "t13d0306h2"
    assert b == hashlib.sha256(b"1301,1302,c02b").hexdigest()[:12]
    assert c == hashlib.sha256(b"000a,000d,0017,002b_0403,0804").hexdigest()[:12]


def test_ja4_without_sni_or_alpn_and_quic_prefix() -> None:
    hello = tls.parse_client_hello(client_hello(sni=None, alpn=[]), "q")
    assert hello.sni is None and hello.ja4.startswith("q13i0304" + "00")


def test_handshake_reassembled_across_records_and_segments() -> None:
    msg = client_hello()
    data = records(msg, cut=50)
    assert tls.handshake_from_records(data) == msg
    for n in (0, 3, 5, 30, 60, len(data) - 1):
        assert tls.handshake_from_records(data[:n]) == tls.NEED_MORE
    assert tls.handshake_from_records(b"\x17\x03\x03\x00\x10" + b"x" * 16) is None


def test_malformed_hello_returns_none() -> None:
    msg = bytearray(client_hello())
    for cut in range(5, len(msg), 7):
        tls.parse_client_hello(bytes(msg[:cut]))  # never raises
    msg[4 + 2 + 32] = 0xFF  # session id length far beyond the message
    assert tls.parse_client_hello(bytes(msg)) is None


def test_quic_initial_keys_rfc9001_and_rfc9369() -> None:
    dcid = bytes.fromhex("8394c8f03e515708")
    v1 = quic.client_initial_keys(quic.V1, dcid)
    assert (v1.key.hex(), v1.iv.hex(), v1.hp.hex()) == (
        "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2")
    v2 = quic.client_initial_keys(quic.V2, dcid)
    assert (v2.key.hex(), v2.iv.hex(), v2.hp.hex()) == (
        "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9")


def test_quic_garbage_is_ignored() -> None:
    keys = lambda v, d: quic.client_initial_keys(v, d)  # noqa: E731
    datagram = bytes([0xC3]) + b"\x00\x00\x00\x01" + b"\x08" + b"\x01" * 8 + b"\x00\x00" + b"\x44\xd0" + b"\x00" * 1200
    assert quic.crypto_frames(datagram, keys) == []  # AEAD tag does not verify
    assert quic.initial_header(b"\x40\x00") is None
    assert quic.assemble({5: b"later"}) == b""
    assert quic.assemble({0: b"abc", 2: b"cdef"}) == b"abcdef"


def dns_query(name: str, qid: int = 7) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + b"\x00\x01\x00\x01"


def test_dns_answers_map_to_the_queried_name_through_cnames() -> None:
    query = dns_query("api.openai.com")
    question = query[12:]
    cname_target = b"\x03cdn\x07example\x03net\x00"
    answers = (b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 60, len(cname_target)) + cname_target
               + b"\xc0\x2c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([198, 18, 0, 7]))
    resp = struct.pack(">HHHHHH", 7, 0x8180, 1, 2, 0, 0) + question + answers
    msg = dns.parse_dns(resp)
    assert msg.response and msg.questions == ["api.openai.com"]
    assert msg.answers == [(bytes([198, 18, 0, 7]), "api.openai.com")]


def test_dns_pointer_loop_and_truncation() -> None:
    loop = struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    assert dns.parse_dns(loop) is None
    q = dns_query("api.anthropic.com")
    for n in range(len(q)):
        assert dns.parse_dns(q[:n]) is None or n == len(q)
    assert dns.parse_dns(q).questions == ["api.anthropic.com"]


def test_http_request_fields() -> None:
    body = b'{"model": "llama3.2", "stream": false}'
    raw = (b"POST /api/chat?x=1 HTTP/1.1\r\nHost: gpu-box:11434\r\nUser-Agent: ollama-python/0.4\r\n"
           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert http.parse_request(raw[:-5]) == http.NEED_MORE
    req = http.parse_request(raw)
    assert (req.method, req.path, req.host, req.model, req.user_agent) == (
        "POST", "/api/chat", "gpu-box:11434", "llama3.2", "ollama-python/0.4")
    assert req.consumed == len(raw)
    cut = http.parse_request(raw[:-5], final=True)
    assert cut.model == "llama3.2"  # the regex still finds it in a partial body


def test_http_connect_and_absolute_form() -> None:
    req = http.parse_request(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n")
    assert req.method == "CONNECT" and http.split_host_port(req.target, 443) == ("api.openai.com", 443)
    req = http.parse_request(b"GET http://api.groq.com/openai/v1/models HTTP/1.1\r\n\r\n")
    assert req.host == "api.groq.com" and req.path == "/openai/v1/models"
    assert http.split_host_port("[::1]:8000", 80) == ("::1", 8000)
    assert http.parse_request(b"HELLO world\r\n\r\n") is None


def test_http_key_header_is_returned_once_for_fingerprinting() -> None:
    keys = http.key_headers(Catalog.load().auth_headers)  # which headers carry keys is catalogue data
    req = http.parse_request(b"GET /v1/models HTTP/1.1\r\nAuthorization: Bearer abc123\r\n\r\n", keys=keys)
    assert req.secret == "abc123"
    req = http.parse_request(b"GET /v1/models HTTP/1.1\r\nAuthorization: Basic abc123\r\n\r\n", keys=keys)
    assert req.secret is None
    req = http.parse_request(b"POST /v1/messages HTTP/1.1\r\nX-Api-Key: sk-ant-xyz\r\n\r\n", keys=keys)
    assert req.secret == "sk-ant-xyz"
    assert http.parse_request(b"POST /v1/messages HTTP/1.1\r\nX-Api-Key: sk-ant-xyz\r\n\r\n").secret is None


def test_ipv6_extension_headers_and_fragments() -> None:
    src, dst = b"\xfd" + b"\x00" * 14 + b"\x01", b"\xfd" + b"\x00" * 14 + b"\x02"
    udp = struct.pack(">HHHH", 5353, 53, 8 + 4, 0) + b"abcd"
    hop = bytes([17, 0]) + b"\x00" * 6  # hop-by-hop options, then UDP
    ip6 = struct.pack(">IHBB", 0x60000000, len(hop) + len(udp), 0, 64) + src + dst + hop + udp
    d = decode(101, ip6, Fragments())
    assert d[2] == 17 and d[3][d[4]:d[5]] == udp
    frags = Fragments()
    first = bytes([17, 0]) + struct.pack(">HI", 0 | 1, 99) + udp[:8]
    second = bytes([17, 0]) + struct.pack(">HI", 8, 99) + udp[8:]
    pkt = lambda fh: struct.pack(">IHBB", 0x60000000, len(fh), 44, 64) + src + dst + fh  # noqa: E731
    assert decode(101, pkt(second), frags) is None
    d = decode(101, pkt(first), frags)
    assert d[2] == 17 and d[3][d[4]:d[5]] == udp


def test_pcapng_tsresol_and_multiple_sections(tmp_path: Path) -> None:
    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb_ns = block(1, struct.pack("<HHI", 101, 0, 65535) + struct.pack("<HHB3x", 9, 1, 9) + b"\x00" * 4)
    pkt = b"\x45" + b"\x00" * 19
    ts = 1_700_000_000_123_456_789
    epb = block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(pkt), len(pkt)) + pkt)
    spb = block(3, struct.pack("<I", len(pkt)) + pkt)
    path = tmp_path / "x.pcapng"
    path.write_bytes(shb + idb_ns + epb + spb + shb + block(1, struct.pack("<HHI", 1, 0, 0)))
    reader = CaptureReader(str(path))
    got = list(reader)
    assert reader.problem is None and len(got) == 2
    assert abs(got[0][0] - 1_700_000_000.123456789) < 1e-6 and got[0][1] == 101 and got[0][2] == pkt


def test_pcapng_tsoffset_is_added_to_every_timestamp(tmp_path: Path) -> None:
    """if_tsoffset (option 14) is seconds added to the interface's timestamps, with if_tsresol or without."""
    def block(btype: int, body: bytes, e: str) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)

    pkt = b"\x45" + b"\x00" * 19
    for e in "<>":
        shb = block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)
        offset = struct.pack(e + "HHq", 14, 8, 1_600_000_000)
        idb_ms = block(1, struct.pack(e + "HHI", 101, 0, 65535) + struct.pack(e + "HHB3x", 9, 1, 3) + offset
                       + b"\x00" * 4, e)
        idb_us = block(1, struct.pack(e + "HHI", 101, 0, 65535) + struct.pack(e + "HHq", 14, 8, 1_700_000_000)
                       + b"\x00" * 4, e)
        ms, us = 123_456_789, 500_000  # the second interface counts from its offset

        def epb(iface: int, ts: int) -> bytes:
            return block(6, struct.pack(e + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(pkt), len(pkt)) + pkt, e)

        path = tmp_path / f"off{e == '>'}.pcapng"
        path.write_bytes(shb + idb_ms + idb_us + epb(0, ms) + epb(1, us))
        reader = CaptureReader(str(path))
        got = [ts for ts, _, _ in reader]
        assert reader.problem is None
        assert abs(got[0] - (1_600_000_000 + 123_456.789)) < 1e-3
        assert abs(got[1] - 1_700_000_000.5) < 1e-6


# ---- DNS over TCP ----------------------------------------------------------------------------

def _dns_tcp(msg: bytes) -> bytes:
    return struct.pack(">H", len(msg)) + msg


def _dns_response(query: bytes, rtype: int, rdata: bytes) -> bytes:
    flags_counts = struct.pack(">HHHH", 0x8180, 1, 1, 0) + b"\x00\x00"
    return query[:2] + flags_counts + query[12:] + b"\xc0\x0c" + struct.pack(">HHIH", rtype, 1, 60, len(rdata)) + rdata


def test_tcp_dns_stream_reorders_and_drops_repeats() -> None:
    messages = [dns_query("api.openai.com", 1), dns_query("api.anthropic.com", 2), dns_query("api.groq.com", 3)]
    stream = b"".join(_dns_tcp(m) for m in messages)
    base = 5000
    pieces = [(0, 1), (1, 20), (20, 40), (40, 41), (41, len(stream))]
    # later pieces first, a repeat, and one piece re-sent over a wider range (repacketised)
    order = [pieces[2], pieces[4], pieces[0], pieces[2], pieces[1], (15, 45), pieces[3], pieces[4]]
    s = dns.TcpDnsStream()
    s.start(base - 1)
    out = []
    for a, b in order:
        out += s.segment((base + a) & 0xFFFFFFFF, stream[a:b])
    assert out == messages and not s.pending and not s.buf
    wrap = dns.TcpDnsStream()  # sequence numbers that wrap past 2**32
    first = 0xFFFFFFFF - 10
    wrap.start(first - 1)
    assert wrap.segment((first + 30) & 0xFFFFFFFF, stream[30:]) == []
    assert wrap.segment(first, stream[:30]) == messages


def test_tcp_dns_out_of_order_in_a_capture(tmp_path: Path) -> None:
    """Queries and answers over TCP with reordered and repeated segments; the answer then names a
    TLS connection without SNI, and the engine holds no bytes once done."""
    from detectors.network import engine as eng
    from scanner.catalog import Catalog
    from tests.fixtures.network_util import ether, ipv4_tcp, scan, summary, tcp_session, write_pcap
    client, server, cport = "10.0.1.5", "10.0.0.53", 45000
    q_a, q_aaaa = dns_query("api.openai.com", 11), dns_query("api.openai.com", 12)
    q_aaaa = q_aaaa[:-4] + b"\x00\x1c\x00\x01"
    r_a = _dns_response(q_a, 1, bytes([104, 18, 0, 1]))
    r_aaaa = _dns_response(q_aaaa, 28, bytes.fromhex("26064700000000000000000068120001"))
    up, down = _dns_tcp(q_a) + _dns_tcp(q_aaaa), _dns_tcp(r_a) + _dns_tcp(r_aaaa)
    cseq, sseq, t = 1000, 9000, 1_700_000_000.0

    def seg(src: str, dst: str, sp: int, dp: int, seq: int, data: bytes, flags: int = 0x18) -> bytes:
        return ether(ipv4_tcp(src, dst, sp, dp, seq, data, flags=flags))

    frames_ = [seg(client, server, cport, 53, cseq - 1, b"", 0x02), seg(server, client, 53, cport, sseq - 1, b"", 0x12)]
    c_cuts, s_cuts = [0, 1, 25, 33, len(up)], [0, 2, 30, 47, len(down)]
    c_pieces = [(c_cuts[i], c_cuts[i + 1]) for i in range(4)]
    s_pieces = [(s_cuts[i], s_cuts[i + 1]) for i in range(4)]
    for a, b in [c_pieces[1], c_pieces[3], c_pieces[0], c_pieces[1], c_pieces[2]]:
        frames_.append(seg(client, server, cport, 53, cseq + a, up[a:b]))
    for a, b in [s_pieces[2], s_pieces[0], s_pieces[3], s_pieces[0], (1, 40), s_pieces[1]]:
        frames_.append(seg(server, client, 53, cport, sseq + a, down[a:b]))
    hello = records(client_hello(sni=None))
    records_ = [(t + i * 0.001, f) for i, f in enumerate(frames_)]
    records_ += tcp_session(client, "104.18.0.1", 41000, 443, hello, ts=t + 1)
    path = write_pcap(tmp_path / "tcpdns.pcap", 1, records_)
    got = summary(scan(path)[0])
    assert set(got) == {("dns-attributed", client, "api.openai.com")}
    assert got[("dns-attributed", client, "api.openai.com")].details["dns_lookups"] == 2
    engine = eng.Engine(Catalog.load(), "tcpdns")
    engine.feed((ts, 1, f) for ts, f in records_)
    assert engine.dns_names == {bytes([104, 18, 0, 1]): "api.openai.com",
                                bytes.fromhex("26064700000000000000000068120001"): "api.openai.com"}
    engine.finish()
    assert engine.buffered == 0


# ---- live capture: loopback echoes -------------------------------------------------------------

def test_live_loopback_frames_are_counted_once() -> None:
    """Linux loopback hands each frame over leaving (PACKET_OUTGOING) and arriving: one copy counts,
    even when the copies of several frames interleave."""
    from detectors.network import live
    from detectors.network.engine import Engine
    from scanner.catalog import Catalog
    from tests.fixtures.network_util import tcp_session
    hello = records(client_hello())
    session = tcp_session("127.0.0.1", "127.0.0.2", 40000, 443, hello, segment=200)
    leaving = ("lo", 0x0800, live.PACKET_OUTGOING, live.ARPHRD_LOOPBACK, b"\x00" * 6)
    arriving = ("lo", 0x0800, 0, live.ARPHRD_LOOPBACK, b"\x00" * 6)
    received = []
    for (t1, f1), (t2, f2) in zip(session[::2], session[1::2] + [(0.0, b"")]):
        received += [(f1, t1, leaving), (f2, t2, leaving), (f1, t1, arriving), (f2, t2, arriving)]
    engine = Engine(Catalog.load(), "live:lo")
    live.feed(engine, 1, received)
    engine.finish()
    (rec,) = engine.agg.records.values()
    assert (rec.kind, rec.name, rec.bytes, rec.connections) == ("tls-sni", "api.openai.com", len(hello), 1)
    assert engine.packets == len(session)
    assert not live.loopback_echo(("eth0", 0x0800, live.PACKET_OUTGOING, 1, b"\x02" * 6))  # this host's own traffic
    assert not live.loopback_echo(arriving) and not live.loopback_echo(None)
