"""Benchmark of the ``network`` detector against tshark, scapy (TLS layer) and dpkt, side by side.

Builds a capture of at least 100 MB from the committed fixture (real traffic of
Python ``ssl``, aioquic, a DNS server, local model servers and a CONNECT proxy,
recorded on a private loopback) by replication: every copy gets its own client
addresses and ports, QUIC copies are re-encrypted under fresh connection IDs,
10 % of the copies are converted to IPv6, and in 1 copy in 8 every ClientHello is
split in the middle of its server name over two TCP segments. A truth file lists
what each copy holds. Then each method runs in its own process over the same file:

    ours    the detector (own streaming reader + hand parser)
    tshark  ``tshark -T fields`` with the fields needed for the same answer, piped into Python
    scapy   ``PcapReader`` with its TLS/DNS/HTTP layers (on a prefix when slow; extrapolated, labelled)
    dpkt    ``dpkt.pcap.UniversalReader`` + ``dpkt.ssl``/``dns``/``http``

and the table shows MB/s, packets/s, peak RSS and found/expected for TLS SNI,
split ClientHellos, QUIC SNI, SNI-less flows attributed by DNS and HTTP to local
model servers.

    python benchmarks/network_bench.py                 # full run (>= 100 MB capture)
    python benchmarks/network_bench.py --smoke         # ~3 MB, a few seconds
    python benchmarks/network_bench.py --size-mb 400   # larger capture
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "data" / "network" / "loopback.pcap"
TRUTH = ROOT / "tests" / "data" / "network" / "truth.json"
SERVER_PORTS = {443, 53, 3128, 11434, 8000, 1234}
LOCAL_PORTS = (11434, 8000, 1234)
KEEP_ADDRS = {"127.0.0.53"} | {f"127.1.0.{i}" for i in range(1, 10)} | {f"fd00:1::{i}" for i in range(1, 10)}
ROWS = (("tls", "TLS SNI"), ("split", "split ClientHellos"), ("quic", "QUIC SNI"),
        ("nosni", "SNI-less flows → DNS"), ("http", "HTTP to local servers"))
TARGET_MBPS, TARGET_RATIO, TARGET_RSS_MB = 150.0, 4.0, 150.0
BUILD_VERSION = "4"
HOSTS = 240


# =====================================================================================
# Building the capture
# =====================================================================================

def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(array("H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return socket.htons(~s & 0xFFFF)


def l4_checksum(src: bytes, dst: bytes, proto: int, segment: bytearray, offset: int) -> None:
    """Recompute the TCP (offset 16) or UDP (offset 6) checksum of ``segment`` in place."""
    segment[offset:offset + 2] = b"\x00\x00"
    pseudo = src + dst + (struct.pack(">BBH", 0, proto, len(segment)) if len(src) == 4
                          else struct.pack(">IxxxB", len(segment), proto))
    value = checksum(pseudo + bytes(segment))
    if proto == 17 and value == 0:
        value = 0xFFFF
    segment[offset:offset + 2] = struct.pack("<H", value) if sys.byteorder == "little" else struct.pack(">H", value)


def ip_frame(src: bytes, dst: bytes, proto: int, l4: bytearray, ident: int) -> bytes:
    """Ethernet + IPv4/IPv6 + L4 with correct checksums."""
    l4_checksum(src, dst, proto, l4, 16 if proto == 6 else 6)
    if len(src) == 4:
        head = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident & 0xFFFF, 0x4000, 64, proto, 0,
                                     src, dst))
        head[10:12] = struct.pack("<H" if sys.byteorder == "little" else ">H", checksum(bytes(head)))
        return b"\x00" * 12 + b"\x08\x00" + bytes(head) + bytes(l4)
    head = struct.pack(">IHBB", 0x60000000, len(l4), proto, 64) + src + dst
    return b"\x00" * 12 + b"\x86\xdd" + head + bytes(l4)


def parse_frame(frame: bytes) -> tuple[bytes, bytes, int, bytearray] | None:
    etype = frame[12:14]
    if etype == b"\x08\x00":
        ihl = (frame[14] & 15) * 4
        total = struct.unpack_from(">H", frame, 16)[0]
        return frame[26:30], frame[30:34], frame[23], bytearray(frame[14 + ihl:14 + total])
    if etype == b"\x86\xdd":
        return frame[22:38], frame[38:54], frame[20], bytearray(frame[54:])
    return None


def text(addr: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)


def packed(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)


class Copier:
    """Rewrites the fixture's sessions into copy ``k``: addresses, ports, IPv6, split hellos, QUIC keys."""

    def __init__(self, frames: list[tuple[float, bytes]]) -> None:
        from detectors.network import quic
        self.quic = quic
        self.frames = frames
        self.t0 = frames[0][0]
        self.span = frames[-1][0] - self.t0 + 1.0
        self.odcid: dict[tuple, bytes] = {}  # QUIC session -> DCID of its first client Initial
        self.cids: dict[tuple, set[bytes]] = {}
        for _, frame in frames:
            p = parse_frame(frame)
            if p and p[2] == 17:
                self._learn_quic(*p)

    def _learn_quic(self, src: bytes, dst: bytes, proto: int, l4: bytearray) -> None:
        sport, dport = struct.unpack_from(">HH", l4)
        if 443 not in (sport, dport) or len(l4) < 9 or l4[8] & 0xC0 != 0xC0:
            return
        client = (src, sport) if dport == 443 else (dst, dport)
        payload = bytes(l4[8:])
        dlen = payload[5]
        dcid = payload[6:6 + dlen]
        slen = payload[6 + dlen]
        scid = payload[7 + dlen:7 + dlen + slen]
        if dport == 443 and client not in self.odcid and self.quic.initial_header(payload):
            self.odcid[client] = dcid
        self.cids.setdefault(client, set()).update(c for c in (dcid, scid) if c)

    # ---- addresses ----------------------------------------------------------------

    @staticmethod
    def new_addr(addr: bytes, k: int, v6: bool) -> bytes:
        t = text(addr)
        if t in KEEP_ADDRS:
            if v6 and len(addr) == 4:
                if t == "127.0.0.53":
                    return packed("fd00::53")
                return packed(f"fd00:1::{t.rsplit('.', 1)[1]}")
            return addr
        host = {"127.2.0.1": 20, "127.2.0.2": 21, "127.0.0.1": 22, "fd00:2::1": 23}.get(t, 24)
        hi, lo = divmod(k % HOSTS, 256)  # a fixed host population; a longer capture is more of their traffic
        if v6 or len(addr) == 16:
            return packed(f"fd{host}::{hi:x}:{lo:x}")
        return packed(f"10.{host}.{hi}.{lo}")

    @staticmethod
    def new_port(port: int, k: int) -> int:
        return port if port in SERVER_PORTS else 20000 + (port * 7 + k * 131) % 40000

    # ---- one copy -----------------------------------------------------------------

    def copy(self, k: int, v6: bool, split: bool) -> Iterator[tuple[float, bytes]]:
        base = k * self.span
        for ident, (ts, frame) in enumerate(self.frames):
            p = parse_frame(frame)
            if p is None:
                continue
            src, dst, proto, l4 = p
            nsrc, ndst = self.new_addr(src, k, v6), self.new_addr(dst, k, v6)
            sport, dport = struct.unpack_from(">HH", l4)
            struct.pack_into(">HH", l4, 0, self.new_port(sport, k), self.new_port(dport, k))
            when = ts - self.t0 + base + 1_700_000_000.0
            if proto == 17 and 443 in (sport, dport):
                client = (src, sport) if dport == 443 else (dst, dport)
                self._requic(l4, client, k, from_client=dport == 443)
            elif proto == 17:  # DNS answers keep their server addresses: servers are the same in every copy
                struct.pack_into(">H", l4, 4, len(l4))
            if proto == 6 and split and dport == 443 or proto == 6 and split and dport == 3128:
                pieces = self._split_hello(l4)
                if pieces:
                    for i, piece in enumerate(pieces):
                        yield when + i * 1e-4, ip_frame(nsrc, ndst, proto, piece, ident * 2 + i)
                    continue
            yield when, ip_frame(nsrc, ndst, proto, l4, ident)

    @staticmethod
    def _split_hello(l4: bytearray) -> list[bytearray] | None:
        doff = (l4[12] >> 4) * 4
        payload = bytes(l4[doff:])
        if len(payload) < 60 or payload[0] != 0x16 or payload[5] != 1:
            return None
        from detectors.network.tls import handshake_from_records, parse_client_hello
        msg = handshake_from_records(payload)
        hello = parse_client_hello(msg) if isinstance(msg, bytes) else None
        if hello is None or hello.sni is None:
            return None
        cut = payload.find(hello.sni.encode()) + 4
        seq = struct.unpack_from(">I", l4, 4)[0]
        first = bytearray(l4[:doff]) + payload[:cut]
        second = bytearray(l4[:doff]) + payload[cut:]
        struct.pack_into(">I", second, 4, (seq + cut) & 0xFFFFFFFF)
        first[13] &= ~0x08 & 0xFF  # no PSH on the first half
        return [first, second]

    def _new_cid(self, cid: bytes, k: int) -> bytes:
        return hashlib.sha256(b"%d/" % k + cid).digest()[:len(cid)]

    def _requic(self, l4: bytearray, client: tuple, k: int, from_client: bool) -> None:
        struct.pack_into(">H", l4, 4, len(l4))
        payload = bytearray(l4[8:])
        cids = self.cids.get(client, set())
        odcid = self.odcid.get(client)
        if from_client and odcid and self.quic.initial_header(bytes(payload)):
            payload = self._reencrypt(payload, odcid, k, cids)
        elif payload and payload[0] & 0x80:
            for cid in cids:
                payload = bytearray(bytes(payload).replace(cid, self._new_cid(cid, k), 2))
        elif payload:
            for cid in cids:
                if payload[1:1 + len(cid)] == cid:
                    payload[1:1 + len(cid)] = self._new_cid(cid, k)
        l4[8:] = payload

    def _reencrypt(self, dgram: bytearray, odcid: bytes, k: int, cids: set[bytes]) -> bytearray:
        """Decrypt the first client Initial with the original keys and protect it again under new CIDs."""
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        q = self.quic
        buf = bytes(dgram)
        version = int.from_bytes(buf[1:5], "big")
        old = q.client_initial_keys(version, odcid)
        new = q.client_initial_keys(version, self._new_cid(odcid, k))
        pos = 6 + buf[5]
        pos += 1 + buf[pos]
        token_len, pos = q._varint(buf, pos)
        pos += token_len
        length, pn_offset = q._varint(buf, pos)
        end = pn_offset + length
        enc = Cipher(algorithms.AES(old.hp), modes.ECB()).encryptor()
        mask = enc.update(buf[pn_offset + 4:pn_offset + 20]) + enc.finalize()
        first = buf[0] ^ (mask[0] & 0x0F)
        pn_len = (first & 3) + 1
        pn = bytes(b ^ m for b, m in zip(buf[pn_offset:pn_offset + pn_len], mask[1:1 + pn_len]))
        header = bytes([first]) + buf[1:pn_offset] + pn
        nonce = bytes(a ^ b for a, b in zip(old.iv, pn.rjust(12, b"\x00")))
        plain = AESGCM(old.key).decrypt(nonce, buf[pn_offset + pn_len:end], header)
        rest = buf[end:]
        for cid in cids:
            plain = plain.replace(cid, self._new_cid(cid, k))
            header = header.replace(cid, self._new_cid(cid, k))
            rest = rest.replace(cid, self._new_cid(cid, k))
        nonce = bytes(a ^ b for a, b in zip(new.iv, pn.rjust(12, b"\x00")))
        sealed = AESGCM(new.key).encrypt(nonce, plain, header)
        enc = Cipher(algorithms.AES(new.hp), modes.ECB()).encryptor()
        mask = enc.update(sealed[4 - pn_len:20 - pn_len]) + enc.finalize()
        out = bytearray(header[:pn_offset] + bytes(b ^ m for b, m in zip(pn, mask[1:1 + pn_len])) + sealed + rest)
        out[0] ^= mask[0] & 0x0F
        return out


