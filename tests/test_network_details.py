"""JA4 edge cases against the FoxIO reference, one server-name rule for every source, flows ended by time,
and Zeek log variants (no _path, '_' scope separator, btest headers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors.network.logs import log_kind
from detectors.network.tls import ja4_fingerprint, valid_server_name
from tests.fixtures.network_util import DATA, check_fixture, fixture_truth, scan, summary, tcp_session, write_pcap
from tests.fixtures.network_util import ether, ipv4_udp
from tests.test_network_logs import FP_OPENAI, SSL_FIELDS, T0, X509_FIELDS, zeek_tsv
from tests.test_network_parsers import _dns_response as dns_response
from tests.test_network_parsers import client_hello, dns_query, records

# ---- JA4 ---------------------------------------------------------------------------------


def test_ja4_of_the_edge_hellos_equals_the_reference() -> None:
    got = check_fixture("ja4-edge.pcap", scan(DATA / "ja4-edge.pcap")[0])
    for truth in fixture_truth("ja4-edge.pcap"):
        assert got[(truth["kind"], truth["client"], truth["name"])].details["ja4"] == truth["ja4_reference"]


def test_ja4_worked_example_of_the_spec() -> None:
    """technical_details/JA4.md's example: its cipher, extension and signature lists give its fingerprint."""
    ciphers = tuple(int(c, 16) for c in "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"
                    .split(","))
    exts = tuple(int(e, 16) for e in "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015"
                 .split(","))
    sigs = tuple(int(s, 16) for s in "0403,0804,0401,0503,0805,0501,0806,0601".split(","))
    assert ja4_fingerprint("t", 0x0303, (0x0A0A, 0x0304, 0x0303), True, ciphers, exts, b"h2", sigs) == \
        "t13d1516h2_8daaf6152771_e5627efa2ab1"


@pytest.mark.parametrize("alpn,code", [
    (b"h2", "h2"), (b"http/1.1", "h1"), (b"a", "aa"),  # alphanumeric ends as they are; one character twice
    (b"\x20", "20"), (b"\x20\x61", "21"), (b"\x61\x20", "60"),  # other ASCII: the spec's hex rule and examples
    (b"\xbb\xdd", "99"), (b"x\xab", "x9"),  # not ASCII: '9', as the reference implementations write it
    (b"", "00"),
])
def test_ja4_alpn_characters(alpn: bytes, code: str) -> None:
    assert ja4_fingerprint("t", 0x0303, (), False, (0x1301,), (0x0010,), alpn, ())[8:10] == code


def test_ja4_of_a_hello_whose_only_extension_is_sni_ends_in_zeros() -> None:
    fp = ja4_fingerprint("t", 0x0301, (), True, (0x002F, 0x0035), (0x0000,), b"", ())
    assert fp.startswith("t10d020100_") and fp.endswith("_000000000000")


# ---- one server-name rule ----------------------------------------------------------------------


@pytest.mark.parametrize("name,valid", [
    ("api.openai.com", "api.openai.com"), ("API.OpenAI.com.", "api.openai.com"), ("server4:443", None),
    ("a b.com", None), ("", None), ("x" * 254, None), ("under_score.example", "under_score.example"),
])
def test_server_name_rule(name: str, valid: str | None) -> None:
    assert valid_server_name(name) == valid


def test_invalid_server_name_counts_as_none_from_a_capture_and_from_zeek_alike(tmp_path: Path) -> None:
    """``server4:443`` is no host name: both sources fall back to what else names the server."""
    answer = dns_response(dns_query("api.openai.com"), 1, bytes([104, 18, 6, 192]))
    dns = [(T0, ether(ipv4_udp("104.18.0.53", "10.6.0.1", 53, 5353, answer)))]
    hello = tcp_session("10.6.0.1", "104.18.6.192", 40000, 443, records(client_hello("server4:443")), ts=T0 + 1)
    capture = write_pcap(tmp_path / "bad-sni.pcap", 1, dns + hello)
    logs = tmp_path / "zeek"
    logs.mkdir()
    zeek_tsv(logs / "x509.log", "x509", X509_FIELDS, [
        [f"{T0:.6f}", FP_OPENAI, "3", "0A1B", "CN=api.openai.com", "CN=CA", "api.openai.com", "-", "F", "T", "F"]])
    zeek_tsv(logs / "ssl.log", "ssl", SSL_FIELDS, [
        [f"{T0 + 1:.6f}", "S1", "10.6.0.3", "40001", "104.18.7.192", "443", "TLSv12", "server4:443", "T",
         FP_OPENAI, "(empty)"]])
    got = summary(scan(capture, logs)[0])
    assert set(got) == {("dns-attributed", "10.6.0.1", "api.openai.com"),
                        ("tls-certificate", "10.6.0.3", "api.openai.com")}


