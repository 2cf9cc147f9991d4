"""Link layer and IP: from a raw frame to (source, destination, protocol, L4 bytes).

Link types: Ethernet (VLAN/QinQ, MPLS, PPPoE), Linux cooked SLL and SLL2, raw IP,
BSD loopback (NULL/LOOP). IPv4 and IPv6 fragments are reassembled with a bounded
store. Addresses stay ``bytes`` (4 or 16) until a finding needs their text.
"""

from __future__ import annotations

import ipaddress

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
ETH_HLEN, IPV4_HLEN, IPV6_HLEN, TCP_HLEN, UDP_HLEN = 14, 20, 40, 20, 8  # header sizes without options
IPV4_NO_OPTIONS = 0x45  # version 4, header length 5 words
IPV4_FRAGMENTED = 0x3FFF  # more-fragments bit and fragment offset
IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPV6, IPPROTO_GRE = 4, 6, 17, 41, 47
VLAN_TYPES = (0x8100, 0x88A8, 0x9100)
PPPOE_SESSION = 0x8864
MPLS_TYPES = (0x8847, 0x8848)

LINK_ETHERNET, LINK_NULL, LINK_LOOP = 1, 0, 108
LINK_RAW = (101, 12, 14)
LINK_IPV4, LINK_IPV6 = 228, 229
LINK_SLL, LINK_SLL2 = 113, 276
SUPPORTED_LINKTYPES = {LINK_ETHERNET, LINK_NULL, LINK_LOOP, *LINK_RAW, LINK_IPV4, LINK_IPV6, LINK_SLL, LINK_SLL2}
INET6_FAMILIES = (10, 24, 28, 30)
IPV6_EXT_HEADERS = (0, 43, 60, 135, 139, 140)
IPV6_FRAGMENT = 44

# (src, dst, proto, buffer, l4 start, l4 end, source MAC or b"")
Decoded = tuple[bytes, bytes, int, bytes, int, int, bytes]


_TEXT_CACHE: dict[bytes, str] = {}


def ip_text(addr: bytes) -> str:
    """Printable address (cached: a capture has few distinct hosts and many flows)."""
    text = _TEXT_CACHE.get(addr)
    if text is None:
        if len(_TEXT_CACHE) > 65536:
            _TEXT_CACHE.clear()
        text = _TEXT_CACHE[addr] = str(ipaddress.ip_address(addr))
    return text


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


class Fragments:
    """Bounded IP fragment reassembly: at most ``limit`` datagrams pending, 64 KB each."""

    def __init__(self, limit: int = 512) -> None:
        self.limit = limit
        self.pending: dict[tuple, tuple[list[tuple[int, bytes]], list[int]]] = {}

    def add(self, key: tuple, offset: int, more: bool, data: bytes) -> bytes | None:
        """Store one fragment; return the whole payload once every piece is there."""
        entry = self.pending.get(key)
        if entry is None:
            if len(self.pending) >= self.limit:
                del self.pending[next(iter(self.pending))]
            entry = ([], [-1])
            self.pending[key] = entry
        pieces, total = entry
        if offset + len(data) > 65535:
            del self.pending[key]
            return None
        pieces.append((offset, data))
        if not more:
            total[0] = offset + len(data)
        if total[0] < 0:
            return None
        pieces.sort(key=lambda p: p[0])
        covered = 0
        for off, piece in pieces:
            if off > covered:
                return None
            covered = max(covered, off + len(piece))
        if covered < total[0]:
            return None
        del self.pending[key]
        out = bytearray(total[0])
        for off, piece in pieces:
            out[off:off + len(piece)] = piece[: total[0] - off]
        return bytes(out)