def expected_for_copy(truth: list[dict], copier: Copier, k: int, v6: bool, split: bool) -> Counter:
    out: Counter = Counter()
    for e in truth:
        client = text(copier.new_addr(packed(e["client"]), k, v6))
        name = e["name"]
        if e["kind"] == "tls-sni":
            out[("tls", client, name)] += e["connections"]
            if split or e.get("split"):
                out[("split", client, name)] += e["connections"]
        elif e["kind"] == "quic-sni":
            out[("quic", client, name)] += e["connections"]
        elif e["kind"] == "dns-attributed":
            out[("nosni", client, name)] += e["connections"]
        elif e["kind"] == "local-model-server":
            out[("http", client, name.split(":")[1])] += e["connections"]
    return out


def build(path: Path, size_mb: float) -> dict[str, Any]:
    """Write the replicated capture and its truth; reuse them when already built with the same inputs."""
    from detectors.network.reader import CaptureReader
    truth_path = path.with_suffix(".truth.json")
    stamp = hashlib.sha256(FIXTURE.read_bytes() + TRUTH.read_bytes() + BUILD_VERSION.encode()).hexdigest()[:16]
    if truth_path.exists() and path.exists():
        meta = json.loads(truth_path.read_text())
        if meta.get("stamp") == stamp and meta.get("size_mb") == size_mb:
            return meta
    frames = [(ts, f) for ts, lt, f in CaptureReader(str(FIXTURE))]
    copier = Copier(frames)
    truth = json.loads(TRUTH.read_text())["expected"]
    expected: Counter = Counter()
    copies: list[dict[str, Any]] = []
    target = int(size_mb * 1e6)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        k = 0
        while f.tell() < target:
            v6, split = k % 10 == 7, k % 8 == 3
            for ts, frame in copier.copy(k, v6, split):
                sec = int(ts)
                f.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), len(frame)))
                f.write(frame)
            exp = expected_for_copy(truth, copier, k, v6, split)
            expected.update(exp)
            copies.append({"end": f.tell(), "expected": [[*key, n] for key, n in sorted(exp.items())]})
            k += 1
    meta = {"stamp": stamp, "size_mb": size_mb, "bytes": path.stat().st_size, "copies": copies}
    truth_path.write_text(json.dumps(meta))
    return meta


