"""Streaming pcap / pcapng reader: raw frames with their time and link type.

Reads fixed-size chunks (gzip, zstd, xz and bzip2 captures transparently, see
:mod:`compressed`), so memory does not depend on the capture size. A damaged or
cut-short capture yields every complete record before the damage;
:attr:`CaptureReader.problem` then says what was wrong. Headers that other tools
refuse (a pcap version other than 2.x, a pcapng section header whose options run
past the block) are read anyway and listed in :attr:`CaptureReader.notes`.
A classic pcap file can also be taken as windows of whole records
(:meth:`CaptureReader.pcap_windows`), which the engine reads in place.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Callable, Iterator

from detectors.network import compressed

CHUNK = 1 << 20
MAX_RECORD = 1 << 18  # larger records are corrupt (snaplen tops out at 262144)
MAX_BLOCK = 1 << 24
# The shortest block of each type that holds its fixed fields (type, length and trailing length
# included): a shorter one is skipped, not read past its end into the next block.
MIN_BLOCK = {0x0A0D0D0A: 28, 1: 20, 2: 32, 3: 16, 6: 32}
PCAP_RECORD_HEADER = 16  # seconds, fraction, captured length, original length

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_READ_ERRORS = (struct.error, *compressed.ERRORS)


class CaptureError(Exception):
    """The file is not a capture this reader understands (message says why)."""


def capture_format(head: bytes) -> str | None:
    """'pcap', 'pcapng', or None for the first bytes of an (uncompressed) file."""
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_SHB:
        return "pcapng"
    return None


class _Chunks:
    """A byte window over a stream: ``need(n)`` makes ``n`` bytes available at ``pos``."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.buf = b""
        self.pos = 0
        self.offset = 0  # file offset of buf[0]

    def need(self, n: int) -> bool:
        if len(self.buf) - self.pos >= n:
            return True
        rest = self.buf[self.pos:]
        self.offset += self.pos
        parts = [rest] if rest else []
        have = len(rest)
        while have < n:
            # bytes left over from the last window are completed with a short read, so that the
            # next full chunk becomes the window as it is read, without being copied
            data = self.stream.read(n - have if have else max(CHUNK, n))
            if not data:
                break
            parts.append(data)
            have += len(data)
        self.buf = parts[0] if len(parts) == 1 else b"".join(parts)
        self.pos = 0
        return have >= n

    @property
    def at(self) -> int:
        return self.offset + self.pos


class PcapWindow:
    """A part of a classic pcap file, for a caller that reads its records in place (no object per record).

    ``buf[pos:]`` starts with whole records: ``header(buf, pos)`` gives a record's seconds, fraction
    of a second (in ``unit``) and captured length, and its frame follows that 16-byte header. The
    caller reads the records that fit in ``buf`` with a captured length up to ``limit``, then sets
    ``pos`` to where it stopped and ``count`` to how many records it read, and takes the next window.
    """

    __slots__ = ("buf", "pos", "count", "header", "unit", "linktype", "limit")

    def __init__(self, header: Callable[[bytes, int], tuple[int, ...]], unit: float, linktype: int,
                 limit: int) -> None:
        self.buf, self.pos, self.count = b"", 0, 0
        self.header, self.unit, self.linktype, self.limit = header, unit, linktype, limit