def decode(linktype: int, frame: bytes, frags: Fragments) -> Decoded | None:
    """IP header fields of a frame, or None for anything that is not (complete) IPv4/IPv6."""
    mac = b""
    if linktype == LINK_ETHERNET:
        if len(frame) < 14:
            return None
        etype = (frame[12] << 8) | frame[13]
        mac = frame[6:12]
        off = 14
        while etype in VLAN_TYPES:
            if len(frame) < off + 4:
                return None
            etype = (frame[off + 2] << 8) | frame[off + 3]
            off += 4
        if etype == PPPOE_SESSION:
            if len(frame) < off + 8:
                return None
            ppp = (frame[off + 6] << 8) | frame[off + 7]
            etype = ETH_IPV4 if ppp == 0x0021 else ETH_IPV6 if ppp == 0x0057 else 0
            off += 8
        elif etype in MPLS_TYPES:
            while len(frame) >= off + 4:
                bottom = frame[off + 2] & 1
                off += 4
                if bottom:
                    break
            etype = _version_type(frame, off)
    elif linktype == LINK_SLL:
        if len(frame) < 16:
            return None
        etype = (frame[14] << 8) | frame[15]
        if ((frame[4] << 8) | frame[5]) == 6:
            mac = frame[6:12]
        off = 16
    elif linktype == LINK_SLL2:
        if len(frame) < 20:
            return None
        etype = (frame[0] << 8) | frame[1]
        if frame[11] == 6:
            mac = frame[12:18]
        off = 20
    elif linktype in LINK_RAW or linktype == LINK_IPV4 or linktype == LINK_IPV6:
        off = 0
        etype = _version_type(frame, 0)
    elif linktype == LINK_NULL or linktype == LINK_LOOP:
        if len(frame) < 4:
            return None
        family = int.from_bytes(frame[:4], "big" if linktype == LINK_LOOP else "little")
        if family > 0xFFFF:
            family = int.from_bytes(frame[:4], "big")
        etype = ETH_IPV4 if family == 2 else ETH_IPV6 if family in INET6_FAMILIES else 0
        off = 4
    else:
        return None
    if etype == ETH_IPV4:
        return _ipv4(frame, off, mac, frags)
    if etype == ETH_IPV6:
        return _ipv6(frame, off, mac, frags)
    return None


def _version_type(frame: bytes, off: int) -> int:
    if len(frame) <= off:
        return 0
    v = frame[off] >> 4
    return ETH_IPV4 if v == 4 else ETH_IPV6 if v == 6 else 0


def _ipv4(frame: bytes, off: int, mac: bytes, frags: Fragments) -> Decoded | None:
    if len(frame) < off + 20 or frame[off] >> 4 != 4:
        return None
    ihl = (frame[off] & 0x0F) * 4
    total = (frame[off + 2] << 8) | frame[off + 3]
    end = min(off + total, len(frame)) if total else len(frame)  # TSO captures may say 0
    start = off + ihl
    if ihl < 20 or start > end:
        return None
    proto = frame[off + 9]
    src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
    flags = (frame[off + 6] << 8) | frame[off + 7]
    if flags & IPV4_FRAGMENTED:
        whole = frags.add((src, dst, proto, frame[off + 4:off + 6]), (flags & 0x1FFF) * 8,
                          bool(flags & 0x2000), frame[start:end])
        if whole is None:
            return None
        return src, dst, proto, whole, 0, len(whole), mac
    return src, dst, proto, frame, start, end, mac


def _ipv6(frame: bytes, off: int, mac: bytes, frags: Fragments) -> Decoded | None:
    if len(frame) < off + 40 or frame[off] >> 4 != 6:
        return None
    plen = (frame[off + 4] << 8) | frame[off + 5]
    end = min(off + 40 + plen, len(frame)) if plen else len(frame)
    nxt = frame[off + 6]
    src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
    pos = off + 40
    for _ in range(8):
        if nxt in IPV6_EXT_HEADERS:
            if pos + 8 > end:
                return None
            nxt, pos = frame[pos], pos + (frame[pos + 1] + 1) * 8
        elif nxt == 51:  # authentication header counts 4-byte units
            if pos + 8 > end:
                return None
            nxt, pos = frame[pos], pos + (frame[pos + 1] + 2) * 4
        elif nxt == IPV6_FRAGMENT:
            if pos + 8 > end:
                return None
            word = (frame[pos + 2] << 8) | frame[pos + 3]
            whole = frags.add((src, dst, frame[pos], frame[pos + 4:pos + 8]), word & 0xFFF8,
                              bool(word & 1), frame[pos + 8:end])
            if whole is None:
                return None
            return src, dst, frame[pos], whole, 0, len(whole), mac
        else:
            break
    if pos > end:
        return None
    return src, dst, nxt, frame, pos, end, mac
