"""Compressed inputs (gzip, zstd, xz, bzip2) read as a stream, a file cut short kept up to the cut.

tcpdump's rotation (``-z``), log shippers and archive jobs compress captures and logs.
:func:`open_input` recognises the format by its magic bytes, not the name, and returns
a binary stream of the decompressed data. Decompression goes chunk by chunk with a
bounded output per step, so memory is flat and a bomb cannot fill it. A file that ends
before its compressed stream does (an interrupted copy, a rotation still being written)
reads as every byte before the cut, then sets :attr:`Decompressed.cut_short` instead of
raising. zstd needs the optional ``zstandard`` package (``pip install zstandard``).
"""

from __future__ import annotations

import bz2
import io
import lzma
import zlib
from typing import BinaryIO

try:
    import zstandard
    ZSTD_AVAILABLE = True
except ImportError:  # optional: only zstd-compressed inputs need it
    zstandard = None  # type: ignore[assignment]
    ZSTD_AVAILABLE = False

MAGICS = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bzip2"))
MAGIC_BYTES = 6  # enough to tell them apart
READ = 1 << 16  # compressed bytes taken per step
ZSTD_READ = 1 << 10  # zstd cannot bound one step's output: feed it less at a time
ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) + (
    (zstandard.ZstdError,) if zstandard is not None else ())


class MissingDecompressor(Exception):
    """The file is compressed in a format whose optional package is not installed (message says which)."""


def compression(head: bytes) -> str | None:
    """'gzip', 'zstd', 'xz', 'bzip2', or None for the first bytes of a file."""
    for magic, name in MAGICS:
        if head.startswith(magic):
            return name
    return None


def _decompressor(kind: str):
    if kind == "gzip":
        return zlib.decompressobj(wbits=31)
    if kind == "xz":
        return lzma.LZMADecompressor()
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    if zstandard is None:
        raise MissingDecompressor("zstd-compressed: the 'zstandard' package is missing (pip install zstandard)")
    return zstandard.ZstdDecompressor().decompressobj()


class Decompressed(io.RawIOBase):
    """The decompressed bytes of a compressed file, one member or stream after another."""

    def __init__(self, raw: BinaryIO, kind: str) -> None:
        super().__init__()
        self.raw, self.kind = raw, kind
        self.cut_short = False  # the file ended inside a compressed stream
        self.trailing = False  # bytes after the last stream that are not another stream
        self.error: str | None = None  # corrupt compressed data: the stream ends there
        self._dec = _decompressor(kind)
        self._input = b""  # compressed bytes not yet given to the decompressor
        self._out = b""  # decompressed bytes not yet read
        self._done = False
        self._step = ZSTD_READ if kind == "zstd" else READ

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self._read(len(b))
        b[:len(data)] = data
        return len(data)

    def _read(self, n: int) -> bytes:
        """Up to ``n`` bytes; b"" at the end. Corrupt data ends the stream (kept in :attr:`error`), so
        that a buffered reader above keeps everything decompressed before it."""
        if self._out:  # zstd gives a whole block at a time: the rest waits here
            out, self._out = self._out[:n], self._out[n:]
            return out
        while not self._done:
            try:
                out = self._step_once(n)
            except ERRORS as exc:
                self.error = f"{self.kind} data corrupt: {exc}"
                self._done = True
                return b""
            if out:
                out, self._out = out[:n], out[n:]
                return out
        return b""

    def _step_once(self, n: int) -> bytes:
        """Decompress some input: output (at most ``n`` bytes where the format allows), or b"" to go on."""
        dec = self._dec
        if dec.eof:
            rest = dec.unused_data + self._input
            self._input = b""
            if not rest:
                rest = self.raw.read(self._step)
            if not rest:
                self._done = True
                return b""
            if compression(rest[:MAGIC_BYTES]) != self.kind:
                if rest.strip(b"\x00"):  # xz allows zero padding between streams
                    self.trailing = True
                self._done = True
                return b""
            self._dec = dec = _decompressor(self.kind)
            self._input = rest
        if self.kind == "gzip":
            data = getattr(dec, "unconsumed_tail", b"") or self._take()
            if not data:
                return self._end()
            return dec.decompress(data, n)
        if self.kind == "zstd":
            data = self._take()
            if not data:
                return self._end()
            return dec.decompress(data)
        if dec.needs_input:
            data = self._take()
            if not data:
                return self._end()
        else:
            data = b""
        return dec.decompress(data, n)

    def _take(self) -> bytes:
        if self._input:
            data, self._input = self._input[:self._step], self._input[self._step:]
            return data
        return self.raw.read(self._step)

    def _end(self) -> bytes:
        """The file ended; a stream still open means it was cut short."""
        self._done = True
        if not self._dec.eof:
            self.cut_short = True
        return b""

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_input(path: str) -> BinaryIO:
    """The file, decompressed on the fly when its first bytes are a compression format's magic.

    Raises :class:`MissingDecompressor` for zstd without ``zstandard``.
    """
    f = open(path, "rb")
    try:
        kind = compression(f.read(MAGIC_BYTES))
        f.seek(0)
        if kind is None:
            return f
        return io.BufferedReader(Decompressed(f, kind), READ)  # type: ignore[return-value]
    except BaseException:
        f.close()
        raise


def cut_short(stream: BinaryIO) -> str | None:
    """Why a stream from :func:`open_input` ended early ("gzip data cut short"), or None."""
    raw = getattr(stream, "raw", None)
    if isinstance(raw, Decompressed):
        if raw.error:
            return raw.error
        if raw.cut_short:
            return f"{raw.kind} data cut short"
        if raw.trailing:
            return f"bytes after the {raw.kind} data were not read"
    return None


def head(path: str, n: int) -> bytes:
    """Up to ``n`` bytes from the start of a file, decompressed; a file cut short gives what it has."""
    with open_input(path) as f:
        out = b""
        while len(out) < n:
            chunk = f.read(n - len(out))
            if not chunk:
                break
            out += chunk
        return out
