"""Capture readers fuzzed: pcap, pcapng and their compressed forms (gzip, xz, bzip2, zstd).

The committed captures, mutated byte by byte (before and after compression) and built
block by block, must read to a clear end: records, or a CaptureError for a file that is
no capture, and the detector reports damage in coverage, never raises. A capture cut
short keeps every record before the cut. Cost is linear in the records, memory does not
grow with the file, and a decompression bomb does not fill it.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors.base import DetectorError
from detectors.network import compressed
from detectors.network.reader import CaptureError, CaptureReader
from tests.fixtures.network_util import DATA, scan, write_pcap
from tests.fuzzing import (assert_flat_memory, assert_linear_lines, fuzz, mutations, peak_bytes)

zstandard = pytest.importorskip("zstandard")

CAPTURES = sorted(p for p in DATA.iterdir() if p.suffix in (".pcap", ".pcapng"))
SEEDS = [p.read_bytes() for p in CAPTURES]
SMALL_SEEDS = [s for s in SEEDS if len(s) < 60_000]  # for the slower whole-detector runs
COMPRESS = {"gzip": gzip.compress, "xz": lzma.compress, "bzip2": bz2.compress,
            "zstd": lambda data: zstandard.ZstdCompressor().compress(data)}
_DIR = Path(tempfile.mkdtemp(prefix="fuzz-captures-"))


def _file(data: bytes, name: str = "input.pcap") -> Path:
    path = _DIR / name
    path.write_bytes(data)
    return path


def _read(path: Path) -> tuple[list[tuple[float, int, bytes]], CaptureReader]:
    """Every record of a capture; a CaptureError is the only way to refuse it."""
    reader = CaptureReader(str(path))
    records = list(reader)
    for ts, linktype, frame in records:
        assert isinstance(ts, float) and isinstance(linktype, int) and isinstance(frame, bytes) and frame
    assert reader.problem is None or isinstance(reader.problem, str)
    return records, reader


def _read_or_refuse(path: Path) -> tuple[list, CaptureReader | None]:
    try:
        return _read(path)
    except CaptureError as exc:
        assert str(exc) and "\n" not in str(exc)
        return [], None


@fuzz(80)
@given(mutations(SEEDS, max_ops=12))
def test_mutated_captures_read_to_a_clear_end(data: bytes) -> None:
    _read_or_refuse(_file(data))


@fuzz(50)
@given(st.sampled_from(SEEDS), st.sampled_from(sorted(COMPRESS)), st.data())
def test_mutated_compressed_captures_read_to_a_clear_end(seed: bytes, kind: str, data) -> None:
    packed = COMPRESS[kind](seed)
    damaged = data.draw(mutations([packed], max_ops=4))
    _read_or_refuse(_file(damaged))


@fuzz(30)
@given(mutations(SMALL_SEEDS, max_ops=12))
def test_detector_reports_damaged_captures_in_coverage(data: bytes) -> None:
    path = _file(data, "damaged.pcap")
    try:
        _, coverage = scan(path)
    except DetectorError as exc:  # nothing readable at all: one clear message
        assert str(exc) and "\n" not in str(exc)
        return
    records, reader = _read_or_refuse(path)
    if reader is not None and reader.problem:
        assert any(str(path) == g.what for g in coverage.gaps), coverage.gaps


@fuzz(40)
@given(st.sampled_from(SEEDS), st.sampled_from(["plain", *sorted(COMPRESS)]), st.floats(0, 1))
def test_a_capture_cut_short_keeps_every_record_before_the_cut(seed: bytes, kind: str, where: float) -> None:
    original, _ = _read(_file(seed, "whole.pcap"))
    packed = seed if kind == "plain" else COMPRESS[kind](seed)
    cut = packed[:int(len(packed) * where)]
    records, reader = _read_or_refuse(_file(cut, "cut.pcap"))
    assert records == original[:len(records)]
    if reader is not None and kind != "plain" and len(cut) < len(packed):
        assert reader.problem, "a compressed capture cut short says so"


# ---- pcapng built block by block ---------------------------------------------------------------

def _block(btype: int, body: bytes, claimed: int | None = None) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = len(body) + 12 if claimed is None else claimed
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


_OPTION = st.tuples(st.integers(0, 20), st.binary(max_size=12)).map(
    lambda o: struct.pack("<HH", o[0], len(o[1])) + o[1] + b"\x00" * (-len(o[1]) % 4))
_SHB = st.builds(lambda major, opts: _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, major, 0, -1) + b"".join(opts)),
                 st.sampled_from([1, 2]), st.lists(_OPTION, max_size=4))
_IDB = st.builds(lambda lt, opts: _block(1, struct.pack("<HHI", lt, 0, 65535) + b"".join(opts)),
                 st.sampled_from([1, 0, 101, 113, 276, 228, 999]), st.lists(_OPTION, max_size=4))
_EPB = st.builds(lambda iface, ts, frame, caplen: _block(6, struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF,
                                                                        caplen, len(frame)) + frame),
                 st.integers(0, 3), st.integers(0, 1 << 63), st.binary(max_size=200), st.integers(0, 400))
_SPB = st.builds(lambda orig, frame: _block(3, struct.pack("<I", orig) + frame), st.integers(0, 1 << 32 - 1),
                 st.binary(max_size=100))
_OPB = st.builds(lambda iface, frame: _block(2, struct.pack("<HHIIII", iface, 0, 0, 0, len(frame), len(frame)) + frame),
                 st.integers(0, 3), st.binary(max_size=100))
_ODD = st.builds(lambda t, body, claimed: _block(t, body, claimed), st.integers(0, 1 << 32 - 1), st.binary(max_size=40),
                 st.one_of(st.none(), st.integers(0, 1 << 32 - 1)))


@fuzz(80)
@given(_SHB, st.lists(st.one_of(_IDB, _EPB, _SPB, _OPB, _SHB, _ODD), max_size=12))
def test_pcapng_built_from_random_blocks(shb: bytes, blocks: list[bytes]) -> None:
    _read_or_refuse(_file(shb + b"".join(blocks), "blocks.pcapng"))


@fuzz(60)
@given(st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"]),
       st.integers(0, 0xFFFF), st.integers(0, (1 << 32) - 1), st.integers(0, (1 << 32) - 1),
       st.lists(st.tuples(st.integers(0, (1 << 32) - 1), st.binary(max_size=64)), max_size=8))
def test_pcap_with_random_header_fields(magic: bytes, major: int, snaplen: int, linktype: int,
                                        records: list[tuple[int, bytes]]) -> None:
    big = magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")
    e = ">" if big else "<"
    head = magic + struct.pack(e + "HHiIII", major, 4, 0, 0, snaplen, linktype)
    body = b"".join(struct.pack(e + "IIII", 0, 0, claimed, len(f)) + f for claimed, f in records)
    _read_or_refuse(_file(head + body))


# ---- compressed streams ------------------------------------------------------------------------

def _decompressed(path: Path) -> tuple[bytes, str | None]:
    out = bytearray()
    with compressed.open_input(str(path)) as f:
        while chunk := f.read(1 << 16):
            out += chunk
        return bytes(out), compressed.cut_short(f)


@fuzz(40)
@given(st.sampled_from(sorted(COMPRESS)), st.lists(st.binary(max_size=3000), min_size=1, max_size=400))
def test_every_member_of_a_multi_member_file_is_read(kind: str, members: list[bytes]) -> None:
    """``cat a.gz b.gz``, pzstd and log rotation write many streams in one file: all are read,
    wherever a stream ends against the reader's chunks."""
    data, why = _decompressed(_file(b"".join(COMPRESS[kind](m) for m in members), "members.bin"))
    assert why is None
    assert data == b"".join(members)


