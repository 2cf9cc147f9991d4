"""TLS ClientHello: server name, ALPN, ECH and a JA4-style client fingerprint.

The fingerprint tells one TLS stack from another (a Python SDK from a browser)
and is part of the agent identity. A ClientHello with the Encrypted Client Hello
extension carries the real server name encrypted; its SNI is then the
client-facing server's public name (or, for GREASE ECH, still the real name).
Malformed input returns None, never raises.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
from dataclasses import dataclass

NEED_MORE = "need-more"
MAX_HELLO = 1 << 16

_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3"}
EXT_SNI, EXT_ALPN, EXT_SIGALGS, EXT_VERSIONS = 0x0000, 0x0010, 0x000D, 0x002B
EXT_ECH = 0xFE0D  # encrypted_client_hello (RFC 9849)
_EXT_HEADER = struct.Struct(">HH").unpack_from
_ALNUM = re.compile(rb"[0-9A-Za-z]+")
_HOSTNAME = re.compile(r"[A-Za-z0-9_.-]{1,253}")


@dataclass(frozen=True)
class ClientHello:
    sni: str | None
    alpn: tuple[str, ...]
    ja4: str
    ech: bool = False  # the encrypted_client_hello extension is present


def valid_server_name(name: str) -> str | None:
    """A server name as reports show it (lower case, no final dot), or None when it is not a host name.

    The one rule for every source of server names (ClientHellos, Zeek logs, SOCKS targets): letters,
    digits, '-', '_' and '.', so ``server4:443`` or a name with spaces is not a host name.
    """
    name = name.strip().lower().rstrip(".")
    return name if _HOSTNAME.fullmatch(name) else None


def is_grease(v: int) -> bool:
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


def looks_like_tls(buf: bytes) -> bool:
    """First bytes of a TLS handshake record (any version a client would send)."""
    return len(buf) >= 3 and buf[0] == 0x16 and buf[1] == 0x03 and buf[2] <= 0x04


def handshake_from_records(buf: bytes) -> bytes | str | None:
    """The first handshake message carried by TLS records at the start of ``buf``.

    Returns NEED_MORE while the message is incomplete, None when ``buf`` is not TLS.
    """
    body = bytearray()
    pos = 0
    while True:
        if len(buf) < pos + 5:
            return NEED_MORE
        if buf[pos] != 0x16 or buf[pos + 1] != 0x03:
            return None
        rlen = (buf[pos + 3] << 8) | buf[pos + 4]
        if rlen == 0 or rlen > 18432:
            return None
        chunk = buf[pos + 5:pos + 5 + rlen]
        body += chunk
        if len(body) >= 4:
            need = 4 + ((body[1] << 16) | (body[2] << 8) | body[3])
            if body[0] != 1 or need > MAX_HELLO:
                return None
            if len(body) >= need:
                return bytes(body[:need])
        if len(chunk) < rlen:
            return NEED_MORE
        pos += 5 + rlen


def parse_client_hello(msg: bytes, transport: str = "t") -> ClientHello | None:
    """Parse a handshake message (type 1 + 3-byte length + body); ``transport`` 't' TCP, 'q' QUIC."""
    try:
        return _parse(msg, transport)
    except (IndexError, ValueError, UnicodeDecodeError, struct.error):
        return None


def _u16(b: bytes, i: int) -> int:
    if i + 2 > len(b):
        raise IndexError
    return (b[i] << 8) | b[i + 1]


def _parse(msg: bytes, transport: str) -> ClientHello | None:
    if len(msg) < 4 or msg[0] != 1:
        return None
    end = min(len(msg), 4 + ((msg[1] << 16) | (msg[2] << 8) | msg[3]))
    legacy_version = _u16(msg, 4)
    pos = 4 + 2 + 32
    pos += 1 + msg[pos]  # session id
    clen = _u16(msg, pos)
    if pos + 2 + clen > end:
        return None
    ciphers = struct.unpack_from(f">{clen // 2}H", msg, pos + 2)
    pos += 2 + clen
    pos += 1 + msg[pos]  # compression methods
    if pos > end:
        return None
    sni = None
    alpn: list[bytes] = []
    ext_types: list[int] = []
    sigalgs: list[int] = []
    versions: list[int] = []
    if pos + 2 <= end:
        ext_end = min(end, pos + 2 + _u16(msg, pos))
        pos += 2
        while pos + 4 <= ext_end:
            etype, elen = _EXT_HEADER(msg, pos)
            data = msg[pos + 4:pos + 4 + elen]
            pos += 4 + elen
            if len(data) < elen:
                return None
            ext_types.append(etype)
            if etype == EXT_SNI:
                sni = _server_name(data)
            elif etype == EXT_ALPN:
                alpn = _alpn(data)
            elif etype == EXT_SIGALGS and len(data) >= 2:
                sigalgs = struct.unpack_from(f">{min(_u16(data, 0), len(data) - 2) // 2}H", data, 2)
            elif etype == EXT_VERSIONS and len(data) >= 1:
                versions = struct.unpack_from(f">{min(data[0], len(data) - 1) // 2}H", data, 1)
    ja4 = ja4_fingerprint(transport, legacy_version, tuple(versions), EXT_SNI in ext_types, ciphers,
                          tuple(ext_types), alpn[0] if alpn else b"", tuple(sigalgs))
    return ClientHello(sni, tuple(a.decode("ascii", "replace") for a in alpn), ja4, EXT_ECH in ext_types)


def _server_name(data: bytes) -> str | None:
    pos = 2
    end = min(len(data), 2 + _u16(data, 0))
    while pos + 3 <= end:
        ntype, nlen = data[pos], _u16(data, pos + 1)
        name = data[pos + 3:pos + 3 + nlen]
        pos += 3 + nlen
        if ntype == 0 and name:
            return valid_server_name(name.decode("ascii")) if name.isascii() else None
    return None


def _alpn(data: bytes) -> list[bytes]:
    out = []
    pos = 2
    end = min(len(data), 2 + _u16(data, 0))
    while pos < end:
        n = data[pos]
        out.append(data[pos + 1:pos + 1 + n])
        pos += 1 + n
    return out


@functools.lru_cache(maxsize=4096)
def ja4_fingerprint(transport: str, legacy: int, versions: tuple[int, ...], has_sni: bool, ciphers: tuple[int, ...],
                    exts: tuple[int, ...], first_alpn: bytes, sigalgs: tuple[int, ...]) -> str:
    """JA4 (FoxIO spec, technical_details/JA4.md): ``t13d1516h2_<ciphers hash>_<extensions+sigalgs hash>``.

    A hash of an empty list is written ``000000000000``. Cached: one client stack sends the same
    lists in every ClientHello.
    """
    real_versions = [v for v in versions if not is_grease(v)]
    version = _VERSIONS.get(max(real_versions) if real_versions else legacy, "00")
    ciphers = [c for c in ciphers if not is_grease(c)]
    exts = [e for e in exts if not is_grease(e)]
    first = first_alpn
    if not first:
        alpn_code = "00"
    else:
        alpn_code = _alpn_code(first[0], first[-1])
    a = f"{transport}{version}{'d' if has_sni else 'i'}{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{alpn_code}"
    b = _hash12(",".join(f"{c:04x}" for c in sorted(ciphers))) if ciphers else "000000000000"
    ext_list = ",".join(f"{e:04x}" for e in sorted(e for e in exts if e not in (EXT_SNI, EXT_ALPN)))
    sig = ",".join(f"{s:04x}" for s in sigalgs if not is_grease(s))
    c = _hash12(ext_list + ("_" + sig if sig else "")) if ext_list else "000000000000"
    return f"{a}_{b}_{c}"


def _alpn_code(first: int, last: int) -> str:
    """JA4's two ALPN characters from the first and last byte of the first ALPN value.

    ASCII letters and digits as they are. A non-ASCII byte is written '9', as every FoxIO
    reference implementation does (their published value for ``tls-non-ascii-alpn.pcapng`` is
    ``t13d151699``); other ASCII bytes by the spec's rule, the first and last hex digit.
    """
    if _ALNUM.fullmatch(bytes((first, last))):
        return chr(first) + chr(last)
    if first >= 0x80 or last >= 0x80:
        return "".join("9" if b >= 0x80 else chr(b) for b in (first, last))
    raw = bytes((first, last)).hex()
    return raw[0] + raw[-1]


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