def expected_up_to(meta: dict[str, Any], limit: int | None) -> Counter:
    out: Counter = Counter()
    for c in meta["copies"]:
        if limit is not None and c["end"] > limit:
            break
        for cat, client, name, n in c["expected"]:
            out[(cat, client, name)] += n
    return out


# =====================================================================================
# Methods (each runs in its own process)
# =====================================================================================

def _local_port(port: int) -> bool:
    return port in LOCAL_PORTS


def method_ours(path: str, limit: int | None) -> tuple[Counter, int]:
    from detectors.base import ScanContext
    from detectors.network import NetworkDetector
    from scanner.catalog import Catalog
    from scanner.model import Coverage
    ctx = ScanContext("network", Catalog.load(), [Path(path)], {}, Coverage("network"))
    found: Counter = Counter()
    for f in NetworkDetector().run(ctx):
        client, name = f.details["client"], f.location.flow.split(" -> ", 1)[1]
        n = f.details.get("connections", 0)
        if f.kind == "tls-sni":
            found[("tls", client, name)] += n
        elif f.kind == "quic-sni":
            found[("quic", client, name)] += n
        elif f.kind == "dns-attributed":
            found[("nosni", client, name)] += n
        elif f.kind == "local-model-server":
            found[("http", client, name.rsplit(":", 1)[1])] += n
    return found, ctx.coverage.scanned.get("packets", 0)


