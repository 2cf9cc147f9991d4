"""QUIC v1/v2 client Initial packets: remove protection and collect CRYPTO frames (RFC 9001 §5).

Initial keys derive from the Destination Connection ID the client chose, so a
passive observer can read the ClientHello. Needs ``cryptography`` for AES; without
it :data:`AVAILABLE` is False and the caller records a coverage gap.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    AVAILABLE = False

V1, V2 = 0x00000001, 0x6B3343CF
_SALTS = {
    V1: bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
    V2: bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
}
_LABEL_PREFIX = {V1: b"quic ", V2: b"quicv2 "}
_INITIAL_TYPE = {V1: 0, V2: 1}
_RETRY_TYPE = {V1: 3, V2: 0}
MAX_CRYPTO = 16384


@dataclass(frozen=True)
class InitialKeys:
    key: bytes
    iv: bytes
    hp: bytes


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = struct.pack(">HB", length, len(full)) + full + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def client_initial_keys(version: int, dcid: bytes) -> InitialKeys:
    initial = hmac.new(_SALTS[version], dcid, hashlib.sha256).digest()
    client = _expand_label(initial, b"client in", 32)
    p = _LABEL_PREFIX[version]
    return InitialKeys(_expand_label(client, p + b"key", 16), _expand_label(client, p + b"iv", 12),
                       _expand_label(client, p + b"hp", 16))


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    first = buf[pos]
    n = 1 << (first >> 6)
    if pos + n > len(buf):
        raise IndexError
    v = first & 0x3F
    for i in range(1, n):
        v = (v << 8) | buf[pos + i]
    return v, pos + n


def initial_header(datagram: bytes) -> tuple[int, bytes] | None:
    """(version, DCID) when a datagram starts with a QUIC v1/v2 Initial packet."""
    if len(datagram) < 7 or datagram[0] & 0xC0 != 0xC0:
        return None
    version = int.from_bytes(datagram[1:5], "big")
    if version not in _SALTS or (datagram[0] >> 4) & 3 != _INITIAL_TYPE[version]:
        return None
    dlen = datagram[5]
    if dlen > 20 or len(datagram) < 6 + dlen:
        return None
    return version, datagram[6:6 + dlen]


def retry_source_cid(datagram: bytes) -> bytes | None:
    """The Source Connection ID of a server's Retry packet (the client's next Initials go to it), or None."""
    if len(datagram) < 7 or datagram[0] & 0xC0 != 0xC0:
        return None
    version = int.from_bytes(datagram[1:5], "big")
    if version not in _RETRY_TYPE or (datagram[0] >> 4) & 3 != _RETRY_TYPE[version]:
        return None
    pos = 6 + datagram[5]
    if pos >= len(datagram) or pos + 1 + datagram[pos] > len(datagram):
        return None
    return datagram[pos + 1:pos + 1 + datagram[pos]]


def source_cid(datagram: bytes) -> bytes:
    """Source Connection ID of the long-header packet starting ``datagram`` (b"" when absent or cut short)."""
    if len(datagram) < 7:
        return b""
    pos = 6 + datagram[5]
    if pos >= len(datagram):
        return b""
    return datagram[pos + 1:pos + 1 + datagram[pos]]


def crypto_frames(datagram: bytes, keys_for: "callable") -> list[tuple[int, bytes]]:
    """(offset, data) of every CRYPTO frame in the client Initial packets of a datagram.

    ``keys_for(version, dcid)`` returns the keys to use (the flow's first DCID).
    """
    out: list[tuple[int, bytes]] = []
    try:
        pos = 0
        while pos < len(datagram):
            head = initial_header(datagram[pos:])
            if head is None:
                break
            version, dcid = head
            packet_end = _decrypt_one(datagram, pos, version, keys_for(version, dcid), out)
            if packet_end is None:
                break
            pos = packet_end
    except (IndexError, ValueError):
        pass
    return out


def _decrypt_one(buf: bytes, start: int, version: int, keys: InitialKeys, out: list[tuple[int, bytes]]) -> int | None:
    pos = start + 6 + buf[start + 5]
    pos += 1 + buf[pos]  # source connection id
    token_len, pos = _varint(buf, pos)
    pos += token_len
    length, pn_offset = _varint(buf, pos)
    end = pn_offset + length
    if end > len(buf) or length < 20:
        return None
    sample = buf[pn_offset + 4:pn_offset + 20]
    enc = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor()
    mask = enc.update(sample) + enc.finalize()
    first = buf[start] ^ (mask[0] & 0x0F)
    pn_len = (first & 3) + 1
    # packet number and nonce as integers: one XOR each instead of a loop over bytes
    pn = int.from_bytes(buf[pn_offset:pn_offset + pn_len], "big") ^ int.from_bytes(mask[1:1 + pn_len], "big")
    header = bytes([first]) + buf[start + 1:pn_offset] + pn.to_bytes(pn_len, "big")
    nonce = (int.from_bytes(keys.iv, "big") ^ pn).to_bytes(12, "big")
    try:
        plain = AESGCM(keys.key).decrypt(nonce, buf[pn_offset + pn_len:end], header)
    except InvalidTag:
        return None
    _frames(plain, out)
    return end


def _frames(plain: bytes, out: list[tuple[int, bytes]]) -> None:
    pos = 0
    while pos < len(plain):
        ftype = plain[pos]
        if ftype == 0x00 or ftype == 0x01:  # PADDING, PING
            pos += 1
        elif ftype == 0x06:  # CRYPTO
            offset, pos = _varint(plain, pos + 1)
            length, pos = _varint(plain, pos)
            if offset + length <= MAX_CRYPTO:
                out.append((offset, plain[pos:pos + length]))
            pos += length
        elif ftype in (0x02, 0x03):  # ACK
            _largest, pos = _varint(plain, pos + 1)
            _delay, pos = _varint(plain, pos)
            count, pos = _varint(plain, pos)
            _first, pos = _varint(plain, pos)
            for _ in range(count):
                _gap, pos = _varint(plain, pos)
                _len, pos = _varint(plain, pos)
            if ftype == 0x03:
                for _ in range(3):
                    _n, pos = _varint(plain, pos)
        else:  # CONNECTION_CLOSE or anything not allowed in Initial: stop
            return


def assemble(pieces: dict[int, bytes]) -> bytes:
    """Contiguous CRYPTO stream bytes from offset 0."""
    out = bytearray()
    for offset in sorted(pieces):
        data = pieces[offset]
        if offset > len(out):
            break
        out += data[len(out) - offset:]
    return bytes(out)


def hello_random(stream: bytes) -> bytes:
    """The 32-byte random of the ClientHello a CRYPTO stream starts with (b"" until it is there).

    A client that resends its CRYPTO data as it was after a Retry repeats it; a new connection has a new one.
    """
    return stream[6:38] if len(stream) >= 38 and stream[0] == 1 else b""


def client_random(frames: list[tuple[int, bytes]]) -> bytes:
    """:func:`hello_random` of the CRYPTO frames of one datagram."""
    return hello_random(assemble(dict(frames)))
