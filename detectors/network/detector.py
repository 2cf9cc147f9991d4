"""The ``network`` detector: LLM API callers seen on the wire or in network logs.

Inputs are pcap/pcapng captures, Zeek logs, Squid access logs,
dnsmasq/Pi-hole query logs, a generic CSV, or a live interface. Every input
feeds one :class:`Aggregator`, so a finding is one client program talking to one
provider name per input, with counts and first/last packet times. Any input
may be compressed (gzip, zstd, xz, bzip2); a file is known by its content, not
its name.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Iterable, Iterator

from detectors.base import DetectorError, ScanContext
from detectors.network import NetworkDetector
from detectors.network import compressed, logs
from detectors.network.aggregate import Aggregator, Record
from detectors.network.engine import UNKNOWN_FP, Engine
from detectors.network.reader import CaptureError, CaptureReader, capture_format
from scanner import identity
from scanner.model import Finding, Location

PROGRESS_EVERY = 1 << 16
SNIFF_BYTES = 4096
_LISTED_AS = {k: k + "s" for k in ("server", "path", "user_agent", "alpn", "mac", "client_ip")}  # detail names

_KIND_TEXT = {
    "tls-sni": "TLS connection(s) naming {name} (SNI)",
    "quic-sni": "QUIC connection(s) naming {name} (SNI)",
    "dns-attributed": "connection(s) to an address DNS answers in this input name {name}",
    "ip-range": "connection(s) to {name}, in the provider's published address range",
    "connect": "proxy CONNECT request(s) for {name}",
    "http-request": "plaintext HTTP connection(s) to {name}",
    "local-model-server": "connection(s) to a local model server at {name}",
    "proxy-log": "proxy log entr(ies) for {name}",
    "tls-certificate": "TLS connection(s) without a server name to a server whose certificate names {name}",
}


def iso(ts: float | None) -> str | None:
    """Packet time as ISO 8601 UTC (seconds); None when the source had no time."""
    if ts is None or ts <= 0:
        return None
    try:
        return _iso_second(int(ts))
    except (OverflowError, ValueError):
        return None


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str | None:
    """Cached: the records of one capture share few distinct seconds."""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    except (OverflowError, OSError, ValueError):
        return None


def sniff(path: Path, csv_columns: tuple[str, str, str] = logs.DEFAULT_CSV_COLUMNS) -> str | None:
    """What an input file is: 'pcap', 'pcapng', a log kind from :mod:`logs`, or None."""
    return sniff_why(path, csv_columns)[0]


def sniff_why(path: Path, csv_columns: tuple[str, str, str] = logs.DEFAULT_CSV_COLUMNS) -> tuple[str | None, str]:
    """:func:`sniff`, and when it is None, why (the file is compressed, unreadable ...) for the coverage note."""
    try:
        head = compressed.head(str(path), SNIFF_BYTES)
    except compressed.MissingDecompressor as exc:
        return None, str(exc)
    except compressed.ERRORS as exc:
        return None, f"cannot read: {exc}"
    kind = capture_format(head) or logs.log_kind(head, csv_columns)
    if kind:
        return kind, ""
    with open(path, "rb") as f:
        packed = compressed.compression(f.read(compressed.MAGIC_BYTES))
    if packed:
        return None, (f"{packed}-compressed, but not a pcap, pcapng or a supported log inside"
                      if head else f"{packed}-compressed, but nothing could be decompressed")
    return None, "not a pcap, pcapng or a supported log (unknown format)"


# names that say "capture" or "log": a directory's file of such a name that is neither is worth a note
_INPUT_SUFFIXES = (".pcap", ".pcapng", ".cap", ".log", ".gz", ".zst", ".xz", ".bz2", ".json", ".csv")


class NetworkScan(NetworkDetector):
    """The work of :class:`~detectors.network.NetworkDetector`, imported when it runs."""

    def run(self, ctx: ScanContext) -> Iterator[Finding]:
        agg = Aggregator()
        interface = ctx.option("interface")
        inputs = self._inputs(ctx)
        if not inputs and not interface:
            raise DetectorError("no network input: give pcap/pcapng captures or Zeek, Squid or dnsmasq logs as "
                                "paths (or the 'inputs' option), or an interface for live capture")
        read = 0
        failures: list[str] = []
        log_reader = logs.LogReader(ctx, agg)
        for path, kind in self._ordered(inputs):
            ctx.check_cancelled()
            if kind is None:
                why = sniff_why(path, logs.csv_columns(ctx.option("csv_columns")))[1]
                failures.append(f"{path}: {why}")
                ctx.coverage.add_gap(str(path), why)
                continue
            if kind in ("pcap", "pcapng"):
                ok = self._capture(ctx, path, agg)
            else:
                ok = log_reader.read(path, kind)
            if ok:
                read += 1
                ctx.coverage.count("files")
            else:
                failures.append(f"{path}: unreadable (see coverage)")
        if interface:
            from detectors.network import live
            live.capture(ctx, interface, agg)
            read += 1
        if read == 0 and failures:
            raise DetectorError("; ".join(failures[:3]))
        yield from self._findings(ctx, agg)

    # ---- inputs -------------------------------------------------------------------

    def _inputs(self, ctx: ScanContext) -> list[tuple[Path, str | None]]:
        columns = logs.csv_columns(ctx.option("csv_columns"))
        option = ctx.option("inputs")
        if option:
            names = option.split(",") if isinstance(option, str) else [option] if isinstance(option, Path) else option
            return [(Path(n), sniff(Path(n), columns)) for n in names]
        found: list[tuple[Path, str | None]] = []
        for root in ctx.paths:
            if root.is_file():
                kind, why = sniff_why(root, columns)
                if kind or not why.startswith("not a pcap"):  # compressed or unreadable: say so in run()
                    found.append((root, kind))
            elif root.is_dir():
                try:
                    children = sorted(p for p in root.iterdir() if p.is_file())
                except OSError as exc:
                    ctx.coverage.add_gap(str(root), f"cannot list directory: {exc.strerror}")
                    continue
                for child in children:
                    kind, why = sniff_why(child, columns)
                    if kind:
                        found.append((child, kind))
                    elif not why.startswith("not a pcap") or child.name.lower().endswith(_INPUT_SUFFIXES):
                        ctx.coverage.add_gap(str(child), f"skipped: {why}")  # compressed, or named as an input
        return found

    @staticmethod
    def _ordered(inputs: Iterable[tuple[Path, str | None]]) -> list[tuple[Path, str | None]]:
        """DNS logs first: their answers attribute connections in the other logs."""
        return sorted(inputs, key=lambda item: (logs.ORDER.get(item[1] or "", 5), str(item[0])))

    # ---- captures -----------------------------------------------------------------

    def _capture(self, ctx: ScanContext, path: Path, agg: Aggregator) -> bool:
        engine = Engine(ctx.catalog, str(path), agg, ctx.coverage.add_gap)
        reader = CaptureReader(str(path))
        try:
            size = path.stat().st_size
        except OSError:
            size = None
        def tick() -> None:
            ctx.check_cancelled()
            ctx.progress(reader.bytes_read if size else engine.packets, size, path.name)

        try:
            engine.feed(reader, PROGRESS_EVERY, tick)
        except CaptureError as exc:
            ctx.coverage.add_gap(str(path), str(exc))
            return False
        finally:
            engine.finish()
        if reader.problem:
            ctx.coverage.add_gap(str(path), f"{reader.problem}; findings cover the packets before it")
        for note in reader.notes:
            ctx.coverage.add_gap(str(path), note)
        count_engine(ctx, engine)
        return True

    # ---- findings -----------------------------------------------------------------

    def _findings(self, ctx: ScanContext, agg: Aggregator) -> Iterator[Finding]:
        """One finding per record; lookups of a name the same client then connected to are folded
        into that connection's finding (they are the same program, not a second unknown one)."""
        connected: dict[tuple[str, str, str], list[Record]] = {}
        for rec in agg.records.values():
            if rec.kind != "dns":
                connected.setdefault((rec.capture, rec.client, rec.name), []).append(rec)
        for rec in agg.records.values():
            if rec.kind == "dns":
                for target in connected.get((rec.capture, rec.client, rec.name), ()):
                    target.dns_lookups += rec.requests
        for rec in sorted(agg.records.values(), key=_record_order):
            if rec.kind == "dns" and (rec.capture, rec.client, rec.name) in connected:
                continue
            yield self._finding(ctx, rec)

    def _finding(self, ctx: ScanContext, rec: Record) -> Finding:
        last_seen = iso(rec.last)
        details: dict = {
            "first_seen": iso(rec.first), "last_seen": last_seen,
            "connections": rec.connections, "bytes": rec.bytes,
            "client": rec.client, "fingerprint": rec.fingerprint,
        }
        if rec.kind in ("dns", "proxy-log") and not rec.bytes:
            del details["bytes"]
            if not rec.connections:
                del details["connections"]
        if rec.requests:
            details["requests"] = rec.requests
        if rec.dns_lookups:
            details["dns_lookups"] = rec.dns_lookups
        if rec.kind == "ech":
            details["ech"] = True
        for key in ("first_seen", "last_seen", "client", "fingerprint"):  # the values that may be missing
            if not details[key]:
                del details[key]
        for key, values in sorted(rec.sets.items()):  # never empty: Record.note() keeps only values
            listed = sorted(values)
            details[_LISTED_AS.get(key, key)] = (
                listed[0] if key in ("ja4", "sni", "outer_sni") and len(listed) == 1 else listed)
        provider = ctx.catalog.providers.get(rec.provider)
        return Finding(
            detector=self.name, kind=rec.kind, provider=rec.provider, model=rec.model,
            location=Location(capture=rec.capture, flow=f"{rec.client} -> {rec.name}"),
            identity=[identity.net(rec.client, rec.fingerprint), identity.host(rec.client),
                      *identity.endpoint_keys(ctx.catalog, rec.name)],
            evidence=_evidence(rec, provider.name if provider else rec.provider),
            confidence=rec.confidence, credential=rec.credential, details=details,
            observed_at=last_seen, endpoint=rec.name or None,
        )


