"""Protocol openings a client sends before its TLS ClientHello on the same TCP connection.

STARTTLS upgrades a plaintext session (SMTP, IMAP, POP3 ``STLS``, FTP ``AUTH TLS``,
LDAP's StartTLS extended operation); PostgreSQL asks with an ``SSLRequest``; a SOCKS
4/4a/5 client names its target to the proxy, then talks TLS to that target through it.
Only the client's bytes are read: :func:`opening` says how many belong to the opening,
so that the ClientHello is read after them. A SOCKS5 password is skipped, never kept.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

from detectors.network.tls import valid_server_name

NEED_MORE = "need-more"
MAX_LINE = 1000  # SMTP's line limit (RFC 5321 §4.5.3.1.6) is the largest of these protocols'
MAX_LINES = 16

SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"  # PostgreSQL SSLRequest: length 8, code 80877103
GSSENC_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x30"  # ... GSSENCRequest, which libpq may try first
LDAP_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
SOCKS_CONNECT = 0x01
SOCKS5_USERPASS = 0x02  # RFC 1928 method: RFC 1929 username/password sub-negotiation follows

# (protocol, commands a client may send before asking for TLS, the command that asks)
_TAG = rb"[A-Za-z0-9.*_-]+ "
_LINE_PROTOCOLS = (
    ("smtp-starttls", re.compile(rb"(?:EHLO|HELO|LHLO)(?: [!-~]+)?|NOOP|RSET", re.I), re.compile(rb"STARTTLS", re.I)),
    ("imap-starttls", re.compile(_TAG + rb"(?:CAPABILITY|NOOP|ID .*)", re.I), re.compile(_TAG + rb"STARTTLS", re.I)),
    ("pop3-stls", re.compile(rb"CAPA|NOOP", re.I), re.compile(rb"STLS", re.I)),
    ("ftp-auth-tls", re.compile(rb"FEAT|SYST|NOOP|HOST [!-~]+", re.I), re.compile(rb"AUTH (?:TLS|SSL|TLS-C)", re.I)),
)
_PRINTABLE = re.compile(rb"[\t\r\n -~]*")


class Opening(NamedTuple):
    """``length`` bytes of ``protocol`` come before the TLS; ``target`` is a proxy's (host, port)."""

    protocol: str
    length: int
    target: tuple[str, int] | None = None


def opening(data: bytes) -> Opening | str | None:
    """The opening at the start of ``data``; NEED_MORE while it may still be one, None when it is none."""
    first = data[0]
    if first == 0x04:
        return _socks4(data)
    if first == 0x05:
        return _socks5(data)
    if first == 0x00:
        return _postgres(data)
    if first == 0x30:
        return _ldap(data)
    if 0x21 <= first <= 0x7E:  # a command line (an IMAP tag may be '.' or '*')
        return _text(data)
    return None


def _text(data: bytes) -> Opening | str | None:
    """A line protocol's commands up to the one that asks for TLS."""
    lines: list[tuple[bytes, int]] = []
    pos = 0
    while len(lines) < MAX_LINES:
        nl = data.find(b"\n", pos, pos + MAX_LINE)
        if nl < 0:
            break
        lines.append((data[pos:nl].rstrip(b"\r"), nl + 1))
        pos = nl + 1
    rest = data[pos:]
    maybe = len(lines) < MAX_LINES and len(rest) < MAX_LINE and _PRINTABLE.fullmatch(rest) is not None
    for protocol, setup, starts in _LINE_PROTOCOLS:
        for line, after in lines:
            if starts.fullmatch(line):
                return Opening(protocol, after)
            if not setup.fullmatch(line):
                break
        else:
            if maybe:
                return NEED_MORE
    return None


def _postgres(data: bytes) -> Opening | str | None:
    pos = 8 if data.startswith(GSSENC_REQUEST) else 0
    head = data[pos:pos + 8]
    if head == SSL_REQUEST:
        return Opening("postgres-ssl", pos + 8)
    if SSL_REQUEST.startswith(head) or (not pos and GSSENC_REQUEST.startswith(head)):
        return NEED_MORE
    return None


def _ldap(data: bytes) -> Opening | str | None:
    """An LDAPMessage (BER SEQUENCE) holding the StartTLS extended request."""
    if len(data) < 2:
        return NEED_MORE
    n = data[1]
    if n < 0x80:
        length, head = n, 2
    elif n in (0x81, 0x82):
        head = 2 + (n & 0x7F)
        if len(data) < head:
            return NEED_MORE
        length = int.from_bytes(data[2:head], "big")
    else:
        return None
    if length > 512 or (len(data) > head and data[head] != 0x02):  # messageID INTEGER first
        return None
    total = head + length
    if len(data) < total:
        return NEED_MORE
    body = data[head:total]
    if b"\x77" in body and b"\x80" + bytes([len(LDAP_STARTTLS_OID)]) + LDAP_STARTTLS_OID in body:
        return Opening("ldap-starttls", total)
    return None


def _socks4(data: bytes) -> Opening | str | None:
    """SOCKS4: VN CD DSTPORT DSTIP USERID NUL; SOCKS4a adds HOST NUL when DSTIP is 0.0.0.x (x > 0)."""
    if len(data) >= 2 and data[1] != SOCKS_CONNECT:
        return None
    if len(data) < 9:
        return NEED_MORE
    user_end = data.find(b"\x00", 8, 8 + 256)
    if user_end < 0:
        return NEED_MORE if len(data) < 8 + 256 else None
    port = (data[2] << 8) | data[3]
    end = user_end + 1
    if data[4:7] == b"\x00\x00\x00" and data[7]:
        host_end = data.find(b"\x00", end, end + 256)
        if host_end < 0:
            return NEED_MORE if len(data) < end + 256 else None
        host = _name(data[end:host_end])
        end = host_end + 1
        if host is None:
            return None
        return Opening("socks4a", end, (host, port))
    return Opening("socks4", end, (str(ipaddress.ip_address(data[4:8])), port))


def _socks5(data: bytes) -> Opening | str | None:
    """SOCKS5 (RFC 1928): greeting, optional RFC 1929 login (skipped), then CONNECT to a target."""
    if len(data) < 2:
        return NEED_MORE
    pos = 2 + data[1]
    if not data[1] or len(data) <= pos:
        return NEED_MORE if data[1] else None
    methods = data[2:pos]
    if data[pos] == 0x01 and SOCKS5_USERPASS in methods:  # VER 1, ULEN, UNAME, PLEN, PASSWD
        if len(data) < pos + 2 or len(data) < pos + 3 + data[pos + 1]:
            return NEED_MORE
        pos += 3 + data[pos + 1] + data[pos + 2 + data[pos + 1]]
    request = data[pos:pos + 5]
    if len(request) < 5:
        return NEED_MORE if not request or request[0] == 0x05 else None
    if request[0] != 0x05 or request[1] != SOCKS_CONNECT or request[2] != 0:
        return None
    atyp, addr = request[3], pos + 4
    size = {0x01: 4, 0x04: 16, 0x03: 1 + request[4]}.get(atyp)
    if size is None:
        return None
    end = addr + size + 2
    if len(data) < end:
        return NEED_MORE
    port = (data[end - 2] << 8) | data[end - 1]
    host = _name(data[addr + 1:addr + size]) if atyp == 0x03 else str(ipaddress.ip_address(data[addr:addr + size]))
    if host is None:
        return None
    return Opening("socks5", end, (host, port))


def _name(raw: bytes) -> str | None:
    try:
        return valid_server_name(raw.decode("ascii"))
    except UnicodeDecodeError:
        return None