def method_tshark(path: str, limit: int | None) -> tuple[Counter, int]:
    cmd = ["tshark", "-n", "-r", path, "-Y", "tls.handshake.type == 1 or dns or http.request",
           *[a for p in LOCAL_PORTS for a in ("-d", f"tcp.port=={p},http")],
           "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,",
           *[a for fld in ("frame.number", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.dstport", "udp.srcport",
                           "tls.handshake.type", "tls.handshake.extensions_server_name", "dns.flags.response",
                           "dns.qry.name", "dns.a", "dns.aaaa", "http.host", "http.request.method")
             for a in ("-e", fld)]]
    found: Counter = Counter()
    names: dict[str, str] = {}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    last = 0
    for line in proc.stdout:  # type: ignore[union-attr]
        (num, s4, s6, d4, d6, tdport, usport, hstype, sni, resp, qname, a, aaaa, host, method) = (
            line.rstrip("\n").split("\t") + [""] * 15)[:15]
        last = int(num or last)
        src, dst = s4 or s6, d4 or d6
        if resp == "1" and qname:
            for addr in (a + "," + aaaa).split(","):
                if addr:
                    names[addr] = qname.split(",")[0]
        if "1" in hstype.split(","):
            cat = "quic" if usport else "tls"
            if sni:
                found[(cat, src, sni)] += 1
            elif dst in names:
                found[("nosni", src, names[dst])] += 1
        if method and tdport and _local_port(int(tdport.split(",")[0])):
            found[("http", src, tdport.split(",")[0])] += 1
    proc.wait()
    packets = int(subprocess.run(["capinfos", "-c", "-M", path], capture_output=True, text=True).stdout.split()[-1]) \
        if shutil.which("capinfos") else last
    return found, packets


