"""Plaintext HTTP/1.x requests: method, target, Host, User-Agent, API key header and body ``model``.

Enough to recognise calls to local model servers (Ollama, vLLM, ...) and
``CONNECT host:443`` through explicit proxies. A key sent in a header is returned
once so the caller can fingerprint it; it is never stored anywhere else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from detectors.network.tls import NEED_MORE

METHODS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ", b"OPTIONS ", b"CONNECT ")
MAX_HEADERS = 8192
MAX_BODY = 16384
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,200})"')
_KEY_HEADERS = (b"authorization", b"x-api-key", b"api-key", b"x-goog-api-key")


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


def looks_like_http(buf: bytes) -> bool:
    return buf[:8].startswith(METHODS)


def parse_request(buf: bytes, final: bool = False) -> HttpRequest | str | None:
    """Parse one request at the start of ``buf``; NEED_MORE until headers (and a short body) arrived."""
    try:
        return _parse(buf, final)
    except (ValueError, IndexError):
        return None


def _parse(buf: bytes, final: bool) -> HttpRequest | str | None:
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
        model=_model(body), secret=_secret(headers),
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


def _secret(headers: dict[bytes, bytes]) -> str | None:
    for name in _KEY_HEADERS:
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
