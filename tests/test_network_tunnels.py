"""Tunnelled traffic (tests/data/network/tunnels.pcap): VXLAN, Geneve, GRE, ERSPAN I/II/III, IP-in-IP,
6in4, GTP-U and a tunnel in a tunnel, each around the opening of a real TLS connection."""

from __future__ import annotations

from detectors.network import tunnel
from detectors.network.engine import Engine
from scanner.catalog import Catalog
from tests.fixtures.network_util import DATA, check_fixture, fixture_truth, frames, scan

CAPTURE = DATA / "tunnels.pcap"


def test_each_tunnel_gives_the_inner_client_and_its_encapsulation() -> None:
    findings, coverage = scan(CAPTURE)
    got = check_fixture("tunnels.pcap", findings)
    for truth in fixture_truth("tunnels.pcap"):
        finding = got[(truth["kind"], truth["client"], truth["name"])]
        assert finding.details["encapsulation"] == [truth["encapsulation"]]
        assert finding.details["ja4"].startswith("t13d")
    assert coverage.scanned["tunnelled_packets.vxlan"] == 10  # VXLAN alone, and inside GRE
    assert coverage.scanned["tunnelled_packets.erspan-iii"] == 5 and coverage.scanned["tunnelled_packets.gtp-u"] == 5


def test_tunnels_not_decoded_are_counted_by_encapsulation_in_coverage() -> None:
    findings, coverage = scan(CAPTURE)
    assert "127.3.0.12" not in {f.details["client"] for f in findings}  # five tunnels deep
    reasons = sorted(g.reason for g in coverage.gaps)
    assert reasons == ["1 tunnelled packet(s) not decoded: gre (PPTP (enhanced GRE, PPP inside))",
                       "5 tunnelled packet(s) not decoded: gre/gre/gre/gre/gre (nested deeper than 4 tunnels)"]
    assert coverage.scanned["tunnelled_packets_not_decoded.gre/gre/gre/gre/gre"] == 5
    assert not coverage.complete


def test_packet_counts_each_captured_frame_once() -> None:
    _, coverage = scan(CAPTURE)
    assert coverage.scanned["packets"] == len(frames(CAPTURE))


def test_fast_and_general_paths_agree_on_tunnels() -> None:
    catalog = Catalog.load()
    records = frames(CAPTURE)
    fast, general = Engine(catalog, "same"), Engine(catalog, "same")
    fast.feed(records)
    for ts, linktype, frame in records:
        general.packet(ts, linktype, frame)
    fast.finish()
    general.finish()
    assert fast.agg.records == general.agg.records and fast.packets == general.packets
    assert fast.tunnelled == general.tunnelled and fast.undecoded == general.undecoded


def test_tunnel_headers_cut_short_or_unknown_are_reported_not_raised() -> None:
    assert tunnel.over_udp(4789, b"\x08\x00\x00", 0, 3).frame is None
    assert tunnel.over_udp(6081, b"\x40" + b"\x00" * 7, 0, 8).encap == "geneve (not a Geneve version 0 header)"
    gre_unknown = b"\x00\x00\x88\x0b" + b"\x00" * 8
    assert tunnel.over_ip(47, gre_unknown, 0, len(gre_unknown)).encap == "gre (protocol type 0x880b)"
    assert tunnel.over_ip(47, b"\x90\x00\x08\x00", 0, 4).encap == "gre (cut short)"  # checksum word missing
    echo = b"\x32\x01\x00\x04\x00\x00\x00\x00\x00\x01\x00\x00"
    assert tunnel.over_udp(2152, echo, 0, len(echo)) is None  # GTP echo request: signalling, not a tunnel
    bad_ext = b"\x34\xff\x00\x08\x00\x00\x00\x01\x00\x00\x00\x85\x00"
    assert tunnel.over_udp(2152, bad_ext, 0, len(bad_ext)).encap == "gtp-u (bad extension header)"
    nhrp = b"\x00\x00\x20\x01" + b"\x00" * 20
    assert tunnel.over_ip(47, nhrp, 0, len(nhrp)) is None  # the tunnel's own routing messages
    wccp = b"\x00\x00\x88\x3e" + b"\x00\x00\x00\x00" + b"\x45" + b"\x00" * 19
    assert tunnel.over_ip(47, wccp, 0, len(wccp)) == tunnel.Inner("wccp", 101, b"\x45" + b"\x00" * 19)
    assert tunnel.udp_port(4789, 443) == 0 and tunnel.udp_port(4789, 4790) == 4789 and tunnel.udp_port(1, 6081) == 6081
