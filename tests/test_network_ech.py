"""ECH (Encrypted Client Hello): the extension is seen, and such connections are named through DNS."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

from detectors.network import dns, tls
from detectors.network.detector import iso
from scanner.model import Confidence
from tests.fixtures.network_util import ether, ipv4_checksum, scan, summary, tcp_session, write_pcap

T0 = 1_700_000_000.0
PUBLIC_NAME = "cloudflare-ech.com"
TYPE_A, TYPE_HTTPS = 1, 65


def ext(etype: int, data: bytes) -> bytes:
    return struct.pack(">HH", etype, len(data)) + data


def ech_outer_extension() -> bytes:
    """An ECHClientHello of type outer (RFC 9849 §5): HPKE suite, config id, enc, encrypted inner hello."""
    enc = os.urandom(32)  # an X25519 public key
    payload = os.urandom(240)  # the encrypted ClientHelloInner
    body = (b"\x00" + struct.pack(">HH", 0x0001, 0x0001) + b"\x2a"
            + struct.pack(">H", len(enc)) + enc + struct.pack(">H", len(payload)) + payload)
    return ext(tls.EXT_ECH, body)


def client_hello(sni: str, ech: bool) -> bytes:
    """A TLS 1.3 ClientHello record as a browser sends it, with or without the ECH extension."""
    name = sni.encode()
    exts = (ext(0x0000, struct.pack(">HBH", len(name) + 3, 0, len(name)) + name)
            + ext(0x0010, b"\x00\x0c\x02h2\x08http/1.1")
            + ext(0x000A, b"\x00\x04\x00\x1d\x00\x17")
            + ext(0x000D, b"\x00\x04\x04\x03\x08\x04")
            + ext(0x002B, b"\x04\x03\x04\x03\x03")
            + ext(0x0033, b"\x00\x26\x00\x1d\x00\x20" + os.urandom(32)))
    if ech:
        exts += ech_outer_extension()
    body = (b"\x03\x03" + os.urandom(32) + b"\x20" + os.urandom(32) + b"\x00\x04\x13\x01\x13\x02"
            + b"\x01\x00" + struct.pack(">H", len(exts)) + exts)
    msg = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(msg)) + msg


def qname(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"


def dns_query(name: str, qtype: int, qid: int = 1) -> bytes:
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname(name) + struct.pack(">HH", qtype, 1)


def dns_answer_a(name: str, address: str, qid: int = 1) -> bytes:
    question = qname(name) + struct.pack(">HH", TYPE_A, 1)
    answer = b"\xc0\x0c" + struct.pack(">HHIH", TYPE_A, 1, 300, 4) + socket.inet_aton(address)
    return struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer


def dns_answer_https(name: str, ipv4_hints: list[str], qid: int = 1) -> bytes:
    """An HTTPS record (RFC 9460): priority 1, target '.', alpn h2, an ech config, ipv4hint."""
    params = (struct.pack(">HH", 1, 3) + b"\x02h2"
              + struct.pack(">HH", 5, 8) + os.urandom(8)
              + struct.pack(">HH", 4, 4 * len(ipv4_hints)) + b"".join(socket.inet_aton(a) for a in ipv4_hints))
    rdata = struct.pack(">H", 1) + b"\x00" + params
    question = qname(name) + struct.pack(">HH", TYPE_HTTPS, 1)
    answer = b"\xc0\x0c" + struct.pack(">HHIH", TYPE_HTTPS, 1, 300, len(rdata)) + rdata
    return struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """An Ethernet + IPv4 + UDP frame."""
    datagram = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    head = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(datagram), 1, 0, 64, 17, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
    head = head[:10] + struct.pack(">H", ipv4_checksum(head)) + head[12:]
    return ether(head + datagram)


def lookup(client: str, name: str, qtype: int, ts: float, answer: bytes | None = None) -> list[tuple[float, bytes]]:
    out = [(ts, udp(client, "10.0.0.53", 5353, 53, dns_query(name, qtype)))]
    if answer is not None:
        out.append((ts + 0.01, udp("10.0.0.53", client, 53, 5353, answer)))
    return out


def capture(tmp_path: Path, records: list[tuple[float, bytes]]) -> Path:
    return write_pcap(tmp_path / "ech.pcap", 1, sorted(records, key=lambda r: r[0]))


# ---- parser ------------------------------------------------------------------------------------

def test_client_hello_with_ech_extension() -> None:
    msg = tls.handshake_from_records(client_hello(PUBLIC_NAME, ech=True))
    hello = tls.parse_client_hello(msg)
    assert hello.ech and hello.sni == PUBLIC_NAME and hello.alpn == ("h2", "http/1.1")
    plain = tls.parse_client_hello(tls.handshake_from_records(client_hello("api.openai.com", ech=False)))
    assert not plain.ech and plain.sni == "api.openai.com"
    assert hello.ja4.split("_")[0] != plain.ja4.split("_")[0]  # one more extension counted


def test_https_record_query_type_and_address_hints() -> None:
    query = dns.parse_dns(dns_query("api.openai.com", TYPE_HTTPS))
    assert query.questions == ["api.openai.com"] and query.qtypes == [TYPE_HTTPS]
    port_prefixed = dns.parse_dns(dns_query("_8443._https.api.openai.com", TYPE_HTTPS))
    assert port_prefixed.questions == ["api.openai.com"]
    answer = dns.parse_dns(dns_answer_https("api.openai.com", ["104.18.0.2", "104.18.0.3"]))
    assert answer.answers == [(socket.inet_aton("104.18.0.2"), "api.openai.com"),
                              (socket.inet_aton("104.18.0.3"), "api.openai.com")]
    alias = struct.pack(">H", 0) + qname("svc.example.net")  # AliasMode: no addresses
    assert dns._address_hints(alias) == []
    raw = dns_answer_https("api.openai.com", ["104.18.0.2"])
    for cut in range(len(raw)):
        dns.parse_dns(raw[:cut])  # never raises


# ---- capture -----------------------------------------------------------------------------------

def test_ech_connection_attributed_by_the_dns_answer(tmp_path: Path) -> None:
    records = lookup("10.0.0.5", "api.openai.com", TYPE_A, T0, dns_answer_a("api.openai.com", "104.18.0.1"))
    records += tcp_session("10.0.0.5", "104.18.0.1", 41000, 443, client_hello(PUBLIC_NAME, ech=True), ts=T0 + 1)
    findings, coverage = scan(capture(tmp_path, records))
    got = summary(findings)
    assert set(got) == {("ech", "10.0.0.5", "api.openai.com")}
    f = got[("ech", "10.0.0.5", "api.openai.com")]
    assert (f.provider, f.confidence) == ("openai", Confidence.MEDIUM)
    assert f.details["ech"] is True and f.details["outer_sni"] == PUBLIC_NAME
    assert f.details["attributed_by"] == ["dns-answer"] and f.details["dns_lookups"] == 1
    assert f.details["ja4"].startswith("t13d") and f.observed_at == iso(T0 + 1.003)
    assert "ECH" in f.evidence and PUBLIC_NAME in f.evidence and "DNS answer" in f.evidence
    assert coverage.scanned["ech_connections"] == 1 and coverage.scanned["ech_connections_unattributed"] == 0


def test_https_record_lookup_before_an_ech_connection(tmp_path: Path) -> None:
    """No address answer was captured; the client's HTTPS lookup just before names the server."""
    records = lookup("10.0.0.6", "api.anthropic.com", TYPE_HTTPS, T0)
    records += tcp_session("10.0.0.6", "198.51.100.7", 41001, 443, client_hello(PUBLIC_NAME, ech=True), ts=T0 + 0.5)
    # the same client 60 s later, long after its lookup: not attributed
    records += tcp_session("10.0.0.6", "198.51.100.8", 41002, 443, client_hello(PUBLIC_NAME, ech=True), ts=T0 + 60)
    findings, coverage = scan(capture(tmp_path, records))
    f = summary(findings)[("ech", "10.0.0.6", "api.anthropic.com")]
    assert (f.provider, f.confidence, f.details["connections"]) == ("anthropic", Confidence.LOW, 1)
    assert f.details["attributed_by"] == ["https-query"] and f.details["servers"] == ["198.51.100.7:443"]
    assert "HTTPS/SVCB record lookup" in f.evidence
    assert coverage.scanned["ech_connections"] == 2 and coverage.scanned["ech_connections_unattributed"] == 1


