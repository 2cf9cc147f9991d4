"""DNS messages: query names, and A/AAAA answers mapped back to the name asked.

The answers build an IP → name map that attributes flows without a server name
(ECH, resumed sessions, pooled connections that opened before the capture).
"""

from __future__ import annotations

from dataclasses import dataclass, field

TYPE_A, TYPE_CNAME, TYPE_AAAA = 1, 5, 28
MAX_RECORDS = 64


@dataclass
class DnsMessage:
    response: bool
    questions: list[str] = field(default_factory=list)
    answers: list[tuple[bytes, str]] = field(default_factory=list)  # (address, queried name)


def parse_dns(msg: bytes) -> DnsMessage | None:
    """Parse a DNS message (UDP payload or one TCP message without its length prefix)."""
    try:
        return _parse(msg)
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def _name(msg: bytes, pos: int) -> tuple[str, int]:
    """A (possibly compressed) name at ``pos`` and the position after it in the record."""
    labels: list[bytes] = []
    after = -1
    for _ in range(128):
        n = msg[pos]
        if n == 0:
            pos += 1
            break
        if n < 0x40:  # a label; one cut short leaves pos past the end, so the next read raises
            labels.append(msg[pos + 1:pos + 1 + n])
            pos += 1 + n
        elif n >= 0xC0:  # compression pointer
            if after < 0:
                after = pos + 2
            pos = ((n & 0x3F) << 8) | msg[pos + 1]
        else:
            raise ValueError("bad label")
    else:
        raise ValueError("name loop")
    return b".".join(labels).decode("ascii").lower(), after if after >= 0 else pos


def _parse(msg: bytes) -> DnsMessage | None:
    if len(msg) < 12:
        return None
    flags = (msg[2] << 8) | msg[3]
    if flags & 0x7800:  # only standard queries
        return None
    qd, an = (msg[4] << 8) | msg[5], (msg[6] << 8) | msg[7]
    if qd == 0 or qd > 16:
        return None
    out = DnsMessage(response=bool(flags & 0x8000))
    pos = 12
    for _ in range(qd):
        name, pos = _name(msg, pos)
        if pos + 4 > len(msg):
            raise IndexError
        pos += 4
        out.questions.append(name)
    if not out.response or flags & 0x000F:  # error responses carry no usable answers
        return out
    asked = out.questions[0]
    for _ in range(min(an, MAX_RECORDS)):
        if msg[pos] == 0xC0 and msg[pos + 1] == 12:  # the usual owner: a pointer to the question, read above
            pos += 2
        else:
            _owner, pos = _name(msg, pos)
        if pos + 10 > len(msg):
            raise IndexError
        rtype = (msg[pos] << 8) | msg[pos + 1]
        rdlen = (msg[pos + 8] << 8) | msg[pos + 9]
        rdata = msg[pos + 10:pos + 10 + rdlen]
        pos += 10 + rdlen
        if (rtype == TYPE_A and rdlen == 4) or (rtype == TYPE_AAAA and rdlen == 16):
            out.answers.append((rdata, asked))
    return out
