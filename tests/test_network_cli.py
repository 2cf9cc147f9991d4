"""The network detector through the real CLI: reports, keys on the wire, live capture."""

from __future__ import annotations

import os
import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from scanner.redact import fingerprint
from tests.fixtures.network_util import DATA, TRUTH, scan, tcp_session, write_pcap
from tests.keys import make_key


def test_cli_json_report_from_a_capture(run_cli) -> None:
    r = run_cli("scan", "-d", "network", "-p", str(DATA / "loopback.pcap"), "-f", "json", "--fail-on", "none")
    assert r.code == 0, r.err
    report = r.json()
    kinds = {f["kind"] for f in report["findings"]}
    assert kinds == {e["kind"] for e in TRUTH["expected"]}
    coverage = [c for c in report["coverage"] if c["detector"] == "network"][0]
    assert coverage["status"] == "ran" and coverage["scanned"]["packets"] > 200
    sdk = [a for a in report["agents"] if a["name"].startswith("127.2.0.1 (TLS client t13d")]
    assert len(sdk) == 1 and {"openai", "anthropic"} <= set(sdk[0]["providers"])


def test_cli_bad_capture_is_reported_not_a_traceback(run_cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"garbage" * 100)
    r = run_cli("scan", "-d", "network", "-p", str(bad), "-f", "json", "--set", f"network.inputs={bad}")
    assert "Traceback" not in r.err
    coverage = [c for c in r.json()["coverage"] if c["detector"] == "network"][0]
    assert coverage["status"] == "failed" and "not a pcap, pcapng" in coverage["reason"]


@pytest.fixture
def keyed_capture(tmp_path: Path) -> tuple[Path, list[str]]:
    """A capture of plaintext calls that carry real-shaped keys in their headers."""
    openai, anthropic = make_key("openai-project"), make_key("anthropic-api")
    body = b'{"model": "llama3.2", "messages": []}'
    call_local = (b"POST /api/chat HTTP/1.1\r\nHost: gpu:11434\r\nAuthorization: Bearer " + openai.encode()
                  + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    call_api = (b"POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: " + anthropic.encode()
                + b"\r\nContent-Length: 2\r\n\r\n{}")
    records = (tcp_session("10.0.0.5", "10.0.0.9", 40000, 11434, call_local, segment=60)
               + tcp_session("10.0.0.5", "160.79.104.10", 40001, 80, call_api, ts=1_700_000_100.0))
    return write_pcap(tmp_path / "keys.pcap", 1, records), [openai, anthropic]


def test_keys_on_the_wire_are_fingerprinted_never_printed(keyed_capture, run_cli) -> None:
    path, keys = keyed_capture
    findings, _ = scan(path)
    by_provider = {f.provider: f for f in findings}
    assert by_provider["ollama"].credential.fingerprint == fingerprint(keys[0])
    assert by_provider["ollama"].model == "llama3.2"
    assert by_provider["anthropic"].kind == "http-request"
    assert by_provider["anthropic"].credential.fingerprint == fingerprint(keys[1])
    for fmt in ("json", "jsonl", "table", "csv", "markdown", "html", "sarif", "cyclonedx"):
        r = run_cli("scan", "-d", "network", "-p", str(path), "-f", fmt, "--fail-on", "none", "--verbose")
        assert r.code == 0, r.err
        for key in keys:
            for text in (r.out, r.err):
                assert key not in text and key[8:40] not in text and key[-24:] not in text


# ---- live capture ------------------------------------------------------------------------------

needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not Path("/sys/class/net/lo").exists(),
                                reason="live capture needs root and a Linux loopback interface")


def _tls_server() -> tuple[socket.socket, int]:
    """A local TCP listener that accepts and reads; enough for a client to send its ClientHello."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve() -> None:
        try:
            conn, _ = srv.accept()
            conn.recv(65536)
            conn.close()
        except OSError:
            pass
    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


@needs_root
def test_live_capture_on_loopback() -> None:
    from detectors.base import ScanContext
    from detectors.network import NetworkDetector
    from scanner.catalog import Catalog
    from scanner.model import Coverage

    srv, port = _tls_server()
    done = threading.Event()

    def client() -> None:
        # handshakes until the capture ends: opening the capture socket (scapy's start-up, libpcap's
        # interface list) takes seconds on a busy machine, and a handshake before it is not seen
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        while not done.wait(0.3):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    ctx.wrap_socket(s, server_hostname="api.openai.com")
            except (OSError, ssl.SSLError):
                pass
    threading.Thread(target=client, daemon=True).start()
    # The default filter: without libpcap to compile it, capture runs unfiltered instead of failing.
    ctx = ScanContext("network", Catalog.load(), [], {"interface": "lo", "duration": 4.0}, Coverage("network"))
    try:
        findings = list(NetworkDetector().run(ctx))
    finally:
        done.set()
    srv.close()
    sni = [f for f in findings if f.kind == "tls-sni"]
    assert [f.location.capture for f in sni] == ["live:lo"]
    assert sni[0].provider == "openai" and sni[0].details["ja4"].startswith("t13d")


@needs_root
def test_live_capture_without_privilege_exits_2_with_a_clear_error(tmp_path: Path) -> None:
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv to drop privileges")
    from tests.conftest import CLI, clean_environ
    # root without CAP_NET_RAW/CAP_NET_ADMIN: the same position as an ordinary user
    cmd = ["setpriv", "--bounding-set=-net_raw,-net_admin", CLI or sys.executable, *([] if CLI else ["-m", "scanner"]),
           "scan", "-d", "env", "-d", "network", "--interface", "lo", "--duration", "1s", "-f", "json", "-q"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=clean_environ(tmp_path), timeout=60)
    assert p.returncode == 2, p.stderr
    assert "live capture on lo needs packet-capture privilege" in p.stderr and "Traceback" not in p.stderr
    cov = {c["detector"]: c for c in json.loads(p.stdout)["coverage"]}  # the report is still written
    assert cov["network"]["input_error"] is True and cov["env"]["status"] == "ran"


@needs_root
def test_live_capture_with_a_filter_it_cannot_compile_says_what_is_missing(tmp_path: Path, run_cli) -> None:
    from scapy.arch.common import compile_filter
    try:
        compile_filter("tcp")
    except Exception:  # scapy: "libpcap is not available. Cannot compile filter !"
        pass
    else:
        pytest.skip("this machine can compile capture filters")
    r = run_cli("scan", "-d", "network", "--interface", "lo", "--duration", "1s", "--bpf", "tcp port 443",
                "-f", "json", "-q")
    assert r.code == 2 and "Traceback" not in r.err
    assert "compiling it needs libpcap" in r.err and "'tcp port 443'" in r.err