def test_https_answer_hints_and_lookup_agree(tmp_path: Path) -> None:
    answer = dns_answer_https("api.openai.com", ["104.18.0.2"])
    records = lookup("10.0.0.7", "api.openai.com", TYPE_HTTPS, T0, answer)
    records += tcp_session("10.0.0.7", "104.18.0.2", 41003, 443, client_hello(PUBLIC_NAME, ech=True), ts=T0 + 0.2)
    f = summary(scan(capture(tmp_path, records))[0])[("ech", "10.0.0.7", "api.openai.com")]
    assert f.confidence == Confidence.MEDIUM and f.details["attributed_by"] == ["dns-answer", "https-query"]


def test_unrelated_ech_traffic_is_counted_not_reported(tmp_path: Path) -> None:
    """A browser's ECH connections to sites outside the catalogue are no findings."""
    records = lookup("10.0.0.8", "www.example.org", TYPE_HTTPS, T0, dns_answer_https("www.example.org", ["104.18.9.9"]))
    for i in range(5):
        records += tcp_session("10.0.0.8", "104.18.9.9", 42000 + i, 443, client_hello(PUBLIC_NAME, ech=True),
                               ts=T0 + 1 + i)
    records += tcp_session("10.0.0.8", "104.18.9.10", 42100, 443, client_hello("www.example.org", ech=False),
                           ts=T0 + 7)
    findings, coverage = scan(capture(tmp_path, records))
    assert findings == []
    assert coverage.scanned["ech_connections"] == 5 and coverage.scanned["ech_connections_unattributed"] == 5
    assert coverage.complete


def test_grease_ech_with_the_real_name_stays_a_plain_sni_finding(tmp_path: Path) -> None:
    """Browsers send a GREASE ECH extension next to the real SNI when a name has no ECH config."""
    records = tcp_session("10.0.0.9", "104.18.0.1", 41004, 443, client_hello("api.openai.com", ech=True), ts=T0)
    findings, coverage = scan(capture(tmp_path, records))
    (f,) = findings
    assert (f.kind, f.confidence, f.details["sni"]) == ("tls-sni", Confidence.HIGH, "api.openai.com")
    assert "ech" not in f.details and "ech_connections" not in coverage.scanned


def test_non_ech_connection_with_an_unrelated_sni_is_not_attributed(tmp_path: Path) -> None:
    """Without ECH the SNI is the real name: an address shared with an LLM host does not make it one."""
    records = lookup("10.0.0.10", "api.openai.com", TYPE_A, T0, dns_answer_a("api.openai.com", "104.18.0.1"))
    records += tcp_session("10.0.0.10", "104.18.0.1", 41005, 443, client_hello("www.example.org", ech=False),
                           ts=T0 + 1)
    got = summary(scan(capture(tmp_path, records))[0])
    assert set(got) == {("dns", "10.0.0.10", "api.openai.com")}