def test_a_decompression_bomb_does_not_fill_memory() -> None:
    """Zeros compress a thousandfold: memory stays that of the chunks, whatever the decompressed size."""
    def bomb(mb: int) -> Path:
        return _file(gzip.compress(b"\x00" * (mb << 20), 9), f"bomb{mb}.pcap.gz")

    def read(path: Path) -> None:
        with pytest.raises(CaptureError):  # zeros are no capture: refused after the magic
            list(CaptureReader(str(path)))
        with compressed.open_input(str(path)) as f:
            while f.read(1 << 16):
                pass
    assert_flat_memory(bomb, read, 8, slack=1 << 20, what="gzip bomb")
    big = bomb(64)
    assert peak_bytes(lambda: read(big)) < 4 << 20


# ---- cost and memory in the size of the capture ------------------------------------------------

def _pcap_of(n: int) -> Path:
    frame = (DATA / "ja4-edge.pcap").read_bytes()[40:40 + 60]
    return write_pcap(_DIR / f"records{n}.pcap", 1, [(float(i), frame) for i in range(n)])


def _pcapng_of(n: int) -> Path:
    """A section whose header and interfaces carry many options, and a packet per interface."""
    opts = b"".join(struct.pack("<HH", 2, 4) + b"abcd" for _ in range(8))
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opts * (n // 8 + 1))
    blocks = [shb]
    for i in range(n):
        blocks.append(_block(1, struct.pack("<HHI", 1, 0, 65535) + struct.pack("<HHB3x", 9, 1, 6) + opts))
        blocks.append(_block(6, struct.pack("<IIIII", i, 0, i, 4, 4) + b"\x00\x01\x02\x03"))
    return _file(b"".join(blocks), f"blocks{n}.pcapng")


@pytest.mark.parametrize("make", [_pcap_of, _pcapng_of], ids=["pcap", "pcapng"])
def test_reading_is_linear_in_the_records(make) -> None:
    assert_linear_lines(make, lambda p: list(CaptureReader(str(p))), 500, what=make.__name__)


@pytest.mark.parametrize("kind", ["plain", *sorted(COMPRESS)])
def test_reading_memory_does_not_grow_with_the_capture(kind: str) -> None:
    def make(n: int) -> Path:
        raw = _pcap_of(n).read_bytes()
        return _file(raw if kind == "plain" else COMPRESS[kind](raw), f"big{n}.{kind}")

    def run(path: Path) -> None:
        for _ in CaptureReader(str(path)):
            pass
    assert_flat_memory(make, run, 20_000, slack=2 << 20, what=kind)


def test_pcapng_blocks_too_short_for_their_fields_are_skipped() -> None:
    """Found by the deep fuzz run: a simple packet block of 12 bytes (no room for its original
    length) gave a negative capture length and an empty record; packet blocks shorter than their
    fixed fields were read past their end."""
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = _block(1, struct.pack("<HHI", 1, 0, 65535))
    good = _block(6, struct.pack("<IIIII", 0, 0, 1, 4, 4) + b"\x00\x01\x02\x03")
    for short in (_block(3, b""), _block(6, b"\x00" * 8), _block(2, b"\x00" * 12), _block(1, b"")):
        records, reader = _read(_file(shb + idb + short + good, "short.pcapng"))
        assert [frame for _, _, frame in records] == [b"\x00\x01\x02\x03"]
        assert any("too short" in note for note in reader.notes), reader.notes
