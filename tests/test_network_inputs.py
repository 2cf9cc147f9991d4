"""Compressed and damaged inputs: every packet before a cut is kept and the cut is said in coverage."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from detectors.network import compressed
from tests.fixtures.network_util import DATA, check_fixture, scan, summary, tcp_session, write_pcap
from tests.test_network_parsers import client_hello, records

ROOT = Path(__file__).resolve().parent.parent


def zstd_compress(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard", reason="zstd inputs need the optional zstandard package")
    return zstandard.ZstdCompressor().compress(data)


COMPRESSORS = {"gz": gzip.compress, "xz": lzma.compress, "bz2": bz2.compress, "zst": zstd_compress}


def hello_capture(path: Path, name: str = "api.openai.com", client: str = "10.8.0.1") -> Path:
    return write_pcap(path, 1, tcp_session(client, "10.8.0.2", 40000, 443, records(client_hello(name))))


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_compressed_capture_is_read_whole(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"tunnels.pcap.{suffix}"
    target.write_bytes(COMPRESSORS[suffix]((DATA / "tunnels.pcap").read_bytes()))
    findings, coverage = scan(target)
    check_fixture("tunnels.pcap", findings)
    assert coverage.scanned["files"] == 1


@pytest.mark.parametrize("suffix", ["gz", "xz", "zst"])  # bzip2 decodes whole 900 KB blocks only
def test_compressed_capture_cut_short_keeps_the_packets_before_the_cut(tmp_path: Path, suffix: str) -> None:
    whole = (DATA / "loopback.pcap").read_bytes()
    packed = COMPRESSORS[suffix](whole)
    target = tmp_path / f"cut.pcap.{suffix}"
    target.write_bytes(packed[:int(len(packed) * 0.7)])
    findings, coverage = scan(target)
    got = summary(findings)
    assert ("tls-sni", "127.2.0.1", "api.openai.com") in got  # the first connections, long before the cut
    assert 3 <= len(got) < len(summary(scan(DATA / "loopback.pcap")[0]))
    (gap,) = coverage.gaps
    assert "cut short" in gap.reason and gap.reason.endswith("findings cover the packets before it")
    assert "truncated" in gap.reason


def test_small_gzip_capture_and_log_are_recognised(tmp_path: Path) -> None:
    pcap = hello_capture(tmp_path / "one.pcap")
    small = tmp_path / "small.pcap.gz"
    small.write_bytes(gzip.compress(pcap.read_bytes()))
    assert small.stat().st_size < 4096
    cut = tmp_path / "cut-small.pcap.gz"
    cut.write_bytes(small.read_bytes()[:-8])  # no gzip trailer: every packet is there, the end is not
    pcap.unlink()
    findings, coverage = scan(tmp_path)
    assert [(f.kind, f.location.capture) for f in findings] == [("tls-sni", str(cut)), ("tls-sni", str(small))]
    assert [g.reason for g in coverage.gaps] == ["gzip data cut short (capture truncated); findings cover the packets "
                                                 "before it"]


def test_compressed_files_that_are_no_input_are_gaps_in_a_directory(tmp_path: Path) -> None:
    hello_capture(tmp_path / "a.pcap")
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(b"meeting notes\n"))
    (tmp_path / "broken.pcap.gz").write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(64))
    (tmp_path / "readme.txt").write_text("not an input, not compressed: skipped without a note\n")
    findings, coverage = scan(tmp_path)
    assert len(findings) == 1 and coverage.scanned["files"] == 1
    reasons = {Path(g.what).name: g.reason for g in coverage.gaps}
    assert set(reasons) == {"notes.txt.gz", "broken.pcap.gz"}
    assert reasons["notes.txt.gz"] == "skipped: gzip-compressed, but not a pcap, pcapng or a supported log inside"
    assert reasons["broken.pcap.gz"].startswith("skipped: ")


def test_compressed_log_cut_short_keeps_its_lines(tmp_path: Path) -> None:
    lines = "".join(f'{{"_path": "ssl", "ts": {1_700_000_000 + i}, "uid": "C{i}", "id.orig_h": "10.7.0.{i % 200}", '
                    f'"server_name": "api.openai.com"}}\n' for i in range(3000))
    packed = gzip.compress(lines.encode())
    target = tmp_path / "ssl.log.gz"
    target.write_bytes(packed[:len(packed) // 2])
    findings, coverage = scan(target)
    assert findings and all(f.kind == "tls-sni" for f in findings)
    assert any("gzip data cut short after" in g.reason for g in coverage.gaps)


def test_zstd_without_zstandard_is_a_clear_coverage_gap(tmp_path: Path) -> None:
    target = tmp_path / "capture.pcap.zst"
    target.write_bytes(COMPRESSORS["zst"](hello_capture(tmp_path / "x.pcap").read_bytes()))
    hello_capture(tmp_path / "y.pcap", client="10.8.0.9")
    code = ("import sys; sys.modules['zstandard'] = None\n"  # as on a machine without the optional package
            "from pathlib import Path\nfrom tests.fixtures.network_util import scan\n"
            f"findings, coverage = scan(Path({str(tmp_path)!r}))\n"
            "print(len(findings), [(Path(g.what).name, g.reason) for g in coverage.gaps])")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == ("2 [('capture.pcap.zst', \"skipped: zstd-compressed: the 'zstandard' package is "
                                "missing (pip install zstandard)\")]")


def test_decompression_output_is_bounded_per_read(tmp_path: Path) -> None:
    bomb = tmp_path / "zeros.gz"
    bomb.write_bytes(gzip.compress(bytes(50 << 20)))  # 50 MB of zeros in ~50 KB
    with compressed.open_input(str(bomb)) as f:
        assert len(f.read(1 << 16)) == 1 << 16
        raw = f.raw
        assert raw._dec.unconsumed_tail  # the rest is still compressed


# ---- headers other tools refuse ---------------------------------------------------------

def test_pcap_with_another_version_is_read_with_a_note(tmp_path: Path) -> None:
    path = hello_capture(tmp_path / "v.pcap")
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<HH", 3, 0)
    path.write_bytes(bytes(data))
    findings, coverage = scan(path)
    assert len(findings) == 1
    assert [g.reason for g in coverage.gaps] == ["pcap header says version 3.0 (expected 2.4); read as 2.4"]


def test_pcapng_section_option_past_its_block_is_read_with_a_note(tmp_path: Path) -> None:
    def block(btype: int, body: bytes) -> bytes:
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    option = struct.pack("<HH", 4, 200) + b"shark\x00\x00\x00"  # shb_userappl claiming 200 bytes
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + option + struct.pack("<HH", 0, 0))
    idb = block(1, struct.pack("<HHI", 1, 0, 65535))
    epbs = b"".join(block(6, struct.pack("<IIII", 0, 0, int(ts * 1e6) & 0xFFFFFFFF, len(f)) + len(f).to_bytes(4, "little")
                          + f + b"\x00" * (-len(f) % 4))
                    for ts, f in tcp_session("10.8.0.1", "10.8.0.2", 40000, 443, records(client_hello("api.x.ai"))))
    path = tmp_path / "shb.pcapng"
    path.write_bytes(shb + idb + epbs)
    findings, coverage = scan(path)
    assert [f.name if hasattr(f, "name") else f.location.flow for f in findings] == ["10.8.0.1 -> api.x.ai"]
    assert [g.reason for g in coverage.gaps] == [
        "pcapng section header at byte 0: option 4 claims 200 bytes, past the end of its block; options ignored"]
