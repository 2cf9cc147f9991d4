"""Tunnels: the packet inside VXLAN, Geneve, GRE (and ERSPAN I/II/III), IP-in-IP and GTP-U.

Mirrored and overlay traffic comes wrapped: AWS VPC Traffic Mirroring sends VXLAN,
GCP Packet Mirroring and overlay networks Geneve or VXLAN, Cisco SPAN sessions
ERSPAN over GRE, mobile cores GTP-U. Each function here takes the tunnel's payload
and returns the inner frame with the link type it is (Ethernet or raw IP), which
the engine decodes like any captured frame. Nesting is bounded by :data:`MAX_DEPTH`;
a tunnel that cannot be opened says so by encapsulation, for coverage.
"""

from __future__ import annotations

from typing import NamedTuple

from detectors.network.packet import (ETH_IPV4, ETH_IPV6, IPPROTO_GRE, IPPROTO_IPIP, IPPROTO_IPV6, LINK_ETHERNET,
                                      LINK_RAW)

VXLAN_PORT, GENEVE_PORT, GTPU_PORT = 4789, 6081, 2152
UDP_PORTS = {VXLAN_PORT: "vxlan", GENEVE_PORT: "geneve", GTPU_PORT: "gtp-u"}  # by destination port
IP_PROTOCOLS = {IPPROTO_IPIP: "ipv4-in-ip", IPPROTO_IPV6: "ipv6-in-ip", IPPROTO_GRE: "gre"}
MAX_DEPTH = 4  # tunnels inside tunnels, at most
_SERVICE_PORTS = (53, 80, 443)

TRANSPARENT_ETHERNET = 0x6558  # GRE / Geneve protocol type of a whole Ethernet frame
ERSPAN_I_II, ERSPAN_III = 0x88BE, 0x22EB
WCCP_REDIRECT = 0x883E  # a web cache's GRE redirect: a 4-byte WCCP header, then the client's IP packet
GRE_SIGNALLING = (0x2001, 0x00FE)  # NHRP, IS-IS: routing messages of the tunnel itself, no user traffic
GTPU_G_PDU = 0xFF  # the GTP-U message that carries a user's packet
_RAW_IP = LINK_RAW[0]
_ETHERTYPE_LINK = {TRANSPARENT_ETHERNET: LINK_ETHERNET, ETH_IPV4: _RAW_IP, ETH_IPV6: _RAW_IP}


class Inner(NamedTuple):
    """What a tunnel held: ``encap`` is the path of tunnels ("vxlan/gre"); ``frame`` None when not decoded."""

    encap: str
    linktype: int
    frame: bytes | None


def udp_port(sport: int, dport: int) -> int:
    """The tunnel port of a UDP datagram, or 0: the destination port, else the source port
    (some encapsulators send from the well-known port) unless the other side is a web or DNS server."""
    if dport in UDP_PORTS:
        return dport
    if sport in UDP_PORTS and dport not in _SERVICE_PORTS:
        return sport
    return 0


def over_ip(proto: int, buf: bytes, start: int, end: int, outer: str = "") -> Inner | None:
    """The inner frame of an IP packet whose protocol is in :data:`IP_PROTOCOLS` (payload ``buf[start:end]``);
    None for a tunnel's own signalling."""
    name = IP_PROTOCOLS[proto]
    if proto == IPPROTO_GRE:
        return _gre(buf, start, end, outer)
    return _inner(outer, name, _RAW_IP, buf[start:end])


def over_udp(port: int, buf: bytes, start: int, end: int, outer: str = "") -> Inner | None:
    """The inner frame of a UDP datagram to a port in :data:`UDP_PORTS`; None for a tunnel's own signalling."""
    name = UDP_PORTS[port]
    size = end - start
    if port == VXLAN_PORT:
        if size < 8 or not buf[start] & 0x08:  # the I flag: a valid VXLAN network identifier
            return _undecoded(outer, name, "not a VXLAN header")
        return _inner(outer, name, LINK_ETHERNET, buf[start + 8:end])
    if port == GENEVE_PORT:
        if size < 8 or buf[start] >> 6:
            return _undecoded(outer, name, "not a Geneve version 0 header")
        head = 8 + (buf[start] & 0x3F) * 4
        ptype = (buf[start + 2] << 8) | buf[start + 3]
        return _by_ethertype(outer, name, ptype, buf[start + head:end] if head <= size else None)
    return _gtpu(buf, start, end, outer)


