"""The network detector's log readers fuzzed: Zeek TSV and JSON, Squid, dnsmasq / Pi-hole and
CSV logs, plain and compressed.

A log is outside input: the detector reads what it can and reports the rest in coverage, or
refuses the file with a one-line DetectorError; nothing else may escape. Cost is linear in
the lines, and memory does not grow with a log of one client repeating itself.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from detectors.base import DetectorError
from tests.fixtures.network_util import scan
from tests.fuzzing import assert_flat_memory, assert_linear_lines, fuzz, mutations

T0 = 1700000000.0
_DIR = Path(tempfile.mkdtemp(prefix="fuzz-logs-"))


def _zeek(log: str, fields: list[str], rows: list[list[str]]) -> str:
    head = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", f"#path\t{log}",
            "#open\t2023-11-14-22-13-20", "#fields\t" + "\t".join(fields), "#types\t" + "\t".join("string" for _ in fields)]
    return "\n".join(head + ["\t".join(r) for r in rows] + ["#close\t2023-11-14-23-00-00"]) + "\n"


IDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"]
SEEDS = {
    "dns.log": _zeek("dns", IDS + ["query", "answers"], [
        [f"{T0:.6f}", "C1", "10.1.0.5", "5353", "10.1.0.1", "53", "api.anthropic.com", "160.79.104.10,2607:6bc0::10"],
        [f"{T0 + 2:.6f}", "C3", "10.1.0.5", "5355", "10.1.0.1", "53", "www.example.org", "93.184.215.14"]]),
    "ssl.log": _zeek("ssl", IDS + ["server_name", "ja4"], [
        [f"{T0 + 3:.6f}", "S1", "10.1.0.5", "40001", "162.159.140.245", "443", "api.openai.com", "t13d1516h2_aaa_bbb"]]),
    "conn.log": _zeek("conn", IDS + ["proto", "duration", "orig_bytes", "resp_bytes", "conn_state"], [
        [f"{T0 + 7:.6f}", "K1", "10.1.0.6", "40010", "160.79.104.10", "443", "tcp", "2.0", "1200", "8000", "SF"]]),
    "http.log": _zeek("http", IDS + ["method", "host", "uri", "user_agent"], [
        [f"{T0 + 10:.6f}", "H1", "10.1.0.7", "40020", "10.1.0.50", "11434", "POST", "gpu:11434", "/api/generate", "x/1"]]),
    "ssl.json": "\n".join(json.dumps(r) for r in [
        {"_path": "ssl", "ts": "2023-11-14T22:13:20.000000Z", "uid": "A", "id.orig_h": "10.2.0.5",
         "id.resp_h": "1.2.3.4", "id.resp_p": 443, "server_name": "api.mistral.ai"},
        {"_path": "x509", "ts": T0, "id": "F1", "certificate.subject": "CN=api.openai.com",
         "san.dns": ["api.openai.com"], "fingerprint": "ab"}]) + "\n",
    "access.log": f"{T0:.3f}    120 10.3.0.5 TCP_TUNNEL/200 5120 CONNECT api.openai.com:443 - HIER_DIRECT/162.159.140.245 -\n"
                  f"{T0 + 6:.3f}   15 10.3.0.6 TCP_MISS/200 880 GET http://api.groq.com/openai/v1/models - "
                  "HIER_DIRECT/1.1.1.1 application/json\n",
    "pihole.log": "Nov 14 22:13:20 dnsmasq[812]: query[A] api.anthropic.com from 192.168.1.23\n"
                  "Nov 14 22:13:20 dnsmasq[812]: reply api.anthropic.com is 160.79.104.10\n"
                  "Nov 14 22:14:00 pihole-FTL[99]: query[A] api.deepseek.com from 192.168.1.40\n",
    "fw.csv": "when,src_ip,dest_host,action\n2023-11-14T22:13:20Z,10.4.0.5,api.openai.com,allow\n"
              "2023-11-14T22:15:20Z,10.4.0.5,https://api.openai.com/v1/chat,allow\n",
}
OPTIONS = {"pihole.log": {"log_year": 2023}, "fw.csv": {"csv_columns": "when,src_ip,dest_host"}}


def _scan(name: str, data: bytes) -> None:
    path = _DIR / name
    path.write_bytes(data)
    try:
        findings, coverage = scan(inputs=[str(path)], **OPTIONS.get(name.removesuffix(".gz"), {}))
    except DetectorError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for f in findings:
        assert f.kind and f.detector == "network"
    for gap in coverage.gaps:
        assert gap.reason and "\n" not in gap.reason


def test_every_seed_gives_a_finding() -> None:
    for name, text in SEEDS.items():
        path = _DIR / name
        path.write_text(text)
        findings, _ = scan(inputs=[str(path)], **OPTIONS.get(name, {}))
        assert findings, name


@fuzz(80)
@given(st.sampled_from(sorted(SEEDS)), st.data())
def test_mutated_logs_read_to_a_clear_end(name: str, data) -> None:
    _scan(name, data.draw(mutations([SEEDS[name].encode()], max_ops=10)))


@fuzz(30)
@given(st.sampled_from(sorted(SEEDS)), st.data())
def test_mutated_compressed_logs_read_to_a_clear_end(name: str, data) -> None:
    packed = gzip.compress(SEEDS[name].encode())
    _scan(name + ".gz", data.draw(mutations([packed], max_ops=4)))


@fuzz(40)
@given(st.sampled_from(sorted(SEEDS)), st.lists(st.text(max_size=60), max_size=6))
def test_logs_with_random_lines_appended(name: str, lines: list[str]) -> None:
    _scan(name, (SEEDS[name] + "\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))


def _many(name: str):  # type: ignore[no-untyped-def]
    """The seed's last record line, repeated (with a new client address each time for ``distinct``)."""
    text = SEEDS[name]
    head, body = text.rsplit("\n#close", 1) if "#close" in text else (text.rstrip("\n"), None)
    line = head.rsplit("\n", 1)[1]

    def make(n: int) -> Path:
        rows = "\n".join(line for _ in range(n))
        path = _DIR / f"many{n}.{name}"
        prefix = head.rsplit("\n", 1)[0]
        path.write_text(prefix + "\n" + rows + ("\n#close" + body if body is not None else "") + "\n")
        return path
    return make


def _read(name: str):  # type: ignore[no-untyped-def]
    return lambda path: scan(inputs=[str(path)], **OPTIONS.get(name, {}))


def test_reading_cost_is_linear_in_the_lines() -> None:
    for name in sorted(SEEDS):
        assert_linear_lines(_many(name), _read(name), 100, what=name)


def test_reading_memory_does_not_grow_with_a_log_that_repeats_itself() -> None:
    for name in ("conn.log", "access.log", "pihole.log", "fw.csv"):
        assert_flat_memory(_many(name), _read(name), 1500, slack=2 << 20, what=name)


def test_a_broken_separator_line_reads_with_the_default_separator() -> None:
    """Found by the fuzz run: ``#separator`` with an escape Python cannot decode (``\\x``, ``\\u12``,
    a trailing backslash) or nothing after it made the whole log unreadable."""
    body = SEEDS["dns.log"].split("\n", 1)[1]
    for line in ("#separator \\x", "#separator \\u12", "#separator ab\\", "#separator ", "#separator \\x09"):
        path = _DIR / "dns.log"
        path.write_text(line + "\n" + body)
        findings, coverage = scan(inputs=[str(path)])
        assert findings and coverage.complete, (line, coverage.gaps)
