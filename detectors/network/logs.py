"""Network logs security teams already keep: Zeek (TSV and JSON), Squid, dnsmasq/Pi-hole, CSV.

Each line becomes the same observation a packet would: a TLS server name, a DNS
query, an HTTP request, a proxy CONNECT, or a connection attributed through DNS
answers. Zeek's x509.log has no connection fields: a certificate naming a catalogue
host is kept by fingerprint (or file id, before Zeek 4.1) and attributes the ssl.log
connections without a server name that were offered it (``cert_chain_fps`` /
``cert_chain_fuids``). files.log is not read: since Zeek 4.1 it lists no
certificates unless configured to, and where it does, ssl.log already names the
connection. Read line by line; a bad line is counted, never fatal.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Iterator

from detectors.base import ScanContext
from detectors.network.aggregate import Aggregator
from detectors.network.engine import MAX_DNS_NAMES, UNKNOWN_FP, Engine, ua_fingerprint
from detectors.network.http import split_host_port
from detectors.network import compressed
from detectors.network.tls import valid_server_name
from scanner.model import Confidence

# read order: DNS first (its answers attribute the connections in conn logs), certificates before
# the ssl.log that refers to them, conn logs last (connections other logs named are skipped there)
ORDER = {"zeek-dns": 0, "dnsmasq": 1, "zeek-x509": 2, "zeek-conn": 9}
DEFAULT_CSV_COLUMNS = ("timestamp", "client", "host")
MAX_NAMED_UIDS = 1 << 18
MAX_CERTIFICATES = 1 << 16
WILDCARD_LABEL = "_wildcard"  # stands for the '*' of a certificate name; no real host name has it

_SQUID = re.compile(rb"^\d{9,11}\.\d{3}\s+-?\d+\s+\S+\s+[A-Z_]+/\d{3}\s+\d+\s+[A-Z]+\s+\S+")
_DNSMASQ = re.compile(
    r"^(?P<time>\w{3}\s+\d{1,2} \d\d:\d\d:\d\d) (?:\S+ )?(?:dnsmasq|pihole-FTL)\[\d+\]: "
    r"(?:\d+ \S+/\d+ )?(?P<what>query\[\w+\]|reply|cached|forwarded) (?P<name>\S+) (?:from|is|to) (?P<arg>\S+)")
# A Zeek log's kind from its fields, for JSON lines without _path: the first rule whose field is there
# (JSON leaves unset fields out, so an ssl.log line without SNI has no server_name; quic.log has one too)
_ZEEK_KINDS_BY_FIELD = (("client_initial_dcid", "zeek-quic"), ("client_protocol", "zeek-quic"),
                        ("certificate.subject", "zeek-x509"), ("server_name", "zeek-ssl"), ("cipher", "zeek-ssl"),
                        ("cert_chain_fps", "zeek-ssl"), ("cert_chain_fuids", "zeek-ssl"), ("ja4", "zeek-ssl"),
                        ("query", "zeek-dns"), ("uri", "zeek-http"), ("conn_state", "zeek-conn"))
_ZEEK_READ = {"zeek-ssl", "zeek-quic", "zeek-dns", "zeek-http", "zeek-conn", "zeek-x509"}
# Zeek's record fields nest with '.'; Log::default_scope_sep writes them with '_' instead, and a
# Log::field_name_map renames them, most often the connection's addresses and ports (as Zeek's own
# tests and ECS-style pipelines do): the names this reader knows them by
_DOTTED = ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "certificate.subject", "san.dns")
_RENAMED = {"id.orig_h": ("src", "src_ip", "source.ip", "orig_h"), "id.orig_p": ("src_port", "source.port", "orig_p"),
            "id.resp_h": ("dst", "dst_ip", "destination.ip", "resp_h"),
            "id.resp_p": ("dst_port", "destination.port", "resp_p")}
_FIELD_NAMES = {**{name.replace(".", "_"): name for name in _DOTTED},
                **{alias: name for name, aliases in _RENAMED.items() for alias in aliases}}
_SUBJECT_CN = re.compile(r"(?:^|,)\s*CN=((?:[^,\\]|\\.)+)")


def zeek_separator(line: str) -> str:
    """The separator a ``#separator`` line declares (Zeek writes ``\\x09``): one character, written
    as itself or as a ``\\xHH`` escape; anything else is the tab Zeek writes by default. (The line is
    the file's: it is not run through Python's escape decoder, which fails or warns on most text.)"""
    value = line.split(" ", 1)[1] if " " in line else ""
    if re.fullmatch(r"\\x[0-9A-Fa-f]{2}", value) and value != "\\x00":
        return chr(int(value[2:], 16))
    return value if len(value) == 1 else "\t"


def zeek_field(name: str) -> str:
    """The field name this reader uses for a Zeek field written with another scope separator."""
    return _FIELD_NAMES.get(name, name)


def zeek_kind(path: str | None, fields) -> str:
    """A Zeek log's kind: its path when it is one this reader reads, else what its fields say."""
    if path and f"zeek-{path}" in _ZEEK_READ:
        return f"zeek-{path}"
    names = {zeek_field(f) for f in fields}
    for field, kind in _ZEEK_KINDS_BY_FIELD:
        if field in names:
            return kind
    return f"zeek-{path}" if path else "zeek-other"