def _gre(buf: bytes, start: int, end: int, outer: str) -> Inner | None:
    """GRE (RFC 2784/2890): checksum, key and sequence number words are optional; ERSPAN rides on it."""
    name = "gre"
    if end - start < 4:
        return _undecoded(outer, name, "cut short")
    flags, version = buf[start], buf[start + 1] & 0x07
    ptype = (buf[start + 2] << 8) | buf[start + 3]
    if version == 1:
        return _undecoded(outer, name, "PPTP (enhanced GRE, PPP inside)")
    if version or flags & 0x40:  # another version, or the obsolete routing field
        return _undecoded(outer, name, f"version {version}, flags {flags:#04x}")
    head = start + 4 + 4 * (bool(flags & 0x80) + bool(flags & 0x20) + bool(flags & 0x10))
    if head > end:
        return _undecoded(outer, name, "cut short")
    if ptype == ERSPAN_I_II:
        if not flags & 0x10:  # type I: no sequence number, no ERSPAN header
            return _inner(outer, "erspan-i", LINK_ETHERNET, buf[head:end])
        if head + 8 > end or buf[head] >> 4 != 1:
            return _undecoded(outer, "erspan-ii", "not an ERSPAN type II header")
        return _inner(outer, "erspan-ii", LINK_ETHERNET, buf[head + 8:end])
    if ptype == ERSPAN_III:
        if head + 12 > end or buf[head] >> 4 != 2:
            return _undecoded(outer, "erspan-iii", "not an ERSPAN type III header")
        frame_type = (buf[head + 10] >> 2) & 0x1F  # 0 Ethernet, 2 IP
        inner = head + 12 + (8 if buf[head + 11] & 0x01 else 0)  # optional platform-specific subheader
        if frame_type not in (0, 2):
            return _undecoded(outer, "erspan-iii", f"frame type {frame_type}")
        if inner > end:
            return _undecoded(outer, "erspan-iii", "cut short")
        return _inner(outer, "erspan-iii", LINK_ETHERNET if frame_type == 0 else _RAW_IP, buf[inner:end])
    if ptype == WCCP_REDIRECT:
        return _inner(outer, "wccp", _RAW_IP, buf[head + 4:end])
    if ptype in GRE_SIGNALLING:
        return None
    return _by_ethertype(outer, name, ptype, buf[head:end])


def _gtpu(buf: bytes, start: int, end: int, outer: str) -> Inner | None:
    """GTP-U version 1 (3GPP TS 29.281): a G-PDU holds one IP packet after optional extension headers."""
    name = "gtp-u"
    if end - start < 8 or buf[start] >> 5 != 1 or not buf[start] & 0x10:
        return _undecoded(outer, name, "not a GTPv1-U header")
    if buf[start + 1] != GTPU_G_PDU:
        return None  # echo, error indication, end marker ...: no user packet
    pos = start + 8
    if buf[start] & 0x07:  # sequence number, N-PDU number, next extension header type
        if pos + 4 > end:
            return _undecoded(outer, name, "cut short")
        next_type = buf[pos + 3]
        pos += 4
        for _ in range(16):
            if not next_type:
                break
            if pos >= end or not buf[pos]:
                return _undecoded(outer, name, "bad extension header")
            pos += buf[pos] * 4
            if pos > end:
                return _undecoded(outer, name, "cut short")
            next_type = buf[pos - 1]
        else:
            return _undecoded(outer, name, "too many extension headers")
    return _inner(outer, name, _RAW_IP, buf[pos:end])


def _by_ethertype(outer: str, name: str, ptype: int, payload: bytes | None) -> Inner:
    linktype = _ETHERTYPE_LINK.get(ptype)
    if linktype is None:
        return _undecoded(outer, name, f"protocol type {ptype:#06x}")
    if payload is None:
        return _undecoded(outer, name, "cut short")
    return _inner(outer, name, linktype, payload)


def _path(outer: str, name: str) -> str:
    return f"{outer}/{name}" if outer else name


def _inner(outer: str, name: str, linktype: int, frame: bytes) -> Inner:
    if outer and outer.count("/") + 1 >= MAX_DEPTH:
        return _undecoded(outer, name, f"nested deeper than {MAX_DEPTH} tunnels")
    return Inner(_path(outer, name), linktype, frame)


def _undecoded(outer: str, name: str, why: str) -> Inner:
    return Inner(f"{_path(outer, name)} ({why})", 0, None)
