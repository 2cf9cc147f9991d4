"""The network detector against real captures of real traffic (tests/data/network) and their truth."""

from __future__ import annotations

import gzip
import socket
import shutil
import struct
from pathlib import Path

import pytest

from detectors.base import DetectorError
from detectors.network.reader import CaptureReader
from scanner.correlate import correlate
from tests.fixtures.network_util import (DATA, expected_findings, frames, scan, summary, tcp_session,
                                         write_pcap)

CAPTURES = ["loopback.pcap", "loopback.pcapng", "any-sll2.pcap"]


def check_against_truth(findings) -> None:
    got = summary(findings)
    want = expected_findings()
    assert set(got) == set(want), f"missing {set(want) - set(got)}, unexpected {set(got) - set(want)}"
    for key, truth in want.items():
        f = got[key]
        assert f.provider == truth["provider"], key
        if "connections" in truth:
            assert f.details["connections"] == truth["connections"], key
        if truth["kind"] == "dns":
            assert f.details["requests"] == truth["requests"], key
        if "model" in truth:
            assert f.model == truth["model"], key


@pytest.mark.parametrize("name", CAPTURES)
def test_fixture_capture_matches_truth(name: str) -> None:
    findings, coverage = scan(DATA / name)
    check_against_truth(findings)
    assert coverage.complete, coverage.gaps
    assert coverage.scanned["packets"] > 200


def test_linktypes_of_fixtures() -> None:
    assert {lt for _, lt, _ in frames(DATA / "loopback.pcap")} == {1}
    assert {lt for _, lt, _ in frames(DATA / "any-sll2.pcap")} == {276}
    assert CaptureReader(str(DATA / "loopback.pcapng")).format is None  # set while iterating
    reader = CaptureReader(str(DATA / "loopback.pcapng"))
    assert len(list(reader)) == len(frames(DATA / "loopback.pcap"))
    assert reader.format == "pcapng" and reader.problem is None


def test_details_timestamps_and_identity() -> None:
    got = summary(scan(DATA / "loopback.pcap")[0])
    openai = got[("tls-sni", "127.2.0.1", "api.openai.com")]
    ja4 = openai.details["ja4"]
    assert ja4.startswith("t13d") and openai.details["sni"] == "api.openai.com"
    assert openai.identity == sorted([f"net:127.2.0.1:{ja4}", "host:127.2.0.1"])
    assert openai.details["dns_lookups"] == 5  # A+AAAA before each connection, folded in
    assert openai.details["bytes"] > 1000 and openai.location.capture.endswith("loopback.pcap")
    assert openai.observed_at and openai.observed_at.startswith("20") and openai.observed_at.endswith("Z")
    assert openai.details["first_seen"] <= openai.details["last_seen"]
    quic = got[("quic-sni", "127.0.0.1", "api.anthropic.com")]
    assert quic.details["ja4"].startswith("q13d") and quic.details["alpns"] == ["h3"]
    nosni = got[("dns-attributed", "127.2.0.2", "api.anthropic.com")]
    assert nosni.details["ja4"].startswith("t13i")  # 'i': no SNI in the ClientHello
    ollama = got[("local-model-server", "127.2.0.2", "localhost:11434")]
    assert ollama.details["paths"] == ["/api/chat"] and ollama.details["fingerprint"].startswith("ua-")


def test_one_tls_stack_calling_several_providers_is_one_agent() -> None:
    findings = [f for f in scan(DATA / "loopback.pcap")[0] if f.details["client"] == "127.2.0.1"]
    agents = correlate(findings)
    assert len(agents) == 1
    assert agents[0].providers == ["anthropic", "azure-openai", "google-gemini", "openai"]


def test_same_capture_gives_identical_findings() -> None:
    a = [f.to_dict() for f in scan(DATA / "loopback.pcap")[0]]
    b = [f.to_dict() for f in scan(DATA / "loopback.pcap")[0]]
    assert a == b


def test_gzipped_capture_is_read_transparently(tmp_path: Path) -> None:
    target = tmp_path / "capture.pcap.gz"
    with open(DATA / "loopback.pcap", "rb") as src, gzip.open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    findings, coverage = scan(target)
    check_against_truth(findings)


def test_directory_input_picks_captures_by_magic(tmp_path: Path) -> None:
    shutil.copy(DATA / "loopback.pcap", tmp_path / "no-extension")
    (tmp_path / "notes.txt").write_text("hello\n")
    findings, coverage = scan(tmp_path)
    check_against_truth(findings)
    assert coverage.scanned["files"] == 1


# ---- link layers -------------------------------------------------------------------------------

