"""Plaintext HTTP/2 (h2c) to local model servers: prior knowledge and ``Upgrade: h2c``, real HPACK.

Header blocks are encoded with the ``hpack`` package (Huffman coding, dynamic table), the
same one the detector decodes with; without it those tests skip and the coverage gap is tested.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from detectors.network import http
from scanner.catalog import Catalog
from scanner.redact import fingerprint
from tests.fixtures.network_util import scan, tcp_session, write_pcap
from tests.keys import make_key

T0 = 1_700_000_000.0
SETTINGS, HEADERS, DATA, CONTINUATION, WINDOW_UPDATE = 0x4, 0x1, 0x0, 0x9, 0x8
END_STREAM, END_HEADERS, PADDED, PRIORITY = 0x1, 0x4, 0x8, 0x20


def hpack_encoder():
    return pytest.importorskip("hpack").Encoder()


def frame(ftype: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def request_frames(encoder, stream: int, method: str, path: str, body: bytes = b"",
                   authority: str = "gpu-box:8000", extra: list[tuple[str, str]] = ()) -> bytes:
    """HEADERS (HPACK with Huffman coding) and, with a body, DATA frames for one request."""
    headers = [(":method", method), (":scheme", "http"), (":path", path), (":authority", authority),
               ("user-agent", "AsyncOpenAI/Python 1.54.0"), *extra]
    if body:
        headers.append(("content-type", "application/json"))
    block = encoder.encode(headers, huffman=True)
    out = frame(HEADERS, END_HEADERS | (0 if body else END_STREAM), stream, block)
    if body:
        half = len(body) // 2  # the body in two DATA frames
        out += frame(DATA, 0, stream, body[:half]) + frame(DATA, END_STREAM, stream, body[half:])
    return out


def client_stream(*requests: bytes) -> bytes:
    return http.H2_PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, 1 << 20)) + b"".join(requests)


def chat_body(model: str) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}).encode()


@pytest.mark.parametrize("segment", [10, 90, 1400])
def test_prior_knowledge_h2c_requests_to_a_local_server(tmp_path: Path, segment: int) -> None:
    key = make_key("openai-project")
    encoder = hpack_encoder()
    stream = client_stream(
        frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 20)),
        request_frames(encoder, 1, "POST", "/v1/chat/completions", chat_body("meta-llama/Llama-3.1-8B-Instruct"),
                       extra=[("authorization", f"Bearer {key}")]),
        # the second request reuses header fields from the HPACK dynamic table
        request_frames(encoder, 3, "POST", "/v1/chat/completions", chat_body("meta-llama/Llama-3.1-8B-Instruct"),
                       extra=[("authorization", f"Bearer {key}")]),
        request_frames(encoder, 5, "GET", "/v1/models"))
    path = write_pcap(tmp_path / "h2c.pcap", 1, tcp_session("10.0.0.5", "10.0.0.9", 40000, 8000, stream, segment=segment))
    findings, coverage = scan(path)
    got = {(f.kind, f.model): f for f in findings}
    chat = got[("local-model-server", "meta-llama/Llama-3.1-8B-Instruct")]
    assert chat.provider == "vllm" and chat.location.flow == "10.0.0.5 -> gpu-box:8000"
    assert chat.details["requests"] == 2 and chat.details["paths"] == ["/v1/chat/completions"]
    assert chat.details["protocol"] == ["h2c"] and chat.details["method"] == ["POST"]
    assert chat.details["fingerprint"].startswith("ua-") and chat.details["host"] == ["gpu-box:8000"]
    assert chat.credential.fingerprint == fingerprint(key)
    models = got[("local-model-server", None)]
    assert models.details["paths"] == ["/v1/models"] and models.details["requests"] == 1
    text = json.dumps([f.to_dict() for f in findings])
    assert key not in text and key[8:40] not in text
    assert coverage.complete


def test_upgrade_from_http1_then_h2c_frames(tmp_path: Path) -> None:
    body = chat_body("qwen2.5:7b")
    upgrade = (b"GET /api/tags HTTP/1.1\r\nHost: gpu-box:11434\r\nConnection: Upgrade, HTTP2-Settings\r\n"
               b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nUser-Agent: ollama-js/0.5\r\n\r\n")
    encoder = hpack_encoder()
    h2 = client_stream(request_frames(encoder, 3, "POST", "/api/chat", body, authority="gpu-box:11434"))
    records = tcp_session("10.0.0.6", "10.0.0.9", 40001, 11434, upgrade + h2, segment=1400)
    findings, _ = scan(write_pcap(tmp_path / "upgrade.pcap", 1, records))
    got = {(f.details["paths"][0], f.model): f for f in findings}
    assert set(got) == {("/api/tags", None), ("/api/chat", "qwen2.5:7b")}
    assert got[("/api/chat", "qwen2.5:7b")].details["protocol"] == ["h2c"]
    assert "protocol" not in got[("/api/tags", None)].details  # the HTTP/1.1 request that asked to upgrade


def test_header_block_in_continuation_padding_priority() -> None:
    encoder = hpack_encoder()
    block = encoder.encode([(":method", "POST"), (":scheme", "http"), (":path", "/api/generate"),
                            (":authority", "localhost:11434"), ("x-api-key", "secret-value-123")], huffman=True)
    padded = bytes([3]) + struct.pack(">IB", 0, 15) + block[:10] + b"\x00" * 3
    body = b'{"model": "llama3.2", "prompt": "hi"}'
    data = (client_stream()
            + frame(HEADERS, PADDED | PRIORITY, 1, padded) + frame(CONTINUATION, END_HEADERS, 1, block[10:])
            + frame(DATA, PADDED | END_STREAM, 1, bytes([2]) + body + b"\x00\x00"))
    conn = http.H2Requests(http.key_headers(Catalog.load().auth_headers))
    done, used = conn.feed(data[:40])  # the preface and part of a frame: nothing yet
    assert done == [] and used == len(http.H2_PREFACE) + 9 + 6
    done, used2 = conn.feed(data[used:])
    (req,) = done
    assert (req.method, req.path, req.host, req.model, req.secret, req.h2) == (
        "POST", "/api/generate", "localhost:11434", "llama3.2", "secret-value-123", True)
    assert used + used2 == len(data) and not conn.failed


def test_body_cut_short_is_read_at_the_end() -> None:
    encoder = hpack_encoder()
    body = chat_body("mistral-small")
    data = client_stream(request_frames(encoder, 1, "POST", "/v1/chat/completions", body))
    second = len(body) - len(body) // 2 + 9
    cut = data[:-(second + 5)]  # the second DATA frame is missing, the first one cut inside
    conn = http.H2Requests()
    done, used = conn.feed(cut)
    assert done == [] and used < len(cut)
    (req,) = conn.feed(cut[used:], final=True)[0]
    assert req.path == "/v1/chat/completions" and req.model == "mistral-small"


def test_h2c_cut_by_the_end_of_the_capture(tmp_path: Path) -> None:
    """Headers complete, body still coming when the capture ends: the request still counts."""
    encoder = hpack_encoder()
    body = chat_body("mistral-small")
    data = client_stream(request_frames(encoder, 1, "POST", "/v1/chat/completions", body))
    records = tcp_session("10.0.0.7", "10.0.0.9", 40002, 8000, data[:-(len(body) - len(body) // 2 + 9)])
    (f,) = scan(write_pcap(tmp_path / "cut.pcap", 1, records))[0]
    assert (f.provider, f.model, f.details["requests"]) == ("vllm", "mistral-small", 1)


def test_garbage_after_the_preface_never_raises() -> None:
    pytest.importorskip("hpack")
    bad_block = frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xff\xff\xff\xff\xff\x0f")  # index far past any table
    conn = http.H2Requests()
    done, _ = conn.feed(client_stream(bad_block))
    assert done == [] and conn.failed
    for junk in (b"\x00" * 50, bytes(range(256)), b"\xff" * 64):
        conn = http.H2Requests()
        conn.feed(http.H2_PREFACE + junk)
        conn.feed(b"", final=True)
    assert http.starts_h2(b"PRI * HT") == http.NEED_MORE and http.starts_h2(b"POST / HTTP/1.1") is False
    assert http.starts_h2(http.H2_PREFACE + b"x") is True


def test_without_hpack_the_gap_is_named(tmp_path: Path) -> None:
    static_only = bytes([0x82, 0x86, 0x84])  # :method GET, :scheme http, :path / from the HPACK static table
    data = client_stream(frame(HEADERS, END_HEADERS | END_STREAM, 1, static_only))
    path = write_pcap(tmp_path / "h2c.pcap", 1, tcp_session("10.0.0.5", "10.0.0.9", 40000, 8000, data))
    code = ("import sys, json; sys.modules['hpack'] = None\n"
            "from tests.fixtures.network_util import scan\n"
            f"findings, coverage = scan({str(path)!r})\n"
            "print(json.dumps([[f.kind for f in findings], [g.reason for g in coverage.gaps]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    kinds, gaps = json.loads(out.stdout)
    assert kinds == [] and gaps == ["plaintext HTTP/2 (h2c) requests not read: the 'hpack' package is missing"]
