"""DNS messages: query names and types, and answer addresses mapped back to the name asked.

The answers (A, AAAA, and the address hints of HTTPS/SVCB records) build an
IP → name map that attributes flows without a usable server name (ECH, resumed
sessions, pooled connections that opened before the capture). HTTPS/SVCB
queries matter on their own: a client fetches the ECH configuration of a name
from its HTTPS record right before an ECH connection to it. DNS over TCP comes
as length-prefixed messages (:func:`tcp_messages`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

TYPE_A, TYPE_CNAME, TYPE_AAAA, TYPE_SVCB, TYPE_HTTPS = 1, 5, 28, 64, 65
SERVICE_BINDING_TYPES = (TYPE_SVCB, TYPE_HTTPS)
SVC_IPV4HINT, SVC_IPV6HINT = 4, 6
MAX_RECORDS = 64


@dataclass
class DnsMessage:
    response: bool
    questions: list[str] = field(default_factory=list)
    answers: list[tuple[bytes, str]] = field(default_factory=list)  # (address, queried name)
    qtypes: list[int] = field(default_factory=list)  # the type of each question


class TcpDnsStream:
    """One direction of DNS over TCP: segments in by sequence number (in any order, repeated
    or overlapping), whole messages out. Holds at most one message plus ``WINDOW`` bytes
    that arrived early, and stops after ``LIMIT`` bytes (:attr:`exhausted`)."""

    WINDOW = 1 << 16
    LIMIT = 1 << 20

    __slots__ = ("next_seq", "buf", "pending", "pending_bytes", "taken")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.buf = bytearray()
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0
        self.taken = 0

    @property
    def exhausted(self) -> bool:
        return self.taken >= self.LIMIT

    def start(self, syn_seq: int) -> None:
        """The sender's SYN: its data starts one after ``syn_seq``."""
        if self.next_seq is None:
            self.next_seq = (syn_seq + 1) & 0xFFFFFFFF

    def segment(self, seq: int, payload: bytes) -> list[bytes]:
        """Add one segment; return the DNS messages it completed."""
        if self.next_seq is None:
            self.next_seq = seq
        if not self._put(seq, payload):
            return []
        while self.pending:
            ready = [s for s in self.pending if (s - self.next_seq) & 0xFFFFFFFF >= 0x80000000
                     or s == self.next_seq]
            if not ready:
                break
            for s in sorted(ready, key=lambda s: (s - self.next_seq) & 0xFFFFFFFF):
                piece = self.pending.pop(s)
                self.pending_bytes -= len(piece)
                self._put(s, piece)
        messages, used = tcp_messages(self.buf)
        del self.buf[:used]
        return messages

    def _put(self, seq: int, payload: bytes) -> bool:
        """Append what continues the stream, keep what comes later; True when bytes were appended."""
        rel = (seq - self.next_seq) & 0xFFFFFFFF  # type: ignore[operator]
        if rel >= 0x80000000:  # starts before the next byte: a repeat, or an overlap to trim
            back = 0x100000000 - rel
            if back >= len(payload):
                return False
            payload, rel = payload[back:], 0
        if rel:
            known = self.pending.get(seq, b"")
            if len(payload) > len(known) and rel < self.WINDOW and self.pending_bytes < self.WINDOW:
                self.pending[seq] = payload
                self.pending_bytes += len(payload) - len(known)
            return False
        self.buf += payload
        self.next_seq = (self.next_seq + len(payload)) & 0xFFFFFFFF  # type: ignore[operator]
        self.taken += len(payload)
        return True


class ServiceQueries:
    """Recent HTTPS/SVCB lookups of catalogue names per client (bounded).

    A client fetches a name's ECH configuration from its HTTPS record right before an
    ECH connection, so a lookup shortly before such a connection names its server.
    """

    WINDOW = 10.0  # seconds between the lookup and the connection
    MAX_CLIENTS = 4096
    PER_CLIENT = 8

    def __init__(self) -> None:
        self.by_client: dict[bytes, list[tuple[float, str]]] = {}

    def add(self, client: bytes, ts: float, name: str) -> None:
        queries = self.by_client.get(client)
        if queries is None:
            if len(self.by_client) >= self.MAX_CLIENTS:
                del self.by_client[next(iter(self.by_client))]
            queries = self.by_client[client] = []
        queries.append((ts, name))
        del queries[:-self.PER_CLIENT]

    def before(self, client: bytes, ts: float) -> str | None:
        """The name this client looked up last within :attr:`WINDOW` before ``ts`` (1 s of clock slack)."""
        for when, name in reversed(self.by_client.get(client, ())):
            if ts - self.WINDOW <= when <= ts + 1.0:
                return name
        return None


def tcp_messages(buf: bytes | bytearray, pos: int = 0) -> tuple[list[bytes], int]:
    """The whole length-prefixed DNS messages in ``buf`` from ``pos``, and the position after the last."""
    out = []
    while pos + 2 <= len(buf):
        end = pos + 2 + ((buf[pos] << 8) | buf[pos + 1])
        if end > len(buf):
            break
        out.append(bytes(buf[pos + 2:end]))
        pos = end
    return out, pos


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
        qtype = (msg[pos] << 8) | msg[pos + 1]
        pos += 4
        if qtype in SERVICE_BINDING_TYPES and name.startswith("_"):
            name = _service_owner(name)
        out.questions.append(name)
        out.qtypes.append(qtype)
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
        elif rtype in SERVICE_BINDING_TYPES:
            out.answers += ((addr, asked) for addr in _address_hints(rdata))
    return out


def _service_owner(name: str) -> str:
    """``_8443._https.api.example.com`` → ``api.example.com`` (port-prefixed service binding names)."""
    labels = name.split(".")
    while labels and labels[0].startswith("_"):
        labels.pop(0)
    return ".".join(labels)


def _address_hints(rdata: bytes) -> list[bytes]:
    """The ipv4hint/ipv6hint addresses of an SVCB/HTTPS record (RFC 9460 §2.2, §7.3)."""
    pos = 2  # SvcPriority; AliasMode (0) records carry no parameters
    if len(rdata) < 3 or not (rdata[0] or rdata[1]):
        return []
    while pos < len(rdata) and rdata[pos]:  # TargetName, never compressed
        pos += 1 + rdata[pos]
    pos += 1
    out = []
    while pos + 4 <= len(rdata):
        key, length = (rdata[pos] << 8) | rdata[pos + 1], (rdata[pos + 2] << 8) | rdata[pos + 3]
        value = rdata[pos + 4:pos + 4 + length]
        pos += 4 + length
        size = 4 if key == SVC_IPV4HINT else 16 if key == SVC_IPV6HINT else 0
        if size and len(value) == length:
            out += (value[i:i + size] for i in range(0, length - size + 1, size))
    return out[:MAX_RECORDS]