def _ip_frames() -> list[tuple[float, bytes]]:
    """The Ethernet fixture's IP packets without their Ethernet header."""
    return [(ts, f[14:]) for ts, lt, f in frames(DATA / "loopback.pcap") if f[12:14] in (b"\x08\x00", b"\x86\xdd")]


def _family(ip: bytes) -> int:
    return 2 if ip[0] >> 4 == 4 else 30


@pytest.mark.parametrize("linktype,wrap", [
    (101, lambda ip: ip),  # raw IP
    (0, lambda ip: struct.pack("<I", _family(ip)) + ip),  # BSD loopback, host byte order
    (108, lambda ip: struct.pack(">I", _family(ip)) + ip),  # OpenBSD loopback, network order
    (1, lambda ip: b"\x02" * 6 + b"\x04" * 6 + b"\x81\x00\x00\x05\x81\x00\x00\x07"
        + (b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd") + ip),  # QinQ (two 802.1Q tags)
    (1, lambda ip: b"\x02" * 6 + b"\x04" * 6 + b"\x88\xa8\x00\x05\x81\x00\x00\x07"
        + (b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd") + ip),  # 802.1ad outer tag
    (113, lambda ip: b"\x00\x00\x00\x01\x00\x06" + b"\x04" * 6 + b"\x00\x00"
        + (b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd") + ip),  # Linux cooked SLL
])
def test_link_layers(tmp_path: Path, linktype: int, wrap) -> None:
    path = write_pcap(tmp_path / "c.pcap", linktype, [(ts, wrap(ip)) for ts, ip in _ip_frames()])
    findings, coverage = scan(path)
    check_against_truth(findings)
    assert coverage.complete


def test_ipv4_fragments_are_reassembled(tmp_path: Path) -> None:
    from tests.fixtures.network_util import ether, ipv4_checksum
    hello = [f for _, _, f in frames(DATA / "loopback.pcap")
             if b"api.anthropic.com" in f and f[12:14] == b"\x08\x00" and f[14 + 9] == 6]
    assert len(hello) == 2  # the two ClientHellos naming api.anthropic.com
    records = []
    for ts, lt, f in frames(DATA / "loopback.pcap"):
        if f in hello:  # split this IPv4 packet into two fragments, second one first
            ip = f[14:]
            ihl = (ip[0] & 15) * 4
            body = ip[ihl:]
            cut = 48
            parts = [(0, body[:cut], True), (cut, body[cut:], False)]
            for off, piece, more in reversed(parts):
                head = bytearray(ip[:ihl])
                struct.pack_into(">H", head, 2, ihl + len(piece))
                struct.pack_into(">H", head, 6, (0x2000 if more else 0) | (off // 8))
                struct.pack_into(">H", head, 10, 0)
                struct.pack_into(">H", head, 10, ipv4_checksum(bytes(head)))
                records.append((ts, ether(bytes(head) + piece)))
        else:
            records.append((ts, f))
    findings, _ = scan(write_pcap(tmp_path / "frag.pcap", 1, records))
    check_against_truth(findings)


def test_nanosecond_and_big_endian_pcap(tmp_path: Path) -> None:
    recs = [(ts, f) for ts, _, f in frames(DATA / "loopback.pcap")]
    findings, _ = scan(write_pcap(tmp_path / "ns.pcap", 1, recs, nanos=True, big_endian=True))
    check_against_truth(findings)
    first = summary(findings)[("tls-sni", "127.2.0.1", "api.openai.com")]
    ref = summary(scan(DATA / "loopback.pcap")[0])[("tls-sni", "127.2.0.1", "api.openai.com")]
    assert first.details["first_seen"] == ref.details["first_seen"]


# ---- bad input ---------------------------------------------------------------------------------

def test_truncated_capture_keeps_findings_before_the_cut(tmp_path: Path) -> None:
    data = (DATA / "loopback.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) * 2 // 3 + 7])
    findings, coverage = scan(cut)
    got = summary(findings)
    assert ("tls-sni", "127.2.0.1", "api.openai.com") in got
    assert not coverage.complete
    assert any("truncated" in g.reason and "findings cover the packets before it" in g.reason for g in coverage.gaps)


def test_truncated_pcapng(tmp_path: Path) -> None:
    data = (DATA / "loopback.pcapng").read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[: len(data) // 2 + 3])
    findings, coverage = scan(cut)
    assert ("tls-sni", "127.2.0.1", "api.openai.com") in summary(findings)
    assert any("truncated pcapng block" in g.reason for g in coverage.gaps)


def test_wrong_magic_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\x00\x01\x02\x03" + bytes(range(256)) * 4)
    with pytest.raises(DetectorError, match="not a pcap, pcapng or a supported log"):
        scan(inputs=[str(bad)])


def test_bad_input_next_to_a_good_one_is_a_gap(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.bin"
    bad.write_bytes(bytes(range(256)) * 16)
    findings, coverage = scan(inputs=[str(bad), str(DATA / "loopback.pcap")])
    check_against_truth(findings)
    assert [g.what for g in coverage.gaps] == [str(bad)]


def test_no_inputs_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="no network input"):
        scan(tmp_path)


def test_zero_length_and_oversized_records(tmp_path: Path) -> None:
    session = tcp_session("10.0.0.5", "10.0.0.9", 40000, 11434,
                          b"GET /api/tags HTTP/1.1\r\nHost: gpu:11434\r\n\r\n")
    path = write_pcap(tmp_path / "z.pcap", 1, [(1.0, b"")] + session)
    findings, coverage = scan(path)
    assert [f.provider for f in findings] == ["ollama"] and coverage.complete
    data = bytearray(path.read_bytes())
    data += struct.pack("<IIII", 5, 0, 1 << 30, 1 << 30) + b"x" * 64  # a record claiming 1 GB
    path.write_bytes(bytes(data))
    findings, coverage = scan(path)
    assert [f.provider for f in findings] == ["ollama"]
    assert any("claims 1073741824 bytes" in g.reason for g in coverage.gaps)


def test_unknown_link_type_is_named(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "u.pcap", 147, [(1.0, b"\x01\x02\x03\x04" * 10)])
    findings, coverage = scan(path)
    assert findings == []
    assert any("link type 147 is not supported" in g.reason for g in coverage.gaps)


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(DetectorError):
        scan(inputs=[str(empty)])


# ---- client naming, bounded state --------------------------------------------------------------

def _fixture_client_hello(name: bytes) -> bytes:
    for _, _, f in frames(DATA / "loopback.pcap"):
        if f[12:14] == b"\x08\x00" and f[23] == 6:
            tcp = 14 + (f[14] & 15) * 4
            payload = f[tcp + (f[tcp + 12] >> 4) * 4:]
            if payload[:1] == b"\x16" and name in payload:
                return payload
    raise AssertionError("no ClientHello in the fixture")


def dhcp_request(mac: bytes, hostname: bytes, requested: str) -> bytes:
    from tests.fixtures.network_util import ether
    bootp = (bytes([1, 1, 6, 0]) + b"\x12\x34\x56\x78" + b"\x00" * 20 + mac + b"\x00" * 10 + b"\x00" * 192
             + b"\x63\x82\x53\x63" + bytes([53, 1, 3]) + bytes([50, 4]) + socket.inet_aton(requested)
             + bytes([12, len(hostname)]) + hostname + b"\xff")
    udp = struct.pack(">HHHH", 68, 67, 8 + len(bootp), 0) + bootp
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, b"\x00" * 4, b"\xff" * 4)
    return ether(ip + udp, src_mac=mac)


def test_dhcp_hostname_names_the_client(tmp_path: Path) -> None:
    mac = b"\x02\xaa\xbb\xcc\xdd\x01"
    hello = _fixture_client_hello(b"api.openai.com")
    from tests.fixtures.network_util import ether
    session = [(ts, ether(f[14:], src_mac=mac)) for ts, f in tcp_session("10.9.0.5", "10.9.0.80", 41000, 443, hello)]
    path = write_pcap(tmp_path / "dhcp.pcap", 1, [(1_699_999_999.0, dhcp_request(mac, b"Build-Box-7", "10.9.0.5"))]
                      + session)
    (finding,) = scan(path)[0]
    assert finding.kind == "tls-sni" and finding.details["client"] == "build-box-7"
    assert finding.details["client_ips"] == ["10.9.0.5"] and finding.details["macs"] == ["02:aa:bb:cc:dd:01"]
    assert f"net:build-box-7:{finding.details['ja4']}" in finding.identity


def test_flow_state_stays_bounded() -> None:
    from detectors.network import engine as eng
    from scanner.catalog import Catalog
    from tests.fixtures.network_util import ether, ipv4_tcp
    engine = eng.Engine(Catalog.load(), "bounded")
    partial = _fixture_client_hello(b"api.openai.com")[:300]  # a ClientHello that never completes
    for i in range(eng.MAX_FLOWS + 3000):
        client = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        engine.packet(float(i), 1, ether(ipv4_tcp(client, "10.255.0.1", 40000, 443, 1, b"", flags=0x02)))
        engine.packet(float(i), 1, ether(ipv4_tcp(client, "10.255.0.1", 40000, 443, 2, partial)))
        assert engine.open_flows <= eng.MAX_FLOWS
    assert engine.buffered <= 300 * eng.MAX_FLOWS
    assert engine.flow_count == eng.MAX_FLOWS + 3000
    engine.finish()
    assert engine.open_flows == 0 and not engine.tcp_flows and engine.buffered == 0


def test_inspection_stops_after_the_limit(tmp_path: Path) -> None:
    from detectors.network import engine as eng
    from scanner.catalog import Catalog
    huge = b"\x16\x03\x01\x48\x00" + b"\x01\x00\x47\xfc" + b"\x00" * 40000  # a 'ClientHello' over the limit
    engine = eng.Engine(Catalog.load(), "limit")
    for ts, frame in tcp_session("10.0.0.5", "10.0.0.9", 40000, 443, huge):
        engine.packet(ts, 1, frame)
    (flow, _), = [e for e in engine.tcp_flows.values() if e[1]]
    assert flow.mode == eng.M_DONE and flow.hello is None and not flow.buf
    assert flow.bytes == len(huge)


def test_quic_client_port_reused_for_a_new_connection(tmp_path: Path) -> None:
    """Two QUIC connections from the same client port: both ClientHellos are read."""
    records = frames(DATA / "loopback.pcap")
    ports = []
    for _, _, f in records:
        if f[12:14] == b"\x08\x00" and f[23] == 17 and f[36:38] == b"\x01\xbb" and f[34:36] not in ports:
            ports.append(f[34:36])
    first, third = ports[0], ports[2]  # api.openai.com, then api.deepseek.com (QUIC v2)
    rewritten = []
    for ts, _, f in records:
        if f[12:14] == b"\x08\x00" and f[23] == 17:
            f = f[:34] + (first if f[34:36] == third else f[34:36]) + (first if f[36:38] == third else f[36:38]) + f[38:]
        rewritten.append((ts, f))
    got = summary(scan(write_pcap(tmp_path / "reuse.pcap", 1, rewritten))[0])
    assert got[("quic-sni", "127.0.0.1", "api.openai.com")].details["connections"] == 1
    assert got[("quic-sni", "127.0.0.1", "api.deepseek.com")].details["connections"] == 1


def _reprotect_initial(datagram: bytes, new_dcid: bytes) -> bytes:
    """The client Initial starting ``datagram`` protected again under another DCID of the same length."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from detectors.network import quic
    version, dcid = quic.initial_header(datagram)
    old, new = quic.client_initial_keys(version, dcid), quic.client_initial_keys(version, new_dcid)
    pos = 6 + len(dcid)
    pos += 1 + datagram[pos]
    token_len, pos = quic._varint(datagram, pos)
    length, pn_offset = quic._varint(datagram, pos + token_len)
    end = pn_offset + length

    def mask(keys, sample: bytes) -> bytes:
        enc = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor()
        return enc.update(sample) + enc.finalize()

    m = mask(old, datagram[pn_offset + 4:pn_offset + 20])
    first = datagram[0] ^ (m[0] & 0x0F)
    pn_len = (first & 3) + 1
    pn = bytes(b ^ x for b, x in zip(datagram[pn_offset:pn_offset + pn_len], m[1:]))
    header = bytes([first]) + datagram[1:pn_offset] + pn
    plain = AESGCM(old.key).decrypt(bytes(a ^ b for a, b in zip(old.iv, pn.rjust(12, b"\x00"))),
                                    datagram[pn_offset + pn_len:end], header)
    header = header[:6] + new_dcid + header[6 + len(dcid):]
    sealed = AESGCM(new.key).encrypt(bytes(a ^ b for a, b in zip(new.iv, pn.rjust(12, b"\x00"))), plain, header)
    m = mask(new, sealed[4 - pn_len:20 - pn_len])
    out = bytearray(header[:pn_offset] + bytes(b ^ x for b, x in zip(pn, m[1:])) + sealed + datagram[end:])
    out[0] ^= m[0] & 0x0F
    return bytes(out)


def test_quic_initial_resent_under_a_new_dcid_is_one_connection(tmp_path: Path) -> None:
    """After a Retry the client sends its ClientHello again to a new DCID, from its own unchanged ID."""
    from detectors.network import quic
    records = frames(DATA / "loopback.pcap")
    i, (ts, _, frame) = next((i, r) for i, r in enumerate(records) if r[2][12:14] == b"\x08\x00" and r[2][23] == 17
                             and r[2][36:38] == b"\x01\xbb" and quic.initial_header(r[2][42:]))
    again = frame[:42] + _reprotect_initial(frame[42:], b"\x5a" * len(quic.initial_header(frame[42:])[1]))
    rewritten = [(t, f) for t, _, f in records[:i + 1]] + [(ts + 0.001, again)] + [(t, f) for t, _, f in records[i + 1:]]
    got = summary(scan(write_pcap(tmp_path / "retry.pcap", 1, rewritten))[0])
    assert got[("quic-sni", "127.0.0.1", "api.openai.com")].details["connections"] == 1