def count_engine(ctx: ScanContext, engine: Engine) -> None:
    """What one engine saw, into coverage; ECH connections the detector could not attribute stay visible here."""
    ctx.coverage.count("packets", engine.packets)
    ctx.coverage.count("flows", engine.flow_count)
    if engine.ech_flows:
        ctx.coverage.count("ech_connections", engine.ech_flows)
        ctx.coverage.count("ech_connections_unattributed", engine.ech_unattributed)
    for encap, n in sorted(engine.tunnelled.items()):
        ctx.coverage.count(f"tunnelled_packets.{encap}", n)
    for encap, n in sorted(engine.undecoded.items()):
        ctx.coverage.count(f"tunnelled_packets_not_decoded.{encap.split(' ', 1)[0]}", n)
        ctx.coverage.add_gap(engine.capture, f"{n} tunnelled packet(s) not decoded: {encap}")


def _record_order(rec: Record) -> tuple:
    return rec.capture, rec.kind, rec.client, rec.fingerprint, rec.provider, rec.name, rec.model or ""


def _evidence(rec: Record, provider_name: str) -> str:
    if rec.kind == "dns":
        return f"{rec.client} looked up {rec.name} ({provider_name}) {rec.requests} time(s)"
    if rec.kind == "ech":
        return _ech_evidence(rec, provider_name)
    what = _KIND_TEXT.get(rec.kind, "connection(s) to {name}").format(name=rec.name)
    count = rec.connections or rec.requests
    text = f"{rec.client} made {count} {what} [{provider_name}]"
    if rec.model:
        text += f", model {rec.model}"
    if rec.fingerprint != UNKNOWN_FP:
        text += f"; client fingerprint {rec.fingerprint}"
    return text


_ECH_HOW = {
    "dns-answer": "a DNS answer giving that name this address",
    "https-query": "the client's HTTPS/SVCB record lookup of that name just before",
    "address-range": "the provider's published address range",
}


def _ech_evidence(rec: Record, provider_name: str) -> str:
    """ECH hides the server name: say which public name the client showed and how the server was named."""
    public = ", ".join(sorted(rec.sets.get("outer_sni", ()))) or "none"
    how = " and ".join(_ECH_HOW.get(w, w) for w in sorted(rec.sets.get("attributed_by", ()))) or "DNS"
    text = (f"{rec.client} made {rec.connections} ECH (Encrypted Client Hello) connection(s), outer SNI {public} "
            f"(the real server name is encrypted); attributed to {rec.name} [{provider_name}] by {how}")
    if rec.fingerprint != UNKNOWN_FP:
        text += f"; client fingerprint {rec.fingerprint}"
    return text