def log_kind(head: bytes, csv_columns: tuple[str, str, str] = DEFAULT_CSV_COLUMNS) -> str | None:
    """The kind of log whose first bytes are ``head``, or None."""
    text = head.decode("utf-8", "replace")
    while text.startswith("### "):  # btest baselines start with a line of their own
        text = text.split("\n", 1)[1] if "\n" in text else ""
    first = text.split("\n", 1)[0].strip()
    if first.startswith("#separator"):
        path = re.search(r"^#path\s+(\S+)", text, re.M)
        fields = re.search(r"^#fields\s+(.*)$", text, re.M)
        return zeek_kind(path.group(1) if path else None, fields.group(1).split() if fields else ())
    if first.startswith("{"):
        try:
            record = json.loads(first)
        except ValueError:
            return None
        if isinstance(record, dict) and ({"id.orig_h", "certificate.subject"} & {zeek_field(k) for k in record}):
            return zeek_kind(record.get("_path"), record)
        return None
    if _SQUID.match(first.encode()):
        return "squid"
    if _DNSMASQ.match(first) or any(_DNSMASQ.match(line) for line in text.splitlines()[:20]):
        return "dnsmasq"
    cells = [c.strip().lower() for c in first.split(",")]
    if len(cells) >= 3 and {csv_columns[1].lower(), csv_columns[2].lower()} <= set(cells):
        return "csv"
    return None


def csv_columns(option: Any) -> tuple[str, str, str]:
    """(time, client, host) column names from the ``csv_columns`` option ("when,src,host" or a list)."""
    cols = option.split(",") if isinstance(option, str) else list(option or DEFAULT_CSV_COLUMNS)
    cols = [str(c).strip() for c in cols] + list(DEFAULT_CSV_COLUMNS)[len(cols):]
    return cols[0], cols[1], cols[2]