def method_dpkt(path: str, limit: int | None) -> tuple[Counter, int]:
    import dpkt
    found: Counter = Counter()
    names: dict[bytes, str] = {}
    packets = 0
    with open(path, "rb") as f:
        for _ts, buf in dpkt.pcap.UniversalReader(f):
            packets += 1
            try:
                eth = dpkt.ethernet.Ethernet(buf)
                ip = eth.data
                if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                    continue
                l4 = ip.data
                src = socket.inet_ntop(socket.AF_INET if len(ip.src) == 4 else socket.AF_INET6, ip.src)
                if isinstance(l4, dpkt.udp.UDP) and 53 in (l4.sport, l4.dport):
                    msg = dpkt.dns.DNS(l4.data)
                    if msg.qr == dpkt.dns.DNS_R and msg.qd:
                        for rr in msg.an:
                            if rr.type in (dpkt.dns.DNS_A, dpkt.dns.DNS_AAAA):
                                names[rr.rdata] = msg.qd[0].name
                elif isinstance(l4, dpkt.tcp.TCP) and l4.data:
                    data = l4.data
                    if data[0] == 0x16:
                        rec = dpkt.ssl.TLSRecord(data)
                        hs = dpkt.ssl.TLSHandshake(rec.data)
                        if isinstance(hs.data, dpkt.ssl.TLSClientHello):
                            sni = [e[1][5:].decode() for e in hs.data.extensions if e[0] == 0]
                            if sni:
                                found[("tls", src, sni[0])] += 1
                            elif ip.dst in names:
                                found[("nosni", src, names[ip.dst])] += 1
                    elif _local_port(l4.dport):
                        dpkt.http.Request(data)
                        found[("http", src, str(l4.dport))] += 1
            except (dpkt.dpkt.NeedData, dpkt.dpkt.UnpackError, ValueError, IndexError, struct.error):
                continue
    return found, packets


def method_scapy(path: str, limit: int | None) -> tuple[Counter, int]:
    from scapy.all import IP, TCP, IPv6, PcapReader, bind_layers, load_layer  # type: ignore
    load_layer("tls")
    load_layer("http")
    from scapy.layers.dns import DNS
    from scapy.layers.http import HTTP, HTTPRequest
    from scapy.layers.tls.handshake import TLSClientHello
    for p in LOCAL_PORTS:
        bind_layers(TCP, HTTP, dport=p)
    found: Counter = Counter()
    names: dict[str, str] = {}
    packets = 0
    read = 24
    with PcapReader(path) as reader:
        for pkt in reader:
            packets += 1
            read += 16 + len(pkt.original) if hasattr(pkt, "original") and pkt.original else 16
            if limit is not None and read > limit:
                break
            ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
            if ip is None:
                continue
            if pkt.haslayer(DNS) and pkt[DNS].qr == 1 and pkt[DNS].qd:
                qname = pkt[DNS].qd[0].qname.decode().rstrip(".")
                for i in range(pkt[DNS].ancount or 0):
                    rr = pkt[DNS].an[i]
                    if rr.type in (1, 28):
                        names[str(rr.rdata)] = qname
            if pkt.haslayer(TLSClientHello):
                sni = None
                for e in pkt[TLSClientHello].ext or []:
                    if getattr(e, "type", None) == 0 and getattr(e, "servernames", None):
                        sni = e.servernames[0].servername.decode()
                if sni:
                    found[("tls", ip.src, sni)] += 1
                elif ip.dst in names:
                    found[("nosni", ip.src, names[ip.dst])] += 1
            if pkt.haslayer(HTTPRequest) and pkt.haslayer(TCP) and _local_port(pkt[TCP].dport):
                found[("http", ip.src, str(pkt[TCP].dport))] += 1
    return found, packets


METHODS = {"ours": method_ours, "tshark": method_tshark, "scapy": method_scapy, "dpkt": method_dpkt}


def child(method: str, path: str, limit: int | None) -> None:
    start = time.perf_counter()
    found, packets = METHODS[method](path, limit)
    seconds = time.perf_counter() - start
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"seconds": seconds, "packets": packets, "rss_kb": rss,
                      "found": [[*k, n] for k, n in found.items()]}))


