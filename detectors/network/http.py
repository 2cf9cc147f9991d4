"""Plaintext HTTP requests: method, target, Host, User-Agent, API key header and body ``model``.

Enough to recognise calls to local model servers (Ollama, vLLM, ...) and
``CONNECT host:443`` through explicit proxies. HTTP/1.x is read from the text;
plaintext HTTP/2 (h2c, by prior knowledge or after ``Upgrade: h2c``) from its
frames, with header blocks decoded by the ``hpack`` package (without it
:data:`H2_AVAILABLE` is False and the caller records a coverage gap). A key sent
in a header is returned once so the caller can fingerprint it; it is never
stored anywhere else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from detectors.network.tls import NEED_MORE

try:
    import hpack
    H2_AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    H2_AVAILABLE = False

METHODS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ", b"OPTIONS ", b"CONNECT ")
MAX_HEADERS = 8192
MAX_BODY = 16384
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,200})"')
# Which headers carry a key is catalogue data (providers' ``auth_headers``); the caller passes them.
KeyHeaders = tuple[bytes, ...]


def key_headers(names: tuple[str, ...] | list[str]) -> KeyHeaders:
    """Catalogue header names as this module compares them (lower-case bytes)."""
    return tuple(n.lower().encode("latin-1") for n in names)


@dataclass
class HttpRequest:
    method: str
    target: str
    host: str | None
    path: str
    user_agent: str | None
    model: str | None
    secret: str | None  # raw key from a header; hand to redact.credential() and drop
    consumed: int  # bytes of the stream this request used (headers, plus body if read)
    h2: bool = False  # read from h2c frames


def looks_like_http(buf: bytes) -> bool:
    return buf[:8].startswith(METHODS)


def parse_request(buf: bytes, final: bool = False, keys: KeyHeaders = ()) -> HttpRequest | str | None:
    """Parse one request at the start of ``buf``; NEED_MORE until headers (and a short body) arrived.

    ``keys``: the headers whose value is an API key (see :func:`key_headers`).
    """
    try:
        return _parse(buf, final, keys)
    except (ValueError, IndexError):
        return None


def _parse(buf: bytes, final: bool, keys: KeyHeaders) -> HttpRequest | str | None:
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        if len(buf) > MAX_HEADERS:
            return None
        if not final:
            return NEED_MORE
        head_end = len(buf)
    lines = buf[:head_end].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) < 2 or not lines[0].startswith(METHODS):
        return None
    method, target = parts[0].decode("ascii"), parts[1].decode("latin-1")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    body_start = head_end + 4
    length = _int(headers.get(b"content-length"))
    want = min(length, MAX_BODY) if length else 0
    if method != "CONNECT" and want and len(buf) - body_start < want and not final:
        return NEED_MORE
    body = buf[body_start:body_start + want] if want else b""
    host = headers.get(b"host", b"").decode("latin-1") or None
    path = target
    if "://" in target:  # absolute form through a proxy: GET http://host/path
        rest = target.split("://", 1)[1]
        host_part, _, tail = rest.partition("/")
        host, path = host or host_part, "/" + tail
    elif method == "CONNECT":
        host = target
    return HttpRequest(
        method=method, target=target, host=host, path=path.split("?", 1)[0],
        user_agent=headers.get(b"user-agent", b"").decode("latin-1")[:200] or None,
        model=_model(body), secret=_secret(headers, keys),
        consumed=body_start + (length if method != "CONNECT" else 0),
    )


def _int(value: bytes | None) -> int:
    try:
        return max(0, int(value)) if value else 0
    except ValueError:
        return 0


def _model(body: bytes) -> str | None:
    if not body:
        return None
    try:
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("model"), str):
            return data["model"][:200] or None
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    m = _MODEL.search(body)
    return m.group(1).decode("utf-8", "replace") if m else None


def _secret(headers: dict[bytes, bytes], keys: KeyHeaders) -> str | None:
    for name in keys:
        value = headers.get(name)
        if value:
            text = value.decode("latin-1")
            if name == b"authorization":
                scheme, _, token = text.partition(" ")
                if scheme.lower() != "bearer":
                    continue
                text = token.strip()
            return text or None
    return None


def split_host_port(hostport: str, default: int) -> tuple[str, int]:
    """``api.openai.com:443`` → (name, 443); ``[::1]:8000`` → ('::1', 8000)."""
    hostport = hostport.strip()
    if hostport.startswith("["):
        name, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif hostport.count(":") == 1:
        name, port = hostport.split(":")
    else:
        name, port = hostport, ""
    return name.lower().rstrip("."), int(port) if port.isdigit() else default


# ---- h2c ----------------------------------------------------------------------------------------

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_DATA, H2_HEADERS, H2_CONTINUATION = 0x0, 0x1, 0x9
H2_END_STREAM, H2_END_HEADERS, H2_PADDED, H2_PRIORITY = 0x1, 0x4, 0x8, 0x20
MAX_H2_STREAMS = 64
MAX_H2_HEADER_BLOCK = 65536


def starts_h2(buf: bytes) -> bool | str:
    """True when ``buf`` starts with the HTTP/2 client preface, NEED_MORE while it may still."""
    if buf.startswith(H2_PREFACE):
        return True
    return NEED_MORE if len(buf) < len(H2_PREFACE) and H2_PREFACE.startswith(buf) else False


@dataclass
class _H2Stream:
    headers: dict[bytes, bytes]
    body: bytearray = field(default_factory=bytearray)


class H2Requests:
    """The client side of one h2c connection: frames in, requests out.

    HPACK keeps a table across header blocks, so blocks are decoded in order, each
    once; after an undecodable block the connection is given up (:attr:`failed`).
    A request is complete at END_STREAM or once :data:`MAX_BODY` body bytes arrived.
    """

    def __init__(self, keys: KeyHeaders = ()) -> None:
        self.keys = keys  # headers whose value is an API key
        self.decoder = hpack.Decoder()
        self.decoder.max_allowed_table_size = 1 << 16  # the server may allow the client more than 4096
        self.preface = False
        self.failed = False
        self.streams: dict[int, _H2Stream] = {}
        self.block = bytearray()  # a header block continued in CONTINUATION frames
        self.block_stream = 0
        self.block_ends_stream = False

    def feed(self, buf: bytes, final: bool = False) -> tuple[list[HttpRequest], int]:
        """Read the whole frames at the start of ``buf``: (finished requests, bytes used).

        With ``final`` (no more bytes will come), or once the connection cannot be read
        further, a frame cut short and the requests still waiting for body bytes are
        finished with what arrived.
        """
        done: list[HttpRequest] = []
        pos = 0
        if not self.preface:
            if len(buf) < len(H2_PREFACE):
                return done, 0
            self.preface, pos = True, len(H2_PREFACE)
        while not self.failed and pos + 9 <= len(buf):
            length = int.from_bytes(buf[pos:pos + 3], "big")
            ftype, flags = buf[pos + 3], buf[pos + 4]
            stream = int.from_bytes(buf[pos + 5:pos + 9], "big") & 0x7FFFFFFF
            payload = buf[pos + 9:pos + 9 + length]
            if len(payload) < length:
                if final and ftype == H2_DATA:
                    self._data(stream, flags & ~H2_END_STREAM, payload, done)
                break
            pos += 9 + length
            if self.block_stream and ftype != H2_CONTINUATION:
                self.failed = True  # a header block must continue in the very next frame
            elif ftype == H2_HEADERS:
                self._headers(stream, flags, payload, done)
            elif ftype == H2_CONTINUATION:
                self._continuation(stream, flags, payload, done)
            elif ftype == H2_DATA:
                self._data(stream, flags, payload, done)
        if final or self.failed:  # no more frames will be read: finish what is open
            for sid in list(self.streams):
                done.append(self._request(self.streams.pop(sid)))
        return done, pos

    def _headers(self, stream: int, flags: int, payload: bytes, done: list[HttpRequest]) -> None:
        start, end = 0, len(payload)
        if flags & H2_PADDED:
            start, end = 1, end - (payload[0] if payload else 0)
        if flags & H2_PRIORITY:
            start += 5
        if start > end:
            self.failed = True
            return
        self.block = bytearray(payload[start:end])
        self.block_stream, self.block_ends_stream = stream, bool(flags & H2_END_STREAM)
        if flags & H2_END_HEADERS:
            self._decode(done)

    def _continuation(self, stream: int, flags: int, payload: bytes, done: list[HttpRequest]) -> None:
        if stream != self.block_stream or len(self.block) + len(payload) > MAX_H2_HEADER_BLOCK:
            self.failed = True
            return
        self.block += payload
        if flags & H2_END_HEADERS:
            self._decode(done)

    def _decode(self, done: list[HttpRequest]) -> None:
        stream, block = self.block_stream, bytes(self.block)
        self.block, self.block_stream = bytearray(), 0
        try:
            fields = self.decoder.decode(block, raw=True)
        except (hpack.HPACKError, ValueError, IndexError, TypeError):
            self.failed = True
            return
        headers: dict[bytes, bytes] = {}
        for name, value in fields:
            headers.setdefault(bytes(name).lower(), bytes(value))
        if b":method" not in headers or len(self.streams) >= MAX_H2_STREAMS:
            return  # trailers, or more open requests than worth following
        request = _H2Stream(headers)
        if self.block_ends_stream:
            done.append(self._request(request))
        else:
            self.streams[stream] = request

    def _data(self, stream: int, flags: int, payload: bytes, done: list[HttpRequest]) -> None:
        request = self.streams.get(stream)
        if request is None:
            return
        start, end = 0, len(payload)
        if flags & H2_PADDED:
            start, end = 1, max(1, end - (payload[0] if payload else 0))
        request.body += payload[start:end][:MAX_BODY - len(request.body)]
        if flags & H2_END_STREAM or len(request.body) >= MAX_BODY:
            done.append(self._request(self.streams.pop(stream)))

    def _request(self, stream: _H2Stream) -> HttpRequest:
        h = stream.headers
        method = h.get(b":method", b"").decode("latin-1")
        authority = (h.get(b":authority") or h.get(b"host") or b"").decode("latin-1") or None
        target = (authority or "") if method == "CONNECT" else h.get(b":path", b"/").decode("latin-1")
        return HttpRequest(
            method=method, target=target, host=authority, path=target.split("?", 1)[0],
            user_agent=h.get(b"user-agent", b"").decode("latin-1")[:200] or None,
            model=_model(bytes(stream.body)), secret=_secret(h, self.keys), consumed=0, h2=True,
        )