def _ts(value: Any) -> float | None:
    """Zeek time: epoch seconds (TSV, default JSON) or ISO 8601 (JSON with ISO timestamps)."""
    if value in (None, "-", ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()
    except ValueError:
        return None


class LogReader:
    """Reads log files into an aggregator; keeps the DNS map and the uids already named."""

    def __init__(self, ctx: ScanContext, agg: Aggregator) -> None:
        self.ctx = ctx
        self.agg = agg
        self.dns_names: dict[bytes, str] = {}
        self.named_uids: set[str] = set()
        self.certificates: dict[str, tuple[str, str]] = {}  # fingerprint or file id -> (name, provider)
        self.engine: Engine | None = None
        self.csv_columns = csv_columns(ctx.option("csv_columns"))

    def read(self, path: Path, kind: str) -> bool:
        self.engine = Engine(self.ctx.catalog, str(path), self.agg)
        self.engine.dns_names = self.dns_names
        bad = 0
        lines = 0
        try:
            with compressed.open_input(str(path)) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
                for lines, ok in enumerate(self._lines(path, kind, text), 1):
                    if not ok:
                        bad += 1
                    if lines % 65536 == 0:
                        self.ctx.check_cancelled()
                early = compressed.cut_short(raw)
        except (*compressed.ERRORS, compressed.MissingDecompressor, csv.Error) as exc:
            self.ctx.coverage.add_gap(str(path), f"read error after {lines} lines: {exc}")
            return lines > 0
        if early:
            self.ctx.coverage.add_gap(str(path), f"{early} after {lines} lines; findings cover the lines before it")
        self.ctx.coverage.count("log_lines", lines)
        if bad:
            self.ctx.coverage.add_gap(str(path), f"{bad} of {lines} lines could not be parsed")
        return True

    def _lines(self, path: Path, kind: str, text: io.TextIOBase) -> Iterator[bool]:
        if kind.startswith("zeek-"):
            yield from self._zeek(kind, text)
        elif kind == "squid":
            for line in text:
                yield self._squid(line, str(path))
        elif kind == "dnsmasq":
            year = self.ctx.option("log_year") or dt.datetime.fromtimestamp(path.stat().st_mtime).year
            for line in text:
                yield self._dnsmasq(line, int(year))
        elif kind == "csv":
            yield from self._csv(text)

    # ---- Zeek ---------------------------------------------------------------------

    def _zeek(self, kind: str, text: io.TextIOBase) -> Iterator[bool]:
        fields: list[str] = []
        path: str | None = None
        sep = "\t"
        for line in text:
            line = line.rstrip("\r\n")
            if not line:
                continue
            if line.startswith("#"):
                if line.startswith("#separator"):
                    sep = zeek_separator(line)
                elif line.startswith("#fields"):
                    fields = [zeek_field(f) for f in line.split(sep)[1:]]
                    kind = zeek_kind(path, fields)
                elif line.startswith("#path"):
                    path = line.split(sep)[-1].strip()
                    kind = zeek_kind(path, fields)
                continue
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    yield False
                    continue
                if not isinstance(record, dict):
                    yield False
                    continue
                if _FIELD_NAMES.keys() & record.keys():
                    record = {zeek_field(k): v for k, v in record.items()}
            elif fields:
                values = line.split(sep)
                record = {k: (None if v in ("-", "(empty)") else v) for k, v in zip(fields, values)}
            else:
                yield False
                continue
            yield self._zeek_record(kind, record)

    def _zeek_record(self, kind: str, r: dict[str, Any]) -> bool:
        if kind == "zeek-x509":
            return self._x509(r)
        client = r.get("id.orig_h")
        ts = _ts(r.get("ts"))
        if not client or ts is None:
            return False
        client = str(client)
        engine = self.engine
        assert engine is not None
        if kind in ("zeek-ssl", "zeek-quic"):
            name = valid_server_name(str(r.get("server_name") or ""))
            provider = engine.provider_for_host(name) if name else None
            if provider:
                self._remember_uid(r.get("uid"))
                fp = r.get("ja4") or UNKNOWN_FP
                self.agg.add(engine.capture, "quic-sni" if kind == "zeek-quic" else "tls-sni", client, str(fp),
                             provider, name, ts, ts, Confidence.HIGH, connections=1,
                             notes={"server": _server(r), "sni": name})
            elif not name:
                self._certificate_attributed(engine, client, ts, r)
        elif kind == "zeek-dns":
            name = (r.get("query") or "").lower().rstrip(".")
            provider = engine.provider_for_host(name) if name else None
            if provider:
                self.agg.add(engine.capture, "dns", client, UNKNOWN_FP, provider, name, ts, ts, Confidence.MEDIUM,
                             requests=1)
                answers = r.get("answers") or []
                for answer in answers.split(",") if isinstance(answers, str) else answers:
                    self._map(str(answer), name)
        elif kind == "zeek-http":
            return self._http(engine, client, ts, r)
        elif kind == "zeek-conn":
            if r.get("uid") in self.named_uids:
                return True
            server = r.get("id.resp_h")
            if not server:
                return False
            nbytes = sum(int(r.get(k) or 0) for k in ("orig_bytes", "resp_bytes") if str(r.get(k) or "0").isdigit())
            self._attributed(engine, client, str(server), ts, ts + float(r.get("duration") or 0), nbytes,
                             {"server": _server(r), "transport": r.get("proto")})
        return True

    def _http(self, engine: Engine, client: str, ts: float, r: dict[str, Any]) -> bool:
        method = (r.get("method") or "").upper()
        host = r.get("host") or ""
        port = int(r.get("id.resp_p") or 80)
        notes = {"server": _server(r), "paths": r.get("uri"), "user_agents": r.get("user_agent")}
        if method == "CONNECT":
            name, _ = split_host_port(r.get("uri") or host, 443)
            provider = engine.provider_for_host(name)
            if provider:
                self._remember_uid(r.get("uid"))
                self.agg.add(engine.capture, "connect", client, UNKNOWN_FP, provider, name, ts, ts,
                             Confidence.HIGH, connections=1, notes={"server": notes["server"]})
            return True
        name, _ = split_host_port(host, port)
        provider = engine.provider_for_host(name) if name else None
        kind, confidence = "http-request", Confidence.HIGH
        if provider is None:
            path = (r.get("uri") or "/").split("?", 1)[0]
            provider, confidence = engine.local_server(port, path, None)
            kind = "local-model-server"
        if provider:
            self._remember_uid(r.get("uid"))
            if kind == "local-model-server":
                name = f"{name or r.get('id.resp_h')}:{port}"
            self.agg.add(engine.capture, kind, client, ua_fingerprint(r.get("user_agent")), provider,
                         name or str(r.get("id.resp_h")), ts, ts, confidence, requests=1,
                         notes={"server": notes["server"], "path": (r.get("uri") or "").split("?", 1)[0],
                                "user_agent": r.get("user_agent"), "method": method})
        return True

    def _x509(self, r: dict[str, Any]) -> bool:
        """Remember a server certificate that names a catalogue host (SAN DNS names, then subject CN)."""
        keys = [str(k) for k in (r.get("fingerprint"), r.get("id")) if k]
        if not keys:
            return False
        if str(r.get("client_cert")).upper() in ("T", "TRUE"):
            return True
        names = _values(r.get("san.dns"))
        cn = _SUBJECT_CN.search(str(r.get("certificate.subject") or ""))
        if cn:
            names.append(cn.group(1).replace("\\", ""))
        engine = self.engine
        assert engine is not None
        for name in names:
            name = name.strip().lower().rstrip(".")
            lookup = WILDCARD_LABEL + name[1:] if name.startswith("*.") else name
            provider = engine.provider_for_host(lookup) if name else None
            if provider:
                self.ctx.coverage.count("x509_llm_certificates")
                for key in keys:
                    if key not in self.certificates and len(self.certificates) >= MAX_CERTIFICATES:
                        del self.certificates[next(iter(self.certificates))]
                    self.certificates[key] = (name, provider)
                break
        return True

    def _certificate_attributed(self, engine: Engine, client: str, ts: float, r: dict[str, Any]) -> None:
        """A TLS connection without a server name whose server certificate names a catalogue host."""
        chain = _values(r.get("cert_chain_fps")) or _values(r.get("cert_chain_fuids"))
        named = self.certificates.get(chain[0]) if chain else None
        if named:
            self._remember_uid(r.get("uid"))
            self.agg.add(engine.capture, "tls-certificate", client, str(r.get("ja4") or UNKNOWN_FP), named[1],
                         named[0], ts, ts, Confidence.MEDIUM, connections=1,
                         notes={"server": _server(r), "certificate": chain[0]})

    # ---- Squid / dnsmasq / CSV ----------------------------------------------------

    def _squid(self, line: str, capture: str) -> bool:
        parts = line.split()
        if len(parts) < 7:
            return not line.strip()
        try:
            ts, client, nbytes, method, url = float(parts[0]), parts[2], int(parts[4]), parts[5], parts[6]
        except ValueError:
            return False
        engine = self.engine
        assert engine is not None
        if method == "CONNECT":
            name, port = split_host_port(url, 443)
            kind = "connect"
        else:
            rest = url.split("://", 1)[-1]
            name, port = split_host_port(rest.split("/", 1)[0], 80)
            kind = "http-request"
        provider = engine.provider_for_host(name)
        if provider:
            self.agg.add(capture, kind, client, UNKNOWN_FP, provider, name, ts, ts, Confidence.HIGH,
                         connections=1, nbytes=nbytes, notes={"port": str(port), "method": method})
        return True

    def _dnsmasq(self, line: str, year: int) -> bool:
        m = _DNSMASQ.match(line)
        if not m:
            return not line.strip() or "dnsmasq" in line or "pihole" in line.lower()
        try:
            ts = dt.datetime.strptime(f"{year} {m['time']}", "%Y %b %d %H:%M:%S").replace(
                tzinfo=dt.timezone.utc).timestamp()
        except ValueError:
            return False
        name = m["name"].lower().rstrip(".")
        engine = self.engine
        assert engine is not None
        provider = engine.provider_for_host(name)
        if not provider:
            return True
        if m["what"].startswith("query"):
            self.agg.add(engine.capture, "dns", m["arg"], UNKNOWN_FP, provider, name, ts, ts, Confidence.MEDIUM,
                         requests=1)
        elif m["what"] in ("reply", "cached"):
            self._map(m["arg"], name)
        return True

    def _csv(self, text: io.TextIOBase) -> Iterator[bool]:
        time_col, client_col, host_col = (c.strip().lower() for c in self.csv_columns)
        reader = csv.reader(text)
        header = [c.strip().lower() for c in next(reader, [])]
        try:
            ti = header.index(time_col) if time_col in header else None
            ci, hi = header.index(client_col), header.index(host_col)
        except ValueError:
            yield False
            return
        engine = self.engine
        assert engine is not None
        for row in reader:
            if len(row) <= max(ci, hi):
                yield not any(row)
                continue
            ts = _ts(row[ti]) if ti is not None else None
            name, _ = split_host_port(row[hi].split("://", 1)[-1].split("/", 1)[0], 443)
            provider = engine.provider_for_host(name)
            if provider:
                self.agg.add(engine.capture, "proxy-log", row[ci].strip(), UNKNOWN_FP, provider, name,
                             ts or 0.0, ts or 0.0, Confidence.MEDIUM, connections=1)
            yield True

    # ---- helpers ------------------------------------------------------------------

    def _map(self, answer: str, name: str) -> None:
        try:
            addr = ipaddress.ip_address(answer.strip()).packed
        except ValueError:
            return
        if addr not in self.dns_names and len(self.dns_names) >= MAX_DNS_NAMES:
            del self.dns_names[next(iter(self.dns_names))]
        self.dns_names[addr] = name

    def _remember_uid(self, uid: Any) -> None:
        if uid and len(self.named_uids) < MAX_NAMED_UIDS:
            self.named_uids.add(str(uid))

    def _attributed(self, engine: Engine, client: str, server: str, first: float, last: float, nbytes: int,
                    notes: dict[str, Any]) -> None:
        try:
            addr = ipaddress.ip_address(server).packed
        except ValueError:
            return
        name = self.dns_names.get(addr)
        if name:
            provider = engine.provider_for_host(name)
            if provider:
                self.agg.add(engine.capture, "dns-attributed", client, UNKNOWN_FP, provider, name, first, last,
                             Confidence.MEDIUM, connections=1, nbytes=nbytes, notes=notes)
            return
        provider = engine.provider_for_address(addr)
        if provider:
            self.agg.add(engine.capture, "ip-range", client, UNKNOWN_FP, provider, server, first, last,
                         Confidence.LOW, connections=1, nbytes=nbytes, notes=notes)


def _values(value: Any) -> list[str]:
    """A Zeek set/vector field: a JSON list, or the TSV text joined by ','."""
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return [v for v in str(value).split(",") if v] if value else []


def _server(r: dict[str, Any]) -> str | None:
    host, port = r.get("id.resp_h"), r.get("id.resp_p")
    if not host:
        return None
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


