"""Zeek (TSV and JSON), Squid, dnsmasq/Pi-hole and CSV logs into the same findings as captures."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from detectors.network.logs import log_kind
from tests.fixtures.network_util import scan, summary

T0 = 1_700_000_000.0


def zeek_tsv(path: Path, log: str, fields: list[str], rows: list[list[str]]) -> Path:
    lines = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-",
             f"#path\t{log}", "#open\t2023-11-14-22-13-20", "#fields\t" + "\t".join(fields),
             "#types\t" + "\t".join("string" for _ in fields)]
    lines += ["\t".join(r) for r in rows]
    lines.append("#close\t2023-11-14-23-00-00")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def zeek_dir(tmp_path: Path) -> Path:
    d = tmp_path / "zeek"
    d.mkdir()
    zeek_tsv(d / "dns.log", "dns", ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "query", "answers"], [
        [f"{T0:.6f}", "C1", "10.1.0.5", "5353", "10.1.0.1", "53", "api.anthropic.com", "160.79.104.10,2607:6bc0::10"],
        [f"{T0 + 1:.6f}", "C2", "10.1.0.5", "5354", "10.1.0.1", "53", "api.groq.com", "-"],
        [f"{T0 + 2:.6f}", "C3", "10.1.0.5", "5355", "10.1.0.1", "53", "www.example.org", "93.184.215.14"],
    ])
    zeek_tsv(d / "ssl.log", "ssl", ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "server_name", "ja4"], [
        [f"{T0 + 3:.6f}", "S1", "10.1.0.5", "40001", "162.159.140.245", "443", "api.openai.com", "t13d1516h2_aaa_bbb"],
        [f"{T0 + 4:.6f}", "S2", "10.1.0.5", "40002", "162.159.140.245", "443", "api.openai.com", "t13d1516h2_aaa_bbb"],
        [f"{T0 + 5:.6f}", "S3", "10.1.0.5", "40003", "93.184.215.14", "443", "www.example.org", "-"],
    ])
    zeek_tsv(d / "conn.log", "conn", ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
                                      "duration", "orig_bytes", "resp_bytes", "conn_state"], [
        [f"{T0 + 6:.6f}", "S1", "10.1.0.5", "40001", "162.159.140.245", "443", "tcp", "1.5", "900", "5000", "SF"],
        [f"{T0 + 7:.6f}", "K1", "10.1.0.6", "40010", "160.79.104.10", "443", "tcp", "2.0", "1200", "8000", "SF"],
        [f"{T0 + 8:.6f}", "K2", "10.1.0.6", "40011", "160.79.105.99", "443", "tcp", "-", "-", "-", "S0"],
        [f"{T0 + 9:.6f}", "K3", "10.1.0.6", "40012", "93.184.215.14", "443", "tcp", "1", "1", "1", "SF"],
    ])
    zeek_tsv(d / "http.log", "http", ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "method",
                                      "host", "uri", "user_agent"], [
        [f"{T0 + 10:.6f}", "H1", "10.1.0.7", "40020", "10.1.0.50", "11434", "POST", "gpu:11434", "/api/generate", "ollama-js/0.5"],
        [f"{T0 + 11:.6f}", "H2", "10.1.0.7", "40021", "10.1.0.50", "8080", "GET", "gpu:8080", "/index.html", "curl/8"],
    ])
    return d


def test_zeek_tsv_logs(zeek_dir: Path) -> None:
    findings, coverage = scan(zeek_dir)
    got = summary(findings)
    assert set(got) == {
        ("tls-sni", "10.1.0.5", "api.openai.com"),
        ("dns", "10.1.0.5", "api.anthropic.com"),
        ("dns", "10.1.0.5", "api.groq.com"),
        ("dns-attributed", "10.1.0.6", "api.anthropic.com"),
        ("ip-range", "10.1.0.6", "160.79.105.99"),
        ("local-model-server", "10.1.0.7", "gpu:11434"),
    }
    tls = got[("tls-sni", "10.1.0.5", "api.openai.com")]
    assert tls.details["connections"] == 2 and tls.details["fingerprint"] == "t13d1516h2_aaa_bbb"
    assert tls.observed_at == "2023-11-14T22:13:24Z"
    attributed = got[("dns-attributed", "10.1.0.6", "api.anthropic.com")]
    assert attributed.details["bytes"] == 9200
    assert coverage.scanned["files"] == 4 and coverage.complete


def test_zeek_json_logs(tmp_path: Path) -> None:
    rows = [
        {"_path": "ssl", "ts": "2023-11-14T22:13:20.000000Z", "uid": "A", "id.orig_h": "10.2.0.5",
         "id.resp_h": "1.2.3.4", "id.resp_p": 443, "server_name": "api.mistral.ai"},
        {"_path": "ssl", "ts": T0 + 1, "uid": "B", "id.orig_h": "10.2.0.5", "id.resp_h": "1.2.3.4",
         "id.resp_p": 443, "server_name": "api.mistral.ai"},
    ]
    path = tmp_path / "ssl.json.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    findings, coverage = scan(path)
    (f,) = findings
    assert (f.kind, f.provider, f.details["connections"]) == ("tls-sni", "mistral", 2)
    assert any("1 of 3 lines could not be parsed" in g.reason for g in coverage.gaps)


def test_squid_access_log(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text(
        f"{T0:.3f}    120 10.3.0.5 TCP_TUNNEL/200 5120 CONNECT api.openai.com:443 - HIER_DIRECT/162.159.140.245 -\n"
        f"{T0 + 5:.3f}   80 10.3.0.5 TCP_TUNNEL/200 1024 CONNECT api.openai.com:443 - HIER_DIRECT/162.159.140.245 -\n"
        f"{T0 + 6:.3f}   15 10.3.0.6 TCP_MISS/200 880 GET http://api.groq.com/openai/v1/models - HIER_DIRECT/1.1.1.1 application/json\n"
        f"{T0 + 7:.3f}   15 10.3.0.6 TCP_MISS/200 880 GET http://www.example.org/ - HIER_DIRECT/1.1.1.1 text/html\n")
    got = summary(scan(path)[0])
    connect = got[("connect", "10.3.0.5", "api.openai.com")]
    assert connect.details["connections"] == 2 and connect.details["bytes"] == 6144
    assert got[("http-request", "10.3.0.6", "api.groq.com")].provider == "groq"
    assert len(got) == 2


def test_dnsmasq_and_pihole_log(tmp_path: Path) -> None:
    path = tmp_path / "pihole.log"
    path.write_text(
        "Nov 14 22:13:20 dnsmasq[812]: query[A] api.anthropic.com from 192.168.1.23\n"
        "Nov 14 22:13:20 dnsmasq[812]: forwarded api.anthropic.com to 1.1.1.1\n"
        "Nov 14 22:13:20 dnsmasq[812]: reply api.anthropic.com is 160.79.104.10\n"
        "Nov 14 22:13:21 dnsmasq[812]: query[AAAA] api.anthropic.com from 192.168.1.23\n"
        "Nov 14 22:13:22 dnsmasq[812]: query[A] www.example.org from 192.168.1.23\n"
        "Nov 14 22:14:00 pihole-FTL[99]: query[A] api.deepseek.com from 192.168.1.40\n")
    findings, coverage = scan(path, log_year=2023)
    got = summary(findings)
    anthropic = got[("dns", "192.168.1.23", "api.anthropic.com")]
    assert anthropic.details["requests"] == 2 and anthropic.observed_at == "2023-11-14T22:13:21Z"
    assert set(got) == {("dns", "192.168.1.23", "api.anthropic.com"), ("dns", "192.168.1.40", "api.deepseek.com")}
    assert coverage.complete


def test_generic_csv_with_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "fw.csv"
    path.write_text("when,src_ip,dest_host,action\n"
                    "2023-11-14T22:13:20Z,10.4.0.5,api.openai.com,allow\n"
                    "2023-11-14T22:15:20Z,10.4.0.5,https://api.openai.com/v1/chat,allow\n"
                    "2023-11-14T22:16:20Z,10.4.0.5,www.example.org,allow\n")
    findings, _ = scan(inputs=[str(path)], csv_columns="when,src_ip,dest_host")
    (f,) = findings
    assert (f.kind, f.details["client"], f.details["connections"]) == ("proxy-log", "10.4.0.5", 2)
    assert f.observed_at == "2023-11-14T22:15:20Z"


def test_log_kind_sniffing() -> None:
    assert log_kind(b"#separator \\x09\n#path\tssl\n") == "zeek-ssl"
    assert log_kind(b'{"ts": 1, "id.orig_h": "1.2.3.4", "query": "x"}\n') == "zeek-dns"
    assert log_kind(b"1700000000.000    120 10.3.0.5 TCP_TUNNEL/200 5120 CONNECT a:443 - HIER_DIRECT/1.2.3.4 -\n") == "squid"
    assert log_kind(b"Nov 14 22:13:20 dnsmasq[812]: query[A] a.b from 1.2.3.4\n") == "dnsmasq"
    assert log_kind(b"timestamp,client,host\n") == "csv"
    assert log_kind(b"hello world\n") is None
    assert log_kind(os.urandom(64).replace(b"\n", b"")) is None


# ---- x509.log ----------------------------------------------------------------------------------

X509_FIELDS = ["ts", "fingerprint", "certificate.version", "certificate.serial", "certificate.subject",
               "certificate.issuer", "san.dns", "san.ip", "basic_constraints.ca", "host_cert", "client_cert"]
SSL_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "version", "server_name",
              "established", "cert_chain_fps", "client_cert_chain_fps"]
FP_OPENAI, FP_AZURE, FP_CA, FP_CLIENT = ("a1" * 32, "b2" * 32, "c3" * 32, "d4" * 32)


def test_zeek_x509_certificates_name_connections_without_sni(tmp_path: Path) -> None:
    """TLS 1.2 without SNI: the server certificate in x509.log names the host (joined by fingerprint)."""
    d = tmp_path / "zeek"
    d.mkdir()
    ca = "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US"
    zeek_tsv(d / "x509.log", "x509", X509_FIELDS, [
        [f"{T0:.6f}", FP_OPENAI, "3", "0A1B", "CN=api.openai.com,O=OpenAI\\, Inc.,L=San Francisco,C=US", ca,
         "api.openai.com", "-", "F", "T", "F"],
        [f"{T0:.6f}", FP_AZURE, "3", "0A1C", "CN=eastus.api.cognitive.microsoft.com", ca,
         "eastus.api.cognitive.microsoft.com,*.openai.azure.com", "-", "F", "T", "F"],
        [f"{T0:.6f}", FP_CA, "3", "0A1D", ca, "CN=DigiCert Global Root G2", "-", "-", "T", "F", "F"],
        [f"{T0:.6f}", FP_CLIENT, "3", "0A1E", "CN=api.openai.com", ca, "-", "-", "F", "F", "T"],
    ])
    zeek_tsv(d / "ssl.log", "ssl", SSL_FIELDS, [
        [f"{T0 + 1:.6f}", "S1", "10.5.0.5", "40001", "104.18.7.192", "443", "TLSv12", "-", "T",
         f"{FP_OPENAI},{FP_CA}", "(empty)"],
        [f"{T0 + 2:.6f}", "S2", "10.5.0.5", "40002", "104.18.7.192", "443", "TLSv12", "-", "T",
         f"{FP_OPENAI},{FP_CA}", "(empty)"],
        [f"{T0 + 3:.6f}", "S3", "10.5.0.6", "40003", "20.62.58.4", "443", "TLSv12", "-", "T",
         f"{FP_AZURE},{FP_CA}", "(empty)"],
        # a server name the client asked for wins over other names on the certificate
        [f"{T0 + 4:.6f}", "S4", "10.5.0.7", "40004", "104.18.7.192", "443", "TLSv12", "status.example.org", "T",
         f"{FP_OPENAI},{FP_CA}", "(empty)"],
        [f"{T0 + 5:.6f}", "S5", "10.5.0.7", "40005", "104.18.7.193", "443", "TLSv12", "-", "T",
         f"{FP_CA}", f"{FP_CLIENT}"],
        [f"{T0 + 6:.6f}", "S6", "10.5.0.8", "40006", "104.18.7.194", "443", "TLSv13", "-", "T", "(empty)", "(empty)"],
    ])
    zeek_tsv(d / "conn.log", "conn", ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
                                      "duration", "orig_bytes", "resp_bytes", "conn_state"], [
        [f"{T0 + 1:.6f}", "S1", "10.5.0.5", "40001", "104.18.7.192", "443", "tcp", "1.0", "900", "5000", "SF"],
    ])
    findings, coverage = scan(d)
    got = summary(findings)
    assert set(got) == {("tls-certificate", "10.5.0.5", "api.openai.com"),
                        ("tls-certificate", "10.5.0.6", "*.openai.azure.com")}
    openai = got[("tls-certificate", "10.5.0.5", "api.openai.com")]
    assert (openai.provider, openai.confidence.value, openai.details["connections"]) == ("openai", "medium", 2)
    assert openai.details["certificate"] == [FP_OPENAI] and openai.details["servers"] == ["104.18.7.192:443"]
    assert "certificate names api.openai.com" in openai.evidence
    assert got[("tls-certificate", "10.5.0.6", "*.openai.azure.com")].provider == "azure-openai"
    assert coverage.scanned["x509_llm_certificates"] == 2 and coverage.complete


def test_zeek_json_x509_by_file_id_before_zeek_4_1(tmp_path: Path) -> None:
    """Older Zeek: x509.log keys certificates by file id and ssl.log lists cert_chain_fuids."""
    x509 = [{"ts": T0, "id": "FvX1", "certificate.subject": "CN=api.groq.com", "certificate.issuer": "CN=R11",
             "san.dns": ["api.groq.com"], "basic_constraints.ca": False},
            {"ts": T0, "id": "FvX2", "certificate.subject": "CN=R11,O=Let's Encrypt,C=US", "certificate.issuer": "x"}]
    ssl = [{"ts": T0 + 1, "uid": "C1", "id.orig_h": "10.6.0.5", "id.orig_p": 50000, "id.resp_h": "172.64.149.20",
            "id.resp_p": 443, "version": "TLSv12", "cert_chain_fuids": ["FvX1", "FvX2"]}]
    (tmp_path / "x509.json").write_text("\n".join(json.dumps(r) for r in x509) + "\n")
    (tmp_path / "ssl.json").write_text("\n".join(json.dumps(r) for r in ssl) + "\n")
    assert log_kind((tmp_path / "x509.json").read_bytes()) == "zeek-x509"
    findings, coverage = scan(tmp_path)
    (f,) = findings
    assert (f.kind, f.provider, f.details["client"], f.details["certificate"]) == (
        "tls-certificate", "groq", "10.6.0.5", ["FvX1"])
    assert coverage.complete


def test_conn_log_skips_connections_ssl_log_named(zeek_dir: Path) -> None:
    """conn.log is read last, so a connection ssl.log already named is not attributed a second time."""
    zeek_tsv(zeek_dir / "dns2.log", "dns", ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
                                            "query", "answers"], [
        [f"{T0:.6f}", "D9", "10.1.0.5", "5356", "10.1.0.1", "53", "api.openai.com", "162.159.140.245"],
    ])
    got = summary(scan(zeek_dir)[0])
    assert got[("tls-sni", "10.1.0.5", "api.openai.com")].details["connections"] == 2
    assert ("dns-attributed", "10.1.0.5", "api.openai.com") not in got  # conn S1 is ssl.log's S1
