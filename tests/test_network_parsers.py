"""Unit tests of the hand parsers: TLS ClientHello/JA4, QUIC Initial keys, DNS, HTTP, pcapng details."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from detectors.network import dns, http, quic, tls
from detectors.network.packet import Fragments, decode
from detectors.network.reader import CaptureReader


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
    req = http.parse_request(b"GET /v1/models HTTP/1.1\r\nAuthorization: Bearer abc123\r\n\r\n")
    assert req.secret == "abc123"
    req = http.parse_request(b"GET /v1/models HTTP/1.1\r\nAuthorization: Basic abc123\r\n\r\n")
    assert req.secret is None


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