# =====================================================================================
# Driver
# =====================================================================================

def run_method(method: str, path: Path, limit: int | None) -> dict[str, Any] | None:
    cmd = [sys.executable, __file__, "--child", method, str(path)] + (["--limit", str(limit)] if limit else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"  {method}: failed: {p.stderr.strip().splitlines()[-1:] if p.stderr else p.returncode}")
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def score(found: Counter, expected: Counter) -> dict[str, tuple[int, int]]:
    out = {}
    for cat, _label in ROWS:
        if cat == "split":
            got = sum(min(found[("tls", c, n)], e) for (k, c, n), e in expected.items() if k == "split")
        else:
            got = sum(min(found[key], e) for key, e in expected.items() if key[0] == cat)
        out[cat] = (got, sum(e for key, e in expected.items() if key[0] == cat))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="a ~3 MB capture; every method on all of it")
    ap.add_argument("--size-mb", type=float, default=110.0)
    ap.add_argument("--scapy-mb", type=float, default=8.0, help="prefix scapy reads (it runs at ~1-2 MB/s)")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "shadow-agents-netbench"))
    ap.add_argument("--methods", default="ours,tshark,scapy,dpkt")
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.limit)
        return 0
    size = 3.0 if args.smoke else args.size_mb
    scapy_mb = 1.0 if args.smoke else args.scapy_mb
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"capture-{size:g}MB.pcap"
    t = time.perf_counter()
    meta = build(path, size)
    mb = meta["bytes"] / 1e6
    print(f"capture: {path} ({mb:.1f} MB, {len(meta['copies'])} copies of the fixture; built/checked in "
          f"{time.perf_counter() - t:.1f} s)")
    full = expected_up_to(meta, None)
    print("expected: " + ", ".join(f"{label} {score(full, full)[cat][1]}" for cat, label in ROWS))
    results = []
    for method in args.methods.split(","):
        if method == "tshark" and not shutil.which("tshark"):
            print("  tshark: not installed, skipped")
            continue
        limit = int(scapy_mb * 1e6) if method == "scapy" and scapy_mb * 1e6 < meta["bytes"] else None
        r = run_method(method, path, limit)
        if r is None:
            continue
        expected = expected_up_to(meta, limit)
        share = (sum(1 for c in meta["copies"] if limit is None or c["end"] <= limit) / len(meta["copies"]))
        done_bytes = meta["bytes"] if limit is None else max((c["end"] for c in meta["copies"] if c["end"] <= limit),
                                                             default=limit)
        found = Counter({tuple(x[:3]): x[3] for x in r["found"]})
        results.append((method, r, score(found, expected), done_bytes / 1e6, share))
    print()
    header = f"{'method':<40}{'MB/s':>8}{'pkt/s':>10}{'RSS MB':>8}{'time s':>9}  " + "  ".join(
        f"{label}" for _, label in ROWS)
    print(header)
    ours_mbps = tshark_mbps = None
    ours_rss = None
    all_found = True
    for method, r, sc, done_mb, share in results:
        seconds = max(r["seconds"], 1e-9)
        mbps, pps = done_mb / seconds, r["packets"] / seconds
        label = method if share >= 0.999 else f"{method} (first {done_mb:.0f} MB; extrapolated {mb / mbps:.0f} s)"
        cells = "  ".join(f"{sc[cat][0]}/{sc[cat][1]}".rjust(len(lab)) for cat, lab in ROWS)
        print(f"{label:<40}{mbps:>8.1f}{pps:>10.0f}{r['rss_kb'] / 1024:>8.0f}{seconds:>9.2f}  {cells}")
        if method == "ours":
            ours_mbps, ours_rss = mbps, r["rss_kb"] / 1024
            all_found = all(got == want for got, want in sc.values())
        if method == "tshark":
            tshark_mbps = mbps
    print()
    if ours_mbps is not None:
        print(f"ours: {ours_mbps:.1f} MB/s (target {TARGET_MBPS:.0f}), peak RSS {ours_rss:.0f} MB "
              f"(target < {TARGET_RSS_MB:.0f}), every row found: {'yes' if all_found else 'NO'}")
        if tshark_mbps:
            print(f"ours / tshark: {ours_mbps / tshark_mbps:.1f}x (target {TARGET_RATIO:.0f}x)")
    return 0 if all_found else 1


if __name__ == "__main__":
    sys.exit(main())