class CaptureReader:
    """Iterate ``(timestamp, linktype, frame)`` over a pcap or pcapng file (optionally compressed)."""

    def __init__(self, path: str, stream: BinaryIO | None = None) -> None:
        self.path = path
        self.stream = stream
        self.format: str | None = None
        self.problem: str | None = None
        self.notes: list[str] = []  # header oddities read past (see the module docstring)
        self.records = 0
        self.bytes_read = 0
        self._opened: tuple[BinaryIO, _Chunks] | None = None

    def _open(self) -> tuple[BinaryIO, _Chunks]:
        """Open the file and detect its format (raises CaptureError when it is no capture)."""
        if self._opened is not None:  # pcap_windows() opened it already
            opened, self._opened = self._opened, None
            return opened
        try:
            stream = self.stream or compressed.open_input(self.path)
        except compressed.MissingDecompressor as exc:
            raise CaptureError(str(exc)) from None
        except OSError as exc:
            raise CaptureError(f"cannot read: {exc}") from None
        try:
            chunks = _Chunks(stream)
            if not chunks.need(4):
                raise CaptureError("empty file, not a pcap or pcapng capture")
            head = chunks.buf[:4]
            self.format = capture_format(head)
            if self.format is None:
                raise CaptureError(f"unknown magic {head.hex()}: not a pcap or pcapng capture")
        except compressed.ERRORS as exc:
            if self.stream is None:
                stream.close()
            raise CaptureError(f"cannot read: {exc}") from None
        except CaptureError:
            if self.stream is None:
                stream.close()
            raise
        return stream, chunks

    def __iter__(self) -> Iterator[tuple[float, int, bytes]]:
        """The records (raises CaptureError when the file is no capture)."""
        stream, chunks = self._open()
        if self.format == "pcap":
            return self._pcap_records(self._pcap(chunks, stream))
        return self._guarded(self._pcapng(chunks), chunks, stream)

    def pcap_windows(self) -> Iterator[PcapWindow] | None:
        """A classic pcap file as windows of whole records (raises CaptureError when the file is no capture).

        None for pcapng: then iterate the reader, which goes on from what this call read.
        """
        self._opened = self._open()
        if self.format != "pcap":
            return None
        stream, chunks = self._opened
        self._opened = None
        return self._pcap(chunks, stream)

    @staticmethod
    def _pcap_records(windows: Iterator[PcapWindow]) -> Iterator[tuple[float, int, bytes]]:
        """The records of classic pcap windows, one by one."""
        for w in windows:
            buf, pos, size = w.buf, w.pos, len(w.buf)
            header, unit, linktype, limit = w.header, w.unit, w.linktype, w.limit
            count = 0
            while True:
                try:
                    sec, frac, incl = header(buf, pos)
                except struct.error:  # fewer than 16 bytes left in the window
                    break
                start = pos + PCAP_RECORD_HEADER
                end = start + incl
                if end > size or incl > limit:
                    break
                count += 1
                if incl:
                    yield sec + frac * unit, linktype, buf[start:end]
                pos = end
            w.pos, w.count = pos, count

    def _guarded(self, inner: Iterator, chunks: _Chunks, stream: BinaryIO) -> Iterator:
        """Run ``inner``; a read error inside the capture ends it and is kept in :attr:`problem`."""
        try:
            yield from inner
        except _READ_ERRORS as exc:
            self.problem = f"read error at byte {chunks.at}: {exc}"
        finally:
            self._ended(stream)

    def _pcap(self, c: _Chunks, stream: BinaryIO) -> Iterator[PcapWindow]:
        """Classic pcap: windows of whole records; at a window's end, the next one or why the file ends."""
        try:
            if not c.need(24):
                self.problem = "truncated pcap header"
                return
            endian, unit = PCAP_MAGICS[c.buf[c.pos:c.pos + 4]]
            major, minor = struct.unpack_from(endian + "HH", c.buf, c.pos + 4)
            if major != 2:  # libpcap and tshark refuse these; every version so far has the same records
                self.notes.append(f"pcap header says version {major}.{minor} (expected 2.4); read as 2.4")
            snaplen, linktype = struct.unpack_from(endian + "II", c.buf, c.pos + 16)
            linktype &= 0x0FFFFFFF
            c.pos += 24
            limit = max(snaplen, MAX_RECORD) if snaplen < (1 << 26) else MAX_RECORD
            unpack = struct.Struct(endian + "IIII").unpack_from
            # seconds, fraction, captured length
            window = PcapWindow(struct.Struct(endian + "III4x").unpack_from, unit, linktype, limit)
            while True:
                window.buf, window.pos, window.count = c.buf, c.pos, 0
                yield window
                c.pos = window.pos
                self.records += window.count
                self.bytes_read = c.at
                # a record across the window's end, the end of the file, or damage
                if not c.need(PCAP_RECORD_HEADER):
                    if len(c.buf) - c.pos:
                        self.problem = f"truncated record header at byte {c.at}"
                    return
                _sec, _frac, incl, _orig = unpack(c.buf, c.pos)
                if incl > limit:
                    self.problem = (f"record at byte {c.at} claims {incl} bytes (snaplen {snaplen}); "
                                    "capture is corrupt from here")
                    return
                if not c.need(PCAP_RECORD_HEADER + incl):
                    self.problem = f"truncated record at byte {c.at} (capture cut short)"
                    return
        except _READ_ERRORS as exc:
            self.problem = f"read error at byte {c.at}: {exc}"
        finally:
            self._ended(stream)

    def _ended(self, stream: BinaryIO) -> None:
        """The end of the file: a compressed stream that ended early joins :attr:`problem`."""
        early = compressed.cut_short(stream)
        if early:
            self.problem = f"{self.problem}; {early}" if self.problem else f"{early} (capture truncated)"
        if self.stream is None:
            stream.close()

    def _pcapng(self, c: _Chunks) -> Iterator[tuple[float, int, bytes]]:
        endian = "<"
        interfaces: list[tuple[int, float, int]] = []  # (link type, seconds per unit, if_tsoffset)
        while True:
            if not c.need(12):
                if len(c.buf) - c.pos:
                    self.problem = f"truncated block header at byte {c.at}"
                return
            buf, pos = c.buf, c.pos
            btype = buf[pos:pos + 4]
            if btype == PCAPNG_SHB:
                bom = buf[pos + 8:pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    self.problem = f"bad pcapng byte-order magic at byte {c.at}"
                    return
                interfaces = []
                section_at = c.at
            btype_n, blen = struct.unpack_from(endian + "II", buf, pos)
            if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                self.problem = f"bad pcapng block length {blen} at byte {c.at}; capture is corrupt from here"
                return
            if not c.need(blen):
                self.problem = f"truncated pcapng block at byte {c.at} (capture cut short)"
                return
            buf, pos = c.buf, c.pos
            c.pos = pos + blen
            self.bytes_read += blen
            body = pos + 8
            if blen < MIN_BLOCK.get(btype_n, 12):
                if len(self.notes) < 20:
                    self.notes.append(f"pcapng block of type {btype_n} at byte {c.at - blen} is {blen} bytes, "
                                      "too short for its fields; skipped")
                continue
            if btype_n == 6 or btype_n == 2:  # enhanced / obsolete packet block: both 20-byte headers
                if btype_n == 6:
                    iface, hi, lo, caplen = struct.unpack_from(endian + "IIII", buf, body)
                else:
                    iface, _drops, hi, lo, caplen = struct.unpack_from(endian + "HHIII", buf, body)
                if iface >= len(interfaces) or caplen > blen - 32:
                    continue
                linktype, unit, offset = interfaces[iface]
                self.records += 1
                if caplen:
                    yield ((hi << 32) | lo) * unit + offset, linktype, buf[body + 20:body + 20 + caplen]
            elif btype_n == 3:  # simple packet block
                if not interfaces:
                    continue
                (orig,) = struct.unpack_from(endian + "I", buf, body)
                caplen = min(orig, blen - 16)
                self.records += 1
                if caplen > 0:
                    yield 0.0, interfaces[0][0], buf[body + 4:body + 4 + caplen]
            elif btype_n == 0x0A0D0D0A:  # section header block
                self._section_notes(buf, body, pos + blen - 4, endian, section_at)
            elif btype_n == 1:  # interface description block
                (linktype,) = struct.unpack_from(endian + "H", buf, body)
                interfaces.append((linktype, *_time_options(buf, body + 8, pos + blen - 4, endian)))


    def _section_notes(self, buf: bytes, body: int, end: int, endian: str, at: int) -> None:
        """A section header's version and options, checked as tshark checks them (it refuses the file)."""
        major, minor = struct.unpack_from(endian + "HH", buf, body + 4)
        if major != 1:
            self.notes.append(f"pcapng section at byte {at} says version {major}.{minor} (expected 1.0); read as 1.0")
        pos = body + 16
        while pos + 4 <= end:
            code, length = struct.unpack_from(endian + "HH", buf, pos)
            if code == 0:
                break
            if pos + 4 + length > end:
                self.notes.append(f"pcapng section header at byte {at}: option {code} claims {length} bytes, "
                                  "past the end of its block; options ignored")
                break
            pos += 4 + ((length + 3) & ~3)


def _time_options(buf: bytes, start: int, end: int, endian: str) -> tuple[float, int]:
    """Seconds per timestamp unit (``if_tsresol``, default microseconds) and seconds added to
    every timestamp (``if_tsoffset``, default 0) from an interface block's options."""
    unit, offset = 1e-6, 0
    pos = start
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = buf[pos + 4]
            unit = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        elif code == 14 and length == 8 and pos + 12 <= end:
            (offset,) = struct.unpack_from(endian + "q", buf, pos + 4)
        pos += 4 + ((length + 3) & ~3)
    return unit, offset
