"""TLS started inside other protocols, and QUIC connections that change connection IDs, on real sessions:
openssl s_client STARTTLS (SMTP, IMAP, POP3, FTP, LDAP, PostgreSQL), curl through SOCKS4/4a/5, and aioquic
with a server that sends Retry (tests/data/network/starttls.pcap, quic-retry.pcap)."""

from __future__ import annotations

import json

import pytest

from detectors.network import preludes
from detectors.network.preludes import NEED_MORE, Opening
from tests.fixtures.make_network_sessions import SOCKS_PASSWORD
from tests.fixtures.network_util import DATA, check_fixture, fixture_truth, scan, tcp_session, write_pcap
from tests.test_network_parsers import client_hello, records

def test_starttls_postgres_and_socks_sessions_give_the_tls_server_name() -> None:
    findings, coverage = scan(DATA / "starttls.pcap")
    got = check_fixture("starttls.pcap", findings)
    for truth in fixture_truth("starttls.pcap"):
        if "inside" in truth:
            assert got[(truth["kind"], truth["client"], truth["name"])].details["inside"] == truth["inside"]
    assert coverage.complete, coverage.gaps


def test_socks_target_names_are_proxy_requests_with_their_protocol() -> None:
    got = check_fixture("starttls.pcap", scan(DATA / "starttls.pcap")[0])
    socks5 = got[("connect", "127.0.0.14", "api.perplexity.ai")]
    assert socks5.details["proxy"] == ["socks5"] and socks5.details["port"] == ["443"]
    assert got[("connect", "127.0.0.12", "api.together.xyz")].details["proxy"] == ["socks4a"]


def test_report_lists_where_tls_started_and_never_the_socks5_password(run_cli) -> None:
    assert SOCKS_PASSWORD.encode() in (DATA / "starttls.pcap").read_bytes()  # it is on the wire
    r = run_cli("scan", "-d", "network", "-p", str(DATA / "starttls.pcap"), "-f", "json", "--fail-on", "none")
    assert r.code == 0, r.err
    assert "perplexity" in r.out and SOCKS_PASSWORD not in r.out + r.err
    assert "fixture:" not in r.out  # nor the user name
    inside = {f["details"]["inside"][0] for f in json.loads(r.out)["findings"] if "inside" in f["details"]}
    assert inside == {"smtp-starttls", "imap-starttls", "pop3-stls", "ftp-auth-tls", "ldap-starttls", "postgres-ssl",
                      "socks4", "socks4a", "socks5"}


def test_quic_retry_is_one_connection_and_a_new_dcid_on_the_same_port_another() -> None:
    findings, coverage = scan(DATA / "quic-retry.pcap")
    # two connections from one port, each after a Retry; one more after a Retry from a client whose own
    # connection ID is empty, whose ClientHello after the Retry is a new one (aioquic makes a new random)
    got = check_fixture("quic-retry.pcap", findings)
    assert all(f.details["ja4"].startswith("q13d") for f in got.values()) and coverage.scanned["flows"] == 3


def test_quic_initial_after_other_packets_on_the_same_ports_is_read() -> None:
    """A 0-RTT packet (or the capture's start) before the first Initial must not hide the ClientHello."""
    check_fixture("quic-late-initial.pcap", scan(DATA / "quic-late-initial.pcap")[0])


# ---- openings, byte by byte -------------------------------------------------------------

HELLO = records(client_hello("api.openai.com"))


@pytest.mark.parametrize("opening,protocol", [
    (b"EHLO client.example\r\nSTARTTLS\r\n", "smtp-starttls"),
    (b"ehlo x\r\nNOOP\r\nstarttls\r\n", "smtp-starttls"),
    (b"a001 CAPABILITY\r\na002 STARTTLS\r\n", "imap-starttls"),
    (b"CAPA\r\nSTLS\r\n", "pop3-stls"),
    (b"FEAT\r\nAUTH TLS\r\n", "ftp-auth-tls"),
    (b"AUTH SSL\r\n", "ftp-auth-tls"),
    (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", "postgres-ssl"),
    (b"\x00\x00\x00\x08\x04\xd2\x16\x30\x00\x00\x00\x08\x04\xd2\x16\x2f", "postgres-ssl"),  # GSSENC refused first
    (b"\x30\x1d\x02\x01\x01\x77\x18\x80\x16" + preludes.LDAP_STARTTLS_OID, "ldap-starttls"),
])
def test_openings_before_tls(opening: bytes, protocol: str) -> None:
    assert preludes.opening(opening + HELLO) == Opening(protocol, len(opening))
    for cut in range(1, len(opening)):  # every prefix waits for more (or is already decided)
        assert preludes.opening(opening[:cut]) in (NEED_MORE, Opening(protocol, len(opening)))


def test_socks_openings_name_the_target() -> None:
    socks4a = b"\x04\x01\x01\xbb\x00\x00\x00\x01user\x00api.openai.com\x00"
    assert preludes.opening(socks4a + HELLO) == Opening("socks4a", len(socks4a), ("api.openai.com", 443))
    socks4 = b"\x04\x01\x01\xbb\x68\x12\x00\x01\x00"
    assert preludes.opening(socks4) == Opening("socks4", len(socks4), ("104.18.0.1", 443))
    login = b"\x01\x04user\x06secret"
    socks5 = b"\x05\x02\x00\x02" + login + b"\x05\x01\x00\x03\x0eapi.openai.com\x01\xbb"
    found = preludes.opening(socks5 + HELLO)
    assert found == Opening("socks5", len(socks5), ("api.openai.com", 443)) and b"secret" not in repr(found).encode()
    v6 = b"\x05\x01\x00\x05\x01\x00\x04" + bytes(15) + b"\x01\x01\xbb"
    assert preludes.opening(v6) == Opening("socks5", len(v6), ("::1", 443))
    for cut in range(1, len(socks5)):
        assert preludes.opening(socks5[:cut]) is NEED_MORE


@pytest.mark.parametrize("data", [
    b"EHLO x\r\nMAIL FROM:<a@b>\r\n",  # plain SMTP: no TLS follows
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"\x05\x01\x00\x05\x02\x00\x01" + bytes(6),  # SOCKS5 BIND, not CONNECT
    b"\x04\x02\x01\xbb\x01\x02\x03\x04\x00",  # SOCKS4 BIND
    b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00",  # an LDAP bind
    b"\x00\x00\x00\x28\x00\x03\x00\x00",  # PostgreSQL StartupMessage without SSL
    b"\x05\x01\x00\x05\x01\x00\x03\x05bad:1\x01\xbb",  # not a host name
])
def test_other_first_bytes_are_no_opening(data: bytes) -> None:
    assert preludes.opening(data) is None


def test_an_endless_command_stream_stops_waiting() -> None:
    assert preludes.opening(b"EHLO x\r\n" * 20) is None
    assert preludes.opening(b"EHLO " + b"x" * 2000) is None


def test_starttls_in_a_built_capture_and_a_plain_smtp_session(tmp_path) -> None:
    upgraded = tcp_session("10.9.0.1", "10.9.0.2", 40000, 587, b"EHLO me\r\nSTARTTLS\r\n" + HELLO)
    plain = tcp_session("10.9.0.3", "10.9.0.2", 40001, 25, b"EHLO me\r\nMAIL FROM:<x@api.openai.com>\r\n")
    findings, _ = scan(write_pcap(tmp_path / "smtp.pcap", 1, upgraded + plain))
    assert [(f.kind, f.details["client"], f.details["inside"]) for f in findings] == [
        ("tls-sni", "10.9.0.1", ["smtp-starttls"])]