# ---- flows end by time ------------------------------------------------------------------------


def test_a_connection_after_a_long_silence_on_the_same_ports_is_a_new_flow(tmp_path: Path) -> None:
    first = tcp_session("10.5.0.1", "10.5.0.2", 40000, 443, b"\x17\x03\x03\x00\x10" + bytes(16))[3:]  # no SYN
    later = tcp_session("10.5.0.1", "10.5.0.2", 40000, 443, records(client_hello("api.mistral.ai")),
                        ts=1_700_000_000.0 + 600)[3:]  # ten minutes later, the same 4-tuple, no SYN either
    findings, coverage = scan(write_pcap(tmp_path / "reuse.pcap", 1, first + later))
    assert [(f.kind, f.provider) for f in findings] == [("tls-sni", "mistral")]
    assert coverage.scanned["flows"] == 2


# ---- Zeek variants ----------------------------------------------------------------------------


def test_json_quic_log_without_path_is_quic(tmp_path: Path) -> None:
    line = {"ts": T0, "uid": "Q1", "id.orig_h": "10.4.0.1", "id.orig_p": 51000, "id.resp_h": "162.159.140.245",
            "id.resp_p": 443, "version": "1", "client_initial_dcid": "95412c47018cdfe8", "server_name": "api.openai.com",
            "client_protocol": "h3", "history": "ISisH"}
    path = tmp_path / "quic.json"
    path.write_text(json.dumps(line) + "\n")
    assert log_kind(path.read_bytes()) == "zeek-quic"
    (finding,) = scan(path)[0]
    assert finding.kind == "quic-sni" and finding.details["client"] == "10.4.0.1"


def test_zeek_logs_with_underscore_scope_separator(tmp_path: Path) -> None:
    tsv = zeek_tsv(tmp_path / "ssl.log", "ssl", ["ts", "uid", "id_orig_h", "id_orig_p", "id_resp_h", "id_resp_p",
                                                 "server_name"],
                   [[f"{T0:.6f}", "C1", "10.3.0.1", "40000", "160.79.104.10", "443", "api.anthropic.com"]])
    js = tmp_path / "dns.json"
    js.write_text(json.dumps({"ts": T0, "uid": "D1", "id_orig_h": "10.3.0.2", "id_resp_h": "10.3.0.53",
                              "query": "api.groq.com", "answers": ["1.2.3.4"]}) + "\n")
    got = summary(scan(tsv, js)[0])
    assert set(got) == {("tls-sni", "10.3.0.1", "api.anthropic.com"), ("dns", "10.3.0.2", "api.groq.com")}
    assert got[("tls-sni", "10.3.0.1", "api.anthropic.com")].details["servers"] == ["160.79.104.10:443"]


def test_zeek_log_with_a_field_name_map(tmp_path: Path) -> None:
    """Log::field_name_map as in Zeek's own test (id.orig_h written src, id.resp_p dst_port ...)."""
    log = zeek_tsv(tmp_path / "ssl.log", "ssl", ["ts", "uid", "src", "src_port", "dst", "dst_port", "server_name"],
                   [[f"{T0:.6f}", "C1", "10.2.8.1", "40000", "104.18.0.1", "443", "api.openai.com"]])
    (finding,) = scan(log)[0]
    assert finding.details["client"] == "10.2.8.1" and finding.details["servers"] == ["104.18.0.1:443"]


def test_btest_baseline_with_a_leading_header_line(tmp_path: Path) -> None:
    log = zeek_tsv(tmp_path / "ssl.log", "ssl", ["ts", "uid", "id.orig_h", "id.resp_h", "id.resp_p", "server_name"],
                   [[f"{T0:.6f}", "C1", "10.2.9.1", "104.18.0.1", "443", "api.openai.com"]])
    log.write_text("### BTest baseline data generated by btest-diff. Do not edit. Use \"btest -U/-u\" to update. "
                   "Requires BTest >= 0.63.\n" + log.read_text())
    findings, coverage = scan(log)
    assert [(f.kind, f.details["client"]) for f in findings] == [("tls-sni", "10.2.9.1")] and coverage.complete
